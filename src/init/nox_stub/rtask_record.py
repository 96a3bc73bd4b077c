"""Import a noxfile under rtask's stand-in nox and write what its sessions do as JSON.

Usage: python rtask_record.py NOXFILE OUTPUT.json. Exit 3 with Python's traceback on stderr
when the noxfile does not import.
"""

import ast
import importlib.util
import inspect
import json
import os
import sys
import traceback

SENTINEL = "\x00rtask-posargs\x00"
MACHINE = {
    "os.environ": "os.environ",
    "os.getenv": "os.getenv",
    "os.getcwd": "the current directory",
    "os.path.expanduser": "the home directory",
    "os.path.abspath": "an absolute path",
    "sys.platform": "sys.platform",
    "sys.version_info": "the converting interpreter's version",
    "sys.executable": "the converting interpreter",
    "shutil.which": "shutil.which",
    "getpass.getuser": "the user name",
    "tempfile": "the temporary directory",
    "glob.glob": "the files present",
    "platform": "the platform module",
    "sysconfig": "sysconfig",
}


def dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def on_python_only(test):
    """Whether a branch's condition reads `session.python` and nothing from the machine."""
    names = [dotted(n) for n in ast.walk(test) if isinstance(n, (ast.Attribute, ast.Name))]
    names = [n for n in names if n]
    return any(n.endswith(".python") for n in names) and not any(
        n.split(".")[0] in ("os", "sys", "platform", "shutil", "sysconfig") for n in names
    )


def function_notes(node, seen):
    """Branches not on `session.python` and reads of the machine in one function's body."""
    notes = []
    for inner in ast.walk(node):
        if isinstance(inner, (ast.If, ast.IfExp)) and not on_python_only(inner.test):
            if (inner.lineno, "branch") not in seen:
                seen.add((inner.lineno, "branch"))
                notes.append(
                    {
                        "line": inner.lineno,
                        "text": f"branch at noxfile.py:{inner.lineno} was taken as on this machine",
                    }
                )
        name = dotted(inner) if isinstance(inner, ast.Attribute) else None
        for prefix, what in MACHINE.items():
            if name and (name == prefix or name.startswith(prefix + ".")):
                if (inner.lineno, prefix) not in seen:
                    seen.add((inner.lineno, prefix))
                    notes.append(
                        {
                            "line": inner.lineno,
                            "text": f"value read from the machine ({what}) at noxfile.py:{inner.lineno}",
                        }
                    )
    return notes


def analyse(tree, function_name, first_line):
    """Notes on a session function's source (and the noxfile functions it calls)."""
    functions = {
        node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
    }
    candidates = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and node.name == function_name
        and node.lineno >= first_line
    ]
    if not candidates:
        return []
    node = min(candidates, key=lambda candidate: candidate.lineno)
    seen = set()
    notes = function_notes(node, seen)
    for inner in ast.walk(node):
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id in functions
            and inner.func.id != function_name
        ):
            notes.extend(function_notes(functions[inner.func.id], seen))
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                try:
                    ast.literal_eval(keyword.value)
                except ValueError:
                    source = ast.unparse(keyword.value)
                    notes.append(
                        {
                            "line": keyword.value.lineno,
                            "text": f"`{keyword.arg}={source}` at noxfile.py:{keyword.value.lineno} was evaluated when converting",
                        }
                    )
    notes.sort(key=lambda note: note["line"])
    return notes


def failure_line(error, noxfile):
    found = 0
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == noxfile:
            found = frame.lineno
    return found


def call(declared, python, spec, posargs, noxfile):
    from nox._session import Session, Stop

    call_spec = spec.call_spec if spec is not None else {}
    session = Session(declared.name, python, posargs, {k: v for k, v in call_spec.items()})
    try:
        declared.function(session, **call_spec)
    except Stop:
        pass
    except Exception as error:  # noqa: BLE001 - any failure is reported, not fatal
        where = failure_line(error, noxfile)
        raised = type(error).__name__
        message = f"{raised}: {error}" if str(error).strip() else raised
        session.record["raised"] = {"error": raised, "line": where}
        session.record["notes"].append(
            {
                "line": where,
                "text": f"the session raised {message} at noxfile.py:{where}; "
                "what follows that line was not converted",
            }
        )
    record = session.record
    record["env"] = {str(k): str(v) for k, v in session.env.items()}
    return record


