"""What a notebook's earlier cells hand the cell being checked: its prelude.

``%%steptrace_check`` runs its cell as a script in a process of its own, where nothing the
notebook defined exists; a :class:`Prelude` carries over what the cell takes from it
(:mod:`steptrace.learner.handover` decides what) and the child process sets it up before
the script's first line:

- ``imported``: modules (``np``), and objects a module holds (``from math import exp``):
  imported again by their names;
- ``values``: numbers — a numpy array or scalar of numbers (its dtype and shape kept), a
  Python int or float, a list or tuple of them (nested) — and plain data (a str, a bool,
  None), exactly: arrays through ``np.save``/``np.load``, Python numbers as JSON (a float's
  repr, which reads back to the same bits);
- ``functions``: functions the notebook defined, by their source (defined again).

The parent packs a prelude (:func:`pack`: a JSON manifest, and each array as the bytes
``np.save`` writes), sends it down the child's input pipe with the script's source (no
file or folder: see :mod:`steptrace.learner.runner`), and the child sets it up
(:func:`unpack`, each array read back with ``np.load(..., allow_pickle=False)``). The book's
names among the values are then recorded as assignments made before the script's first
line, at :data:`PRELUDE_LINE` (the report says "from an earlier cell"): the data, alpha and
the initial weights are how the check understands the run. Standard library and numpy
only: the child imports this before the learner's script.
"""

from __future__ import annotations

import importlib
import io
import json
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The line of an assignment made before the script's first line (from an earlier cell).
PRELUDE_LINE = 0
#: An array's element kinds that are numbers: bool, int, unsigned, float, complex.
NUMBER_KINDS = "biufc"
#: How deep a list of lists may go, and how many items (a string: characters) a value may
#: hold in all: what is written for the child stays small (arrays have their own bound).
MAX_DEPTH, MAX_ITEMS = 8, 1_000_000
MAX_INT_BITS = 13_000  # (about 3,900 digits: Python writes ints of up to 4,300)


@dataclass(frozen=True)
class Prelude:
    """Names a script starts with, and the names that could not be handed over (why)."""

    #: name -> (module, attribute path in it; "" for the module itself)
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: name -> its value (numbers or plain data: see :func:`not_data`)
    values: dict[str, object] = field(default_factory=dict)
    #: name -> (the name its ``def`` gives it, the ``def``'s source)
    functions: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: name -> why it could not be handed over (said if the script then needs it)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """What it hands over, in the order the child sets it up."""
        return [*self.imported, *self.values, *self.functions]


#: The Python types handed over as they are (a subclass is not: it may behave otherwise).
_PLAIN = (bool, int, float, str)


def not_data(value: object) -> str | None:
    """Why ``value`` is not one of the values a prelude carries (None when it is)."""
    if isinstance(value, str) and len(value) > MAX_ITEMS:
        return f"a str of more than {MAX_ITEMS:,} characters"
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        return "an int of more than 3,900 digits"  # (past Python's repr of ints, by default)
    if value is None or type(value) in _PLAIN:
        return None
    if isinstance(value, np.ndarray | np.generic):
        if type(value) is not np.ndarray and not isinstance(value, np.generic):
            return f"{_a(type(value).__name__)} (not a plain numpy array)"
        kind = value.dtype.kind
        return None if kind in NUMBER_KINDS else f"an array of {value.dtype} (not numbers)"
    if isinstance(value, list | tuple) and type(value) in (list, tuple):
        return _not_listed_data(value)
    return _a(type(value).__name__)


