"""Reading a trace: every line checked as it streams by (see :class:`TraceReader`).

:func:`open_trace` reads and checks the header at once; each event is then checked to be
well formed, consistent with the header's network and (unless told otherwise) the one
the run can have next (:mod:`steptrace.trace.order`). Anything else raises
:class:`~steptrace.errors.TraceFormatError` with the file, the line and what to do.
"""

from __future__ import annotations

import gzip
import json
import math
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any, cast

import pydantic_core
from pydantic import ValidationError

from steptrace import __version__
from steptrace.config import DATA_DIR, NAMED_BY, describe
from steptrace.errors import DataFileError, SteptraceWarning, TraceFormatError
from steptrace.limits import GZIP_GRACE, MAX_GZIP_RATIO, MAX_LINE, size
from steptrace.trace.consistency import FastCheck, NotVouched, StepLine, consistency_problem
from steptrace.trace.events import EVENT_CLASSES, Event
from steptrace.trace.header import (
    CHECKPOINT_PREFIX,
    FORMAT,
    MAX_CHECKPOINTS,
    OLDEST_SCHEMA_VERSION,
    SCHEMA_VERSION,
    Checkpoint,
    End,
    Header,
    holds_passes_only,
    line_adapter,
)
from steptrace.trace.order import EventOrder

_END_PREFIX = b'{"kind":"end"'  # (the end line as the writer writes it)
#: a pass of more events than this is checked event by event (not held to the last one's)
_TEMPLATE = 4096
#: the bytes of a pass's lines held as lines (their step check took them), at most
_HELD_BYTES = 1 << 22
GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip file
_KIND = {cls: kind for kind, cls in EVENT_CLASSES.items()}  # (an event class's kind)
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _Lines:
    """A trace's lines from a binary stream, each read up to ``MAX_LINE`` bytes; a
    gzip-compressed one also may not expand more than ``MAX_GZIP_RATIO``-fold (a
    decompression bomb is refused early)."""

    def __init__(self, raw: IO[bytes], gzipped: bool = False, owned: bool = True) -> None:
        self.raw = raw
        self.gzipped = gzipped
        self._gzip = gzip.GzipFile(fileobj=raw) if gzipped else None
        self.owned = owned  # closed with the reader (a file it opened), or left open
        self._check_at = GZIP_GRACE

    def readline(self) -> bytes:
        """The next line, newline included (b"" at the end); ValueError past a limit."""
        if self._gzip is None:
            line = self.raw.readline(MAX_LINE + 1)
        else:  # in pieces, so that the ratio is checked within a long line too
            pieces = [self._gzip.readline(1 << 20)]
            while not pieces[-1].endswith(b"\n") and pieces[-1] and len(pieces) <= MAX_LINE >> 20:
                self._check_ratio()
                pieces.append(self._gzip.readline(1 << 20))
            self._check_ratio()
            line = b"".join(pieces)
        if len(line) > MAX_LINE:
            raise ValueError(_too_long())
        return line

    def line_reader(self) -> Callable[[], bytes]:
        """:meth:`readline`, or the same in C where it can be: the stream's own readline
        (the caller refuses a line longer than ``MAX_LINE``)."""
        if self._gzip is None:
            return partial(self.raw.readline, MAX_LINE + 1)
        return self.readline

    def _check_ratio(self) -> None:
        assert self._gzip is not None
        expanded = self._gzip.tell()
        if expanded < self._check_at:
            return
        self._check_at = expanded + GZIP_GRACE
        if expanded > MAX_GZIP_RATIO * self.raw.tell():
            raise ValueError(
                f"expands more than {MAX_GZIP_RATIO}-fold, far more than a trace does (a "
                "decompression bomb?); if it is a trace, gunzip it and read the .jsonl")

    def position(self) -> int | None:
        """Where the next line starts in the file (None: not known, in a gzip stream)."""
        if self._gzip is not None:
            return None
        try:
            return self.raw.tell()
        except (OSError, ValueError, AttributeError):
            return None

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        if self.owned:
            self.raw.close()


