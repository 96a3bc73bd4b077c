"""`nox.sessions` as noxfiles import it for type hints: the recording `Session`."""

from nox._session import Session

__all__ = ["Session"]
