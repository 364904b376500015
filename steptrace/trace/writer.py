"""Writing a trace: a stream of lines to a binary stream, or to a hidden temporary file
renamed into place when the end line is written (see :class:`TraceWriter`)."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from pydantic_core import to_json as to_json_value

from steptrace.errors import BadInput, CannotWrite, Terminated, one_line
from steptrace.matrices import PACK_ABOVE
from steptrace.outputs import (
    cannot_write,
    check_output,
    create_temporary,
    discard,
    finish,
    signals_deferred,
)
from steptrace.trace.header import End, Header

if TYPE_CHECKING:
    import gzip

    from steptrace.trace.emitter import Record

FLUSH_SECONDS = 0.5  # a killed recording loses at most about this much
#: No line this long or shorter can hold a packed matrix: more than PACK_ABOVE numbers,
#: 16 hex digits each
PACKED_LINE = 16 * PACK_ABOVE


def incomplete_path(path: Path) -> Path:
    """Where an interrupted recording of ``path`` is kept: ``run.jsonl`` ->
    ``run.incomplete.jsonl`` (``run.jsonl.gz`` -> ``run.incomplete.jsonl.gz``)."""
    suffixes = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    stem = path.name.removesuffix(suffixes) if suffixes else path.name
    return path.with_name(f"{stem}.incomplete{suffixes}")



class TraceWriter:
    """Streams a trace to ``target``, a path or a binary stream; use as a context manager.

    To a path, the trace goes to a new hidden temporary file beside it
    (:func:`steptrace.outputs.create_temporary`: a random name, never a planted link).
    Entering the block writes the header, whole: Ctrl-C and SIGTERM wait until it is
    written. Leaving the block normally writes the end line and renames the file into
    place. Leaving it by an exception (Ctrl-C, SIGTERM, an error) keeps what was
    recorded: the end line says ``complete: false`` and why, and the file goes to
    :func:`incomplete_path`, never over an existing trace at ``path``. When the disk is
    full (:class:`~steptrace.errors.CannotWrite`), nothing is kept: the temporary file is
    removed, to give the space back. Whole passes are flushed to disk at least every
    ``FLUSH_SECONDS``, so even a killed run leaves its earlier passes behind (in the hidden
    temporary file, without an end line). A path ending in ``.gz`` is gzip-compressed.

    To a stream (``io.BytesIO()``, a pipe, a ``gzip.GzipFile``), the lines are written as
    they are made, the end line last (``complete: false`` and why when the block is left by
    an exception); the stream is flushed, never closed. ``name`` is what messages call it.
    """

    def __init__(self, target: Path | IO[bytes], header: Header, inputs: Sequence[Path] = (),
                 *, name: str = "the trace's stream") -> None:
        self.path: Path | None = target if isinstance(target, Path) else None
        self._stream: IO[bytes] | None = None if isinstance(target, Path) else target
        self.name = str(target) if isinstance(target, Path) else name
        self.events = 0
        self.saved_incomplete: Path | None = None
        self._header = header
        self._header_written = False
        #: A signal that asked the recording to stop (steptrace.recording sets it): the
        #: next ``write`` raises instead of writing, so no line is ever half-counted.
        self.stop_requested: int | None = None
        self._flush_at = time.monotonic() + FLUSH_SECONDS
        if self.path is not None:
            check_output(self.path, inputs)
        self._tmp: Path | None = None  # the temporary file, made on entering the block
        #: [epoch, seq, offset] of each checkpoint written (the end line's index), or None
        #: when offsets cannot be known (a stream that cannot tell where it is)
        self._index: list[tuple[int, int, int]] | None = []
        self._start = 0  # where the line after the header starts in a plain trace's stream
        self._members = False  # a .gz file: a new gzip member at each checkpoint
        self._nonfinite: int | None = None  # the first event whose line is not all finite
        #: whether that is still looked for: only an index says it (a trace with checkpoints)
        self._watch_nonfinite = header.checkpoint_every is not None

    @property
    def header(self) -> Header:
        return self._header

    def _create(self) -> None:
        self._file: gzip.GzipFile | IO[bytes]
        if self._stream is not None:
            self._raw = self._file = self._stream
        else:
            assert self.path is not None
            self._raw, self._tmp = create_temporary(self.path)
            # gzip by the final name (the temporary one ends in .tmp)
            self._file = self._raw
            if self.path.suffix == ".gz":
                import gzip  # (only then: it is not free to import)

                # mtime 0: the same run gives the same bytes (a golden re-recorded is unchanged)
                self._file = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
                self._members = True
        # (a gzip stream, or one that cannot tell where it is: checkpoints, but no index)
        self._index = None if self._file is not self._raw and not self._members else []
        self._watch_nonfinite = self._watch_nonfinite and self._index is not None
        self._write = self._file.write

    def _started(self) -> None:
        """The header written: a plain trace's offsets count from here (a .gz's from the
        file's start), so that a header rewritten leaves the index true."""
        if self._members or self._index is None:
            return
        try:
            self._start = self._raw.tell()
        except (OSError, ValueError, AttributeError):
            self._index = None
            self._watch_nonfinite = False

    def _new_member(self) -> int:
        """A .gz trace: the gzip member so far closed, a new one started; where it starts."""
        import gzip

        self._file.close()  # (the member's trailer; the file stays open)
        offset = self._raw.tell()
        self._file = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        self._write = self._file.write
        return offset

    def checkpoint(self, record: Record) -> None:
        """A checkpoint's line (see :class:`steptrace.trace.header.Checkpoint`): not an
        event (not counted); where it starts goes in the end line's index. In a .gz trace it
        starts a gzip member of its own, so that a reader can start there."""
        if self.stop_requested is not None:
            raise KeyboardInterrupt() if self.stop_requested == signal.SIGINT else Terminated()
        try:
            if self._members:
                offset = self._new_member()
            elif self._index is not None:
                offset = self._raw.tell() - self._start
            self._write(to_json_value(record, inf_nan_mode="strings") + b"\n")
        except OSError as error:
            raise cannot_write(self.name, error) from None
        if self._index is not None:
            self._index.append((record["epoch"], record["seq"], offset))

    def write(self, record: Record) -> None:
        """One event's line (see :data:`steptrace.trace.emitter.Record`): :func:`record_json`,
        inlined (this runs for every event of a recording)."""
        if self.stop_requested is not None:
            raise KeyboardInterrupt() if self.stop_requested == signal.SIGINT else Terminated()
        line = to_json_value(record, inf_nan_mode="strings") + b"\n"
        try:
            self._write(line)
        except OSError as error:
            raise cannot_write(self.name, error) from None
        if self._watch_nonfinite and line_nonfinite(line, record):
            self._nonfinite = self.events  # (the index says so: a seek past it still warns)
            self._watch_nonfinite = False
        self.events += 1
        if record["kind"] == "epoch_end" and time.monotonic() >= self._flush_at:
            try:
                self._file.flush()  # whole passes reach the disk, at most every FLUSH_SECONDS
            except OSError as error:
                raise cannot_write(self.name, error) from None
            self._flush_at = time.monotonic() + FLUSH_SECONDS

    def _finish(self, end: End, target: Path | None) -> None:
        with signals_deferred():
            try:
                if self._members and self._index:  # the end line in a gzip member of its own
                    self._new_member()
                if self._header.checkpoint_every is not None and self._index:  # (none: as before)
                    end = end.model_copy(update={"index": tuple(self._index),
                                                 "gzip": True if self._members else None,
                                                 "nonfinite": self._nonfinite})
                self._file.write(end.model_dump_json(exclude_none=True).encode() + b"\n")
                if self._stream is not None:
                    self._file.flush()
                    return
                if self._file is not self._raw:
                    self._file.close()  # the gzip trailer
            except OSError as error:
                raise cannot_write(self.name if target is None else target, error) from None
            assert self._tmp is not None and target is not None  # (the header was written)
            finish(self._raw, self._tmp, target)
            self._raw.close()

    def _discard(self) -> None:
        if self._tmp is None:  # (nothing made; or a stream, which is the caller's)
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
                self._file.write(self._header.to_json())
                self._file.write(b"\n")  # (not + b"\n": a header may be megabytes)
                self._started()
                self._header_written = True
        except OSError as error:
            self._discard()
            raise cannot_write(self.name, error) from None
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
        end = End(events=self.events, complete=False, reason=stop_reason(value))
        try:
            if self.path is None:  # a stream: the end line says it stopped early
                self._finish(end, None)
                return
            target = incomplete_path(self.path)
            check_output(target)  # (not a link, a device or a directory planted there)
            self._finish(end, target)
            self.saved_incomplete = target
        except (OSError, ValueError, CannotWrite, BadInput):  # nowhere to keep it: nothing kept
            self._discard()


def line_nonfinite(line: bytes, record: Record) -> bool:
    """Whether an event's line (of ``record``) holds a number that is not finite: NaN and
    ±Infinity are strings in a line, and a packed matrix's are looked for in its record.
    (This runs for every line recorded or replayed: the common line, short and finite, is
    told by a capital N or I, which no finite number has, and by its length, too short to
    hold a packed matrix's 16 hex digits a number: each a search in C.)"""
    if (b"N" in line or b"I" in line) and (b'NaN"' in line or b'Infinity"' in line):
        return True
    if len(line) <= PACKED_LINE or b"float64_le_hex" not in line:
        return False
    import numpy as np

    from steptrace.matrices import PACKED_KEY, unpack

    return any(isinstance(value, dict) and PACKED_KEY in value
               and not np.isfinite(unpack(value)).all() for value in record.values())


def stop_reason(error: BaseException | None) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(error, Terminated):
        return "terminated (SIGTERM)"
    return one_line(f"stopped by an error: {type(error).__name__}: {error}")
