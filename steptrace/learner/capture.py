"""The child process's side: run a learner's script and record what it assigns to the
book's names (:mod:`steptrace.learner.names`).

The parent talks to this process over two pipes, no file or folder between them. On the
input pipe it sends, before anything runs, one JSON header line ``{"filename", "is_file",
"source": <bytes>, "prelude": <manifest or null>, "blobs": [<bytes>, ...]}``, then the
script's source (exactly the bytes the parent read and parsed), then each of the prelude's
arrays as ``np.save`` bytes (:func:`read_input` reads it all, then closes it); on the
records pipe it reads back what the run assigned (below). The script never opens a file
of steptrace's.

The script runs as ``python SCRIPT`` would run it (``__name__ == "__main__"``, its file as
``__file__``, its folder first on ``sys.path``, ``sys.argv == [SCRIPT]``), compiled under
its resolved path; a notebook cell (``is_file`` false) runs as Jupyter runs one: compiled
under :data:`CELL`, no ``__file__``, the current folder (the kernel's) first on
``sys.path``. Python's tracing is on for the script's own code only: on Python 3.12 and
later through ``sys.monitoring`` (line events for the script's code objects alone,
nothing anywhere else), before that through ``sys.settrace`` (whose global function hands
every frame of another file back untraced). After each line
of the script, in the module and in every function the script defines, each watched name
in that frame is compared with what it held before (the same object, the same bits): a
change is recorded with the line that made it, as a float64 copy. An in-place update
(``weights_0_1 -= ...``, ``weights[i] -= ...``) is a change of the same object, and is
marked so. A change seen again from an outer frame (a function's ``pred``, returned and
assigned by the caller) is recorded once.

Records stream down the records pipe as they are made (memory stays flat on both sides:
the parent parses them as they come): for each, one JSON line ``{"name", "line",
"inplace", "shape"}`` then its numbers (little-endian float64); at the end one JSON line
``{"end": "ok" | "raised" | "exit" | "limit" | "internal", ...}``. The script's own output
goes to this process's stdout (a pipe the parent reads); past ``max_output`` characters,
or past ``max_numbers`` recorded numbers, ``max_value`` numbers in one value or
``max_assignments`` records, the run stops with an ``end: "limit"`` line saying which, and
this process exits at once (``os._exit``: nothing the script does can catch it).

A notebook cell may be handed what earlier cells defined (a
:mod:`~steptrace.learner.prelude`, in the input): it is set up in the script's
module before its first line, under the same limits and tracing off, and the book's names
among it are recorded as assignments at line 0 (``PRELUDE_LINE``); the end line then says
which names were set (``"handed"``) and which could not be (``"not_handed"``, with why).

Standard library and numpy only, and quick to import: it runs before the learner's script.
Started by :mod:`steptrace.learner.runner` as ``python -c BOOT INPUT RECORDS LIMITS...``
(INPUT and RECORDS: the pipes' file descriptors).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import io
import json
import linecache
import os
import sys
import types
import warnings
from collections.abc import Callable, Collection, Iterator
from typing import IO, Any, NoReturn

import numpy as np

from steptrace.learner.names import is_watched

#: What the runner passes after INPUT and RECORDS, in this order.
LIMIT_NAMES = ("max_numbers", "max_value", "max_assignments", "max_output")
#: The file name a notebook cell's code is compiled under (it has no file): what the
#: tracing and :func:`failing_line` know the script's own code by.
CELL = "<cell>"


class _Seen:
    """A watched name's value in one frame: the object, and a copy of its numbers."""

    __slots__ = ("copy", "value")

    def __init__(self, value: object, copy: np.ndarray[Any, Any] | None) -> None:
        self.value = value
        self.copy = copy


