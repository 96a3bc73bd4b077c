"""nox.project, for real: reading pyproject.toml and script blocks, listing Python versions."""

import os
import re
import tomllib

__all__ = ["dependency_groups", "load_toml", "python_versions"]


def load_toml(filename="pyproject.toml", *, missing_ok=False):
    path = os.fspath(filename)
    suffix = os.path.splitext(path)[1]
    if suffix == ".toml":
        with open(path, "rb") as file:
            return tomllib.load(file)
    if suffix not in (".py", ""):
        raise ValueError(f"Extension must be .py or .toml, got {suffix}")
    with open(path, encoding="utf-8") as file:
        script = file.read()
    block = re.search(
        r"^# /// script$\s(?P<content>(^#(| .*)$\s)+)^# ///$", script, re.MULTILINE
    )
    if block is None:
        if missing_ok:
            return {}
        raise ValueError(f"No script block found in {path}")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in block.group("content").splitlines(keepends=True)
    )
    return tomllib.loads(content)


def _version_key(version):
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _with_free_threaded(versions, free_threaded):
    if not free_threaded:
        return versions
    return versions + [f"{v}t" for v in versions if _version_key(v) >= (3, 14)]


def python_versions(pyproject, *, max_version=None, sort=True, free_threaded=None):
    classifiers = pyproject.get("project", {}).get("classifiers", [])
    if free_threaded is None:
        free_threaded = any(
            c.startswith("Programming Language :: Python :: Free Threading")
            for c in classifiers
        )
    if max_version is None:
        found = [
            c.split()[-1]
            for c in classifiers
            if c.startswith("Programming Language :: Python :: 3.")
        ]
        if not found:
            raise ValueError('No Python version classifiers found in "project.classifiers"')
        if sort:
            found = sorted(found, key=_version_key)
        return _with_free_threaded(found, free_threaded)
    requires = pyproject.get("project", {}).get("requires-python", "")
    if not requires:
        raise ValueError('No "project.requires-python" value set')
    lower = re.search(r">=\s*3\.(\d+)", requires)
    start = int(lower.group(1)) if lower else 0
    end = _version_key(max_version)[1]
    versions = [f"3.{minor}" for minor in range(start, end + 1)]
    return _with_free_threaded(versions, free_threaded)


def dependency_groups(pyproject, *groups):
    table = pyproject.get("dependency-groups", {})
    found = []
    for group in groups:
        for item in table.get(group, []):
            if isinstance(item, dict) and "include-group" in item:
                found.extend(dependency_groups(pyproject, item["include-group"]))
            else:
                found.append(item)
    return tuple(found)
