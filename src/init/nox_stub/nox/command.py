"""`nox.command`: the exception noxfiles catch around `session.run`."""


class CommandFailed(Exception):
    """Raised by nox when a command fails; the recording session never raises it."""

    def __init__(self, reason=None):
        super().__init__(reason)
        self.reason = reason


__all__ = ["CommandFailed"]
