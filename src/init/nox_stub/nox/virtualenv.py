"""`nox.virtualenv`: the environment classes noxfiles name in `isinstance` checks."""


class ProcessEnv:
    """The base of nox's environments."""


class PassthroughEnv(ProcessEnv):
    """nox's environment for `venv_backend="none"`."""


class VirtualEnv(ProcessEnv):
    """nox's virtualenv/venv/uv environment."""


class CondaEnv(ProcessEnv):
    """nox's conda/mamba/micromamba environment."""


__all__ = ["CondaEnv", "PassthroughEnv", "ProcessEnv", "VirtualEnv"]