def numbers_of(value: object, max_value: int) -> np.ndarray[Any, Any] | int | None:
    """``value``'s numbers as a new float64 array (a scalar as 0-d), None when it holds
    no numbers (a string, a function, a ragged list), or its size when that is more than
    ``max_value``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        try:  # (10**400, or a float subclass of the script's whose __float__ raises: no number
            return np.array(float(value))  # steptrace follows, and never the script's error)
        except Exception:
            return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return None
        if value.size > max_value:
            return int(value.size)
        return np.array(value, dtype=np.float64)
    if isinstance(value, list | tuple):
        if len(value) > max_value:
            return len(value)
        # its size before numpy makes an array of it (rows of a list may be one list many
        # times over: [[0.5] * 1000] * 300000 is small in memory, not as numbers)
        size = sum(len(row) if isinstance(row, list | tuple) else 1 for row in value)
        if size > max_value:
            return size
        try:
            with warnings.catch_warnings():  # (complex numbers: the script never sees numpy's
                warnings.simplefilter("ignore")  # warning of steptrace's conversion)
                array = np.array(value, dtype=np.float64)
        except Exception:  # not numbers, ragged, or an object of the script's that raises
            return None
        if array.ndim > 2:
            return None
        return int(array.size) if array.size > max_value else array
    return None


def scope_of(frame: types.FrameType) -> dict[str, Any]:
    """The names a frame can change: its locals; in a function, the module's names its code
    names (``global weights_0_1`` and ``weights_0_1 -= ...`` in a ``def train():``, or an
    in-place change of a module's array); in a method, the book's names its object holds
    (``self.weights_0_1``, followed as ``weights_0_1``)."""
    names = frame.f_locals
    if frame.f_code.co_name == "<module>" or frame.f_globals is names:
        return names
    module = frame.f_globals
    found = {name: module[name] for name in _watched_names(frame.f_code)
             if name not in names and name in module}
    owner = names.get("self")
    if owner is not None:
        try:  # (an object of the script's may make even its __dict__ raise: nothing to follow)
            attributes = object.__getattribute__(owner, "__dict__")
        except Exception:
            attributes = None
        if isinstance(attributes, dict):
            found.update((name, value) for name, value in list(attributes.items())
                         if isinstance(name, str) and is_watched(name) and name not in names)
    return {**found, **names} if found else names


@functools.cache
def _watched_names(code: types.CodeType) -> tuple[str, ...]:
    """The book's names among those a function's code names (once per code object: this
    runs on every traced line of a function)."""
    return tuple(name for name in code.co_names if is_watched(name))


def same_bits(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


class Recorder:
    """Watches the script's frames and writes a record for every change of a book name."""

    def __init__(self, script: str, out: IO[bytes], limits: dict[str, int]) -> None:
        self.script = script
        self.out = out
        self.limits = limits
        self.numbers = 0
        self.assignments = 0
        #: per frame (by id, while it runs): the line it is on, and each watched name's value
        self.frames: dict[int, tuple[list[int], dict[str, _Seen]]] = {}
        #: each name's last record and the frame it was made in: a change seen again from
        #: another frame is the same change
        self.last: dict[str, tuple[_Seen, int]] = {}
        #: line -> the first line of its statement; statement -> the names it assigns
        self.statements: dict[int, int] = {}
        self.assigned: dict[int | None, frozenset[str]] = {}
        #: what the end line says of a prelude: the names set, and those that could not be
        self.handed: dict[str, Any] = {}

    # -- what the tracing backends call --------------------------------------------

    def line(self, frame: types.FrameType, line: int) -> None:
        """A line of the script is about to run in ``frame``: what the previous one changed
        (and assigned: a statement left for another assigns its names, changed or not)."""
        watched = self.frames.get(id(frame))
        if watched is None:  # the frame's first line: what it holds already is no change,
            seen = self.snapshot(scope_of(frame))  # but what a function was handed may be
            self.frames[id(frame)] = ([line], seen)
            if frame.f_code.co_name != "<module>":
                self.parameters(frame.f_code, seen, id(frame))
            return
        at, seen = watched
        statement = self.statements.get(at[0])
        left = statement != self.statements.get(line)
        self.compare(frame, seen, at[0], self.assigned.get(statement, ()) if left else ())
        at[0] = line

    def parameters(self, code: types.CodeType, seen: dict[str, _Seen], frame: int) -> None:
        """A function handed a book name as a parameter (``def train(..., alpha)``, ``def
        step(self, layer_0)``): recorded, at its ``def`` line, where the value is not the
        one last recorded under that name (the caller's own, passed on, is no change)."""
        for name in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
            value = seen.get(name)
            if value is None or value.copy is None:
                continue
            last = self.last.get(name)
            if (last is not None and last[0].value is value.value and last[0].copy is not None
                    and same_bits(last[0].copy, value.copy)):
                continue
            self.last[name] = (value, frame)
            self.record(name, code.co_firstlineno, value.copy, False)

    def leave(self, frame: types.FrameType, raised: bool = False) -> None:
        """``frame`` returns (or yields, or ``raised``): what its last line changed. A line
        that raised assigned nothing (``weights -= ...`` that numpy refused), so only what
        it did change is recorded."""
        watched = self.frames.pop(id(frame), None)
        if watched is not None:
            at = watched[0][0]
            assigned = () if raised else self.assigned.get(self.statements.get(at), ())
            self.compare(frame, watched[1], at, assigned)

    def preset(self, scope: dict[str, Any], names: list[str], line: int) -> None:
        """Record the book's names among ``names``, set in ``scope`` before the script's
        first line (a prelude), as assignments at ``line``: the data, alpha and the initial
        weights the script starts from."""
        for name in names:
            if not is_watched(name):
                continue
            copy = numbers_of(scope[name], self.limits["max_value"])
            if isinstance(copy, int):
                self.limit(f"{name}, from an earlier cell, holds {copy:,} numbers: steptrace "
                           f"follows at most {self.limits['max_value']:,} in one variable")
            if copy is not None:
                self.record(name, line, copy, False)

    # -- comparing ------------------------------------------------------------------

    def snapshot(self, scope: dict[str, Any]) -> dict[str, _Seen]:
        seen = {}
        for name, value in list(scope.items()):
            if is_watched(name):
                copy = numbers_of(value, self.limits["max_value"])
                seen[name] = _Seen(value, copy if isinstance(copy, np.ndarray) else None)
        return seen

    def compare(self, frame: types.FrameType, seen: dict[str, _Seen], line: int,
                assigned: Collection[str]) -> None:
        """Record each watched name of ``frame`` that the statement at ``line`` changed, or
        assigned (``assigned``: an in-place update that changed nothing is an update too)."""
        for name, value in list(scope_of(frame).items()):
            if not is_watched(name):
                continue
            old = seen.get(name)
            forced = name in assigned
            immutable = isinstance(value, int | float | np.generic)
            if old is not None and old.value is value and immutable and not forced:
                continue  # the same number object: nothing changed
            copy = numbers_of(value, self.limits["max_value"])
            if isinstance(copy, int):
                self.limit(f"line {line} assigns {name} a value of {copy:,} numbers: steptrace "
                           f"follows at most {self.limits['max_value']:,} in one variable (the "
                           "book's networks hold fewer than 100)")
            if copy is None:
                seen[name] = _Seen(value, None)
                continue
            if (old is not None and old.value is value and old.copy is not None and not forced
                    and same_bits(old.copy, copy)):
                continue  # the same object, the same numbers
            inplace = old is not None and old.value is value
            seen[name] = _Seen(value, copy)
            last = self.last.get(name)
            if (last is not None and last[1] != id(frame) and last[0].value is value
                    and last[0].copy is not None and same_bits(last[0].copy, copy)):
                continue  # a change made in another frame (a function's), seen again here
            self.last[name] = (seen[name], id(frame))
            self.record(name, line, copy, inplace)

    def record(self, name: str, line: int, copy: np.ndarray[Any, Any], inplace: bool) -> None:
        self.assignments += 1
        self.numbers += copy.size
        if self.assignments > self.limits["max_assignments"]:
            self.limit(f"the script made more than {self.limits['max_assignments']:,} assignments "
                       "to the book's names (an endless loop? steptrace stopped it)")
        if self.numbers > self.limits["max_numbers"]:
            self.limit(f"the script assigned more than {self.limits['max_numbers']:,} numbers to "
                       "the book's names (a network or a run too large to check step by step; "
                       "steptrace stopped it)")
        header = {"name": name, "line": line, "inplace": inplace, "shape": list(copy.shape)}
        self.out.write(json.dumps(header).encode() + b"\n")
        self.out.write(copy.astype("<f8", copy=False).tobytes())

    def limit(self, message: str) -> NoReturn:
        """A limit was passed: write the end line saying which, and leave at once (no
        ``try`` in the script can catch this)."""
        sys.settrace(None)
        self.end({"end": "limit", "message": message})
        os._exit(0)

    def end(self, end: dict[str, Any]) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # (the script may have closed or replaced it)
                stream.flush()
        self.out.write(json.dumps({**end, **self.handed}).encode() + b"\n")
        self.out.flush()


class CappedOutput(io.TextIOBase):
    """The script's stdout (or stderr), stopping the run past ``limit`` characters."""

    def __init__(self, stream: IO[str], limit: int, on_limit: Callable[[str], None], name: str) -> None:
        self.stream = stream
        self.limit = limit
        self.written = 0
        self.on_limit = on_limit
        self.name = name

    def write(self, text: str) -> int:
        self.written += len(text)
        if self.written > self.limit:
            self.stream.write(text[: max(0, self.limit - (self.written - len(text)))])
            self.on_limit(f"the script printed more than {self.limit:,} characters to its "
                          f"{self.name} (steptrace stopped it)")
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.stream, "encoding", "utf-8"))


