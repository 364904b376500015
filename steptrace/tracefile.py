"""Trace files: JSON Lines, written as a stream and read as a stream.

Line 1 is the :class:`Header` (format name, schema version, the complete config,
the initial weights, a :class:`Fingerprint`); then one event per line
(:mod:`steptrace.events`); last, an :class:`End` line with the event count.
A name ending in ``.gz`` is gzip-compressed. Floats are written in their shortest
round-tripping form, so they read back bit for bit; NaN and ±inf are the JSON strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

:class:`TraceWriter` writes to a hidden temporary file beside the target and renames
it into place only when the end line is written: the final name never holds a
half-written trace, and an existing trace of that name is untouched until then.
:func:`open_trace` checks everything it reads and raises :class:`TraceFormatError`
with the file, the line and what to do.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import platform
import signal
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import suppress
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Any, Literal

import numpy as np
import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import to_json as to_json_value

from steptrace import __version__
from steptrace.config import ExperimentConfig, check_weights, describe
from steptrace.errors import (
    MAX_MESSAGE,
    BadInput,
    CannotWrite,
    Terminated,
    TraceFormatError,
    one_line,
    printable,
)
from steptrace.events import (
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    Record,
    UpdateEvent,
)
from steptrace.limits import GZIP_GRACE, MAX_GZIP_RATIO, MAX_LINE, size
from steptrace.matrices import PACK_ABOVE, Matrix
from steptrace.order import EventOrder
from steptrace.outputs import (
    cannot_write,
    check_output,
    create_temporary,
    discard,
    finish,
    signals_deferred,
)

FORMAT = "steptrace-trace"
FLUSH_SECONDS = 0.5  # a killed recording loses at most about this much
Detail = Literal["step", "epoch", "full"]
#: The newest trace schema this steptrace reads and writes. 2 added packed matrices
#: (:mod:`steptrace.matrices`), in the header and in events; a trace that cannot hold
#: one is written as schema 1, which older steptrace versions read.
SCHEMA_VERSION = 2
OLDEST_SCHEMA_VERSION = 1
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class Fingerprint(BaseModel):
    """Where a trace was recorded: versions that can move the last digits, and the
    plugin (and its version) behind every rule the run used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steptrace: str
    python: str
    numpy: str
    blas: str
    machine: str
    environment: dict[str, str] = Field(description="BLAS-related environment variables, if set")
    rules: dict[str, str] = Field(description='{"nonlinearity:relu": "plugin version", ...}')


