"""The parent's side of tracing a learner's script: run it in a child process, read back
what it assigned, and say in one line why a script could not be followed.

The script is the user's own code and it is run, as ``python SCRIPT`` would run it, but in
a child process of its own (:mod:`steptrace.learner.capture`): a ``sys.exit``, a crash, an
endless loop or a ``timeout`` cannot take steptrace down, and what is recorded is capped
(:data:`LIMITS`), so memory and disk stay bounded. The child's standard output (what the
script printed) is kept apart from steptrace's own. Every way a script can fail is a
:class:`ScriptError` (exit 2) with one line: the script's exception with its type, message
and line; ``sys.exit`` with a status other than 0; a timeout; a limit; not Python.

A notebook cell may start from what earlier cells defined (a
:class:`~steptrace.learner.prelude.Prelude`): written into the run's folder for the child,
which sets it up before the script's first line, inside the same process, limits and
timeout. Its values of the book's names are assignments at line 0, which messages call
"from an earlier cell"; a NameError for a name that could not be handed over says why.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steptrace.defaults import TIMEOUT
from steptrace.engine.rules import Array
from steptrace.errors import BadInput, Terminated
from steptrace.learner.capture import LIMIT_NAMES, assigned_names, statement_lines
from steptrace.learner.names import LOOKED_FOR, role_of
from steptrace.learner.prelude import PRELUDE_LINE, Prelude
from steptrace.learner.prelude import write as write_prelude
from steptrace.limits import MiB
from steptrace.outputs import handling

#: How much a run may record before it is stopped (see :mod:`steptrace.learner.capture`):
#: 10^7 numbers in all (80 MB), 10^6 in one variable, 2·10^5 assignments (the book's
#: chapter 6 loop makes 2,000), 8 MiB printed. What steptrace holds of a run stays under
#: some 150 MB, whatever the script does.
LIMITS = {"max_numbers": 10_000_000, "max_value": 1_000_000, "max_assignments": 200_000,
          "max_output": 8 * MiB}
#: The largest script steptrace runs.
MAX_SCRIPT = MiB
#: What starts the child: the checkout or installation of this steptrace comes first on
#: ``sys.path`` only while capture is imported; the script then sees the path ``python
#: SCRIPT`` would give it.
#: The child's first lines: no file it writes (its output, the records of its run, anything
#: else) may grow past MAX_FILE, so that a script cannot fill the disk; then the capture.
BOOT = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({max_file}, {max_file})); "
        "sys.path.insert(0, {root!r}); from steptrace.learner.capture import main; "
        "del sys.path[0]; main(sys.argv[1:])")
MAX_FILE = 256 * MiB  # the records of 10^7 numbers and 2·10^5 assignments fit well within


class ScriptError(BadInput):
    """The learner's script failed (raised, exited, ran too long, too much), or is not one
    steptrace can follow (not Python, none of the book's names): exit 2. ``captured`` holds
    what a script that failed had assigned before it did (the check looks at it: a step
    that departs from the book often comes before the line that raises)."""

    captured: Captured | None = None
    #: where the script raised, and what: (line, "ValueError: shapes (4,) and ...")
    raised: tuple[int | None, str] | None = None
    from_earlier_cells: tuple[str, ...] = ()  # what the run was handed before it failed


@dataclass(frozen=True)
class Assignment:
    """One change of a book-named variable: its new value, and the statement that made it."""

    index: int  # its place in the run, from 0
    name: str
    line: int  # the first line of the statement that made it
    value: Array  # float64, in the script's own shape (a number: 0-d)
    inplace: bool  # the same object as before, changed (weights -= ..., weights[i] -= ...)


@dataclass(frozen=True)
class Script:
    """A learner's script: where it is, and its statements (to quote a line)."""

    path: Path
    label: str  # as the user named it
    lines: tuple[str, ...]
    statements: dict[int, int]  # line -> the first line of the statement holding it
    #: (line, name): the statement at line assigns name from its own value (``x += ...``,
    #: ``x = x + ...``), as a sum over a pass is made; ``x = 0`` sets it back
    accumulating: frozenset[tuple[int, str]]
    #: lines of statements that run code steptrace does not follow: an import, exec, eval
    untraced: frozenset[int] = frozenset()
    #: (line, name) -> function: a function rebinds its parameter ``name`` there
    #: (``weights = weights - ...``): a new local value, the caller's unchanged
    rebound: dict[tuple[int, str], str] = field(default_factory=dict)
    #: line -> the names the statement starting there assigns (``x = ...``, ``x -= ...``,
    #: ``x[i] = ...``, a ``for`` target)
    assigns: dict[int, frozenset[str]] = field(default_factory=dict)
    #: function -> the first line where it writes into an array it was handed
    #: (``output[output > 0] = 1`` in ``def relu2deriv(output)``)
    writes_into: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def tree(self) -> ast.Module:
        """The script parsed (it parsed when it was read), for what asks about its code."""
        return ast.parse("\n".join(self.lines))

    def place(self, line: int) -> str:
        """``line 5``, or ``from an earlier cell`` for a value set before the script's first
        line (:data:`~steptrace.learner.prelude.PRELUDE_LINE`)."""
        return "from an earlier cell" if line == PRELUDE_LINE else f"line {line}"

    def at(self, line: int) -> str:
        """Where a message points: ``the cell:5``, or ``the cell (from an earlier cell)``."""
        return f"{self.label} (from an earlier cell)" if line == PRELUDE_LINE else f"{self.label}:{line}"

    def source_of(self, line: int) -> str:
        """The whole statement starting at ``line``, as written."""
        if line == PRELUDE_LINE:
            return ""
        end = max((n for n, first in self.statements.items() if first == line), default=line)
        return "\n".join(self.lines[line - 1:end])

    def names_in(self, line: int) -> set[str]:
        """The names the statement starting at ``line`` mentions (its words that could be
        names: what a mistake looks for as evidence)."""
        return set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", self.source_of(line)))

    def statement(self, line: int) -> str:
        """The statement starting at ``line``, as written (its first line, stripped; ``…`` if
        it goes on; a value from an earlier cell says so)."""
        if line == PRELUDE_LINE:
            return "(set by an earlier cell, not by a line of this one)"
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        following = [n for n, first in self.statements.items() if first == line and n > line]
        return text + (" …" if following else "")


@dataclass(frozen=True)
class Captured:
    """What a run of the script assigned to the book's names, in order, and printed."""

    script: Script
    assignments: tuple[Assignment, ...]
    stdout: str
    #: the names an earlier cell's values were handed to it under (a prelude), in order
    from_earlier_cells: tuple[str, ...] = ()


def read_script(path: Path, label: str | None = None) -> Script:
    """The script's source, checked to be Python (ScriptError saying why not); ``label``
    names it in messages (default: its path)."""
    label = str(path) if label is None else label
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SCRIPT + 1)
    except IsADirectoryError:
        raise ScriptError(f"{label}: is a directory, not a Python script") from None
    except OSError as error:
        raise ScriptError(f"{label}: cannot read: {error.strerror or error}") from None
    if len(raw) > MAX_SCRIPT:
        raise ScriptError(f"{label}: larger than 1 MiB, the most steptrace runs (is this a "
                          "learner's script?)")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScriptError(f"{label}: not a Python script (not UTF-8 text)") from None
    try:
        tree = ast.parse(source, filename=label)
    except SyntaxError as error:
        raise ScriptError(f"{label}:{error.lineno}: not Python: {error.msg}") from None
    except ValueError as error:  # a NUL byte
        raise ScriptError(f"{label}: not Python: {error}") from None
    assigns = {line: frozenset(names) for line, names in assigned_names(tree).items() if line is not None}
    return Script(path, label, tuple(source.splitlines()), statement_lines(tree),
                  self_assignments(tree), untraced_lines(tree), rebound_parameters(tree), assigns,
                  parameters_written(tree))