def code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and every code object inside it (functions, lambdas, comprehensions)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from code_objects(constant)


def trace_with_settrace(recorder: Recorder, script: str) -> Callable[[], None]:
    """Python ≤ 3.11: ``sys.settrace``, whose global function traces the script's frames
    only. Returns what turns it off."""

    raising: set[int] = set()  # frames whose current line raised (and did not catch it yet)

    def local(frame: types.FrameType, event: str, arg: object) -> Any:
        if event == "line":
            raising.discard(id(frame))
            recorder.line(frame, frame.f_lineno)
        elif event == "exception":
            raising.add(id(frame))
        elif event == "return":
            recorder.leave(frame, raised=id(frame) in raising)
            raising.discard(id(frame))
        return local

    def global_(frame: types.FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == script else None

    sys.settrace(global_)
    return lambda: sys.settrace(None)


def trace_with_monitoring(recorder: Recorder, code: types.CodeType) -> Callable[[], None]:
    """Python ≥ 3.12: ``sys.monitoring`` line, return and yield events on the script's own
    code objects alone (the rest of the program runs untouched); unwinding (an exception
    leaving a frame) is a global event, filtered by code object. Returns what turns it off."""
    monitoring = sys.monitoring  # type: ignore[attr-defined, unused-ignore]
    events = monitoring.events
    tool = next(t for t in (monitoring.DEBUGGER_ID, monitoring.PROFILER_ID, 3, 4)
                if monitoring.get_tool(t) is None)
    monitoring.use_tool_id(tool, "steptrace")
    ours = set(code_objects(code))

    def on_line(code: types.CodeType, line: int) -> None:
        recorder.line(sys._getframe(1), line)

    def on_leave(code: types.CodeType, offset: int, value: object) -> None:
        recorder.leave(sys._getframe(1))

    def on_unwind(code: types.CodeType, offset: int, error: BaseException) -> None:
        if code in ours:
            recorder.leave(sys._getframe(1), raised=True)

    monitoring.register_callback(tool, events.LINE, on_line)
    monitoring.register_callback(tool, events.PY_RETURN, on_leave)
    monitoring.register_callback(tool, events.PY_YIELD, on_leave)
    monitoring.register_callback(tool, events.PY_UNWIND, on_unwind)
    for each in ours:
        monitoring.set_local_events(tool, each, events.LINE | events.PY_RETURN | events.PY_YIELD)
    monitoring.set_events(tool, events.PY_UNWIND)

    def off() -> None:
        monitoring.set_events(tool, 0)
        for each in ours:
            monitoring.set_local_events(tool, each, 0)
        monitoring.free_tool_id(tool)

    return off


def backend() -> str:
    """``monitoring`` on Python 3.12 and later, else ``settrace``
    (``STEPTRACE_CAPTURE=settrace`` chooses the older one anywhere, for the tests)."""
    chosen = os.environ.get("STEPTRACE_CAPTURE", "")
    if chosen in ("settrace", "monitoring"):
        return chosen
    return "monitoring" if sys.version_info >= (3, 12) else "settrace"


def failing_line(error: BaseException, script: str) -> int | None:
    """The script's line where ``error`` was raised (the innermost frame of the script)."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == script:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    if line is None and isinstance(error, SyntaxError) and error.filename == script:
        line = error.lineno
    return line


def run(script: str, source: bytes, records: int, limits: dict[str, int], is_file: bool = True,
        prelude: tuple[dict[str, Any], list[bytes]] | None = None) -> None:
    """Run ``source`` (compiled as ``script``: a file's resolved path, or :data:`CELL`)
    with its assignments recorded to the file descriptor ``records`` (after setting up the
    ``prelude``'s names, if given: its manifest and its arrays' blobs); always ends by
    writing the end line (or by ``os._exit`` at a limit)."""
    out = os.fdopen(records, "wb")  # (it stays open until os._exit or the end)
    recorder = Recorder(script, out, limits)

    sys.stdout = CappedOutput(sys.stdout, limits["max_output"], recorder.limit, "output")
    sys.stderr = CappedOutput(sys.stderr, limits["max_output"], recorder.limit, "error output")
    try:
        tree = ast.parse(source, script)
        code = compile(tree, script, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        recorder.end({"end": "raised", "type": type(error).__name__, "message": str(error),
                      "line": getattr(error, "lineno", None)})
        return
    recorder.statements = statement_lines(tree)
    recorder.assigned = {line: frozenset(filter(is_watched, names))
                         for line, names in assigned_names(tree).items()}
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    sys.argv = [script]
    if is_file:  # as ``python SCRIPT``: its file, its folder first on the path
        module.__file__ = script
        sys.path[0] = os.path.dirname(script)
    else:  # a cell, as Jupyter runs one: no file; a module beside the notebook imports
        sys.path[0] = os.getcwd()
        # (its lines for a traceback or inspect, as IPython keeps a cell's)
        linecache.cache[script] = (len(source), None, source.decode("utf-8").splitlines(True), script)
    if prelude is not None:  # (before the tracing: none of it is the script's own code)
        from steptrace.learner.prelude import PRELUDE_LINE, unpack  # (a script's run has none)

        handed, not_handed = unpack(*prelude, module.__dict__)
        recorder.handed = {"handed": handed, "not_handed": not_handed}
        recorder.preset(module.__dict__, handed, PRELUDE_LINE)
    off = (trace_with_monitoring(recorder, code) if backend() == "monitoring"
           else trace_with_settrace(recorder, script))
    end: dict[str, Any] = {"end": "ok"}
    try:
        exec(code, module.__dict__)
    except SystemExit as done:
        code_ = done.code
        if code_ not in (None, 0):
            end = {"end": "exit", "code": code_ if isinstance(code_, int) else str(code_),
                   "line": failing_line(done, script)}
    except BaseException as error:  # the script's own failure, reported by the parent
        end = {"end": "raised", "type": type(error).__name__, "message": str(error),
               "line": failing_line(error, script)}
        if isinstance(error, NameError) and error.name:  # (a name an earlier cell had?)
            end["name"] = str(error.name)
    finally:
        off()
    recorder.end(end)


def statement_lines(tree: ast.Module) -> dict[int, int]:
    """For each line, the first line of the innermost statement holding it (a statement
    spread over several lines is reported by its first)."""
    statements = [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]
    lines: dict[int, int] = {}
    for node in sorted(statements, key=lambda n: (n.end_lineno or n.lineno) - n.lineno, reverse=True):
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            lines[line] = node.lineno
    return lines


def assigned_names(tree: ast.Module) -> dict[int | None, set[str]]:
    """For each statement (by its first line), the names it assigns: ``x = ...``,
    ``x += ...``, ``x[i] -= ...`` (an element of x), ``a, b = ...``, a ``for`` target."""
    assigned: dict[int | None, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
            targets = [node.target]
        else:
            continue
        names = assigned.setdefault(node.lineno, set())
        for target in targets:
            names.update(_target_names(target))
    return assigned


def _target_names(target: ast.expr) -> Iterator[str]:
    while isinstance(target, ast.Subscript | ast.Attribute | ast.Starred):
        target = target.value
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)


def read_input(fd: int) -> tuple[dict[str, Any], bytes, list[bytes]]:
    """What the parent sends on the input pipe, read whole (before any of the script runs,
    then closed): the header line, the script's source, the prelude's arrays."""
    with os.fdopen(fd, "rb") as given:
        header = json.loads(given.readline())
        source = given.read(header["source"])
        blobs = [given.read(size) for size in header["blobs"]]
    if len(source) != header["source"] or [len(blob) for blob in blobs] != header["blobs"]:
        raise EOFError("the parent's input to the child ended early")
    return header, source, blobs


def main(argv: list[str]) -> None:
    """``INPUT RECORDS LIMITS...``: the two pipes' file descriptors, then the limits."""
    given, records, *numbers = argv
    limits = dict(zip(LIMIT_NAMES, map(int, numbers), strict=True))
    header, source, blobs = read_input(int(given))
    os.set_inheritable(int(records), False)  # (a program the script runs has no business there)
    prelude = header["prelude"]
    run(header["filename"], source, int(records), limits, bool(header["is_file"]),
        None if prelude is None else (prelude, blobs))
