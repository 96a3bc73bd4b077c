"""rtask's stand-in for nox: records what a noxfile declares, runs nothing.

`rtask init --from-nox` puts this package first on PYTHONPATH and imports the noxfile; the
decorators record each session, and `rtask_record` then calls each session function with a
recording `Session` (see `nox._session`).
"""

from nox import project
from nox._registry import Param, options, param, parametrize, session
from nox._session import Session

__all__ = [
    "Param",
    "Session",
    "needs_version",
    "options",
    "param",
    "parametrize",
    "project",
    "session",
]

needs_version = None


def main():
    """nox.main() at the bottom of a noxfile: nothing to run while converting."""
