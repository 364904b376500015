"""The parent's side of tracing a learner's script: run it in a child process, read back
what it assigned, and say in one line why a script could not be followed.

The script is the user's own code and it is run, as ``python SCRIPT`` would run it, but in
a child process of its own (:mod:`steptrace.learner.capture`): a ``sys.exit``, a crash, an
endless loop or a ``timeout`` cannot take steptrace down, and what is recorded is capped
(:data:`LIMITS`), so memory and disk stay bounded. The child's standard output (what the
script printed) is kept apart from steptrace's own. Every way a script can fail is a
:class:`ScriptError` (exit 2) with one line: the script's exception with its type, message
and line; ``sys.exit`` with a status other than 0; a timeout; a limit; not Python.

The two processes talk over pipes, with no temporary file or folder: the parent sends the
script's source (the very bytes :func:`read_script` read and parsed, or a cell's text:
:func:`script_of`) down the child's input pipe behind a JSON header line, with a prelude's
arrays after it (see :mod:`steptrace.learner.capture`), from a thread of its own; and it
reads the child's stdout, stderr and records pipes at once as they come, through
non-blocking descriptors and a selector, until the child exits or the timeout passes.
What it keeps is bounded: the first ``max_output + 1`` bytes printed, the last bytes of
stderr (for a message's last line), and the records parsed as they arrive
(:class:`Records`); a child that prints past the limit or writes what is not a record is
stopped at once. Then the child's process group is killed, and what is left in the pipes
is read without waiting for their end (a process the script started in a session of its
own may hold one open). ``RLIMIT_FSIZE`` still caps the files the script itself writes.

A notebook cell may start from what earlier cells defined (a
:class:`~steptrace.learner.prelude.Prelude`): sent down the input pipe with the source,
and set up by the child before the script's first line, inside the same process, limits
and timeout. Its values of the book's names are assignments at line 0, which messages
call "from an earlier cell"; a NameError for a name that could not be handed over says
why.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import math
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steptrace.defaults import TIMEOUT
from steptrace.engine.rules import Array
from steptrace.errors import BadInput, Terminated
from steptrace.learner.capture import CELL, LIMIT_NAMES, assigned_names, statement_lines
from steptrace.learner.names import LOOKED_FOR, role_of
from steptrace.learner.prelude import PRELUDE_LINE, Prelude
from steptrace.learner.prelude import pack as pack_prelude
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
#: The child's first lines: no file the script writes may grow past MAX_FILE, so that a
#: script cannot fill the disk (its output and records are pipes, bounded by the parent);
#: then the capture, handed its input and records pipes' descriptors and the limits.
BOOT = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({max_file}, {max_file})); "
        "sys.path.insert(0, {root!r}); from steptrace.learner.capture import main; "
        "del sys.path[0]; main(sys.argv[1:])")
MAX_FILE = 256 * MiB  # the records of 10^7 numbers and 2·10^5 assignments fit well within
#: The most the child's records may hold in all is MAX_FILE too; a record's header line is
#: some 100 bytes, and one past MAX_HEADER is not the child's.
MAX_HEADER = 1 << 16
#: What is kept of the child's stderr: its last bytes, for the line a message ends with.
STDERR_TAIL = 4000
#: How much is read from a pipe at once, and how often the child is looked at where the
#: system cannot say when it exits (no pidfd).
CHUNK, POLL = 1 << 16, 0.05


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
    """A learner's script: where it is, its source, and its statements (to quote a line)."""

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
    #: the bytes the child runs: exactly those read (a file's) or given (a cell's)
    source: bytes = b""
    #: a file (run as ``python SCRIPT``), or a notebook cell (no file: see :data:`CELL`)
    is_file: bool = True

    @property
    def filename(self) -> str:
        """What its code is compiled under in the child: the file's resolved path, or
        :data:`~steptrace.learner.capture.CELL` for a cell."""
        return str(self.path.resolve()) if self.is_file else CELL

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
    """The script in the file at ``path``, checked to be Python (ScriptError saying why
    not); ``label`` names it in messages (default: its path)."""
    label = str(path) if label is None else label
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SCRIPT + 1)
    except IsADirectoryError:
        raise ScriptError(f"{label}: is a directory, not a Python script") from None
    except OSError as error:
        raise ScriptError(f"{label}: cannot read: {error.strerror or error}") from None
    return script_of(raw, label, path)


