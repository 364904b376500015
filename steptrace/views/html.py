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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pydantic_core

from steptrace.config import ExperimentConfig
from steptrace.defaults import DIGITS
from steptrace.errors import BadInput
from steptrace.outputs import atomic_write, check_output
from steptrace.plugins.registry import Provided, Registry
from steptrace.trace.events import (
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    UpdateEvent,
)
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.views.literate import Clause, Literate, Sign, Value
from steptrace.views.page import PAGE
from steptrace.views.pressure import PressureRun, PressureView

CHECKPOINT = 256
MAX_NODES = 12
#: The rules the page's own engine (``page/engine.js``) computes, each at the revision of
#: the built-in plugin it mirrors bit for bit (``tests/test_js_conformance.py``): a page
#: made ``edit=True`` of a run with any other rule shows its recording only, and says why.
PAGE_RULES = {"nonlinearities": {"linear": 1, "relu": 1, "sigmoid": 2, "tanh": 2},
              "strategies": {"stochastic": 1, "full": 1, "minibatch": 1, "hot_and_cold": 1}}
#: The plugin the page's rules come from.
PAGE_RULES_PLUGIN = "steptrace_builtins"
#: The most events a run the page computes may make (an edit, ``steptrace.run``): the page
#: keeps every one in memory (and at most 50 times as many numbers).
EDIT_MAX_EVENTS = 200_000


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


def write_html(trace: Path, output: Path, registry: Registry, *, edit: bool = False) -> int:
    """Write the page for the trace file ``trace`` to ``output`` (atomically: see
    :func:`steptrace.outputs.atomic_write`); returns the event count. See
    :func:`write_page`."""
    check_output(output, [trace])  # now, not after reading the whole trace
    with open_trace(trace) as reader, atomic_write(output, inputs=[trace]) as page:
        return write_page(reader, page, registry, edit=edit)


def write_page(reader: TraceReader, page: IO[bytes], registry: Registry, *, edit: bool = False,
               spill: Callable[[], IO[bytes]] = tempfile.TemporaryFile) -> int:
    """Write the page for the trace ``reader`` reads (not yet read past its header) to the
    binary stream ``page``; returns the event count. ``edit``: the page has the edit panel
    (:func:`edit_data`): the learner changes the experiment and the page computes the run
    again, with its own engine.

    The trace is read once, as a stream, and the page written as it is read, so memory
    stays flat however long the run: the page's head, then each event's entry (its step's
    shape and operands, see :func:`_shape`, and what it changes in the drawing) in blocks
    of ``CHECKPOINT``, then the ``data`` block: the network
    and its names, the error per pass (and, with held-out rows, their error per pass,
    ``test_errors``), where each pass starts and a snapshot of the drawn state every
    ``CHECKPOINT`` events. The snapshots, errors and starts are made while the events
    stream, but go after them, so they wait in ``spill`` files (by default temporary
    files, not memory; ``io.BytesIO`` for a page made in memory) until the events are
    written.
    """
    head, rest = PAGE.split("/*EVENTS*/")
    middle, tail = rest.split("/*DATA*/")
    with spill() as checkpoints, spill() as errors, spill() as test_errors, spill() as starts:
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
                          "checkpoint": CHECKPOINT, "count": count, "maxEvents": EDIT_MAX_EVENTS,
                          "incomplete": reader.incomplete,
                          "pressure": None if view is None or run is None else
                          list(view.report(run, set())),
                          **({"edit": edit_data(config, registry)} if edit else {})})[1:])
        page.write(tail.encode())
    return count


def uneditable(config: ExperimentConfig, registry: Registry) -> str | None:
    """Why the page's own engine cannot compute ``config``'s run (None: it can): it
    computes in exact arithmetic, with the rules of :data:`PAGE_RULES` as the built-in
    plugin provides them, layers of at most ``MAX_NODES`` nodes."""
    if config.arithmetic != "exact":
        return ("it was recorded in blas arithmetic, whose last digits depend on the machine; "
                "the page computes in exact arithmetic only (record it with --arithmetic exact "
                "to edit it)")
    for k, options in enumerate(config.nonlinearity_options, start=1):
        if options:  # (page/engine.js computes every nonlinearity with no options at all)
            return (f"its layer_{k} has the nonlinearity {config.nonlinearity_label(k)}, given "
                    "options, and the page computes no nonlinearity with options")
    rules: list[tuple[str, str, Mapping[str, Provided[Any]]]] = [
        ("nonlinearities", name, registry.nonlinearities) for name in config.nonlinearities]
    rules.append(("strategies", config.strategy.name, registry.strategies))
    for kind, name, provided in rules:
        known = PAGE_RULES[kind]
        what = "nonlinearity" if kind == "nonlinearities" else "strategy"
        rule = provided.get(name)
        if rule is None or name not in known or not rule.plugin.startswith(PAGE_RULES_PLUGIN):
            source = "" if rule is None else f" (from the plugin {rule.label})"
            return (f"its {what} {name}{source} is not one the page computes: it computes "
                    f"{', '.join(known)}")
        if rule.rule.revision != known[name]:
            return (f"its {what} {name} is at revision {rule.rule.revision}; the page computes "
                    f"revision {known[name]}")
    wide = [size for size in config.layers if size > MAX_NODES]
    if wide:
        return f"a layer of {wide[0]} nodes: the page edits networks of at most {MAX_NODES} nodes a layer"
    return None


