"""Which of the notebook's values a ``%%steptrace_check`` cell is handed: its
:class:`~steptrace.learner.prelude.Prelude`.

The book's notebooks set up ``streetlights``, ``walk_vs_stop``, ``weights_0_1``, ``alpha``,
``relu``, ``relu2deriv`` and ``np`` in cells before the loop; the checked cell runs in a
process of its own, and would meet a NameError for each. So for every name the cell reads
before it binds it (:mod:`steptrace.learner.reads`), the kernel's value is handed over when
it can be made again there exactly:

- a module, or an object a module holds under its own name (``from math import exp``):
  imported again;
- numbers — a numpy array or scalar of numbers, a Python int or float, a list or tuple of
  them — and plain data (a str, a bool, None), up to :data:`MAX_HANDED` bytes in all;
- a function the notebook defined with ``def`` at the top of a cell, by its source (which
  IPython keeps for each cell), with what it reads from the notebook in turn. Its lines run
  untraced, as a module's do: one that changes a book name it declares ``global`` would
  change it unseen, and is not handed over.

Anything else (a DataFrame, an open file, a lambda, a method) is not: that is no error
unless the cell then needs it, when the check's one line says which name and why.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
from collections import deque
from collections.abc import Mapping
from typing import TypeVar

from steptrace.learner.names import is_watched
from steptrace.learner.prelude import Prelude, not_data, size
from steptrace.learner.reads import names_read_before_bound

#: The most bytes handed over from the notebook, in all (the check copies each of the book's
#: names it follows besides: an MNIST-sized dataset, 47 MB as float64, fits).
MAX_HANDED = 64 << 20
T = TypeVar("T")
HANDED_KINDS = ("steptrace hands over modules, numbers (numpy arrays, ints, floats, lists of "
                "them), strings and functions defined in the notebook")


def prelude_for(cell: str, namespace: Mapping[str, object]) -> Prelude:
    """What ``cell`` takes from ``namespace`` (the kernel's ``user_ns``), in the order the
    notebook first defined it (see the module)."""
    try:
        tree = ast.parse(cell)
    except (SyntaxError, ValueError):  # the check says why the cell is not Python
        return Prelude()
    imported: dict[str, tuple[str, str]] = {}
    values: dict[str, object] = {}
    functions: dict[str, tuple[str, str]] = {}
    refused: dict[str, str] = {}
    notebook = str(namespace.get("__name__", "__main__"))
    handed_bytes = 0
    wanted, seen = deque(names_read_before_bound(tree)), set()
    while wanted:
        name = wanted.popleft()
        if name in seen or name not in namespace or _is_dunder(name):
            continue  # (a dunder is the script's own: __name__, __file__, __builtins__)
        seen.add(name)
        value = namespace[name]
        if (where := _importable(value, notebook)) is not None:
            imported[name] = where
        elif isinstance(value, types.FunctionType) and value.__module__ == notebook:
            definition = _definition(value)
            if isinstance(definition, str):
                refused[name] = definition
            else:
                functions[name] = definition
                wanted.extend(names_read_before_bound(ast.parse(definition[1])))
        elif isinstance(value, types.ModuleType):
            refused[name] = f"a module that does not import again by its name ({value.__name__})"
        elif (why := not_data(value)) is not None:
            refused[name] = f"{why}: {HANDED_KINDS}"
        elif handed_bytes + (cost := size(value)) > MAX_HANDED:
            refused[name] = (f"{cost / (1 << 20):.0f} MiB, past the {MAX_HANDED >> 20} MiB "
                             "steptrace hands over from the notebook in all")
        else:
            values[name] = value
            handed_bytes += cost
    first_defined = {name: place for place, name in enumerate(namespace)}
    return Prelude(_in_order(imported, first_defined), _in_order(values, first_defined),
                   _in_order(functions, first_defined), refused)


def _in_order(handed: dict[str, T], first_defined: dict[str, int]) -> dict[str, T]:
    """In the order the notebook first defined them (its user_ns keeps that order)."""
    return dict(sorted(handed.items(), key=lambda item: first_defined[item[0]]))


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _importable(value: object, notebook: str) -> tuple[str, str] | None:
    """(module, attribute path) that gives ``value`` when imported again, or None: a module
    (by its name), or what a module holds under its own name (a function, a class, a ufunc)."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
        return (name, "") if name != notebook and sys.modules.get(name) is value else None
    module, path = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(path, str)) or module == notebook:
        return None
    found: object = sys.modules.get(module)
    for part in path.split("."):
        found = inspect.getattr_static(found, part, None)  # (nothing of the value's runs)
    return (module, path) if found is value else None


def _definition(function: types.FunctionType) -> tuple[str, str] | str:
    """(the name its ``def`` gives it, its source), or why it cannot be defined again."""
    if function.__name__ == "<lambda>":
        return "a lambda: steptrace hands over functions defined with def"
    if function.__qualname__ != function.__name__ or function.__closure__:
        return "a function defined inside another (its variables cannot be handed over)"
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError) as error:
        return f"a function whose source steptrace cannot read ({error})"
    statement = tree.body[0] if len(tree.body) == 1 else None
    if not (isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and statement.name == function.__name__):
        return "a function whose source is not one def of it"
    changed = [name for node in ast.walk(tree) if isinstance(node, ast.Global | ast.Nonlocal)
               for name in node.names if is_watched(name)]
    if changed:
        return (f"a function that changes {changed[0]} (global) in lines steptrace would not "
                "follow: define it in the checked cell")
    return function.__name__, source
