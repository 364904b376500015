"""``steptrace html``: one self-contained HTML page that steps through a trace.

The page draws the network in the book's names (nodes with their values, edges coloured
by the weight's sign and thickened by its size) and draws every kind of step: a forward
step fills its layer (later layers stay blank until computed), an error step puts the
goal and the error beside the prediction, a delta step signs each node's delta by colour
and greys a node whose derivative was 0, an update step lights only the weights that
moved (before → after on hover). Above the network it shows each step's literate line:
its formula in names, then its operands laid out as the matrices they are, with the
operators between them (:meth:`~steptrace.views.literate.Literate.clauses`, the same
clauses ``show`` writes out; 4 significant digits, exact values in tooltips); below, the
error curve with axes (and the held-out rows' error, a second curve, when the experiment
has them). Buttons, keys, a slider, a jump to a pass and sample (which says why where it
cannot go: a pass the run has not, a sample the pass holds not), and play/pause move
through the run (the page itself is :data:`steptrace.views.page.PAGE`). A batch step's
entries hold every sample's row (the first ``MAX_NODES``): the nodes show one, chosen with
a sample picker, and the line under the legend says which ("a batch of 4: the nodes show
sample 2 of samples 0–3"); grey is a derivative of 0 for the sample shown, while an update
lights the weights the batch's weight_delta moved (a grey node's too: the other samples'
deltas move them), and a pass's end says which sample its nodes still show. The drawings
scale to the page's width (a notebook's frame, a narrow window); in a frame, the page posts
its height to its parent, which grows the frame to it (:meth:`steptrace.Trace._repr_html_`).
Everything is inline (no script, style or font is fetched). The events go in as JSON, in
deflated blocks of ``CHECKPOINT`` (the page inflates a block when it first goes there),
with a snapshot of the network every ``CHECKPOINT`` events, so the page reaches any event
by replaying at most that many: a 10^6-event trace makes a page of some 20 MB that opens
in half a second. Big layers are drawn, and their matrices shown, by their first
``MAX_NODES`` rows and columns. The page is written while the trace is read, event by
event, so making it takes the same memory for any length of run.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import pydantic_core

from steptrace.errors import BadInput
from steptrace.outputs import atomic_write, check_output
from steptrace.plugins.registry import Registry
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.views.literate import Clause, Literate, Sign, Value
from steptrace.views.page import PAGE
from steptrace.views.pressure import PressureRun, PressureView

CHECKPOINT = 256
MAX_NODES = 12
#: significant digits of the numbers the page shows (its script's fmt; exact ones in tooltips)
DIGITS = 4


def _rows(matrix: Any) -> Any:
    """A layer's (or delta's, derivative's, goal's) rows, one a sample of the step's batch
    (the page's sample picker chooses the one its nodes show), cut as :func:`_block` cuts:
    the first ``MAX_NODES`` rows (samples) and columns (nodes)."""
    return _block(matrix)


def _block(matrix: Any) -> Any:
    if len(matrix) <= MAX_NODES and len(matrix[0]) <= MAX_NODES:
        return matrix
    return [row[:MAX_NODES] for row in matrix[:MAX_NODES]]


def _value(value: Value) -> Any:
    """An operand's value for the page: a number, ``None`` (not in the trace: "?") or a
    matrix's rows; a matrix of more than ``MAX_NODES`` rows or columns is cut to its first
    ones, as ``{"rows": ..., "of": [row count, column count]}``."""
    if value is None or isinstance(value, float):
        return value
    rows = value.tolist() if isinstance(value, np.ndarray) else value
    if len(rows) <= MAX_NODES and len(rows[0]) <= MAX_NODES:
        return rows
    return {"rows": _block(rows), "of": [len(rows), len(rows[0])]}


def _shape(groups: tuple[tuple[bool, tuple[Clause, ...]], ...], values: list[Any]) -> tuple[Any, ...]:
    """A step's clauses without their numbers: for each clause ``(given, formula, note,
    parts)``, each part a sign's text or an operand's ``(name,)`` (a given clause's, the
    banner's ``layer_0 = streetlights[1]``, is named by its formula); the operands' values
    are appended to ``values``, in order. Steps of the same kind, layer and samples have
    the same shape, so a block of events writes each shape once."""
    shape = []
    for given, clauses in groups:
        for clause in clauses:
            parts: list[Any] = []
            for part in clause.parts:  # those on the page (Clause.on_page), inline: it is the hot loop
                if isinstance(part, Sign):
                    if part.only != "line":
                        parts.append(part.text)
                else:
                    parts.append((clause.formula if given else part.name,))
                    values.append(_value(part.value))
            shape.append((given, clause.formula, clause.note, tuple(parts)))
    return tuple(shape)


def write_html(trace: Path, output: Path, registry: Registry) -> int:
    """Write the page for ``trace`` to ``output`` (atomically: see
    :func:`steptrace.outputs.atomic_write`); returns the event count.

    The trace is read once, as a stream, and the page written as it is read, so memory
    stays flat however long the run: the page's head, then each event's entry (its step's
    shape and operands, see :func:`_shape`, and what it changes in the drawing) in blocks
    of ``CHECKPOINT``, then the ``data`` block: the network
    and its names, the error per pass (and, with held-out rows, their error per pass,
    ``test_errors``), where each pass starts and a snapshot of the drawn state every
    ``CHECKPOINT`` events. The snapshots, errors and starts are made while the events
    stream, but go after them, so they wait in temporary files (not in memory) until the
    events are written.
    """
    check_output(output, [trace])  # now, not after reading the whole trace
    head, rest = PAGE.split("/*EVENTS*/")
    middle, tail = rest.split("/*DATA*/")
    with (open_trace(trace) as reader,
          atomic_write(output, inputs=[trace]) as page,
          tempfile.TemporaryFile() as checkpoints,
          tempfile.TemporaryFile() as errors,
          tempfile.TemporaryFile() as test_errors,
          tempfile.TemporaryFile() as starts):
        page.write(head.encode())
        view = _pressure_view(reader.header)
        run = view.follow() if view is not None else None  # (handed the events as they go)
        count = _write_events(reader, registry, page, checkpoints, errors, test_errors, starts,
                              run)
        page.write(middle.encode())
        config = reader.header.config
        page.write(b'{"checkpoints":[')
        _copy(checkpoints, page)
        page.write(b'],"errors":[')
        _copy(errors, page)
        if config.held_out:  # (absent without held-out rows: such a page is as it was)
            page.write(b'],"test_errors":[')
            _copy(test_errors, page)
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
                          "rows": MAX_NODES,
                          "checkpoint": CHECKPOINT, "count": count,
                          "incomplete": reader.incomplete,
                          "pressure": None if view is None or run is None else
                          list(view.report(run, set()))})[1:])
        page.write(tail.encode())
    return count


def _pressure_view(header: Header) -> PressureView | None:
    """The pressure view (``show --view pressure``) of a run on data of 0s and 1s with
    goals; None for others."""
    try:
        return PressureView(header)
    except BadInput:  # (no such table for this data)
        return None


def _write_events(reader: TraceReader, registry: Registry, page: IO[bytes],
                  checkpoints: IO[bytes], errors: IO[bytes], test_errors: IO[bytes],
                  starts: IO[bytes], pressure: PressureRun | None = None) -> int:
    """Write the events to ``page``, one entry at a time, ``CHECKPOINT`` entries a block
    (see :func:`_write_block`: the page inflates and parses a block only when it goes
    there, so a long run opens about as fast as a short one), and the
    elements of the snapshots', errors', held-out errors' and pass starts' arrays to their
    files, handing each event, complete, to ``pressure`` (the pressure view's run); returns
    the event count."""
    header = reader.header
    narrator = Literate(header, registry, DIGITS)
    state, layers = narrator.state, range(len(header.config.layers))
    count = passes = tested = 0
    epoch = -1
    block: list[bytes] = []
    shapes: dict[tuple[Any, ...], int] = {}  # this block's
    for event in reader:
        if count % CHECKPOINT == 0:  # the drawn state before this event
            drawn = {"nodes": [_rows(state.layer[k].tolist()) if k in state.layer else []
                               for k in layers],
                     "weights": [_block(w.tolist()) for w in state.weights],
                     "deltas": [_rows(state.delta[k].tolist()) if k in state.delta else []
                                for k in layers]}
            checkpoints.write((b"," if count else b"") + _json(drawn))
        event = state.complete(event)
        if pressure is not None:
            pressure.add(event)
        values: list[Any] = []
        given = narrator.given(event) if isinstance(event, ForwardEvent) and event.layer == 1 else ()
        shape = _shape(((True, given), (False, narrator.clauses(event))), values)
        entry: dict[str, Any] = {"kind": event.kind, "epoch": event.epoch,
                                 "samples": event.samples, "layer": event.layer,
                                 "shape": shapes.setdefault(shape, len(shapes)), "operands": values}
        if isinstance(event, ForwardEvent):
            if event.layer == 1 and event.layer_in is not None:
                entry["input"] = _rows(event.layer_in)
            entry["values"] = _rows(event.layer_out)
        elif isinstance(event, ErrorEvent):
            entry["error"] = event.error
            if event.goal is not None:
                entry["goal"] = _rows(event.goal)
        elif isinstance(event, DeltaEvent):
            entry["delta"] = _rows(event.delta)
            entry["derivative"] = _rows(event.derivative)
            entry["nonlinearity"] = event.nonlinearity
        elif isinstance(event, UpdateEvent) and event.weights is not None:
            entry["weights"] = _block(event.weights)
        elif isinstance(event, EpochEndEvent):
            if event.error is not None:
                errors.write((b"," if passes else b"") + _json(event.error))
                passes += 1
            if event.test_error is not None:
                test_errors.write((b"," if tested else b"") + _json(event.test_error))
                tested += 1
        if event.epoch != epoch:  # where each pass starts: the page jumps there
            starts.write((b"," if epoch >= 0 else b"") + str(count).encode())
            epoch = event.epoch
        block.append(_json(entry))
        count += 1
        if count % CHECKPOINT == 0:
            _write_block(page, block, shapes)
    if block:
        _write_block(page, block, shapes)
    return count


def _write_block(page: IO[bytes], entries: list[bytes], shapes: dict[tuple[Any, ...], int]) -> None:
    """One block of entries, ``{"shapes": [...], "events": [...]}`` (each entry's
    ``shape`` is its index in the block's shapes), as JSON, zlib-compressed (a run repeats
    itself, so some 15 times smaller) and base64-encoded; the page inflates it with the
    browser's ``DecompressionStream("deflate")`` when it first goes there. Empties
    ``entries`` and ``shapes`` for the next block."""
    data = (b'{"shapes":' + _json(list(shapes)) + b',"events":[' + b",".join(entries) + b"]}")
    packed = base64.b64encode(zlib.compress(data, 9))
    page.write(b'<script type="application/x-steptrace-events" class="events">' + packed
               + b"</script>\n")
    entries.clear()
    shapes.clear()


def _json(value: Any) -> bytes:
    """Compact JSON to go inside a script block, by pydantic-core's writer (fast): NaN and
    the infinities as the strings the trace writes (JSON has no literal for them); ``</``
    is written ``<\\/`` and ``<!--`` ``<\\u0021--`` (the same strings to JSON), so no name
    from the trace can close the block (``</script``) or make the browser read past its end
    (``<!--<script``)."""
    text = pydantic_core.to_json(value, inf_nan_mode="strings")
    return text.replace(b"</", b"<\\/").replace(b"<!--", b"<\\u0021--")


def _copy(source: IO[bytes], target: IO[bytes]) -> None:
    source.seek(0)
    shutil.copyfileobj(source, target)


__all__ = ["CHECKPOINT", "MAX_NODES", "PAGE", "write_html"]
