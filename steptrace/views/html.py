"""``steptrace html``: one self-contained HTML page that steps through a trace.

The page draws the network in the book's names (nodes with their values, edges coloured
by the weight's sign and thickened by its size) and draws every kind of step: a forward
step fills its layer (later layers stay blank until computed), an error step puts the
goal and the error beside the prediction, a delta step signs each node's delta by colour
and greys a node whose derivative was 0, an update step lights only the weights that
moved (before → after on hover). It shows each event's literate line (4 significant
digits; exact values in tooltips) and the error curve with axes; buttons, keys, a slider,
a jump to a pass and sample, and play/pause move through the run (the page itself is
:data:`steptrace.views.page.PAGE`). Everything is inline (no script, style or font is
fetched). The events go in as JSON, in deflated blocks of ``CHECKPOINT`` (the page inflates
a block when it first goes there), with a snapshot of the network every ``CHECKPOINT``
events, so the page reaches any event by replaying at most that many: a 10^6-event trace
makes a page of some 20 MB that opens in half a second. Big layers are drawn by their
first ``MAX_NODES`` nodes. The page is written while the trace is read, event by event,
so making it takes the same memory for any length of run.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import IO, Any

from steptrace.outputs import atomic_write, check_output
from steptrace.plugins.registry import Registry
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.views.literate import Literate
from steptrace.views.page import PAGE

CHECKPOINT = 256
MAX_NODES = 12
#: significant digits of the numbers in the page's literate lines (exact ones in tooltips)
DIGITS = 4


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else ("NaN" if x != x else ("Infinity" if x > 0 else "-Infinity"))


def _row(matrix: Any) -> list[float | str]:
    return [_number(x) for x in matrix[0][:MAX_NODES]]


def _block(matrix: Any) -> list[list[float | str]]:
    return [[_number(x) for x in row[:MAX_NODES]] for row in matrix[:MAX_NODES]]


def write_html(trace: Path, output: Path, registry: Registry) -> int:
    """Write the page for ``trace`` to ``output`` (atomically: see
    :func:`steptrace.outputs.atomic_write`); returns the event count.

    The trace is read once, as a stream, and the page written as it is read, so memory
    stays flat however long the run: the page's head, then each event's entry (its line
    and what it changes) in blocks of ``CHECKPOINT``, then the ``data`` block: the network
    and its names, the error per pass, where each pass starts and a snapshot of the drawn
    state every ``CHECKPOINT`` events. The snapshots, errors and starts are made while the
    events stream, but go after them, so they wait in temporary files (not in memory)
    until the events are written.
    """
    check_output(output, [trace])  # now, not after reading the whole trace
    head, rest = PAGE.split("/*EVENTS*/")
    middle, tail = rest.split("/*DATA*/")
    with (open_trace(trace) as reader,
          atomic_write(output, inputs=[trace]) as page,
          tempfile.TemporaryFile() as checkpoints,
          tempfile.TemporaryFile() as errors,
          tempfile.TemporaryFile() as starts):
        page.write(head.encode())
        count = _write_events(reader, registry, page, checkpoints, errors, starts)
        page.write(middle.encode())
        config = reader.header.config
        page.write(b'{"checkpoints":[')
        _copy(checkpoints, page)
        page.write(b'],"errors":[')
        _copy(errors, page)
        page.write(b'],"starts":[')
        _copy(starts, page)
        page.write(b"],")
        narrator = Literate(reader.header, registry, DIGITS)
        last = len(config.layers) - 1
        names = {"layers": [narrator.layer(k) for k in range(last + 1)],
                 "weights": [""] + [narrator.weights_name(k) for k in range(1, last + 1)],
                 "deltas": [""] + [narrator.delta_name(k) for k in range(1, last + 1)]}
        page.write(_json({"name": config.name, "title": config.title, "names": names,
                          "layers": list(config.layers),
                          "drawn": [min(size, MAX_NODES) for size in config.layers],
                          "checkpoint": CHECKPOINT, "count": count,
                          "incomplete": reader.incomplete})[1:])
        page.write(tail.encode())
    return count


def _write_events(reader: TraceReader, registry: Registry, page: IO[bytes],
                  checkpoints: IO[bytes], errors: IO[bytes], starts: IO[bytes]) -> int:
    """Write the events to ``page``, one entry at a time, ``CHECKPOINT`` entries a block
    (see :func:`_write_block`: the page inflates and parses a block only when it goes
    there, so a long run opens about as fast as a short one), and the
    elements of the snapshots', errors' and pass starts' arrays to their files; returns
    the event count."""
    header = reader.header
    narrator = Literate(header, registry, DIGITS)
    state, layers = narrator.state, range(len(header.config.layers))
    count = passes = 0
    epoch = -1
    block: list[bytes] = []
    for event in reader:
        if count % CHECKPOINT == 0:  # the drawn state before this event
            drawn = {"nodes": [_row(state.layer[k].tolist()) if k in state.layer else []
                               for k in layers],
                     "weights": [_block(w.tolist()) for w in state.weights],
                     "deltas": [_row(state.delta[k].tolist()) if k in state.delta else []
                                for k in layers]}
            checkpoints.write((b"," if count else b"") + _json(drawn))
        event = state.complete(event)
        entry: dict[str, Any] = {"kind": event.kind, "epoch": event.epoch,
                                 "samples": list(event.samples), "layer": event.layer,
                                 "line": f"[{event.seq}] {narrator.narrate(event)}"}
        if isinstance(event, ForwardEvent):
            if event.layer == 1 and event.layer_in is not None:
                entry["input"] = _row(event.layer_in)
            entry["values"] = _row(event.layer_out)
        elif isinstance(event, ErrorEvent):
            entry["error"] = _number(event.error)
            if event.goal is not None:
                entry["goal"] = _row(event.goal)
        elif isinstance(event, DeltaEvent):
            entry["delta"] = _row(event.delta)
            entry["derivative"] = _row(event.derivative)
            entry["nonlinearity"] = event.nonlinearity
        elif isinstance(event, UpdateEvent) and event.weights is not None:
            entry["weights"] = _block(event.weights)
        elif isinstance(event, EpochEndEvent) and event.error is not None:
            errors.write((b"," if passes else b"") + _json(_number(event.error)))
            passes += 1
        if event.epoch != epoch:  # where each pass starts: the page jumps there
            starts.write((b"," if epoch >= 0 else b"") + str(count).encode())
            epoch = event.epoch
        block.append(_json(entry))
        count += 1
        if count % CHECKPOINT == 0:
            _write_block(page, block)
    if block:
        _write_block(page, block)
    return count


def _write_block(page: IO[bytes], entries: list[bytes]) -> None:
    """One block of entries: their JSON array, zlib-compressed (a run repeats itself, so
    some 15 times smaller) and base64-encoded; the page inflates it with the browser's
    ``DecompressionStream("deflate")`` when it first goes there."""
    packed = base64.b64encode(zlib.compress(b"[" + b",".join(entries) + b"]", 9))
    page.write(b'<script type="application/x-steptrace-events" class="events">' + packed
               + b"</script>\n")
    entries.clear()



def _json(value: Any) -> bytes:
    """Compact JSON to go inside a script block: ``</`` is written ``<\\/`` and ``<!--``
    ``<\\u0021--`` (the same strings to JSON), so no name or line from the trace can close
    the block (``</script``) or make the browser read past its end (``<!--<script``)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--").encode()


def _copy(source: IO[bytes], target: IO[bytes]) -> None:
    source.seek(0)
    shutil.copyfileobj(source, target)


__all__ = ["CHECKPOINT", "MAX_NODES", "PAGE", "write_html"]
