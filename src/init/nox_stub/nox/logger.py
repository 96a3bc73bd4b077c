"""`nox.logger`: a standard logger, as nox's."""

import logging

logger = logging.getLogger("nox")

__all__ = ["logger"]