#: Calls that run code from elsewhere, which the tracing (of the script's own code) misses
RUNS_OTHER_CODE = {"exec", "eval", "__import__", "run_path", "run_module", "import_module"}


def untraced_lines(tree: ast.Module) -> frozenset[int]:
    """The lines of statements that import a module or exec/eval code: what such code
    computes appears in the script's variables with no step of it followed."""
    found: set[int] = set()
    for statement in ast.walk(tree):
        if not isinstance(statement, ast.stmt):
            continue
        if isinstance(statement, ast.Import | ast.ImportFrom):
            found.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
        elif isinstance(statement, ast.Expr | ast.Assign | ast.AugAssign):
            calls = [node.func for node in ast.walk(statement) if isinstance(node, ast.Call)]
            if any((isinstance(f, ast.Name) and f.id in RUNS_OTHER_CODE)
                   or (isinstance(f, ast.Attribute) and f.attr in RUNS_OTHER_CODE) for f in calls):
                found.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
    return frozenset(found)


def rebound_parameters(tree: ast.Module) -> dict[tuple[int, str], str]:
    """(line, name) -> function, for each plain assignment to one of the book's names that
    is a parameter of the function it is in (not declared global there)."""
    found: dict[tuple[int, str], str] = {}
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = function.args
        parameters = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
        declared = {name for node in ast.walk(function) if isinstance(node, ast.Global | ast.Nonlocal)
                    for name in node.names}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if (isinstance(target, ast.Name) and target.id in parameters - declared
                            and role_of(target.id) is not None):
                        found[(node.lineno, target.id)] = function.name
    return found