def merge_posargs(plain, marked):
    """The steps with `{posargs}` where the sentinel run had the sentinel."""
    if len(plain["steps"]) != len(marked["steps"]):
        plain["notes"].append(
            {"line": 0, "text": "the commands depend on whether posargs are given: converted without posargs"}
        )
        return plain
    for step, other in zip(plain["steps"], marked["steps"]):
        if SENTINEL not in other["args"]:
            continue
        at = other["args"].index(SENTINEL)
        after = len(other["args"]) - at - 1
        defaults = step["args"][at : len(step["args"]) - after]
        step["args"] = other["args"][:at] + other["args"][at + 1 :]
        step["posargs"] = {"at": at, "default": defaults}
    return plain


def variants(declared):
    python = declared.keywords.get("python")
    if isinstance(python, (list, tuple)):
        pythons = [str(p) for p in python]
    elif isinstance(python, str):
        pythons = [python]
    else:
        pythons = [None]
    specs = getattr(declared.function, "parametrize", None) or [None]
    return [(p, s) for p in pythons for s in specs]


def jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def describe(declared, tree, noxfile):
    keywords = declared.keywords
    python = keywords.get("python")
    if isinstance(python, (list, tuple)):
        python = [str(p) for p in python]
    elif python is not None and not isinstance(python, (str, bool)):
        python = str(python)
    record = {
        "name": declared.name,
        "line": declared.line,
        "description": (inspect.getdoc(declared.function) or "").strip() or None,
        "python": python,
        "venv_backend": keywords.get("venv_backend"),
        "reuse_venv": keywords.get("reuse_venv"),
        "venv_params": [str(p) for p in keywords.get("venv_params") or []] or None,
        "tags": [str(t) for t in keywords.get("tags") or []],
        "default": bool(keywords.get("default", True)),
        "requires": [str(r) for r in keywords.get("requires") or []],
        "unknown_keywords": sorted(set(keywords) - {
            "python", "reuse_venv", "name", "venv_backend", "venv_params",
            "tags", "default", "requires"}),
        "param_groups": [
            {
                "names": list(names),
                "rows": [
                    {
                        "values": [jsonable(v) for v in spec.args],
                        "id": spec.id if spec.explicit_id else None,
                        "plain": all(type(v) in (str, int, float, bool) for v in spec.args),
                        "texts": [str(v) for v in spec.args],
                        "label": ", ".join(
                            f"{k}={v!r}" for k, v in zip(names, spec.args)
                        ),
                    }
                    for spec in rows
                ],
            }
            for names, rows in getattr(declared.function, "parametrize_groups", [])
        ],
        "notes": analyse(tree, declared.function.__name__, declared.line),
        "variants": [],
    }
    for python_version, spec in variants(declared):
        plain = call(declared, python_version, spec, [], noxfile)
        marked = call(declared, python_version, spec, [SENTINEL], noxfile)
        record["variants"].append(merge_posargs(plain, marked))
    return record


def main():
    noxfile = os.path.abspath(sys.argv[1])
    output = sys.argv[2]
    root = os.path.dirname(noxfile)
    os.chdir(root)
    # After the stand-in (the script's own directory comes first), so that a project named nox
    # (nox's own) imports the stand-in too.
    sys.path.insert(1, root)
    import nox
    from nox import _session

    _session.NOXFILE = noxfile
    _session.ROOT = root
    with open(noxfile, encoding="utf-8") as file:
        source = file.read()
    try:
        tree = ast.parse(source, noxfile)
        spec = importlib.util.spec_from_file_location("noxfile", noxfile)
        module = importlib.util.module_from_spec(spec)
        sys.modules["noxfile"] = module
        spec.loader.exec_module(module)
    except BaseException:  # noqa: BLE001 - the traceback is what the user needs
        traceback.print_exc()
        sys.exit(3)
    options = {
        name: value if isinstance(value, (str, bool, list, type(None))) else str(value)
        for name, value in nox.options.values.items()
    }
    result = {
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "options": options,
        "sessions": [describe(d, tree, noxfile) for d in nox.sessions.values()],
    }
    with open(output, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()