class Header(BaseModel):
    """The first line of a trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["header"] = "header"
    format: Literal["steptrace-trace"] = "steptrace-trace"
    schema_version: int = SCHEMA_VERSION
    detail: Detail = Field(
        default="full", description="step: every step, derivable fields left out; epoch: "
        "the passes only; full: every field of every step")
    config: ExperimentConfig
    initial_weights: tuple[Matrix, ...]
    fingerprint: Fingerprint

    def matrices(self) -> list[Matrix]:
        config = self.config
        return [*self.initial_weights, *(config.weights or ()), config.inputs,
                *(() if config.goals is None else (config.goals,))]

    def lowest_schema_version(self, largest_batch: int) -> int:
        """The schema a reader needs for this trace: 2 if the header or an event may hold a
        packed matrix (an event's is a batch's rows by a layer's width, or a weight matrix)."""
        layers = self.config.layers
        largest_event = max(largest_batch * max(layers), *(a * b for a, b in pairwise(layers)))
        packed = largest_event > PACK_ABOVE or any(m.packed for m in self.matrices())
        return SCHEMA_VERSION if packed else 1

    @model_validator(mode="after")
    def _check_initial_weights(self) -> Header:
        check_weights("initial_weights", self.initial_weights, self.config.layers, "initial ")
        return self


class End(BaseModel):
    """The last line of a trace: how many events it holds, and whether the run is all
    there (``complete: false`` when the recording was interrupted, with the reason)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["end"] = "end"
    events: StrictInt = Field(ge=0, description="how many events the trace holds")
    complete: bool = Field(default=True, description="false: the recording stopped early")
    reason: str | None = Field(default=None, max_length=2 * MAX_MESSAGE,
                               description="why an incomplete recording stopped")

    @field_validator("reason")
    @classmethod
    def _check_reason(cls, reason: str | None) -> str | None:
        return printable(reason)


def incomplete_path(path: Path) -> Path:
    """Where an interrupted recording of ``path`` is kept: ``run.jsonl`` ->
    ``run.incomplete.jsonl`` (``run.jsonl.gz`` -> ``run.incomplete.jsonl.gz``)."""
    suffixes = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    stem = path.name.removesuffix(suffixes) if suffixes else path.name
    return path.with_name(f"{stem}.incomplete{suffixes}")


Line = Annotated[
    ForwardEvent | ErrorEvent | DeltaEvent | UpdateEvent | EpochEndEvent | End,
    Field(discriminator="kind"),
]
_line_adapter: TypeAdapter[Line] = TypeAdapter(Line)


def trace_schema() -> dict[str, Any]:
    """The JSON Schema of one line of a trace: a header, an event, or the end."""
    union = Annotated[Header | Line, Field(discriminator="kind")]
    schema = TypeAdapter(union).json_schema()
    schema["title"] = f"{FORMAT} line, schema version {SCHEMA_VERSION}"
    schema["description"] = (
        "A steptrace trace is JSON Lines: one header line, one line per event in seq order, "
        "one end line. NaN and infinities are the strings \"NaN\", \"Infinity\", \"-Infinity\"."
    )
    return schema


def fingerprint(rules: dict[str, str]) -> Fingerprint:
    try:
        blas_info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas_info.get('name', '?')} {blas_info.get('version', '?')}"
    except Exception:  # numpy's config report is informative only
        blas = "unknown"
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return Fingerprint(
        steptrace=__version__,
        python=platform.python_version(),
        numpy=np.__version__,
        blas=blas,
        machine=platform.machine(),
        environment={name: os.environ[name] for name in names if name in os.environ},
        rules=rules,
    )


class _Lines:
    """A trace's lines, each read up to ``MAX_LINE`` bytes; a ``.gz`` file also may not
    expand more than ``MAX_GZIP_RATIO``-fold (a decompression bomb is refused early)."""

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "rb", buffering=1 << 16)  # noqa: SIM115 (closed by close())
        self._gzip = gzip.GzipFile(fileobj=self._raw) if path.suffix == ".gz" else None
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
            raise ValueError(f"a line longer than {size(MAX_LINE)}, the most a trace's line may "
                             "hold (is this a trace?)")
        return line

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

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        self._raw.close()


class TraceWriter:
    """Streams a trace to ``path``; use as a context manager.

    The trace goes to a new hidden temporary file beside ``path``
    (:func:`steptrace.outputs.create_temporary`: a random name, never a planted link).
    Entering the block writes the header, whole: Ctrl-C and SIGTERM wait until it is
    written. Leaving the block normally writes the end line and renames the file into
    place. Leaving it by an exception (Ctrl-C, SIGTERM, an error) keeps what was
    recorded: the end line says ``complete: false`` and why, and the file goes to
    :func:`incomplete_path`, never over an existing trace at ``path``. When the disk is
    full (:class:`~steptrace.errors.CannotWrite`), nothing is kept: the temporary file is
    removed, to give the space back. Whole passes are flushed to disk at least every
    ``FLUSH_SECONDS``, so even a killed run leaves its earlier passes behind (in the hidden
    temporary file, without an end line).
    """

    def __init__(self, path: Path, header: Header, inputs: Sequence[Path] = ()) -> None:
        self.path = path
        self.events = 0
        self.saved_incomplete: Path | None = None
        self._header = header
        self._header_written = False
        #: A signal that asked the recording to stop (steptrace.recording sets it): the
        #: next ``write`` raises instead of writing, so no line is ever half-counted.
        self.stop_requested: int | None = None
        self._flush_at = time.monotonic() + FLUSH_SECONDS
        check_output(path, inputs)
        self._tmp: Path | None = None  # the temporary file, made on entering the block

    def _create(self) -> None:
        self._raw, self._tmp = create_temporary(self.path)
        # gzip by the final name (the temporary one ends in .tmp)
        self._file: gzip.GzipFile | IO[bytes] = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._raw)
            if self.path.suffix == ".gz" else self._raw)
        self._write = self._file.write

    def write(self, record: Record) -> None:
        """One event's line (see :data:`steptrace.events.Record`): :func:`record_json`,
        inlined (this runs for every event of a recording)."""
        if self.stop_requested is not None:
            raise KeyboardInterrupt() if self.stop_requested == signal.SIGINT else Terminated()
        try:
            self._write(to_json_value(record, inf_nan_mode="strings") + b"\n")
        except OSError as error:
            raise cannot_write(self.path, error) from None
        self.events += 1
        if record["kind"] == "epoch_end" and time.monotonic() >= self._flush_at:
            try:
                self._file.flush()  # whole passes reach the disk, at most every FLUSH_SECONDS
            except OSError as error:
                raise cannot_write(self.path, error) from None
            self._flush_at = time.monotonic() + FLUSH_SECONDS

    def _finish(self, end: End, target: Path) -> None:
        with signals_deferred():
            try:
                self._file.write(end.model_dump_json(exclude_none=True).encode() + b"\n")
                if self._file is not self._raw:
                    self._file.close()  # the gzip trailer
            except OSError as error:
                raise cannot_write(target, error) from None
            assert self._tmp is not None  # (the header was written)
            finish(self._raw, self._tmp, target)
            self._raw.close()

    def _discard(self) -> None:
        if self._tmp is None:
            return
        with signals_deferred():
            for file in (self._file, self._raw):
                with suppress(OSError):  # the disk is full: its buffer is lost with the file
                    file.close()
            discard(self._tmp)

    def __enter__(self) -> TraceWriter:
        try:
            with signals_deferred():  # the file and its header whole, or not at all
                self._create()
                self._file.write(self._header.__pydantic_serializer__.to_json(self._header))
                self._file.write(b"\n")  # (not + b"\n": a header may be megabytes)
                self._header_written = True
        except OSError as error:
            self._discard()
            raise cannot_write(self.path, error) from None
        except CannotWrite:
            self._discard()
            raise
        except BaseException as stop:  # a signal that waited for the header
            self.__exit__(type(stop), stop, stop.__traceback__)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            try:
                self._finish(End(events=self.events), self.path)
            except BaseException:
                self._discard()
                raise
            return
        if not self._header_written or isinstance(value, CannotWrite):
            self._discard()
            return
        try:
            target = incomplete_path(self.path)
            check_output(target)  # (not a link, a device or a directory planted there)
            self._finish(End(events=self.events, complete=False, reason=stop_reason(value)), target)
            self.saved_incomplete = target
        except (OSError, ValueError, CannotWrite, BadInput):  # nowhere to keep it: nothing kept
            self._discard()


def consistency_problem(event: Event, config: ExperimentConfig) -> str | None:
    """What makes a well-formed event impossible for the header's network, if anything:
    its epoch, samples and layer must exist, and its matrices must have their shapes."""
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


def stop_reason(error: BaseException | None) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(error, Terminated):
        return "terminated (SIGTERM)"
    return one_line(f"stopped by an error: {type(error).__name__}: {error}")


def _decode_line(raw: bytes) -> Any:
    """Validate one event/end line, with the non-finite strings decoded."""
    try:
        return _line_adapter.validate_json(raw)
    except ValidationError as error:
        if not any(isinstance(err.get("input"), str) and err["input"] in _NONFINITE
                   for err in error.errors()):
            raise
    # Slow path, only for lines that hold NaN or infinities: let the JSON parser read
    # them as the non-standard literals pydantic accepts, then validate again.
    data = json.loads(raw, parse_constant=None)
    return _line_adapter.validate_json(json.dumps(_restore_nonfinite(data)))


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
    after the last one. Use as a context manager."""

    def __init__(self, path: Path, check_order: bool = True) -> None:
        self.path = path
        self.end: End | None = None
        self._line = 1
        self._events = 0  # events read so far
        try:
            self._file = _Lines(path)
        except FileNotFoundError:
            raise TraceFormatError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise TraceFormatError(f"{path}: is a directory, not a trace") from None
        except OSError as error:
            raise TraceFormatError(f"{path}: cannot read: {_reason(error)}") from None
        try:
            self.header = self._read_header(self._readline())
        except BaseException:
            self._file.close()
            raise
        self._order = EventOrder(self.header.config, self.header.detail == "epoch") \
            if check_order else None

    def _readline(self) -> bytes:
        try:
            return self._file.readline()
        except (OSError, EOFError, zlib.error, ValueError) as error:
            where = f"{self.path}:{self._line}" if self._line > 1 else str(self.path)
            reason = _reason(error)
            if self._line > 1 and "Not a gzipped file" in str(error):  # after a good start
                reason = ("bytes that are not gzip follow the compressed trace: the file is "
                          "damaged; copy or record it again")
            raise TraceFormatError(f"{where}: cannot read: {reason}") from None

    def _fail(self, message: str) -> TraceFormatError:
        return TraceFormatError(f"{self.path}:{self._line}: {message}")

    def _read_header(self, first: bytes) -> Header:
        if not first or first.isspace():  # (not strip(): a header may hold megabytes of data)
            raise self._fail("empty file: not a steptrace trace (record one with steptrace record)")
        try:
            data = pydantic_core.from_json(first)  # Rust: a header holds the whole dataset
        except (ValueError, UnicodeDecodeError, RecursionError):
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
        try:
            return Header.model_validate(data)
        except ValidationError as error:
            raise self._fail(f"bad header: {describe(error)}; re-record the trace") from None
        except RecursionError:
            raise self._fail("bad header: nested too deeply; re-record the trace") from None

    def __iter__(self) -> Iterator[Event]:
        while True:
            line = self.parse(self.next_raw())
            if isinstance(line, End):
                return
            yield line

    def next_raw(self) -> bytes:
        """The next line as it is on disk, newline included; checked only for being a whole
        line. ``parse`` it, or compare it with a line you expect (replay's fast path)."""
        self._line += 1
        raw = self._readline()
        if not raw:
            raise self._fail(
                f"truncated: the trace ends after {self._events} event(s) without its end line "
                "(the recording was interrupted or the file was cut); re-record it"
            )
        if not raw.endswith(b"\n"):
            raise self._fail("truncated in the middle of a line; re-record the trace")
        return raw

    def accept(self) -> None:
        """Count a line that matched, byte for byte, a valid event with the next seq."""
        self._events += 1

    def parse(self, raw: bytes) -> Event | End:
        """Check a line from ``next_raw`` fully: an event with the next seq, consistent with
        the header's network, or the end line (which must be the last)."""
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
        if self._order is not None and (problem := self._order.problem(line)):
            raise self._fail(f"event {line.seq} is out of order: {problem}; re-record the trace")
        self._events += 1
        return line

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


def open_trace(path: Path, check_order: bool = True) -> TraceReader:
    """Open a trace for reading; the header is read and checked at once. Each event is
    checked to be one the run can have next (:mod:`steptrace.order`) unless ``check_order``
    is false (replay, which compares each with the event it recomputes)."""
    return TraceReader(path, check_order)