def edit_data(config: ExperimentConfig, registry: Registry) -> dict[str, Any]:
    """What the edit panel needs: the experiment (as ``steptrace experiments --show ID
    --format json`` prints it), why the page cannot compute it (None: it can), the choices
    it offers, and the narration's formulas of the nonlinearities it computes."""
    rules = {name: [provided.rule.formula, provided.rule.derivative_formula,
                    provided.rule.deriv_name]
             for name, provided in registry.nonlinearities.items()}
    return {"config": config.model_dump(mode="json"), "why": uneditable(config, registry),
            "nonlinearities": list(PAGE_RULES["nonlinearities"]),
            "strategies": list(PAGE_RULES["strategies"]), "rules": rules, "maxNodes": MAX_NODES}


def _pressure_view(header: Header) -> PressureView | None:
    """The pressure view (``show --view pressure``) of a run on data of 0s and 1s with
    goals; None for others."""
    try:
        return PressureView(header)
    except BadInput:  # (no such table for this data)
        return None


def page_entries(reader: TraceReader, registry: Registry) -> Iterator[tuple[Event, dict[str, Any], Any]]:
    """Each event of the trace, complete, with its entry on the page and, every
    ``CHECKPOINT`` events, the drawn state before it (else None). An entry is what the page
    draws for the event and its step's literate line: ``shape``, the clauses without their
    numbers (:func:`_shape`), and ``operands``, their values in order. The page's own
    engine makes the same entries for a run it computes (``page/live.js``; the two are
    held together by ``tests/test_live_page.py``)."""
    header = reader.header
    narrator = Literate(header, registry, DIGITS)
    state, layers = narrator.state, range(len(header.config.layers))
    for count, event in enumerate(reader):
        drawn = None
        if count % CHECKPOINT == 0:  # the drawn state before this event
            drawn = {"nodes": [_rows(state.layer[k].tolist()) if k in state.layer else []
                               for k in layers],
                     "weights": [_block(w.tolist()) for w in state.weights],
                     "deltas": [_rows(state.delta[k].tolist()) if k in state.delta else []
                                for k in layers]}
        event = state.complete(event)
        values: list[Any] = []
        given = narrator.given(event) if isinstance(event, ForwardEvent) and event.layer == 1 else ()
        shape = _shape(((True, given), (False, narrator.clauses(event))), values)
        entry: dict[str, Any] = {"kind": event.kind, "epoch": event.epoch,
                                 "samples": event.samples, "layer": event.layer,
                                 "shape": shape, "operands": values}
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
        yield event, entry, drawn


def _write_events(reader: TraceReader, registry: Registry, page: IO[bytes],
                  checkpoints: IO[bytes], errors: IO[bytes], test_errors: IO[bytes],
                  starts: IO[bytes], pressure: PressureRun | None = None) -> int:
    """Write the events' entries (:func:`page_entries`) to ``page``, ``CHECKPOINT`` entries
    a block (see :func:`_write_block`: the page inflates and parses a block only when it
    goes there, so a long run opens about as fast as a short one), and the elements of the
    snapshots', errors', held-out errors' and pass starts' arrays to their files, handing
    each event, complete, to ``pressure`` (the pressure view's run); returns the event
    count."""
    count = passes = tested = 0
    epoch = -1
    block: list[bytes] = []
    shapes: dict[tuple[Any, ...], int] = {}  # this block's
    for event, entry, drawn in page_entries(reader, registry):
        if drawn is not None:
            checkpoints.write((b"," if count else b"") + _json(drawn))
        if pressure is not None:
            pressure.add(event)
        entry["shape"] = shapes.setdefault(entry["shape"], len(shapes))
        if isinstance(event, EpochEndEvent):
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


__all__ = ["CHECKPOINT", "MAX_NODES", "PAGE", "write_html", "write_page"]