def script_of(source: str | bytes, label: str, path: Path | None = None) -> Script:
    """A script from its source (text, or the bytes of a file), checked to be Python
    (ScriptError saying why not): the file at ``path``, or with no path a notebook cell's
    code, which the child runs with no file (:data:`~steptrace.learner.capture.CELL`)."""
    raw = source.encode("utf-8") if isinstance(source, str) else source
    if len(raw) > MAX_SCRIPT:
        raise ScriptError(f"{label}: larger than 1 MiB, the most steptrace runs (is this a "
                          "learner's script?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScriptError(f"{label}: not a Python script (not UTF-8 text)") from None
    try:
        tree = ast.parse(text, filename=label)
    except SyntaxError as error:
        raise ScriptError(f"{label}:{error.lineno}: not Python: {error.msg}") from None
    except ValueError as error:  # a NUL byte
        raise ScriptError(f"{label}: not Python: {error}") from None
    assigns = {line: frozenset(names) for line, names in assigned_names(tree).items() if line is not None}
    return Script(Path(CELL) if path is None else path, label, tuple(text.splitlines()),
                  statement_lines(tree), self_assignments(tree), untraced_lines(tree),
                  rebound_parameters(tree), assigns, parameters_written(tree), raw, path is not None)


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


def capture(script: Script | Path | str, timeout: float = TIMEOUT,
            limits: dict[str, int] | None = None, label: str | None = None,
            prelude: Prelude | None = None) -> Captured:
    """Run ``script`` (a :class:`Script`, or the path of one, read with :func:`read_script`)
    in a child process (at most ``timeout`` seconds) and return what it assigned to the
    book's names and printed; ScriptError if it failed or assigned none of them. ``label``
    names a path's script in messages (default: its path; a Script has its own);
    ``prelude``, what a notebook's earlier cells hand it (set up before its first line)."""
    if not isinstance(script, Script):
        script = read_script(Path(script), label)
    limits = {**LIMITS, **(limits or {})}
    manifest, blobs = pack_prelude(prelude) if prelude is not None else (None, [])
    header = {"filename": script.filename, "is_file": script.is_file, "source": len(script.source),
              "prelude": manifest, "blobs": [len(blob) for blob in blobs]}
    given = [json.dumps(header).encode() + b"\n", script.source, *blobs]
    records = Records(script, limits)
    status, printed_bytes, errors = _run(given, records, limits, timeout, script)
    if len(printed_bytes) > limits["max_output"]:
        raise ScriptError(f"{script.label}: the script printed more than "
                          f"{limits['max_output']:,} characters to its output (steptrace "
                          "stopped it)")
    printed = printed_bytes.decode("utf-8", errors="replace")
    assignments, end = records.finish()
    if records.damaged:
        raise ScriptError(f"{script.label}: steptrace's record of the script's run is "
                          "damaged (did the script write into it?)")
    if end is None:
        raise ScriptError(f"{script.label}: the script's process ended before the script "
                          f"did ({_status(status)}){_last_line(errors)}")
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


class Records:
    """The child's records, parsed as they arrive on the records pipe (nothing is held but
    the assignments and the part of a record still coming). What the child never writes —
    a header line past :data:`MAX_HEADER`, not JSON, a record past the run's limits, more
    than :data:`MAX_FILE` bytes in all — marks them :attr:`damaged` (the script wrote
    into the pipe), and nothing more is read."""

    def __init__(self, script: Script, limits: dict[str, int]) -> None:
        self.script = script
        self.limits = limits
        self.assignments: list[Assignment] = []
        self.end: dict[str, Any] | None = None
        self.damaged = False
        self.received = 0
        self.numbers = 0
        self._buffer = bytearray()
        #: a record whose header came and whose numbers are still coming: name, line,
        #: inplace, shape, its bytes
        self._pending: tuple[str, int, bool, tuple[int, ...], int] | None = None

    def feed(self, chunk: bytes) -> bool:
        """Take the next bytes the child wrote; False once no more are wanted (the end line
        came, or the records are damaged)."""
        if self.end is not None or self.damaged:
            return False
        self.received += len(chunk)
        self._buffer += chunk
        try:
            if self.received > MAX_FILE:
                raise ValueError("more than MAX_FILE bytes")
            self._parse()
        except (ValueError, KeyError, TypeError, OverflowError):  # json's errors are ValueErrors
            self.damaged = True
            self._buffer.clear()
        return self.end is None and not self.damaged

    def finish(self) -> tuple[list[Assignment], dict[str, Any] | None]:
        """The records once the pipe is done, and the end line (None if the child ended
        without one: a line cut short at the end is read as the line it is)."""
        if self.end is None and not self.damaged and self._pending is None and self._buffer:
            try:
                self._header(bytes(self._buffer))
            except (ValueError, KeyError, TypeError, OverflowError):
                self.damaged = True
        return self.assignments, self.end

    def _parse(self) -> None:
        buffer = self._buffer
        while self.end is None:
            if self._pending is None:
                newline = buffer.find(b"\n", 0, MAX_HEADER)
                if newline < 0:
                    if len(buffer) >= MAX_HEADER:
                        raise ValueError("a record's header line past MAX_HEADER")
                    return
                line = bytes(buffer[:newline + 1])
                del buffer[:newline + 1]
                self._header(line)
                continue
            name, line_, inplace, shape, size = self._pending
            if len(buffer) < size:
                return
            value = np.frombuffer(bytes(buffer[:size]), dtype="<f8").astype(np.float64).reshape(shape)
            del buffer[:size]
            self._pending = None
            self.assignments.append(Assignment(len(self.assignments), name,
                                               self.script.statements.get(line_, line_), value,
                                               inplace))

    def _header(self, line: bytes) -> None:
        record = json.loads(line)
        if "end" in record:
            self.end = record
            return
        shape = tuple(record["shape"])
        if not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError("not a shape")
        size = math.prod(shape)  # (Python's ints: a forged shape cannot wrap around)
        self.numbers += size
        # (the child stops before it passes a limit: a record past one is not the child's)
        if (size > self.limits["max_value"] or self.numbers > self.limits["max_numbers"]
                or len(self.assignments) >= self.limits["max_assignments"]):
            raise ValueError("past the run's limits")
        self._pending = (str(record["name"]), int(record["line"]), bool(record["inplace"]),
                         shape, 8 * size)


class _Kept:
    """What is kept of one of the child's output pipes: the first ``first`` bytes (its
    stdout: one byte past the limit says it printed too much), or the last ``last``
    (its stderr, for the line a message ends with)."""

    def __init__(self, first: int = 0, last: int = 0) -> None:
        self.first, self.last = first, last
        self.data = bytearray()

    def feed(self, chunk: bytes) -> bool:
        """False once no more is wanted (past ``first``)."""
        if self.first:
            self.data += chunk[:self.first - len(self.data)]
            return len(self.data) < self.first
        self.data += chunk
        if len(self.data) > 2 * self.last:
            del self.data[:-self.last]
        return True

    def kept(self) -> bytes:
        return bytes(self.data[-self.last:] if self.last else self.data)


def _run(given: list[bytes], records: Records, limits: dict[str, int], timeout: float,
         script: Script) -> tuple[int, bytes, bytes]:
    """Run the child in a process group of its own (so a timeout, Ctrl-C or SIGTERM here
    stops it and whatever it started too), with ``given`` written to its input pipe and
    its records, stdout and stderr read as they come (into ``records``; the first
    ``max_output + 1`` bytes printed, the last bytes of stderr): its exit status, what it
    printed, the end of its stderr. A child that prints past the limit or writes what is
    not its records is stopped at once (what it did is already the error)."""
    root = str(Path(__file__).resolve().parents[2])  # where this steptrace is
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    input_read, input_write = os.pipe()
    records_read, records_write = os.pipe()
    try:
        command = [sys.executable, "-c", BOOT.format(root=root, max_file=MAX_FILE),
                   str(input_read), str(records_write), *(str(limits[name]) for name in LIMIT_NAMES)]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=environment, start_new_session=True,
                                   pass_fds=(input_read, records_write))
    except BaseException:
        os.close(input_write)
        os.close(records_read)
        raise
    finally:
        os.close(input_read)  # (the child's now: its end of each pipe)
        os.close(records_write)
    assert process.stdout is not None and process.stderr is not None
    printed, errors = _Kept(first=limits["max_output"] + 1), _Kept(last=STDERR_TAIL)
    sinks = {process.stdout.fileno(): printed.feed, process.stderr.fileno(): errors.feed,
             records_read: records.feed}
    selector = selectors.DefaultSelector()
    exited: int | None = None  # readable once the child exits, where Linux says so (else: poll)

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated()  # (SIGTERM here: the child, in its own session, goes too)

    def read(fd: int, most: int) -> bool:
        """Read what ``fd`` holds now (at most ``most`` chunks); False when the child must
        be stopped (it printed too much, or wrote into its records)."""
        for _ in range(most):
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:  # (nothing more for now)
                return True
            if not chunk or not sinks[fd](chunk):  # the end of it, or no more wanted
                selector.unregister(fd)
                return not (len(printed.data) > limits["max_output"] or records.damaged)
        return True

    stopped = False
    try:
        try:
            writer = threading.Thread(target=_write_input, args=(input_write, given),
                                      daemon=True, name="steptrace-script-input")
            try:
                writer.start()
            except BaseException:  # (no thread: the pipe is closed here, the child stopped)
                os.close(input_write)
                raise
            for fd in sinks:
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
            exited = _pidfd(process.pid)
            if exited is not None:
                selector.register(exited, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            with handling((signal.SIGTERM.value,), terminated):
                while not stopped and process.poll() is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ScriptError(f"{script.label}: still running after {timeout:g} s "
                                          "(--timeout): an endless loop? steptrace stopped it")
                    for key, _ in selector.select(left if exited is not None else min(left, POLL)):
                        if key.fd in sinks and not read(key.fd, 16):
                            stopped = True
                            break
        finally:
            # the script's process, and whatever it started that is still in its group (a
            # process it started in a session of its own escapes this)
            with contextlib.suppress(ProcessLookupError, PermissionError):  # (all ended)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # what the child left in its pipes, read without waiting for their end (a process
        # it started in a session of its own may hold one open, and go on writing)
        for key in list(selector.get_map().values()):
            if key.fd in sinks and not stopped:
                stopped = not read(key.fd, MAX_FILE // CHUNK)
    finally:
        selector.close()
        os.close(records_read)
        if exited is not None:
            os.close(exited)
        process.stdout.close()
        process.stderr.close()
    return process.returncode, printed.kept(), errors.kept()


def _write_input(fd: int, given: list[bytes]) -> None:
    """Write the child's input (in a thread of its own: the child reads it while this
    process reads what the child writes); a child that ended early reads none of it."""
    with contextlib.suppress(BrokenPipeError), os.fdopen(fd, "wb") as pipe:
        for part in given:
            pipe.write(part)


def _pidfd(pid: int) -> int | None:
    """A file descriptor readable once process ``pid`` exits (Linux 5.3 and later), or None."""
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined, unused-ignore]
    except (AttributeError, OSError):
        return None


def _status(status: int) -> str:
    if status == -signal.SIGXFSZ:
        return f"it wrote past {MAX_FILE // MiB} MiB into a file, the most steptrace lets it"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _last_line(errors: bytes) -> str:
    """The last line the child wrote on stderr (of its last bytes), if any, to end a
    message with."""
    lines = errors[-STDERR_TAIL:].decode("utf-8", errors="replace").strip().splitlines()
    return f": {lines[-1].strip()}" if lines else ""


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
