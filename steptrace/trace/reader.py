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
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pydantic_core
from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator, core_schema

from steptrace import __version__
from steptrace.config import DATA_DIR, NAMED_BY, ExperimentConfig, describe
from steptrace.errors import DataFileError, SteptraceWarning, TraceFormatError
from steptrace.limits import GZIP_GRACE, MAX_GZIP_RATIO, MAX_LINE, size
from steptrace.trace.events import (
    EVENT_CLASSES,
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    UpdateEvent,
)
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
GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip file
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _Lines:
    """A trace's lines from a binary stream, each read up to ``MAX_LINE`` bytes; a
    gzip-compressed one also may not expand more than ``MAX_GZIP_RATIO``-fold (a
    decompression bomb is refused early)."""

    def __init__(self, raw: IO[bytes], gzipped: bool = False, owned: bool = True) -> None:
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw) if gzipped else None
        self._owned = owned  # closed with the reader (a file it opened), or left open
        self._check_at = GZIP_GRACE

    def readline(self) -> bytes:
        """The next line, newline included (b"" at the end); ValueError past a limit."""
        if self._gzip is None:
            line = self._raw.readline(MAX_LINE + 1)
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
            return partial(self._raw.readline, MAX_LINE + 1)
        return self.readline

    def _check_ratio(self) -> None:
        assert self._gzip is not None
        expanded = self._gzip.tell()
        if expanded < self._check_at:
            return
        self._check_at = expanded + GZIP_GRACE
        if expanded > MAX_GZIP_RATIO * self._raw.tell():
            raise ValueError(
                f"expands more than {MAX_GZIP_RATIO}-fold, far more than a trace does (a "
                "decompression bomb?); if it is a trace, gunzip it and read the .jsonl")

    def position(self) -> int | None:
        """Where the next line starts in the file (None: not known, in a gzip stream)."""
        if self._gzip is not None:
            return None
        try:
            return self._raw.tell()
        except (OSError, ValueError, AttributeError):
            return None

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        if self._owned:
            self._raw.close()


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
        self._lines = lines
        self.kept: list[bytes] = []

    def readline(self) -> bytes:
        line = self._lines.readline()
        self.kept.append(line)
        return line

    def close(self) -> None:
        self._lines.close()


def _too_long() -> str:
    return f"a line longer than {size(MAX_LINE)}, the most a trace's line may hold (is this a trace?)"


def consistency_problem(event: Event, config: ExperimentConfig) -> str | None:
    """What makes a well-formed event impossible for the header's network, if anything:
    its epoch, samples and layer must exist, its matrices must have their shapes, and a
    pass's end holds a held-out error exactly when the config has held-out rows."""
    layers, last = config.layers, len(config.layers) - 1
    if event.epoch >= config.iterations:
        return f"epoch {event.epoch}, but the config runs {config.iterations} epoch(s)"
    if not event.samples or not all(0 <= i < len(config.inputs) for i in event.samples):
        return f"samples {list(event.samples)} are not samples of the {len(config.inputs)} inputs"
    if not 1 <= event.layer <= last:
        return f"layer {event.layer}: the network has layers 1 to {last}"
    k, rows = event.layer, len(event.samples)
    if isinstance(event, ForwardEvent | DeltaEvent) and event.nonlinearity != config.nonlinearities[k - 1]:
        return (f"{event.kind} of layer {k} by nonlinearity {event.nonlinearity!r:.60}; the config's "
                f"is {config.nonlinearities[k - 1]!r}")
    if isinstance(event, UpdateEvent) and event.alpha != config.alpha:
        return f"update with alpha {event.alpha!r}; the config's is {config.alpha!r}"
    if isinstance(event, ErrorEvent | EpochEndEvent) and k != last:
        return f"{event.kind} of layer {k}: it belongs to the output layer, {last}"
    if isinstance(event, EpochEndEvent) and (event.test_error is None) == config.held_out:
        return ("epoch_end without a held-out error (test_error), though the config has "
                "held-out rows (test_inputs)" if config.held_out else
                "epoch_end with a held-out error (test_error), though the config has no "
                "held-out rows (test_inputs)")
    shapes: dict[str, tuple[int, int]] = {}
    if isinstance(event, ForwardEvent):
        shapes = {"layer_in": (rows, layers[k - 1]), "weighted_sum": (rows, layers[k]),
                  "layer_out": (rows, layers[k])}
    elif isinstance(event, ErrorEvent):
        shapes = {"prediction": (rows, layers[last]), "goal": (rows, layers[last])}
    elif isinstance(event, DeltaEvent):
        shapes = {"derivative": (rows, layers[k]), "delta": (rows, layers[k])}
    elif isinstance(event, UpdateEvent):
        shapes = {"weight_delta": (layers[k - 1], layers[k]), "weights": (layers[k - 1], layers[k])}
    for name, (n_rows, n_cols) in shapes.items():
        matrix = getattr(event, name)
        if matrix is None:  # left out of a step-detail trace
            continue
        if len(matrix) != n_rows or any(len(row) != n_cols for row in matrix):
            return (f"{event.kind} {name} is not {n_rows}×{n_cols} for layer {k} of the network "
                    f"{list(layers)}")
    return None


