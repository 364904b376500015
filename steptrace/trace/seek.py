"""Seeking: a pass of a long run's trace read without the passes before it.

A trace of a long run (schema 6 and later) holds a checkpoint of the weights every
``checkpoint_every`` passes, and its end line an index of where each is (see the trace
format). :func:`seek_to_pass` finds the end line from the file's tail, checks that its
index can be right for the trace, and moves a :class:`~steptrace.trace.reader.TraceReader`
to the checkpoint before the pass wanted, checking that the line there is the checkpoint
the index names: every line read from there on is checked as always. An index that lies
is reported, never followed into a wrong answer; a trace without one is read whole."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import IO

import numpy as np
from pydantic import ValidationError

from steptrace.errors import TraceFormatError
from steptrace.trace.events import Event
from steptrace.trace.header import CHECKPOINT_PREFIX, Checkpoint, End, Header
from steptrace.trace.reader import TraceReader, parse_checkpoint, unreadable_reason

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
    """Move ``reader`` (just opened on a file, :func:`~steptrace.trace.reader.open_trace`)
    to pass ``epoch``'s checkpoint, or to the latest one before it, when the trace's end
    line indexes its checkpoints: returns that checkpoint (the weights to start from), or
    True when the pass comes before the first checkpoint (the reader reads from the first
    event). Either way the reader need not be read past pass ``epoch``: ``reader.end`` is
    the end line, read from the file's tail. False: the trace has no index to trust (an
    older trace, a truncated one, or a pass the trace may not hold): read it all, as
    without an index. An index that cannot be right, or a line that is not the checkpoint
    it says is there, raises :class:`~steptrace.errors.TraceFormatError`: the trace is
    damaged."""
    header, k = reader.header, reader.header.checkpoint_every
    file = reader.seekable()
    if k is None or file is None:
        return False
    raw, gzipped = file
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
    reader.ends_with(end)
    usable = [i for i, (at_epoch, at_seq, _) in enumerate(index)
              if at_epoch <= epoch and (end.nonfinite is None or at_seq <= end.nonfinite)]
    if not usable:
        return True
    i = usable[-1]
    at_epoch, seq, offset = index[i]
    try:  # (the line after the header, the events and the checkpoints before it)
        line = reader.line_at(first + offset, 2 + seq + i)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise damaged(f"entry {i} says pass {at_epoch}'s checkpoint is at byte {offset}, but "
                      f"what is there cannot be read ({unreadable_reason(error)})") from None
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
        reader.from_first_event()
        return True
    reader.after_checkpoint(checkpoint, [(e, s, None if gzipped else o) for e, s, o in index[:i + 1]])
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