class _GivenLines:
    """A trace's lines from an iterator of lines (each ``bytes``, newline included), each
    at most ``MAX_LINE`` bytes."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = iter(lines)

    def readline(self) -> bytes:
        line = next(self._lines, b"")
        if len(line) > MAX_LINE:
            raise ValueError(_too_long())
        return line

    def close(self) -> None:
        pass


class _Kept:
    """Lines read, each kept as it goes by (``kept``)."""

    def __init__(self, lines: _Lines | _GivenLines) -> None:
        self.lines = lines
        self.kept: list[bytes] = []

    def readline(self) -> bytes:
        line = self.lines.readline()
        self.kept.append(line)
        return line

    def close(self) -> None:
        self.lines.close()


def _too_long() -> str:
    return f"a line longer than {size(MAX_LINE)}, the most a trace's line may hold (is this a trace?)"


def _decode_line(raw: bytes) -> Any:
    """Validate one event/end line, with the non-finite strings decoded."""
    try:
        return line_adapter().validate_json(raw)
    except ValidationError as error:
        if not any(isinstance(err.get("input"), str) and err["input"] in _NONFINITE
                   for err in error.errors()):
            raise
    # Slow path, only for lines that hold NaN or infinities: let the JSON parser read
    # them as the non-standard literals pydantic accepts, then validate again.
    data = json.loads(raw, parse_constant=None)
    return line_adapter().validate_json(json.dumps(_restore_nonfinite(data)))


def _restore_nonfinite(value: Any) -> Any:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, list):
        return [_restore_nonfinite(item) for item in value]
    if isinstance(value, dict):
        return {key: _restore_nonfinite(item) if key != "kind" else item
                for key, item in value.items()}
    return value


class TraceReader:
    """A trace being read: ``header`` at once, the events by iterating (once), ``end``
    after the last one. Use as a context manager.

    ``source`` is a binary stream (a file, ``io.BytesIO(trace_bytes)``; ``gzipped``: it is
    gzip-compressed) or an iterator of lines (each ``bytes``, newline included); ``name``
    is what messages call it (a path as the user gave it, or "this trace"). A stream is
    not closed with the reader unless ``closing``. :func:`open_trace` opens a file.
    ``data_dir``: the directory a data file the header names by a relative path is in
    (the trace's own; None: the current directory)."""

    def __init__(self, source: IO[bytes] | Iterable[bytes], name: str | Path = "this trace",
                 check_order: bool = True, *, gzipped: bool = False, closing: bool = False,
                 renamable: bool = False, keep: bool = False, data_dir: Path | None = None) -> None:
        self.name = str(name)
        self._data_dir = data_dir
        self.end: End | None = None
        self._line = 1
        self._events = 0  # events read so far
        #: ``name`` is a file's path: a gzip-compressed one is told to rename it ``.gz``
        self._renamable = renamable
        self._file: _Lines | _GivenLines | _Kept = (
            _Lines(cast("IO[bytes]", source), gzipped, closing) if hasattr(source, "readline")
            else _GivenLines(source))
        if keep:  # (only then: the lines of a replay are not kept)
            self._file = _Kept(self._file)
        #: (epoch, seq, offset) of each checkpoint line read (offset None where unknown),
        #: held to the end line's index; ``checkpoint``, the latest one
        self.checkpoints: list[tuple[int, int, int | None]] = []
        self.checkpoint: Checkpoint | None = None
        #: what is wrong with the end line's index, once read (a warning: the events are
        #: all there and checked; only a seek would have followed it)
        self.index_problem: str | None = None
        self.quiet_index = False  # (replay: a wrong index is its Mismatch, not a warning)
        try:
            self.header = self._read_header(self._readline())
        except BaseException:
            self._file.close()
            raise
        self._order = EventOrder(self.header.config, holds_passes_only(self.header.detail)) \
            if check_order else None
        self._fast_check: FastCheck | None = None  # (made when first needed: not by replay's bytes)
        self._start = self._position()  # (a plain trace's offsets count from the first event)

    @property
    def _fast(self) -> FastCheck:
        """The config's :class:`FastCheck`, made when a line is first parsed (replay
        compares most lines as bytes, and a validator takes a millisecond to build)."""
        if self._fast_check is None:
            self._fast_check = FastCheck(self.header.config)
        return self._fast_check

    def _readline(self) -> bytes:
        try:
            return self._file.readline()
        except (OSError, EOFError, zlib.error, ValueError) as error:
            raise self._unreadable(error) from None

    def _unreadable(self, error: BaseException) -> TraceFormatError:
        where = f"{self.name}:{self._line}" if self._line > 1 else self.name
        reason = unreadable_reason(error)
        if self._line > 1 and "Not a gzipped file" in str(error):  # after a good start
            reason = ("bytes that are not gzip follow the compressed trace: the file is "
                      "damaged; copy or record it again")
        return TraceFormatError(f"{where}: cannot read: {reason}")

    def _fail(self, message: str) -> TraceFormatError:
        return TraceFormatError(f"{self.name}:{self._line}: {message}")

    def _read_header(self, first: bytes) -> Header:
        if not first or first.isspace():  # (not strip(): a header may hold megabytes of data)
            raise self._fail("empty file: not a steptrace trace (record one with steptrace record)")
        try:
            data = pydantic_core.from_json(first)  # Rust: a header holds the whole dataset
        except (ValueError, UnicodeDecodeError, RecursionError):
            if first.startswith(GZIP_MAGIC) and self._renamable:
                raise self._fail(
                    "gzip-compressed, but its name does not end in .gz: rename it "
                    f"{Path(self.name).name}.gz, or decompress it (gunzip -c)") from None
            if first.startswith(GZIP_MAGIC):
                raise self._fail("gzip-compressed: read it with gzipped=True, or decompress "
                                 "it (gunzip -c)") from None
            raise self._fail(
                "not a steptrace trace: the first line is not JSON (give a trace written by "
                "steptrace record)"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise self._fail(
                f"not a steptrace trace: the first line has no \"format\": \"{FORMAT}\" (give a "
                "trace written by steptrace record)"
            )
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise self._fail(
                f"schema_version {version!r} is not a number: the header is damaged; re-record the trace"
            )
        if version > SCHEMA_VERSION:
            raise self._fail(
                f"written with trace schema {version}; this steptrace {__version__} reads schemas "
                f"{OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}: upgrade steptrace to read it"
            )
        if version < OLDEST_SCHEMA_VERSION:
            raise self._fail(f"trace schema {version} is not supported; re-record the trace")
        try:  # (a data file the config names is read, and its sha256 checked, here)
            return Header.model_validate(data, context={DATA_DIR: self._data_dir,
                                                        NAMED_BY: "the trace"})
        except DataFileError as error:
            raise DataFileError(f"{self.name}: {error}") from None
        except ValidationError as error:
            raise self._fail(f"bad header: {describe(error)}; re-record the trace") from None
        except RecursionError:
            raise self._fail("bad header: nested too deeply; re-record the trace") from None

    def __iter__(self) -> Iterator[Event]:
        return cast("Iterator[Event]", self._read(None, light=False))

    def only(self, kinds: Iterable[str]) -> Iterator[Event]:
        """The events of these ``kinds``, every line still read and checked as iterating
        checks it: a view that needs only some kinds (the book view, the passes' ends)
        reads the others without their events being made. Once a pass has been checked
        whole, a pass that repeats its steps has each line of a kind not asked for checked
        by the config's step check (:meth:`FastCheck.step_check`), which makes no event."""
        return cast("Iterator[Event]", self._read(frozenset(kinds), light=False))

    def steps(self, kinds: Iterable[str]) -> Iterator[Event | StepLine]:
        """Every step, in order, checked as iterating checks it: those of ``kinds`` as
        events, the others as :meth:`only` reads them, each as the :class:`StepLine` its
        step check made (the event's fields, without a pydantic model; ``.event()`` makes
        it one), or as the event where the step check left the line to the fast check.
        For a reader of fields: ``plot``'s weights after each update."""
        return self._read(frozenset(kinds), light=True)

    def _read(self, wanted: frozenset[str] | None, light: bool) -> Iterator[Event | StepLine]:
        # parse(next_raw()) until the end line, written out: this loop runs for every event.
        # The order: a pass is checked event by event (EventOrder.problem) until one has
        # been checked whole; a pass that starts from the same state is then held to that
        # one's steps (each event's class, layer and samples, and the pass's epoch: one
        # comparison an event) and the order moved to the end of its steps at its end (whose
        # event the order checks itself). An event that differs, or that the fast check
        # does not vouch for (a checkpoint, the end line), puts the order where the pass's
        # events so far leave it, and the pass goes on event by event. A step of a kind not
        # ``wanted`` (None: every kind is) in a pass held to the template is checked by its
        # step check and held as its line (up to _HELD_BYTES of lines a pass: a line padded
        # out goes the fast check's way), its event made only if the pass turns out to differ
        # (``_unmatched``). A pass with an update by a learning rule makes no template: its
        # updates go to the full check, and the order checks each one's rule.
        file, fast, order = self._file, self._fast, self._order
        every = wanted is None or light  # (every step yielded: as an event or a step line)
        kinds = wanted if wanted is not None else frozenset()
        readline = file.line_reader() if isinstance(file, _Lines) else file.readline
        shapes: list[tuple[type, int, tuple[int, ...]]] = []  # this pass's, checked one by one
        held: list[Event | bytes] = []  # this pass's events (or lines), held to ``template``,
        # the order not moved
        template: tuple[tuple[type, int, tuple[int, ...]], ...] = ()  # the last whole pass's
        step_checks: tuple[Callable[[bytes], Any] | None, ...] = ()  # its steps' (None: wanted)
        done: tuple[object, ...] = ()  # what its steps left (order.steps_done) ...
        started: tuple[object, ...] | None = None  # ... from this start (order.start)
        start = order.start() if order is not None else None
        epoch, matching, steps = 0, False, 0  # (steps: the template's, before its end)
        ended: tuple[object, ...] = ()
        held_bytes, ruled = 0, False  # (the held lines' bytes; an update by a rule this pass)
        while True:
            self._line += 1
            try:
                raw = readline()
                if len(raw) > MAX_LINE:
                    raise ValueError(_too_long())
            except (OSError, EOFError, zlib.error, ValueError) as error:
                raise self._unreadable(error) from None
            if not raw.endswith(b"\n"):
                raise self._cut(raw)
            if (matching and (n := len(held)) < len(step_checks) and (check := step_checks[n])
                    and (held_bytes := held_bytes + len(raw)) <= _HELD_BYTES):
                try:
                    step = check(raw)
                    if step.seq == self._events and step.epoch == epoch:
                        held.append(raw)
                        self._events += 1
                        if light:
                            yield step
                        continue
                except NotVouched:
                    pass
            event: Event | None
            try:
                event = fast.validate(raw)
                if event.seq != self._events:
                    event = None
            except ValueError:  # (a ValidationError: the full check says what is wrong)
                event = None
            if matching and event is not None:
                n = len(held)  # (< len(template): held is emptied at the pass's end)
                shape = template[n]
                if (event.__class__ is shape[0] and event.layer == shape[1]
                        and event.samples == shape[2] and event.epoch == epoch):
                    if n < steps:  # (a step of the pass: held to the template)
                        held.append(event)
                        self._events += 1
                        if every or event.kind in kinds:
                            yield event
                        continue
                    assert order is not None
                    order.resume(done)  # (the pass's end: the order checks it)
                    held, held_bytes = [], 0
                else:
                    matching = self._unmatched(held, shapes, template)
                    held, held_bytes = [], 0
            elif matching:
                matching = self._unmatched(held, shapes, template)
                held, held_bytes = [], 0
            if event is None:
                if raw.startswith(CHECKPOINT_PREFIX):  # (a line between events, not one)
                    self._read_checkpoint(raw)
                    continue
                line = self._parse_fully(raw)
                if isinstance(line, End):
                    return
                event = line
                fast.learn(event)
            if order is not None:
                ending = event.kind == "epoch_end"
                if ending and not matching:
                    ended = order.steps_done()
                if problem := order.problem(event):
                    raise self._fail(f"event {event.seq} is out of order: {problem}; re-record the trace")
                if ending:
                    if (not matching and start is not None and 0 < len(shapes) < _TEMPLATE
                            and not ruled):
                        template = (*shapes, (event.__class__, event.layer, event.samples))
                        done, started, steps = ended, start, len(shapes)
                        if wanted is not None:
                            step_checks = tuple(
                                None if _KIND[cls] in wanted else fast.step_check(_KIND[cls], k, samples)
                                for cls, k, samples in shapes)
                    shapes, ruled = [], False
                    start = order.start()
                    epoch = order.epoch
                    matching = start is not None and start == started
                elif len(shapes) < _TEMPLATE:
                    shapes.append((event.__class__, event.layer, event.samples))
                    ruled = ruled or (event.kind == "update" and event.rule is not None)
            self._events += 1
            if every or event.kind in kinds:
                yield event

    def _unmatched(self, held: list[Event | bytes], shapes: list[tuple[type, int, tuple[int, ...]]],
                   template: tuple[tuple[type, int, tuple[int, ...]], ...]) -> bool:
        """The pass's events ``held`` so far go to the order one by one, their shapes to
        ``shapes``; the rest of the pass is checked event by event (returns False: not
        matching). A line its step check took is made its event now, by the fast check of
        its step's batch size (which takes what the step check takes; else the full check,
        which says what is wrong, at the line's own place)."""
        assert self._order is not None
        line, seq = self._line, self._events
        shapes.clear()
        try:
            for i, kept in enumerate(held):  # (the held lines: the ones before this one)
                self._line, self._events = line - len(held) + i, seq - len(held) + i
                event = kept if not isinstance(kept, bytes) else self._held_event(
                    kept, len(template[i][2]))
                if problem := self._order.problem(event):  # (it matches a pass the order took,
                    # from the same start: it takes them)
                    raise self._fail(f"event {event.seq} is out of order: {problem}; "
                                     "re-record the trace")
                shapes.append((event.__class__, event.layer, event.samples))
        finally:
            self._line, self._events = line, seq
        return False

    def _held_event(self, raw: bytes, rows: int) -> Event:
        """The event of a line its step check took, of a step of ``rows`` samples."""
        try:
            return self._fast.validator(rows)(raw)
        except ValueError:
            parsed = self._parse_fully(raw)
            assert not isinstance(parsed, End)  # (a step check takes a step's kind alone)
            return parsed

    def next_raw(self) -> bytes:
        """The next line as it is on disk, newline included; checked only for being a whole
        line. ``parse`` it, or compare it with a line you expect (replay's fast path)."""
        self._line += 1
        raw = self._readline()
        if not raw.endswith(b"\n"):
            raise self._cut(raw)
        if raw.startswith(CHECKPOINT_PREFIX):  # (a line between events, not one of them)
            self._read_checkpoint(raw)
            return self.next_raw()
        return raw

    def _cut(self, raw: bytes) -> TraceFormatError:
        """What is wrong with ``raw``, a line without its newline: the trace is truncated."""
        if not raw:
            return self._fail(
                f"truncated: the trace ends after {self._events} event(s) without its end line "
                "(the recording was interrupted or the file was cut); re-record it"
            )
        return self._fail("truncated in the middle of a line; re-record the trace")

    def _position(self) -> int | None:
        file = self._file.lines if isinstance(self._file, _Kept) else self._file
        return file.position() if isinstance(file, _Lines) else None

    def read_checkpoint(self) -> tuple[bytes, Checkpoint]:
        """The next line, which must be a checkpoint (replay, where the run makes one)."""
        self._line += 1
        raw = self._readline()
        if not raw.startswith(CHECKPOINT_PREFIX) or not raw.endswith(b"\n"):
            k = self.header.checkpoint_every
            raise self._fail(f"no checkpoint line where the header's checkpoint_every ({k}) puts "
                             "one; the trace is damaged: re-record it")
        return raw, self._read_checkpoint(raw)

    def _read_checkpoint(self, raw: bytes) -> Checkpoint:
        """Check a checkpoint line: one the header announces, where it belongs (before the
        first event of every K-th pass), with weights of the network's shapes."""
        k = self.header.checkpoint_every
        if k is None:
            raise self._fail(
                f"a checkpoint line in a trace whose header states none (schema "
                f"{self.header.schema_version}, no checkpoint_every); the trace is damaged: "
                "re-record it")
        at = self._position()
        if at is not None and self._start is not None:
            at -= len(raw) + self._start
        checkpoint = parse_checkpoint(raw, self._fail)
        shapes = [w.shape for w in checkpoint.weights]
        if shapes != [w.shape for w in self.header.initial_weights]:
            raise self._fail(f"bad checkpoint: weights of shapes {shapes[:8]}; the network's are "
                             f"{[w.shape for w in self.header.initial_weights]}; the trace is "
                             "damaged: re-record it")
        wanted = (len(self.checkpoints) + 1) * k if not self.checkpoints \
            else self.checkpoints[-1][0] + k
        order = self._order
        if (checkpoint.epoch != wanted or checkpoint.seq != self._events or (
                order is not None and (order.epoch != checkpoint.epoch or order.previous is not None))):
            raise self._fail(
                f"a checkpoint of pass {checkpoint.epoch} (seq {checkpoint.seq}) after "
                f"{self._events} event(s), where pass {wanted}'s comes next (checkpoint_every "
                f"{k}, before a pass's first event); the trace is damaged: re-record it")
        if len(self.checkpoints) >= MAX_CHECKPOINTS:
            raise self._fail(f"more than {MAX_CHECKPOINTS} checkpoints, more than a trace holds; "
                             "the trace is damaged: re-record it")
        self.checkpoints.append((checkpoint.epoch, checkpoint.seq, at))
        self.checkpoint = checkpoint
        return checkpoint

    def _check_index(self, end: End) -> None:
        """The end line's index against the checkpoints read: a mismatch is said once (a
        Python warning) and kept in ``index_problem``; the events read are all checked."""
        k = self.header.checkpoint_every
        if k is None:
            if end.index is not None or end.nonfinite is not None:
                raise self._fail("bad end line: an index, but the header states no "
                                 "checkpoint_every; the trace is damaged: re-record it")
            return
        if end.index is None:  # (a trace written to a stream that cannot tell where it is)
            return
        found = self.checkpoints
        if end.gzip:  # (offsets of gzip members: not those of lines, read decompressed)
            found = [(epoch, seq, None) for epoch, seq, _ in found]
        problem = index_mismatch(end.index, found)
        if problem is not None:
            self.index_problem = problem
            if self.quiet_index:
                return
            warnings.warn(f"{self.name}: its end line's index does not match its checkpoints "
                          f"({problem}): the events are all read and checked, but a seek "
                          "(show --epoch) is refused; re-record the trace to seek in it",
                          SteptraceWarning, stacklevel=3)

    def accept(self) -> None:
        """Count a line that matched, byte for byte, a valid event with the next seq."""
        self._events += 1

    def parse(self, raw: bytes) -> Event | End:
        """Check a line from ``next_raw`` fully: an event with the next seq, consistent with
        the header's network, or the end line (which must be the last).

        The line is parsed once, by pydantic-core (in Rust), and an event is checked by
        the config's :class:`FastCheck`; a line that check does not vouch for (the end
        line, a damaged line, a NaN) is read by the full check, ``_parse_fully``, which
        says what is wrong. (A line of a kind that is not an event's is refused by the fast
        check too; such a kind, when the format has one, gets its branch in
        ``_parse_fully``, before the events' validation. The end line, as the writer writes
        it, goes to the full check straight away: replay parses it alone.)"""
        event = None if raw.startswith(_END_PREFIX) else self._fast.event(raw, self._events)
        if event is None:
            line = self._parse_fully(raw)
            if isinstance(line, End):
                return line
            event = line
            self._fast.learn(event)
        if self._order is not None and (problem := self._order.problem(event)):
            raise self._fail(f"event {event.seq} is out of order: {problem}; re-record the trace")
        self._events += 1
        return event

    def _parse_fully(self, raw: bytes) -> Event | End:
        """The full check of a line, with pydantic's validation (slow, and says what is
        wrong): an event (its order not yet checked) or the end line (checked, the last)."""
        try:
            line: Event | End = _decode_line(raw)
        except ValidationError as error:
            raise self._fail(
                f"bad event: {describe(error)}; the trace is damaged: re-record it"
            ) from None
        except (RecursionError, ValueError):  # the slow path's parser
            raise self._fail("bad event: not a JSON object of an event; the trace is damaged: "
                             "re-record it") from None
        if isinstance(line, End):
            if line.events != self._events:
                raise self._fail(
                    f"end line counts {line.events} events; the trace holds {self._events}: the "
                    "trace is damaged, re-record it"
                )
            if self._order is not None and (problem := self._order.end_problem(line.complete)):
                raise self._fail(f"bad end line: {problem}; the trace is damaged: re-record it")
            if self._readline():
                self._line += 1
                raise self._fail(
                    "unexpected line after the end line (two traces joined?); re-record the trace"
                )
            self._check_index(line)
            self.end = line
            return line
        problem = consistency_problem(line, self.header.config)
        if problem is not None:
            raise self._fail(f"bad event: {problem}; re-record the trace")
        if line.seq != self._events:
            raise self._fail(
                f"event seq {line.seq} where seq {self._events} was expected (events missing or "
                "out of order); re-record the trace"
            )
        return line

    @property
    def lines(self) -> bytes:
        """The lines read so far (uncompressed), when the reader was made with ``keep``."""
        assert isinstance(self._file, _Kept)
        return b"".join(self._file.kept)

    def without_order_checks(self) -> TraceReader:
        """This reader, its events no longer checked for their order (replay compares
        each with the event it recomputes instead); before any event is read."""
        assert self._events == 0 and self._line == 1
        self._order = None
        return self

    @property
    def incomplete(self) -> str | None:
        """After the last event: why the recording stopped early, or None if it is whole."""
        if self.end is None or self.end.complete:
            return None
        return self.end.reason or "stopped early"

    # -- where a seek (steptrace.trace.seek) moves the reader -------------------------------

    def seekable(self) -> tuple[IO[bytes], bool] | None:
        """The file under this reader and whether it is gzip-compressed, while it has read
        the header alone (a seek may move it); None: it reads a stream of lines it cannot
        move in, or it has read events already."""
        file = self._file.lines if isinstance(self._file, _Kept) else self._file
        if not isinstance(file, _Lines) or self._events or self._line != 1:
            return None
        return file.raw, file.gzipped

    def ends_with(self, end: End) -> None:
        """The trace's end line is ``end`` (read from the file's tail): the reader need not
        read on to it. From here its lines are not kept (a seek skips some)."""
        self.end = end
        if isinstance(self._file, _Kept):
            self._file = self._file.lines

    def line_at(self, offset: int, line: int) -> bytes:
        """The line that starts at byte ``offset`` of the file (a .gz: where a gzip member
        starts), which is the trace's line number ``line``; the reader reads on after it.
        OSError, EOFError, zlib.error or ValueError: it cannot be read."""
        file = self._file
        assert isinstance(file, _Lines)
        file.raw.seek(offset)
        if file.gzipped:  # (a new gzip stream from the member's start; the file stays open)
            file.owned = False
            file.close()
            self._file = file = _Lines(file.raw, True, True)
        self._line = line
        return file.readline()

    def from_first_event(self) -> None:
        """Read from the first event again (after a :meth:`line_at`)."""
        file = self._file
        assert isinstance(file, _Lines)
        file.raw.seek(0)
        self._file = file = _Lines(file.raw, file.gzipped, True)
        file.readline()  # (the header, read and checked already)
        self._line = 1

    def after_checkpoint(self, checkpoint: Checkpoint,
                         checkpoints: list[tuple[int, int, int | None]]) -> None:
        """Read on from ``checkpoint``, the line :meth:`line_at` just read: the events after
        it are checked as the run's from there; ``checkpoints``, those up to it (epoch, seq
        and offset, None where not known), are held to the end line's index as if read."""
        self._events = checkpoint.seq
        self.checkpoints = checkpoints
        self.checkpoint = checkpoint
        if self._order is not None:
            self._order.epoch = checkpoint.epoch

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_checkpoint(raw: bytes, fail: Any) -> Checkpoint:
    """A checkpoint line's model; ``fail(message)`` makes the error to raise."""
    try:
        try:
            return Checkpoint.model_validate_json(raw)
        except ValidationError:  # (NaN and infinities as strings: decoded, then again)
            data = json.loads(raw, parse_constant=None)
            if not isinstance(data, dict) or not isinstance(data.get("weights"), list):
                raise
            data["weights"] = _restore_nonfinite(data["weights"])
            return Checkpoint.model_validate(data)
    except ValidationError as error:
        raise fail(f"bad checkpoint: {describe(error)}; the trace is damaged: re-record it") from None
    except (RecursionError, ValueError):
        raise fail("bad checkpoint: not a JSON object of a checkpoint; the trace is damaged: "
                   "re-record it") from None


def index_mismatch(index: tuple[tuple[int, int, int], ...],
                   found: list[tuple[int, int, int | None]]) -> str | None:
    """How an end line's index differs from the checkpoints a reader found (None: it
    does not); an offset not known (a .gz trace read through) is not compared."""
    pairs = zip(index, found, strict=False)  # (a length apart is said after)
    for i, ((epoch, seq, offset), (at_epoch, at_seq, at)) in enumerate(pairs):
        if (epoch, seq) != (at_epoch, at_seq) or (at is not None and offset != at):
            where = f", byte {at}" if at is not None else ""
            return (f"entry {i} says pass {epoch}, seq {seq}, byte {offset}; the checkpoint there "
                    f"is of pass {at_epoch}, seq {at_seq}{where}")
    if len(index) != len(found):
        return f"it lists {len(index)} checkpoint(s); the trace holds {len(found)}"
    return None


def unreadable_reason(error: BaseException) -> str:
    """Why a trace's bytes cannot be read, in a user's words."""
    if isinstance(error, gzip.BadGzipFile) and "Not a gzipped file" in str(error):
        return "named .gz but not gzip-compressed (if it is a plain trace, rename it without .gz)"
    if isinstance(error, gzip.BadGzipFile | zlib.error):
        return f"the compressed data is damaged ({error}); copy or record the trace again"
    if isinstance(error, EOFError):
        return "compressed stream is truncated; re-record the trace"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def open_trace(path: Path, check_order: bool = True, *, keep: bool = False) -> TraceReader:
    """Open the trace file at ``path`` for reading (gzip-compressed when its name ends in
    ``.gz``); the header is read and checked at once. Each event is checked to be one the
    run can have next (:mod:`steptrace.trace.order`) unless ``check_order`` is false
    (replay, which compares each with the event it recomputes); ``keep``: the lines read
    are kept (:attr:`TraceReader.lines`). Messages name the file as ``path`` is written."""
    try:
        raw = open(path, "rb", buffering=1 << 16)  # noqa: SIM115 (the reader closes it)
    except FileNotFoundError:
        raise TraceFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceFormatError(f"{path}: is a directory, not a trace") from None
    except OSError as error:
        raise TraceFormatError(f"{path}: cannot read: {unreadable_reason(error)}") from None
    return TraceReader(raw, path, check_order, gzipped=path.suffix == ".gz", closing=True,
                       renamable=True, keep=keep, data_dir=path.parent)
