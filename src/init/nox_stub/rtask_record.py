"""Import a noxfile under rtask's stand-in nox and write what its sessions do as JSON.

Usage: python rtask_record.py NOXFILE OUTPUT.json. Exit 3 with Python's traceback on stderr
when the noxfile does not import; exit 4 when it calls `sys.exit` while imported, with
`{"status", "line", "message"}` in OUTPUT.json.
"""

import ast
import importlib.util
import inspect
import json
import os
import sys
import traceback

SENTINEL = "\x00rtask-posargs\x00"
# What a noxfile can read of the machine that converts it, by qualified name (a name read is
# the machine's when it is one of these or under one): `(prefix, ...)`.
MACHINE = (
    "os.environ", "os.getenv", "os.getcwd", "os.cpu_count", "os.getpid", "os.getlogin",
    "os.getuid", "os.uname", "os.listdir", "os.scandir", "os.walk", "os.stat", "os.path.exists",
    "os.path.isfile", "os.path.isdir", "os.path.islink", "os.path.getmtime", "os.path.getsize",
    "os.path.expanduser", "os.path.expandvars", "os.path.abspath", "os.path.realpath",
    "sys.platform", "sys.version_info", "sys.version", "sys.executable", "sys.implementation",
    "sys.prefix", "sys.base_prefix", "sys.argv", "sys.getwindowsversion",
    "shutil.which", "shutil.disk_usage", "getpass", "socket", "platform", "sysconfig",
    "tempfile", "glob", "subprocess", "uuid.uuid1", "uuid.uuid4", "random", "secrets",
    "locale", "multiprocessing.cpu_count", "importlib.metadata",
    "datetime.datetime.now", "datetime.datetime.today", "datetime.datetime.utcnow",
    "datetime.date.today", "time.time", "time.time_ns", "time.localtime", "time.gmtime",
    "time.strftime", "time.ctime", "time.monotonic", "time.perf_counter",
    "pathlib.Path.cwd", "pathlib.Path.home", "pathlib.Path.exists", "pathlib.Path.is_file",
    "pathlib.Path.is_dir", "pathlib.Path.glob", "pathlib.Path.rglob", "pathlib.Path.iterdir",
    "pathlib.Path.read_text", "pathlib.Path.read_bytes", "pathlib.Path.stat",
    "pathlib.Path.resolve", "pathlib.Path.absolute", "pathlib.Path.expanduser", "open",
    "os.name", "os.sep", "os.pathsep", "os.linesep", "sys.byteorder", "sys.maxsize",
    "__file__",
)
# Builtins that read the machine without an import.
BUILTINS = {"open", "__file__"}


def dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def imported_names(tree):
    """Local name -> what it was imported as (`np` -> `numpy`, `Path` -> `pathlib.Path`)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    aliases[head] = head
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def assigned_names(target):
    """The names an assignment target binds (tuples and starred targets too)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in assigned_names(element)]
    if isinstance(target, ast.Starred):
        return assigned_names(target.value)
    return []


def local_names(function):
    """Parameters and names a function assigns: they hide module-level names."""
    found = {arg.arg for arg in ast.walk(function.args) if isinstance(arg, ast.arg)}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
    return found


