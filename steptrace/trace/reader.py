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
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import pydantic_core
from pydantic import ValidationError

from steptrace import __version__
from steptrace.config import DATA_DIR, NAMED_BY, ExperimentConfig, describe
from steptrace.errors import DataFileError, TraceFormatError
from steptrace.limits import GZIP_GRACE, MAX_GZIP_RATIO, MAX_LINE, size
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, Event, ForwardEvent, UpdateEvent
from steptrace.trace.header import (
    FORMAT,
    OLDEST_SCHEMA_VERSION,
    SCHEMA_VERSION,
    End,
    Header,
    holds_passes_only,
    line_adapter,
)
from steptrace.trace.order import EventOrder

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
        try:
            self.header = self._read_header(self._readline())
        except BaseException:
            self._file.close()
            raise
        self._order = EventOrder(self.header.config, holds_passes_only(self.header.detail)) \
            if check_order else None

    def _readline(self) -> bytes:
        try:
            return self._file.readline()
        except (OSError, EOFError, zlib.error, ValueError) as error:
            where = f"{self.name}:{self._line}" if self._line > 1 else self.name
            reason = _reason(error)
            if self._line > 1 and "Not a gzipped file" in str(error):  # after a good start
                reason = ("bytes that are not gzip follow the compressed trace: the file is "
                          "damaged; copy or record it again")
            raise TraceFormatError(f"{where}: cannot read: {reason}") from None

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