def _a(noun: str) -> str:
    """``a DataFrame``, ``an object``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _not_listed_data(value: list[object] | tuple[object, ...]) -> str | None:
    """Why a list or tuple is not plain data (its items Python's numbers, strings, None,
    or lists and tuples of them), within MAX_DEPTH and MAX_ITEMS (a list holding itself
    stops there too)."""
    waiting: list[tuple[list[object] | tuple[object, ...], int]] = [(value, 0)]
    items = 0
    while waiting:
        listed, depth = waiting.pop()
        if depth >= MAX_DEPTH:
            return f"lists nested more than {MAX_DEPTH} deep"
        items += len(listed)
        if items > MAX_ITEMS:
            return f"a {type(value).__name__} of more than {MAX_ITEMS:,} items"
        for item in listed:
            if isinstance(item, list | tuple) and type(item) in (list, tuple):
                waiting.append((item, depth + 1))
            elif item is not None and type(item) not in _PLAIN:
                return f"a {type(value).__name__} holding {_a(type(item).__name__)}"
            elif isinstance(item, str):
                items += len(item)
            elif isinstance(item, int) and item.bit_length() > MAX_INT_BITS:
                return f"a {type(value).__name__} holding an int of more than 3,900 digits"
    return None if items <= MAX_ITEMS else f"a {type(value).__name__} of more than {MAX_ITEMS:,} items"


def size(value: object) -> int:
    """The bytes handing ``value`` over writes (it must be one a prelude carries)."""
    if isinstance(value, np.ndarray | np.generic):
        return int(value.nbytes)
    return len(json.dumps(_tagged(value)))


# -- the parent's side -----------------------------------------------------------------

def pack(prelude: Prelude) -> tuple[dict[str, Any], list[bytes]]:
    """``prelude`` as the child hears it: a manifest (plain JSON, in the header line the
    parent sends on the child's input pipe) and a blob for each array, the bytes
    ``np.save`` writes (sent after the script's source; a value's ``"npy"`` is its blob's
    index)."""
    values: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, value in prelude.values.items():
        if isinstance(value, np.ndarray | np.generic):
            blob = io.BytesIO()
            np.save(blob, np.asarray(value), allow_pickle=False)
            values.append({"name": name, "npy": len(blobs), "scalar": isinstance(value, np.generic)})
            blobs.append(blob.getvalue())
        else:
            values.append({"name": name, "json": _tagged(value)})
    manifest = {"imported": [[name, *where] for name, where in prelude.imported.items()],
                "values": values,
                "functions": [[name, *definition] for name, definition in prelude.functions.items()]}
    return manifest, blobs


def _tagged(value: object) -> Any:
    """Plain data as JSON, a tuple kept apart from a list."""
    if isinstance(value, tuple):
        return {"tuple": [_tagged(item) for item in value]}
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    return value  # None, a bool, an int, a float (repr: the same bits back), a str


# -- the child's side ------------------------------------------------------------------

def unpack(manifest: dict[str, Any], blobs: list[bytes], namespace: dict[str, Any]
           ) -> tuple[list[str], dict[str, str]]:
    """Set up the prelude :func:`pack` made (its manifest and its arrays' blobs, as the
    child read them from its input pipe) in ``namespace`` (the script's module): the names
    set, in order, and those that could not be (why). A module that will not import here,
    a definition that raises, is left out, never an error of the run's."""
    done: list[str] = []
    failed: dict[str, str] = {}
    for name, module, attribute in manifest["imported"]:
        try:
            value: Any = importlib.import_module(module)
            for part in filter(None, attribute.split(".")):
                value = getattr(value, part)
        except Exception as error:
            failed[name] = (f"{module} does not import in the check's process "
                            f"({type(error).__name__}: {error})")
            continue
        namespace[name] = value
        done.append(name)
    for entry in manifest["values"]:
        if "npy" in entry:
            array = np.load(io.BytesIO(blobs[entry["npy"]]), allow_pickle=False)
            namespace[entry["name"]] = array[()] if entry["scalar"] else array
        else:
            namespace[entry["name"]] = _untagged(entry["json"])
        done.append(entry["name"])
    for name, defined_as, source in manifest["functions"]:
        try:  # (its own file name: tracing follows the script's code only, as for a module's)
            exec(compile(source, f"<{defined_as}, from an earlier cell>", "exec", dont_inherit=True),
                 namespace)
            function = namespace[defined_as]
            if not isinstance(function, types.FunctionType):
                raise TypeError(f"{defined_as} is not a function")
        except Exception as error:
            failed[name] = f"defining it again raised {type(error).__name__}: {error}"
            continue
        namespace[name] = function
        done.append(name)
    return done, failed


def _untagged(value: Any) -> object:
    if isinstance(value, dict):
        return tuple(_untagged(item) for item in value["tuple"])
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    return value