class Analysis:
    """What a noxfile's source says: its imports, functions, and module-level names whose
    value was computed from the machine (name -> (line, what it read, through which name))."""

    def __init__(self, tree):
        self.tree = tree
        self.aliases = imported_names(tree)
        self.functions = {
            node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
        }
        self.frozen = {}
        # Twice: a name assigned later in a loop may feed one assigned earlier.
        for _ in range(2):
            self.module_block(tree.body, None)

    def qualified(self, node):
        """`os.path.exists`, `pathlib.Path.exists` (through calls: `Path(x).exists`)."""
        parts = []
        while isinstance(node, (ast.Attribute, ast.Call)):
            if isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            else:
                node = node.func
        if not isinstance(node, ast.Name):
            return None
        if node.id in self.aliases:
            head = self.aliases[node.id]
        elif node.id in BUILTINS and not parts:
            head = node.id
        else:
            return None
        return ".".join([head] + list(reversed(parts)))

    def reads(self, node):
        """`(line, prefix)` of each read of the machine in `node`."""
        found = []
        for inner in ast.walk(node):
            if not isinstance(inner, (ast.Attribute, ast.Name)):
                continue
            name = self.qualified(inner)
            if not name:
                continue
            for prefix in MACHINE:
                if name == prefix or name.startswith(prefix + "."):
                    found.append((inner.lineno, prefix))
                    break
        return found

    def frozen_uses(self, node, hidden=()):
        """`(line, name)` of each module-level frozen name `node` reads."""
        return [
            (inner.lineno, inner.id)
            for inner in ast.walk(node)
            if isinstance(inner, ast.Name)
            and isinstance(inner.ctx, ast.Load)
            and inner.id in self.frozen
            and inner.id not in hidden
        ]

    def origin(self, node):
        """What `node`'s value was computed from: `(what, through)` or None."""
        for _, prefix in self.reads(node):
            return (prefix, None)
        for _, name in self.frozen_uses(node):
            return (self.frozen[name][1], name)
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id in self.functions
                and inner.func.id not in self.aliases
            ):
                function = self.functions[inner.func.id]
                for _, prefix in self.reads(function):
                    return (prefix, f"{inner.func.id}()")
                for _, name in self.frozen_uses(function, local_names(function)):
                    return (self.frozen[name][1], f"{inner.func.id}()")
        return None

    def module_block(self, body, enclosing):
        """Module-level statements (not function bodies); `enclosing` is the origin of the
        `if`/`for`/`while` this block runs under, when the machine chose it."""
        for statement in body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                value = statement.value
                found = (self.origin(value) if value is not None else None) or enclosing
                if isinstance(statement, ast.AugAssign) and not found:
                    found = self.origin(statement.target)
                if found:
                    for target in targets:
                        for name in assigned_names(target):
                            self.frozen.setdefault(
                                name, (statement.lineno, found[0], found[1])
                            )
            elif isinstance(statement, (ast.If, ast.While)):
                chosen = self.origin(statement.test) or enclosing
                self.module_block(statement.body, chosen)
                self.module_block(statement.orelse, chosen)
            elif isinstance(statement, ast.For):
                chosen = self.origin(statement.iter) or enclosing
                if chosen:
                    for name in assigned_names(statement.target):
                        self.frozen.setdefault(name, (statement.lineno, chosen[0], chosen[1]))
                self.module_block(statement.body, chosen)
                self.module_block(statement.orelse, chosen)
            elif isinstance(statement, (ast.With, ast.Try)):
                self.module_block(statement.body, enclosing)
                for handler in getattr(statement, "handlers", []):
                    self.module_block(handler.body, enclosing)
                self.module_block(getattr(statement, "orelse", []), enclosing)
                self.module_block(getattr(statement, "finalbody", []), enclosing)

    def explain(self, name):
        line, what, through = self.frozen[name]
        via = f", through `{through}`" if through else ""
        return f"`{name}` (noxfile.py:{line}) was computed from the machine ({what}{via})"

    def on_python_only(self, test, hidden):
        """Whether a branch's condition reads `session.python` and nothing from the machine."""
        names = [dotted(n) for n in ast.walk(test) if isinstance(n, (ast.Attribute, ast.Name))]
        names = [n for n in names if n]
        return (
            any(n.endswith(".python") for n in names)
            and not self.reads(test)
            and not self.frozen_uses(test, hidden)
        )

    def function_notes(self, node, seen):
        """Branches not on `session.python`, reads of the machine and of names computed from
        it in one function's body."""
        notes = []
        hidden = local_names(node)

        def add(key, line, text, kind=None):
            """One note per key (a line with what was found there), in the order found."""
            if key in seen:
                return
            seen.add(key)
            note = {"line": line, "text": text}
            if kind:
                note["kind"] = kind
            notes.append(note)

        for inner in ast.walk(node):
            if isinstance(inner, (ast.If, ast.IfExp)) and not self.on_python_only(inner.test, hidden):
                line = inner.lineno
                add((line, "branch"), line, f"branch at noxfile.py:{line} was taken as on this machine")
        for line, prefix in self.reads(node):
            text = f"value read from the machine ({prefix}) at noxfile.py:{line}"
            add((line, prefix), line, text, "machine")
        for line, name in self.frozen_uses(node, hidden):
            text = f"{self.explain(name)} when converting, read at noxfile.py:{line}"
            add((line, name), line, text, "machine")
        return notes

    def decorator_notes(self, node):
        """Decorator arguments evaluated when converting, and what of the machine they read."""
        notes = []
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            arguments = [(keyword.arg, keyword.value) for keyword in decorator.keywords]
            arguments += [(None, argument) for argument in decorator.args]
            for keyword, value in arguments:
                why = [self.explain(name) for _, name in self.frozen_uses(value)]
                why += [f"it reads the machine ({prefix})" for _, prefix in self.reads(value)]
                why = list(dict.fromkeys(why))
                if keyword is not None:
                    try:
                        ast.literal_eval(value)
                        continue
                    except ValueError:
                        shown = f"`{keyword}={ast.unparse(value)}`"
                elif why:
                    shown = f"`{ast.unparse(value)}` of @{ast.unparse(decorator.func)}"
                else:
                    continue
                text = f"{shown} at noxfile.py:{value.lineno} was evaluated when converting"
                if why:
                    text += ": " + "; ".join(why)
                notes.append({"line": value.lineno, "text": text})
        return notes


