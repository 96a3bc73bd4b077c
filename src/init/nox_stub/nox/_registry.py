"""The sessions a noxfile declares, as the stand-in's decorators record them."""

import inspect


class _Options:
    """`nox.options`: every attribute set is remembered, known or not."""

    def __init__(self):
        object.__setattr__(self, "values", {})

    def __setattr__(self, name, value):
        self.values[name] = value

    def __getattr__(self, name):
        return self.values.get(name)


options = _Options()

# name -> Declared, in the order the noxfile declares them.
sessions = {}


class Param:
    """One set of parametrize values, as nox's `Param`."""

    def __init__(self, *args, arg_names=None, id=None, tags=None):
        self.args = tuple(args)
        self.arg_names = tuple(arg_names or ())
        self.id = id
        self.explicit_id = id is not None
        self.tags = list(tags or [])

    @property
    def call_spec(self):
        return dict(zip(self.arg_names, self.args))

    def __str__(self):
        if self.id:
            return self.id
        return ", ".join(f"{k}={v!r}" for k, v in self.call_spec.items())

    def copy(self):
        copy = Param(*self.args, arg_names=self.arg_names, id=self.id, tags=self.tags)
        copy.explicit_id = self.explicit_id
        return copy

    def update(self, other):
        self.id = ", ".join([str(self), str(other)])
        self.explicit_id = self.explicit_id or other.explicit_id
        self.args += other.args
        self.arg_names += other.arg_names
        self.tags += other.tags


def param(*args, id=None, tags=None):
    return Param(*args, id=id, tags=tags)


def parametrize(arg_names, arg_values_list, ids=None, tags=None):
    if not isinstance(arg_names, (list, tuple)):
        arg_names = [name.strip() for name in arg_names.split(",") if name.strip()]
    if not isinstance(arg_values_list, (list, tuple)):
        arg_values_list = [arg_values_list]
    if ids is None:
        ids = []
    if tags is None:
        tags = []
    specs = []
    for index, values in enumerate(arg_values_list):
        if isinstance(values, Param):
            spec = values.copy()
        else:
            if len(arg_names) == 1:
                values = (values,)
            spec = Param(*values)
            if index < len(ids) and ids[index] is not None:
                spec.id = ids[index]
                spec.explicit_id = True
            if index < len(tags):
                spec.tags = list(tags[index])
        spec.arg_names = tuple(arg_names)
        specs.append(spec)

    def apply(function):
        # Each decorator's own rows, nearest the function first, for `parametrize` keys.
        function.parametrize_groups = getattr(function, "parametrize_groups", []) + [
            (tuple(arg_names), [spec.copy() for spec in specs])
        ]
        previous = getattr(function, "parametrize", None)
        if previous is None:
            function.parametrize = specs
        else:
            combined = []
            for new in specs:
                for old in previous:
                    copy = old.copy()
                    copy.update(new)
                    combined.append(copy)
            function.parametrize = combined
        return function

    return apply


class Declared:
    """One `@nox.session`: its function and the decorator's arguments."""

    def __init__(self, function, name, keywords):
        self.function = function
        self.name = name
        self.keywords = keywords
        self.line = inspect.getsourcelines(function)[1] if _has_source(function) else 0


def _has_source(function):
    try:
        inspect.getsourcelines(function)
    except (OSError, TypeError):
        return False
    return True


KNOWN = {
    "python",
    "py",
    "reuse_venv",
    "name",
    "venv_backend",
    "venv_params",
    "tags",
    "default",
    "requires",
    "download_python",
}


def session(function=None, /, **keywords):
    if function is None:
        return lambda function: session(function, **keywords)
    if "py" in keywords and "python" not in keywords:
        keywords["python"] = keywords.pop("py")
    name = keywords.get("name") or function.__name__
    sessions[name] = Declared(function, name, keywords)
    return function