def parameters_written(tree: ast.Module) -> dict[str, int]:
    """function -> the first line where it writes into a parameter in place (an element,
    ``x[...] = ...``, or ``x += ...`` on an array): the caller's array changes."""
    found: dict[str, int] = {}
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = function.args
        parameters = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
        lines = [node.lineno for node in ast.walk(function)
                 if (isinstance(node, ast.Assign) and any(
                     isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                     and t.value.id in parameters for t in node.targets))
                 or (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name | ast.Subscript)
                     and getattr(node.target, "id", getattr(getattr(node.target, "value", None), "id", None))
                     in parameters)]
        if lines:
            found[function.name] = min(lines)
    return found


def self_assignments(tree: ast.Module) -> frozenset[tuple[int, str]]:
    """(line, name) of each statement that assigns a name from its own value."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.add((node.lineno, node.target.id))
        elif isinstance(node, ast.Assign):
            used = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            found.update((node.lineno, t.id) for t in node.targets
                         if isinstance(t, ast.Name) and t.id in used)
    return frozenset(found)


def capture(path: Path | str, timeout: float = TIMEOUT,
            limits: dict[str, int] | None = None, label: str | None = None,
            prelude: Prelude | None = None) -> Captured:
    """Run the script at ``path`` in a child process (at most ``timeout`` seconds) and
    return what it assigned to the book's names and printed; ScriptError if it failed or
    assigned none of them. ``label`` names it in messages (default: its path);
    ``prelude``, what a notebook's earlier cells hand it (set up before its first line)."""
    path = Path(path)
    script = read_script(path, label)
    limits = {**LIMITS, **(limits or {})}
    root = str(Path(__file__).resolve().parents[2])  # where this steptrace is
    target = str(path.resolve())
    with tempfile.TemporaryDirectory(prefix="steptrace-script-") as folder:
        records, out, err = (Path(folder) / name for name in ("records", "stdout", "stderr"))
        command = [sys.executable, "-c", BOOT.format(root=root, max_file=MAX_FILE), target,
                   str(records),
                   *(str(limits[name]) for name in LIMIT_NAMES)]
        if prelude is not None:  # (the child is another process: a folder is how it hears)
            write_prelude(prelude, Path(folder) / "prelude")
            command.append(str(Path(folder) / "prelude"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            status = _run(command, stdout, stderr, timeout, script)
        with out.open("rb") as file:  # (the child caps print; os.write goes around it)
            printed_bytes = file.read(limits["max_output"] + 1)
        if len(printed_bytes) > limits["max_output"]:
            raise ScriptError(f"{script.label}: the script printed more than "
                              f"{limits['max_output']:,} characters to its output (steptrace "
                              "stopped it)")
        printed = printed_bytes.decode("utf-8", errors="replace")
        try:
            assignments, end = read_records(records, script)
        except (ValueError, KeyError, TypeError, OverflowError):  # json's errors are ValueErrors
            raise ScriptError(f"{script.label}: steptrace's record of the script's run is "
                              "damaged (did the script write into it?)") from None
        if end is None:
            raise ScriptError(f"{script.label}: the script's process ended before the script "
                              f"did ({_status(status)}){_last_line(err)}")
    handed: tuple[str, ...] = ()
    try:
        try:
            handed = tuple(map(str, end.get("handed", ())))
            unavailable = {**(prelude.refused if prelude else {}), **end.get("not_handed", {})}
            _raise_for(end, script, unavailable)
        except (KeyError, TypeError, AttributeError):  # an end line the script forged
            raise ScriptError(f"{script.label}: steptrace's record of the script's run is "
                              "damaged (did the script write into it?)") from None
    except ScriptError as failed:
        failed.captured = (Captured(script, tuple(assignments), printed, handed)
                           if assignments else None)
        failed.from_earlier_cells = handed
        raise
    if not assignments:
        raise ScriptError(f"{script.label}: the script assigns none of the names steptrace "
                          f"follows ({LOOKED_FOR}): name the variables as the book does")
    _followed(assignments, script)
    return Captured(script, tuple(assignments), printed, handed)


def _followed(assignments: list[Assignment], script: Script) -> None:
    """ScriptError where a layer, delta or weight matrix was set by code steptrace does not
    follow (an import, exec, eval): its steps were never seen, and checking what they left
    would check nothing. (A dataset imported from a module is fine.)"""
    for assignment in assignments:
        role = role_of(assignment.name)
        if (assignment.line in script.untraced and role is not None
                and role.kind not in ("inputs", "goals", "alpha")):
            raise ScriptError(
                f"{script.at(assignment.line)}: {assignment.name} is set by code steptrace "
                f"does not follow ({script.statement(assignment.line)[:60]}…): it follows this "
                "script's own statements only; put the training loop in the script")


def _run(command: list[str], stdout: Any, stderr: Any, timeout: float, script: Script) -> int:
    """Run the child in a process group of its own (so a timeout, Ctrl-C or SIGTERM here
    stops it and whatever it started too); its exit status."""
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                               env=environment, start_new_session=True)

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated()  # (SIGTERM here: the child, in its own session, goes too)

    try:
        with handling((signal.SIGTERM.value,), terminated):
            return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ScriptError(f"{script.label}: still running after {timeout:g} s (--timeout): an "
                          "endless loop? steptrace stopped it") from None
    finally:
        # the script's process, and whatever it started that is still in its group (a
        # process it started in a session of its own escapes this)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # (all ended)
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()



def _status(status: int) -> str:
    if status == -signal.SIGXFSZ:
        return f"it wrote past {MAX_FILE // MiB} MiB into a file, the most steptrace lets it"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _last_line(path: Path) -> str:
    """The last line the child wrote on stderr, if any, to end a message with."""
    lines = path.read_bytes()[-4000:].decode("utf-8", errors="replace").strip().splitlines()
    return f": {lines[-1].strip()}" if lines else ""


def read_records(path: Path, script: Script) -> tuple[list[Assignment], dict[str, Any] | None]:
    """The child's records, and its end line (None if it ended without one)."""
    assignments: list[Assignment] = []
    if not path.exists():
        return assignments, None
    with path.open("rb") as file:
        while head := file.readline(1 << 16):
            record = json.loads(head)
            if "end" in record:
                return assignments, record
            shape = tuple(record["shape"])
            size = int(np.prod(shape)) if shape else 1
            data = file.read(8 * size)
            if len(data) < 8 * size:
                break
            value = np.frombuffer(data, dtype="<f8").astype(np.float64).reshape(shape)
            line = int(record["line"])
            assignments.append(Assignment(len(assignments), str(record["name"]),
                                          script.statements.get(line, line), value,
                                          bool(record["inplace"])))
    return assignments, None


def _raise_for(end: dict[str, Any], script: Script, unavailable: dict[str, str]) -> None:
    """ScriptError for an end line that is not ``ok`` (``unavailable``: the names an
    earlier cell had that could not be handed over, and why)."""
    kind, label = end["end"], script.label
    line = end.get("line")
    where = f"{label}:{line}" if line else label
    if kind == "raised":
        failed = ScriptError(f"{where}: the script raised {end['type']}: {end['message']}"
                             + _hint(end, script) + _not_handed(end.get("name"), unavailable))
        failed.raised = (line if isinstance(line, int) else None, f"{end['type']}: {end['message']}")
        raise failed
    if kind == "exit":
        raise ScriptError(f"{where}: the script stopped with sys.exit({end['code']!r})")
    if kind == "limit":
        raise ScriptError(f"{label}: {end['message']}")
    if kind != "ok":
        raise ScriptError(f"{label}: {end.get('message', kind)}")


def _not_handed(name: object, unavailable: dict[str, str]) -> str:
    """For a NameError: the name came from an earlier cell, and why it was not handed over."""
    if not isinstance(name, str) or name not in unavailable:
        return ""
    return f" ({name} came from an earlier cell and could not be handed over: {unavailable[name]})"


def _hint(end: dict[str, Any], script: Script) -> str:
    """For a shape error on a line that computes a book name: which one, and what to look at."""
    message, line = str(end.get("message", "")), end.get("line")
    if not line or not any(word in message for word in ("aligned", "broadcast", "shapes", "mismatch")):
        return ""
    names = assigned_at(script, line)
    if not names:
        return ""
    return (f" (line {line} computes {names[0]}: the shapes of its matrices do not fit; a "
            "transpose (.T) missing, or one too many?)")


def assigned_at(script: Script, line: int) -> list[str]:
    """The book's names the statement at ``line`` assigns (``x = ...``, ``x -= ...``)."""
    return [target.id for node in ast.walk(script.tree) if isinstance(node, ast.Assign | ast.AugAssign)
            and node.lineno == line
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name) and role_of(target.id) is not None]