def analyse(analysis, function_name, first_line):
    """Notes on a session function's source (and the noxfile functions it calls)."""
    candidates = [
        node
        for node in ast.walk(analysis.tree)
        if isinstance(node, ast.FunctionDef)
        and node.name == function_name
        and node.lineno >= first_line
    ]
    if not candidates:
        return []
    node = min(candidates, key=lambda candidate: candidate.lineno)
    seen = set()
    notes = analysis.function_notes(node, seen)
    followed = {function_name}
    pending = [node]
    while pending:
        for inner in ast.walk(pending.pop()):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id in analysis.functions
                and inner.func.id not in followed
            ):
                followed.add(inner.func.id)
                helper = analysis.functions[inner.func.id]
                notes.extend(analysis.function_notes(helper, seen))
                pending.append(helper)
    notes.extend(analysis.decorator_notes(node))
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
    except SystemExit as exited:
        where = failure_line(exited, noxfile)
        session.record["raised"] = {"error": "SystemExit", "line": where}
        session.record["notes"].append(
            {
                "line": where,
                "text": f"the session called sys.exit({exited.code!r}) at noxfile.py:{where}; "
                "what follows that line was not converted",
            }
        )
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
    record["env_lines"] = sorted(set(session.env.lines))
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


def describe(declared, analysis, noxfile):
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
        "notes": analyse(analysis, declared.function.__name__, declared.line),
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
    except SystemExit as exited:
        # `sys.exit(...)` while importing: say so, not "failed to import".
        status = exited.code if isinstance(exited.code, int) else (0 if exited.code is None else 1)
        with open(output, "w", encoding="utf-8") as file:
            json.dump(
                {
                    "status": status,
                    "line": failure_line(exited, noxfile),
                    "message": None if isinstance(exited.code, (int, type(None))) else str(exited.code),
                },
                file,
            )
        sys.exit(4)
    except BaseException:  # noqa: BLE001 - the traceback is what the user needs
        traceback.print_exc()
        sys.exit(3)
    analysis = Analysis(tree)
    options = {
        name: value if isinstance(value, (str, bool, list, type(None))) else str(value)
        for name, value in nox.options.values.items()
    }
    result = {
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "options": options,
        "sessions": [describe(d, analysis, noxfile) for d in nox._registry.sessions.values()],
    }
    with open(output, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()
