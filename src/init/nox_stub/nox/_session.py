"""A `Session` that records what a session function asks for instead of doing it."""

import os
import sys

# Set by rtask_record before any session function runs.
NOXFILE = None
ROOT = None


def line():
    """The line of the noxfile that made the current call (0 when none did)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == NOXFILE:
            return frame.f_lineno
        frame = frame.f_back
    return 0


class Stop(Exception):
    """session.error / session.skip: the function stops here, as in nox."""


class RecordingEnv(dict):
    """session.env: remembers the lines that set variables."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def __setitem__(self, key, value):
        self.lines.append(line())
        super().__setitem__(key, value)

    def update(self, *args, **kwargs):
        self.lines.append(line())
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        self.lines.append(line())
        return super().setdefault(key, default)


class Session:
    def __init__(self, name, python, posargs, call_spec):
        self._name = name
        self._python = python
        self._posargs = list(posargs)
        self.record = {
            "python": python,
            "call_spec": call_spec,
            "install": [],
            "steps": [],
            "cwd": None,
            "env": {},
            "notify": [],
            "notes": [],
            "raised": None,
        }
        self.env = RecordingEnv()

    def _note(self, text):
        self.record["notes"].append({"line": line(), "text": text})

    @property
    def name(self):
        return self._name

    @property
    def python(self):
        return self._python

    @property
    def posargs(self):
        return self._posargs

    @property
    def interactive(self):
        self._note("`session.interactive` read as False (rtask runs without a terminal prompt)")
        return False

    @property
    def invoked_from(self):
        return ROOT

    @property
    def bin(self):
        self._note("`session.bin` used: the environment's bin directory, not converted")
        return os.path.join(ROOT, ".nox", self._name, "bin")

    @property
    def bin_paths(self):
        return [self.bin]

    @property
    def virtualenv(self):
        self._note("`session.virtualenv` used: not converted")
        return None

    @property
    def venv_backend(self):
        self._note("`session.venv_backend` read: not converted")
        return "virtualenv"

    def install(self, *args, **kwargs):
        self.record["install"].append(
            {"args": [str(a) for a in args], "line": line(), "options": sorted(kwargs)}
        )

    def _run(self, kind, args, kwargs):
        env = kwargs.get("env") or {}
        self.record["steps"].append(
            {
                "kind": kind,
                "args": [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args],
                "external": bool(kwargs.get("external", False)),
                "env": {str(k): str(v) for k, v in env.items() if v is not None},
                "success_codes": list(kwargs["success_codes"])
                if kwargs.get("success_codes") is not None
                else None,
                "silent": bool(kwargs.get("silent", False)),
                "line": line(),
            }
        )

    def run(self, *args, **kwargs):
        self._run("run", args, kwargs)

    def run_install(self, *args, **kwargs):
        self._run("run_install", args, kwargs)

    def run_always(self, *args, **kwargs):
        self._run("run_always", args, kwargs)

    def chdir(self, directory):
        directory = os.fspath(directory)
        if os.path.isabs(directory):
            directory = os.path.relpath(directory, ROOT)
        self.record["cwd"] = {"path": directory, "line": line()}

        class Back:
            def __enter__(_self):
                return None

            def __exit__(_self, *exc):
                return False

        return Back()

    cd = chdir

    def notify(self, target, posargs=None):
        self.record["notify"].append({"target": str(target), "line": line()})

    def create_tmp(self):
        self._note("`session.create_tmp()`: a temporary directory, its path taken as on this machine")
        return os.path.join(ROOT, ".nox", self._name, "tmp")

    def conda_install(self, *args, **kwargs):
        self._note(f"not converted: session.conda_install({_show(args, kwargs)})")

    def install_and_run_script(self, *args, **kwargs):
        self._note(f"not converted: session.install_and_run_script({_show(args, kwargs)})")

    def log(self, *args, **kwargs):
        self._note("`session.log(...)` dropped: rtask prints each command it runs")

    warn = log
    debug = log

    def error(self, *args):
        self._note(f"`session.error({_show(args, {})})` reached: the session stops here in nox")
        raise Stop()

    def skip(self, *args):
        self._note(f"`session.skip({_show(args, {})})` reached: the session stops here in nox")
        raise Stop()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def unknown(*args, **kwargs):
            self._note(f"not converted: session.{name}({_show(args, kwargs)})")

        return unknown


def _show(args, kwargs):
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(shown)