class FastCheck:
    """The checks of an event line, worked out once per config and batch size: a
    pydantic-core schema without Python callbacks, by which the line is parsed, validated
    and made the event, all in Rust. It holds what :func:`consistency_problem` works out
    for every event, for each kind and layer: the config's epochs, samples, layers,
    nonlinearities and alpha, and every matrix's shape (strict numbers, no extra fields,
    as the event models check).

    It vouches only for lines that the full check (``_decode_line`` and
    :func:`consistency_problem`) takes, as the same event; for any other line it says
    nothing (None) and the full check reads it, and says what is wrong as it always did.
    The end line, a NaN or an infinity (a string in JSON), a packed matrix, an update by
    a learning rule, the first step of another batch size go the full check's way: they
    are rare."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.validators: dict[int, Callable[[bytes], Event]] = {}
        self.rows = 1  # the batch size of the latest step (the next one's, most likely)
        self.validate = self.validator(1)

    def validator(self, rows: int) -> Callable[[bytes], Event]:
        """The validator of events of batches of ``rows`` samples (and of every pass's end)."""
        found = self.validators.get(rows)
        if found is None:
            found = _validator(self.config, rows).validate_json
            if len(self.validators) < 64:  # (the batch sizes a run has, not every one made up)
                self.validators[rows] = found
        return found

    def event(self, raw: bytes, seq: int) -> Event | None:
        """The event ``raw`` holds, if it is a valid one with seq ``seq``; None if the
        full check must read it."""
        try:
            event = self.validate(raw)
        except ValueError:  # (pydantic's ValidationError is one)
            return None
        return event if event.seq == seq else None

    def learn(self, event: Event) -> None:
        """The full check took ``event``: expect its batch size from now on."""
        if event.kind != "epoch_end" and len(event.samples) != self.rows:
            self.rows = len(event.samples)
            self.validate = self.validator(self.rows)


@contextmanager
def _unbuilt(classes: Iterable[type[BaseModel]]) -> Iterator[None]:
    """While a validator is built: ``classes`` look not yet built to pydantic-core.

    For a ``model_schema`` of a class whose own validator is built (a ``__pydantic_complete__``
    in the class's ``__dict__``), pydantic-core takes that validator instead of the schema
    it is given (its "prebuilt" validators): :func:`_validator`'s checks of the config
    would silently be the event model's alone. ``tests/test_state.py`` builds the models
    first and holds the fast check to the full one."""
    hidden = [cls for cls in classes if cls.__dict__.get("__pydantic_complete__")]
    for cls in hidden:
        cls.__pydantic_complete__ = False
    try:
        yield
    finally:
        for cls in hidden:
            cls.__pydantic_complete__ = True


def _validator(config: ExperimentConfig, batch: int) -> SchemaValidator:
    """A validator of the event lines of ``config``'s trace, whose steps are of ``batch``
    samples, without Python callbacks (see :class:`FastCheck`): every line it takes,
    pydantic's models and :func:`consistency_problem` take too, as the same event; the
    rest (the end line too) it refuses."""
    layers, last = config.layers, len(config.layers) - 1
    number = core_schema.float_schema(strict=True)  # (an int is taken, as a float: as pydantic does)

    def rows(n_rows: int, n_cols: int) -> core_schema.CoreSchema:
        row = core_schema.tuple_schema([number], variadic_item_index=0, min_length=n_cols,
                                       max_length=n_cols)
        return core_schema.tuple_schema([row], variadic_item_index=0, min_length=n_rows,
                                        max_length=n_rows)

    def field(schema: core_schema.CoreSchema) -> core_schema.ModelField:
        return core_schema.model_field(schema)

    def optional(schema: core_schema.CoreSchema) -> core_schema.ModelField:
        return core_schema.model_field(core_schema.with_default_schema(schema, default=None))

    def model(kind: str, k: int, **fields: core_schema.ModelField) -> core_schema.CoreSchema:
        samples = core_schema.int_schema(strict=True, ge=0, lt=len(config.inputs))
        base = {
            "seq": field(core_schema.int_schema(strict=True, ge=0)),
            "epoch": field(core_schema.int_schema(strict=True, ge=0, lt=config.iterations)),
            "samples": field(core_schema.tuple_schema(
                [samples], variadic_item_index=0, min_length=1 if kind == "epoch_end" else batch,
                max_length=None if kind == "epoch_end" else batch)),
            "layer": field(core_schema.int_schema(strict=True, ge=k, le=k)),  # (not 1.0, true)
            "kind": core_schema.model_field(core_schema.with_default_schema(
                core_schema.literal_schema([kind]), default=kind)),
        }
        return core_schema.model_schema(EVENT_CLASSES[kind], core_schema.model_fields_schema(
            {**base, **fields}, extra_behavior="forbid"))

    def by_layer(make: Callable[[int], core_schema.CoreSchema]) -> core_schema.CoreSchema:
        return core_schema.tagged_union_schema({k: make(k) for k in range(1, last + 1)},
                                               discriminator="layer")

    def nonlinearity(k: int) -> core_schema.ModelField:
        return field(core_schema.literal_schema([config.nonlinearities[k - 1]]))

    held_out = field(number) if config.held_out else optional(core_schema.none_schema())
    schema = core_schema.tagged_union_schema({
        "forward": by_layer(lambda k: model(
            "forward", k, nonlinearity=nonlinearity(k), layer_in=optional(rows(batch, layers[k - 1])),
            weighted_sum=field(rows(batch, layers[k])), layer_out=field(rows(batch, layers[k])))),
        "error": model("error", last, prediction=optional(rows(batch, layers[last])),
                       goal=optional(rows(batch, layers[last])), error=field(number)),
        "delta": by_layer(lambda k: model(
            "delta", k, nonlinearity=nonlinearity(k), derivative=field(rows(batch, layers[k])),
            delta=field(rows(batch, layers[k])))),
        "update": by_layer(lambda k: model(
            "update", k, alpha=field(core_schema.float_schema(
                strict=True, ge=config.alpha, le=config.alpha)),  # (the config's: equal)
            weight_delta=optional(rows(layers[k - 1], layers[k])),
            weights=optional(rows(layers[k - 1], layers[k])),
            rule=optional(core_schema.none_schema()),  # (a rule's update: the full check)
            details=optional(core_schema.none_schema()))),
        "epoch_end": model("epoch_end", last, error=optional(number), test_error=held_out),
    }, discriminator="kind")
    with _unbuilt(EVENT_CLASSES.values()):
        return SchemaValidator(schema)


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
        reason = _reason(error)
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
        # parse(next_raw()) until the end line, written out: this loop runs for every event.
        # The order: a pass is checked event by event (EventOrder.problem) until one has
        # been checked whole; a pass that starts from the same state is then held to that
        # one's steps (each event's class, layer and samples, and the pass's epoch: one
        # comparison an event) and the order moved to the end of its steps at its end (whose
        # event the order checks itself). An event that differs, or that the fast check
        # does not vouch for (a checkpoint, the end line), puts the order where the pass's
        # events so far leave it, and the pass goes on event by event.
        file, fast, order = self._file, self._fast, self._order
        readline = file.line_reader() if isinstance(file, _Lines) else file.readline
        shapes: list[tuple[type, int, tuple[int, ...]]] = []  # this pass's, checked one by one
        held: list[Event] = []  # this pass's events, held to ``template``, the order not moved
        template: tuple[tuple[type, int, tuple[int, ...]], ...] = ()  # the last whole pass's
        done: tuple[object, ...] = ()  # what its steps left (order.steps_done) ...
        started: tuple[object, ...] | None = None  # ... from this start (order.start)
        start = order.start() if order is not None else None
        epoch, matching, steps = 0, False, 0  # (steps: the template's, before its end)
        ended: tuple[object, ...] = ()
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
                        yield event
                        continue
                    assert order is not None
                    order.resume(done)  # (the pass's end: the order checks it)
                    held = []
                else:
                    matching = self._unmatched(held, shapes)
                    held = []
            elif matching:
                matching = self._unmatched(held, shapes)
                held = []
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
                    if not matching and start is not None and 0 < len(shapes) < _TEMPLATE:
                        template = (*shapes, (event.__class__, event.layer, event.samples))
                        done, started, steps = ended, start, len(shapes)
                    shapes = []
                    start = order.start()
                    epoch = order.epoch
                    matching = start is not None and start == started
                elif len(shapes) < _TEMPLATE:
                    shapes.append((event.__class__, event.layer, event.samples))
            self._events += 1
            yield event

    def _unmatched(self, held: list[Event], shapes: list[tuple[type, int, tuple[int, ...]]]) -> bool:
        """The pass's events ``held`` so far go to the order one by one (they match a pass
        it took, from the same start: it takes them), their shapes to ``shapes``; the rest
        of the pass is checked event by event (returns False: not matching)."""
        assert self._order is not None
        for event in held:
            problem = self._order.problem(event)
            assert problem is None, problem
        shapes[:] = [(event.__class__, event.layer, event.samples) for event in held]
        return False

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
        file = self._file._lines if isinstance(self._file, _Kept) else self._file
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


def _reason(error: BaseException) -> str:
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
        raise TraceFormatError(f"{path}: cannot read: {_reason(error)}") from None
    return TraceReader(raw, path, check_order, gzipped=path.suffix == ".gz", closing=True,
                       renamable=True, keep=keep, data_dir=path.parent)


# -- seeking: a pass read without the passes before it --------------------------------------

#: How far from a file's end its end line is looked for (an index of MAX_CHECKPOINTS
#: entries is some 120 KB; compressed, less).
_TAIL = 4 << 20
#: The first bytes of every gzip member steptrace writes (no name, mtime 0).
_MEMBER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"


def _tail_end(raw: IO[bytes], gzipped: bool) -> tuple[End, int] | None:
    """The end line from a file's tail, and where it starts (a .gz: where its gzip member
    starts); None when there is none to be found there (a truncated or older trace)."""
    size = raw.seek(0, 2)
    start = max(0, size - (_TAIL if gzipped else _TAIL >> 4))
    raw.seek(start)
    data = raw.read(size - start)
    if not gzipped and start and data.rfind(b"\n", 0, len(data) - 1) < 0:  # (a long end line)
        start = max(0, size - _TAIL)
        raw.seek(start)
        data = raw.read(size - start)
    if gzipped:
        found = None
        cut, tries = len(data), 64  # (bytes that look like a member's start: a few tried)
        while found is None and (cut := data.rfind(_MEMBER, 0, cut)) >= 0 and tries:
            tries -= 1
            member = zlib.decompressobj(wbits=31)
            try:
                line = member.decompress(data[cut:], _TAIL)
            except zlib.error:
                continue
            if member.eof and not member.unused_data and not member.unconsumed_tail:
                found = line, start + cut
        if found is None:
            return None
        line, at = found
    else:
        if not data.endswith(b"\n"):
            return None
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut < 0 and start > 0:
            return None
        line, at = data[cut + 1:], start + cut + 1
    if not line.startswith(b'{"kind":"end"') or line.count(b"\n") != 1 or not line.endswith(b"\n"):
        return None
    try:
        return End.model_validate_json(line), at
    except (ValidationError, ValueError):
        return None


def index_problem(end: End, header: Header, first: int, end_at: int) -> str | None:
    """What makes an end line's index impossible for its trace, if anything: its entries
    are passes K, 2K, ... of the run, their seqs within the events and increasing, their
    offsets increasing and before the end line's (``end_at``, counted as they are: from
    the header's end in a plain trace, ``first``; from the file's start in a .gz)."""
    k, index = header.checkpoint_every, end.index or ()
    assert k is not None
    seq = offset = -1
    for i, (epoch, at_seq, at) in enumerate(index):
        if epoch != (i + 1) * k or epoch >= header.config.iterations:
            return (f"entry {i} is of pass {epoch}; the checkpoints are of passes {k}, {2 * k}, "
                    f"... (checkpoint_every {k}) before pass {header.config.iterations}")
        if not seq < at_seq <= end.events:
            return (f"entry {i} (pass {epoch}) says seq {at_seq}, not after the entry before "
                    f"and within the {end.events} events")
        if not (first <= at < end_at and at > offset):
            return (f"entry {i} (pass {epoch}) says byte {at}, not after the entry before and "
                    f"between the header and the end line (byte {end_at})")
        seq, offset = at_seq, at
    if end.nonfinite is not None and end.nonfinite >= end.events:
        return f"it says event {end.nonfinite} is not finite; the trace holds {end.events}"
    return None


def seek_to_pass(reader: TraceReader, epoch: int) -> Checkpoint | bool:
    """Move ``reader`` (just opened on a file, :func:`open_trace`) to pass ``epoch``'s
    checkpoint, or to the latest one before it, when the trace's end line indexes its
    checkpoints: returns that checkpoint (the weights to start from), or True when the pass
    comes before the first checkpoint (the reader reads from the first event). Either way
    the reader need not be read past pass ``epoch``: ``reader.end`` is the end line, read
    from the file's tail. False: the trace has no index to trust (an older trace, a
    truncated one, or a pass the trace may not hold): read it all, as without an index.
    An index that cannot be right, or a line that is not the checkpoint it says is there,
    raises :class:`~steptrace.errors.TraceFormatError`: the trace is damaged."""
    header, k = reader.header, reader.header.checkpoint_every
    file = reader._file
    if isinstance(file, _Kept):  # (its lines are not kept once it seeks)
        file = file._lines
    if k is None or not isinstance(file, _Lines) or reader._events or reader._line != 1:
        return False
    raw, gzipped = file._raw, file._gzip is not None
    try:
        here = raw.tell()  # (after the header; a .gz: as far as gzip has read)
        first = 0 if gzipped else here
        tail = _tail_end(raw, gzipped)
        raw.seek(here)
    except (OSError, ValueError):
        return False
    if tail is None or tail[0].index is None or bool(tail[0].gzip) != gzipped:
        return False  # (no index, or one of the file before it was compressed: read it all)
    end, end_at = tail
    index = end.index or ()

    def damaged(problem: str) -> TraceFormatError:
        return TraceFormatError(
            f"{reader.name}: its index (the end line's) is damaged: {problem}; read it whole "
            f"(steptrace show {reader.name} without --epoch checks every line) or re-record it")

    if (problem := index_problem(end, header, 1 if gzipped else 0, end_at - first)) is not None:
        raise damaged(problem)
    if epoch >= header.config.iterations or (not end.complete and (
            not index or epoch >= index[-1][0])):
        return False  # (a pass the trace may not hold: read it all, to say what it holds)
    reader.end, reader._file = end, file
    usable = [i for i, (at_epoch, at_seq, _) in enumerate(index)
              if at_epoch <= epoch and (end.nonfinite is None or at_seq <= end.nonfinite)]
    if not usable:
        return True
    i = usable[-1]
    at_epoch, seq, offset = index[i]
    raw.seek(first + offset)
    if gzipped:
        file._owned = False
        file.close()
        reader._file = file = _Lines(raw, True, True)
    reader._line = 1 + seq + i  # (the header, the events and checkpoints before it)
    reader._line += 1
    try:
        line = file.readline()
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise damaged(f"entry {i} says pass {at_epoch}'s checkpoint is at byte {offset}, but "
                      f"what is there cannot be read ({_reason(error)})") from None
    if not line.startswith(CHECKPOINT_PREFIX) or not line.endswith(b"\n"):
        raise damaged(f"entry {i} says pass {at_epoch}'s checkpoint is at byte {offset}, but "
                      "the line there is not a checkpoint")
    checkpoint = parse_checkpoint(line, lambda message: damaged(
        f"entry {i} says pass {at_epoch}'s checkpoint is at byte {offset}: {message}"))
    shapes = [w.shape for w in checkpoint.weights]
    if (checkpoint.epoch, checkpoint.seq) != (at_epoch, seq) or \
            shapes != [w.shape for w in header.initial_weights]:
        raise damaged(f"entry {i} says pass {at_epoch} (seq {seq}) starts at byte {offset}; "
                      f"the checkpoint there is of pass {checkpoint.epoch} (seq "
                      f"{checkpoint.seq}) with weights of shapes {shapes[:8]}")
    if not all(np.isfinite(w.array).all() for w in checkpoint.weights):
        # (the run diverged before it, its lines finite: read from the start, to warn where)
        raw.seek(0)
        reader._file = file = _Lines(raw, gzipped, True)
        file.readline()  # (the header, read and checked already)
        reader._line = 1
        return True
    reader._events = seq
    reader.checkpoints = [(e, s, None if gzipped else o) for e, s, o in index[:i + 1]]
    reader.checkpoint = checkpoint
    if reader._order is not None:
        reader._order.epoch = at_epoch
    return checkpoint


def through_pass(events: Iterable[Event], epoch: int) -> Iterator[Event]:
    """``events`` up to pass ``epoch``'s end (the rest is not read)."""
    for event in events:
        yield event
        if event.kind == "epoch_end" and event.epoch >= epoch:
            return


def started_at(header: Header, checkpoint: Checkpoint | bool) -> Header:
    """The header a reader of events from ``checkpoint`` on completes them with: its
    weights as the initial ones (:class:`~steptrace.trace.state.NetworkState` starts
    there); ``header`` itself when read from the first event."""
    if isinstance(checkpoint, Checkpoint):
        return header.model_copy(update={"initial_weights": checkpoint.weights})
    return header
