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
Everything is inline (no script, style or font is fetched). The events go in deflated
blocks of ``BLOCK`` (the page inflates a block when it first goes there), with a snapshot
of the network every ``CHECKPOINT`` events, so the page reaches any event by replaying at
most that many: a 10^6-event trace makes a page of some 10 MB that opens in half a second.
A block holds each kind of step once and each event as a row (:class:`_Block`); a kind of
step is narrated (:meth:`Literate.clauses`) until its recipe has agreed with the narration
``CHECKED`` times, then its numbers are gathered by the recipe alone (:class:`_Steps`) and
written as float64s, a kind of step at a time, with numpy (the page reads them as a
``Float64Array``: every bit as the narration has it, no decimal text written or parsed).
Big layers are drawn, and their matrices shown, by their first
``MAX_NODES`` rows and columns. The page is written while the trace is read, half a block
at a time, so making it takes the same memory for any length of run; a repeating run's
half block is written at once, its steps' values made a column at a time from the state
after every event worked out in bulk (:class:`_Writer`).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from itertools import chain, islice, repeat
from operator import attrgetter, call, is_
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import pydantic_core

from steptrace.config import ExperimentConfig
from steptrace.defaults import DIGITS
from steptrace.engine.arithmetic import exact_dot, exact_dot_each
from steptrace.engine.formulas import back, backs, transposed
from steptrace.errors import BadInput
from steptrace.outputs import atomic_write, check_output
from steptrace.plugins.registry import Provided, Registry
from steptrace.trace.consistency import StepLine
from steptrace.trace.events import (
    EVENT_CLASSES,
    DeltaEvent,
    EpochEndEvent,
    Event,
    ForwardEvent,
    UpdateEvent,
)
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.trace.state import LEFT_OUT, NetworkState, Timeline, step_key
from steptrace.views.literate import Clause, Literate, Sign, Value
from steptrace.views.page import PAGE
from steptrace.views.pressure import PressureRun, PressureView

if TYPE_CHECKING:
    from steptrace.recording import Progress

CHECKPOINT = 256
#: The events a block of the page holds (:class:`_Block`): the page inflates a block when it
#: first goes there. A block's numbers are made a kind of step at a time (numpy's cost a
#: call, not a number), so bigger blocks are cheaper to write; a multiple of ``CHECKPOINT``
#: (a snapshot's events are in one block).
BLOCK = 8 * CHECKPOINT
#: The events the page's writer reads at a time (:class:`_Writer`): half a block (a block's
#: kinds of step, numbers and rows gathered from both halves), so that fewer are held.
WINDOW = BLOCK // 2
#: zlib's level for the blocks of events
LEVEL = 3
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


def write_html(trace: Path, output: Path, registry: Registry, *, edit: bool = False,
               progress: Progress | None = None) -> int:
    """Write the page for the trace file ``trace`` to ``output`` (atomically: see
    :func:`steptrace.outputs.atomic_write`); returns the event count. See
    :func:`write_page`."""
    check_output(output, [trace])  # now, not after reading the whole trace
    with open_trace(trace) as reader, atomic_write(output, inputs=[trace]) as page:
        return write_page(reader, page, registry, edit=edit, progress=progress)


def write_page(reader: TraceReader, page: IO[bytes], registry: Registry, *, edit: bool = False,
               spill: Callable[[], IO[bytes]] = tempfile.TemporaryFile,
               progress: Progress | None = None) -> int:
    """Write the page for the trace ``reader`` reads (not yet read past its header) to the
    binary stream ``page``; returns the event count. ``edit``: the page has the edit panel
    (:func:`edit_data`): the learner changes the experiment and the page computes the run
    again, with its own engine. ``progress`` is told each pass read (as a recording tells
    it each pass run: passes done, the config's passes, the events a pass).

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
                              run, progress)
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
                          "checkpoint": CHECKPOINT, "block": BLOCK, "count": count,
                          "maxEvents": EDIT_MAX_EVENTS, "digits": DIGITS,
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


#: The entry's fields that hold an event's own numbers, per kind: (field, the event's
#: attribute, cut as ``_rows`` cuts (else a number)); a forward step of layer 1 has ``input``
#: too (its ``layer_in``), first.
_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "forward": (("values", "layer_out", True),),
    "error": (("error", "error", False), ("goal", "goal", True)),
    "delta": (("delta", "delta", True), ("derivative", "derivative", True)),
    "update": (("weights", "weights", True),),
    "epoch_end": ()}
_INPUT = ("input", "layer_in", True)
#: How many events of each kind of step are narrated by :meth:`Literate.clauses` and
#: compared with the step's recipe (:class:`_Recipe`) before the recipe alone is trusted.
CHECKED = 2
#: The event's own fields an operand may be.
_EVENT = ("layer_in", "weighted_sum", "layer_out", "prediction", "goal", "error",
          "derivative", "delta", "alpha", "weight_delta", "weights")

Source = Callable[[Event], Any]
#: a getter of each of the event's own fields that may be an operand, and back
_GETTERS = {name: attrgetter(name) for name in _EVENT}
_NAMES = {getter: name for name, getter in _GETTERS.items()}
#: the fields each kind of event has
_HELD = {kind: set(cls.model_fields) for kind, cls in EVENT_CLASSES.items()}


class _Recipe:
    """How one kind of step's entry is made without narrating it: ``shape``, its clauses
    without their numbers; ``fields``, the entry's fields of the event's own numbers; per
    operand ``[source, scalar, constant]`` (``scalar``: the book's 1×1 as a number;
    ``constant``: the same for every step of the kind, as the goal rows of its samples),
    found by narrating the step (:meth:`Literate.clauses`) and seeing where each operand's
    value came from. ``checked``: how many of its steps were narrated as well (and agreed);
    ``slow``: its steps are narrated every time (a recipe that disagreed, or found no
    source for an operand)."""

    __slots__ = ("attrs", "cache", "checked", "columns", "fields", "held", "hows", "kind", "order",
                 "others", "own", "parts", "ready", "shape", "slow")

    def __init__(self, shape: tuple[Any, ...], fields: tuple[tuple[str, str, bool], ...],
                 parts: list[tuple[Source, str]] | None, kind: list[Any]) -> None:
        self.shape, self.fields, self.parts, self.kind = shape, fields, parts or [], kind
        #: per operand, the latest source object and its value on the page (a matrix of
        #: the state is the same object from step to step until an update replaces it)
        self.cache: list[tuple[Any, Any]] = [(None, None)] * len(self.parts)
        self.checked, self.slow, self.ready = 0, parts is None, False
        #: once ready, how its numbers are gathered (see :meth:`_Steps._gathering`)
        self.own: Callable[[Event], tuple[Any, ...]] = attrgetter("epoch", "seq")
        self.held: tuple[Callable[[], Any], ...] = ()
        self.others: tuple[Source, ...] = ()
        self.order: tuple[int, ...] = ()
        self.hows: tuple[str, ...] = ()
        #: once ready: the event's own fields ``own`` gives, after its epoch and seq, and what
        #: each of ``held`` reads of the state, as a whole block's columns are made of a
        #: :class:`~steptrace.trace.state.Timeline` (:func:`_columns`): ``("weights", j)``,
        #: ``("before", j)``, ``("layer", k)``, ``("delta", k)``, ``("carried", k)`` or
        #: ``("constant", value)``; None where one is none of these, or ``others`` is not empty
        self.attrs: tuple[str, ...] = ()
        self.columns: tuple[tuple[str, Any], ...] | None = None

    def operands(self, event: Event) -> list[Any]:
        values = []
        cache = self.cache
        for i, (source, how) in enumerate(self.parts):
            if how is _AS_IS:  # (the usual case first: an event's own small matrix, a number)
                values.append(source(event))
                continue
            last, value = cache[i]
            if how is _CONSTANT and last is not None:
                values.append(value)
                continue
            found = source(event)
            if found is not last or found is None:
                value = float(found[0][0]) if how is _SCALAR else _value(found)
                cache[i] = (found, value)
            values.append(value)
        return values


#: How a recipe's operand is made of its source: as it is (an event's own number, or its
#: matrix that needs no cut), the book's 1×1 as a number, the same for every step of its kind
#: (the goal rows of its samples), or by :func:`_value`.
_AS_IS, _SCALAR, _CONSTANT, _VALUE = "as is", "scalar", "constant", "value"
#: How an entry's own field is written: rows cut as :func:`_rows` cuts, or a number as it is;
#: and an operand made when its block is written: a delta carried back, in exact arithmetic
#: (:func:`_carried`; as ``_VALUE`` then).
_ROWS, _NUMBER, _BACK = "rows", "number", "back"


class _Steps:
    """The page's entries of a trace's events: each kind of step (kind, layer, samples,
    nonlinearity, rule, what the event and the state hold: :meth:`key`) narrated by
    :meth:`Literate.clauses` (:func:`_shape`) until its :class:`_Recipe` has agreed with
    the narration ``CHECKED`` times, then made by the recipe alone; so the numbers the page
    shows are the narration's, bit for bit, and a trace's many steps of the same few kinds
    cost a lookup and a gathering of their numbers each."""

    def __init__(self, header: Header, registry: Registry, *, fresh: bool = False) -> None:
        """``fresh``: the events are a reader's, held by nobody else, and are filled in
        themselves (not copied: see :class:`NetworkState`)."""
        self.narrator = Literate(header, registry, DIGITS)
        if fresh:
            self.narrator.state = NetworkState(header, fresh=True)
        self.state = self.narrator.state
        self.layers = range(len(header.config.layers))
        self.recipes: dict[tuple[Any, ...], _Recipe] = {}
        self._layers, self._deltas = self.state.layer.rows, self.state.delta.rows

    def sources(self, event: Event) -> list[tuple[Source, bool]]:
        """Where an operand's value may come from, each ``(source, constant)``: the event's
        fields, the state's weights (now and before the latest update), layers' outputs and
        deltas, then what a step computes (the goal rows of its samples, what a delta comes
        back through, the transposed weights and input)."""
        state = self.state
        found: list[tuple[Source, bool]] = [
            (_GETTERS[name] if name in _HELD[event.kind] else _nothing, False) for name in _EVENT]
        for j in range(len(state.weights)):
            found += [(partial(self._weights, j), False), (partial(self._before, j), False)]
        for k in self.layers:
            found += [(partial(self._layer, k), False), (partial(self._delta, k), False)]
        if isinstance(event, UpdateEvent) and event.details:  # (a strategy's own numbers)
            found += [(partial(self._detail, name), False) for name in event.details]
        return found

    def computed(self) -> list[tuple[Source, bool]]:
        found: list[tuple[Source, bool]] = [(self._goals, True)]
        for k in range(len(self.state.weights)):
            found += [(partial(self._back, k), False), (partial(self._transposed, k), False)]
        found.append((self._input_transposed, False))
        return found

    def _weights(self, j: int, event: Event) -> Any:
        return self.state.weights[j]

    def _before(self, j: int, event: Event) -> Any:
        return self.state.before[j]

    def _layer(self, k: int, event: Event) -> Any:
        return self.state.layer.get(k)

    def _delta(self, k: int, event: Event) -> Any:
        return self.state.delta.get(k)

    def _detail(self, name: str, event: Event) -> Any:
        return (event.details or {}).get(name) if isinstance(event, UpdateEvent) else None

    def _goals(self, event: Event) -> Any:
        goals = self.state.goals
        return None if goals is None else goals[list(event.samples)]

    def _back(self, k: int, event: Event) -> Any:
        return self.state.back(k) if k + 1 in self.state.delta else None

    def _transposed(self, k: int, event: Event) -> Any:
        return transposed(self.state.weights[k])

    def _input_transposed(self, event: Event) -> Any:
        return transposed(self.state.layer[0]) if 0 in self.state.layer else None

    def key(self, event: Event) -> tuple[Any, ...] | None:
        """What a kind of step's shape and recipe depend on (None: narrate it every time,
        as a pass's end, whose formula names its pass)."""
        # what the state holds: its layers and deltas (only ever added to, so their count
        # says which they are)
        held = len(self._layers), len(self._deltas)
        kind = event.kind  # (each kind is its one class: the cheap test, for every event)
        if kind == "forward":
            return ("forward", event.layer, event.samples, event.nonlinearity,  # type: ignore[union-attr]
                    event.layer_in is None, held)  # type: ignore[union-attr]
        if kind == "delta":
            return ("delta", event.layer, event.samples, event.nonlinearity, held)  # type: ignore[union-attr]
        if kind == "update":
            details = event.details  # type: ignore[union-attr]
            return ("update", event.layer, event.samples, event.rule,  # type: ignore[union-attr]
                    None if details is None else tuple(details),
                    event.weight_delta is None, event.weights is None, held)  # type: ignore[union-attr]
        if kind == "error":
            return ("error", event.layer, event.samples, event.prediction is None,  # type: ignore[union-attr]
                    event.goal is None, held)  # type: ignore[union-attr]
        return None

    def narrated(self, event: Event) -> tuple[tuple[Any, ...], list[Any], list[Any]]:
        """The step's shape and operands by :meth:`Literate.clauses` (:func:`_shape`), and
        the operands' values as the clauses hold them."""
        narrator = self.narrator
        given = narrator.given(event) if isinstance(event, ForwardEvent) and event.layer == 1 else ()
        groups = ((True, given), (False, narrator.clauses(event)))
        values: list[Any] = []
        raw = [part.value for _, clauses in groups for clause in clauses
               for part in clause.on_page() if not isinstance(part, Sign)]
        return _shape(groups, values), values, raw

    def recipe(self, event: Event, raw: list[Any]) -> list[tuple[Source, str]] | None:
        """Where each of ``raw`` (a step's operands' values) came from (see :class:`_Recipe`);
        None where one is found nowhere, or (a number) in more than one place."""
        sources = self.sources(event)
        now = [source(event) for source, _ in sources]
        computed: list[tuple[Source, bool]] | None = None
        parts: list[tuple[Source, str]] = []
        for value in raw:
            if value is None:
                return None
            found = next((i for i, got in enumerate(now) if got is value), None)
            if found is not None:
                as_is = found < len(_EVENT) and (isinstance(value, float) or _value(value) is value)
                parts.append((sources[found][0], _AS_IS if as_is else _VALUE))
                continue
            if isinstance(value, float):  # the book's 1x1 as a number: only where it is alone
                if not self.narrator.single:  # (only one weight layer's narration makes them)
                    return None
                same = [i for i, got in enumerate(now) if _one(got) is not None
                        and _same(_one(got), value)]
                if len(same) != 1:
                    return None
                parts.append((sources[same[0]][0], _SCALAR))
                continue
            if computed is None:
                computed = self.computed()
            match = next(((source, constant) for source, constant in computed
                          if _equal(source(event), value)), None)
            if match is None:
                return None
            parts.append((match[0], _CONSTANT if match[1] else _VALUE))
        return parts

    def step(self, event: Event) -> tuple[Event, tuple[Any, ...], list[Any], _Recipe | None]:
        """``event`` complete (the state moved past it), its step's shape and operands, and
        its recipe (None: a step narrated every time). (The page's writer does the same
        inline, and gathers a ready recipe's numbers itself: :meth:`_Block.gather`.)"""
        event = self.state.complete(event)
        key = self.key(event)
        recipe = None if key is None else self.recipes.get(key)
        if recipe is not None and recipe.ready:
            return event, recipe.shape, recipe.operands(event), recipe
        return self.narrate(event, key, recipe)

    def narrate(self, event: Event, key: tuple[Any, ...] | None, recipe: _Recipe | None
                ) -> tuple[Event, tuple[Any, ...], list[Any], _Recipe | None]:
        """:meth:`step` of ``event``, complete, whose recipe (of ``key``) is not ready:
        narrated, and its recipe made or checked."""
        shape, values, raw = self.narrated(event)
        if key is None:
            return event, shape, values, None
        if recipe is None:
            fields = _FIELDS[event.kind]
            if isinstance(event, ForwardEvent) and event.layer == 1 and event.layer_in is not None:
                fields = (_INPUT, *fields)
            fields = tuple(field for field in fields if getattr(event, field[1]) is not None)
            kind: list[Any] = [event.kind, event.layer, event.samples,
                    event.nonlinearity if isinstance(event, DeltaEvent) else None,
                    shape, [name for name, _, _ in fields]]
            parts = self.recipe(event, raw)
            recipe = self.recipes[key] = _Recipe(shape, fields, parts, kind)
            for j, (name, attr, rows) in enumerate(fields):  # a field that is an operand: once
                source = attrgetter(attr)(event)
                same = [i for i, value in enumerate(raw) if value is source]
                if (same and parts is not None and parts[same[0]][1] is _AS_IS
                        and (not rows or _rows(source) is source)):
                    kind[5][j] = [name, same[0]]
                    recipe.fields = tuple(f for f in recipe.fields if f[0] != name)
        if not recipe.slow:
            if shape != recipe.shape or _json(recipe.operands(event)) != _json(values):
                recipe.slow = True  # (narrated every time from now on)
            recipe.checked += 1
            recipe.ready = not recipe.slow and recipe.checked >= CHECKED
            if recipe.ready:
                self._gathering(recipe)
        return event, shape, values, recipe

    def _gathering(self, recipe: _Recipe) -> None:
        """How the ready ``recipe``'s numbers are gathered (:meth:`_Block.add`) and written
        (:func:`_numbers`): ``own`` gives the event's epoch, seq and the fields it holds;
        ``held`` (no arguments) what the state holds now, a layer's or delta's rows as it
        holds them (not made an array), a constant operand the value it had; ``others`` what
        else an operand is made of (handed the event); ``order``, where in what those give
        (in that order) each value of the row is (the entry's own fields, then its
        operands), and ``hows``, how it is written (``_ROWS`` cut as :func:`_rows` cuts,
        ``_NUMBER`` as it is, else as :meth:`_Recipe.operands` makes it)."""
        state = self.state
        attrs: list[str] = []
        held: list[Callable[[], Any]] = []
        columns: list[tuple[str, Any]] | None = []  # (what each of held reads)
        others: list[Source] = []
        where: list[tuple[str, int]] = []
        hows: list[str] = []
        for _, attr, cut in recipe.fields:
            where.append(("own", len(attrs)))
            attrs.append(attr)
            hows.append(_ROWS if cut else _NUMBER)
        for i, (source, how) in enumerate(recipe.parts):
            if how is _CONSTANT:
                found, value = recipe.cache[i]
                if found is not None:
                    where.append(("held", len(held)))
                    held.append(repeat(value).__next__)
                    if columns is not None:
                        columns.append(("constant", value))
                    hows.append(_AS_IS)
                    continue
                how = _VALUE
            made = self._held(source)
            if made is None and source in _NAMES:
                where.append(("own", len(attrs)))
                attrs.append(_NAMES[source])
                hows.append(how)
                continue
            fast = None if made is None else self._fast(made)
            if fast is not None:
                if columns is not None:
                    columns.append(self._slot(made))  # type: ignore[arg-type]
                made = (fast, None)
            elif made is not None and made[0] == self._back and state.mode == "exact":
                if columns is not None:
                    columns.append(("carried", made[1]))
                made = (partial(_carried, state.delta.rows, state.weights, *made[1:]), None)
                how = _BACK  # (made a block at a time: _numbers)
            elif made is not None:  # (its method, handed no event: it looks at none)
                columns = None
                made = (partial(made[0], *made[1:], None), None)
            if made is None:
                columns = None
                where.append(("others", len(others)))
                others.append(source)
            else:
                where.append(("held", len(held)))
                held.append(made[0])
            hows.append(how)
        starts = {"own": 2, "held": 2 + len(attrs), "others": 2 + len(attrs) + len(held)}
        recipe.own = attrgetter("epoch", "seq", *attrs)
        recipe.held, recipe.others = tuple(held), tuple(others)
        recipe.order = tuple(starts[group] + i for group, i in where)
        recipe.hows = tuple(hows)
        recipe.attrs = tuple(attrs)
        recipe.columns = None if columns is None else tuple(columns)

    def _slot(self, made: tuple[Any, ...]) -> tuple[str, int]:
        """The :class:`~steptrace.trace.state.Timeline` slot a :meth:`_fast` source reads."""
        method = made[0]
        name = ("weights" if method == self._weights else "before" if method == self._before
                else "layer" if method == self._layer else "delta")
        return (name, made[1])

    def _fast(self, made: tuple[Any, ...]) -> Callable[[], Any] | None:
        """A held source read straight from the state's lists and dicts (in C)."""
        state, method = self.state, made[0]
        if method == self._weights:
            return partial(state.weights.__getitem__, made[1])
        if method == self._before:
            return partial(state.before.__getitem__, made[1])
        if method == self._layer:
            return partial(state.layer.rows.get, made[1])
        if method == self._delta:
            return partial(state.delta.rows.get, made[1])
        return None

    def _held(self, source: Source) -> tuple[Any, ...] | None:
        """A source of the state that does not look at the event (its method and
        arguments); None for others."""
        if isinstance(source, partial) and source.func in (
                self._weights, self._before, self._layer, self._delta, self._back,
                self._transposed):
            return (source.func, *source.args)
        if source == self._input_transposed:
            return (source,)
        return None

    def drawn(self) -> dict[str, Any]:
        """The drawn state now (before the next event): a checkpoint."""
        state, layers = self.state, self.layers
        return {"nodes": [_rows(state.layer[k].tolist()) if k in state.layer else [] for k in layers],
                "weights": [_block(w.tolist()) for w in state.weights],
                "deltas": [_rows(state.delta[k].tolist()) if k in state.delta else [] for k in layers]}


def _nothing(event: Event) -> Any:
    return None


def _carried(deltas: dict[int, Any], weights: list[Any], k: int) -> Any:
    """What layer k's delta comes back through (:meth:`NetworkState.back`), to be made:
    ``layer_{k+1}_delta`` as the state holds it and ``weights_k_{k+1}`` (None: no delta
    yet)."""
    above = deltas.get(k + 1)
    return None if above is None else (above, weights[k])


def _one(source: Any) -> Any:
    """A 1x1 matrix's number (None for anything else)."""
    if isinstance(source, np.ndarray):
        return source[0, 0] if source.shape == (1, 1) else None
    if type(source) is tuple and len(source) == 1 and len(source[0]) == 1:
        return source[0][0]
    return None


def _same(a: Any, b: float) -> bool:
    """The same number, bit for bit (-0.0 is not 0.0; NaN is NaN)."""
    return bool(np.float64(a).tobytes() == np.float64(b).tobytes())


def _equal(source: Any, value: Any) -> bool:
    """The same matrix, bit for bit."""
    if source is None:
        return False
    try:
        a, b = np.asarray(source, dtype=np.float64), np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _entry(event: Event, shape: tuple[Any, ...], values: list[Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": event.kind, "epoch": event.epoch,
                             "samples": event.samples, "layer": event.layer,
                             "shape": shape, "operands": values}
    if isinstance(event, ForwardEvent) and event.layer == 1 and event.layer_in is not None:
        entry["input"] = _rows(event.layer_in)
    for field, name, rows in _FIELDS[event.kind]:
        value = getattr(event, name)
        if value is not None:
            entry[field] = _rows(value) if rows else value
    if isinstance(event, DeltaEvent):
        entry["nonlinearity"] = event.nonlinearity
    return entry


def page_entries(reader: TraceReader, registry: Registry) -> Iterator[tuple[Event, dict[str, Any], Any]]:
    """Each event of the trace, complete, with its entry on the page and, every
    ``CHECKPOINT`` events, the drawn state before it (else None). An entry is what the page
    draws for the event and its step's literate line: ``shape``, the clauses without their
    numbers (:func:`_shape`), and ``operands``, their values in order. The page's own
    engine makes the same entries for a run it computes (``page/live.js``; the two are
    held together by ``tests/test_live_page.py``). The page's blocks hold the same entries,
    written compactly (:class:`_Block`)."""
    steps = _Steps(reader.header, registry, fresh=True)  # (the reader's events: ours)
    for count, event in enumerate(reader):
        drawn = steps.drawn() if count % CHECKPOINT == 0 else None
        event, shape, values, _ = steps.step(event)
        yield event, _entry(event, shape, values), drawn


def _write_events(reader: TraceReader, registry: Registry, page: IO[bytes],
                  checkpoints: IO[bytes], errors: IO[bytes], test_errors: IO[bytes],
                  starts: IO[bytes], pressure: PressureRun | None = None,
                  progress: Progress | None = None) -> int:
    """Write the events' entries (:func:`page_entries`) to ``page``, ``BLOCK`` entries
    a block (see :class:`_Block`: the page inflates and parses a block only when it goes
    there, so a long run opens about as fast as a short one), and the elements of the
    snapshots', errors', held-out errors' and pass starts' arrays to their files, handing
    each event, complete, to ``pressure`` (the pressure view's run); returns the event
    count. (See :class:`_Writer`.)"""
    writer = _Writer(reader, registry, page, (checkpoints, errors, test_errors, starts),
                     pressure, progress)
    return writer.write(cast("Iterator[Event]", reader.steps(("epoch_end",))))


class _Writer:
    """The page's events, read ``WINDOW`` events (half a block) at a time: the trace's steps
    as the reader's step lines where a pass repeats the last one's (the passes' ends as
    events; a step line whose kind of step is still narrated is made its event then).

    A window is written one event at a time (:meth:`one_by_one`: the state walked by
    :meth:`NetworkState.stepped <steptrace.trace.state.NetworkState.stepped>`, each step's
    recipe found and its values gathered), or at once (:meth:`at_once`): where each of its
    steps is of a kind seen before (``lines``: a step line's class, an event's class, layer,
    samples and nonlinearity) with its ready recipe, its left-out fields left out, in an
    exact run of single-sample steps, the state after each event is worked out for the
    whole window (a :class:`~steptrace.trace.state.Timeline`), each recipe's values are
    made a column at a time from it and from the steps' own fields (:func:`_columns`), and
    only the passes' ends are narrated one by one. The same page, byte for byte:
    ``tests/test_viewer.py`` holds the two ways to each other and to reading every event."""

    def __init__(self, reader: TraceReader, registry: Registry, page: IO[bytes],
                 spills: tuple[IO[bytes], IO[bytes], IO[bytes], IO[bytes]],
                 pressure: PressureRun | None, progress: Progress | None) -> None:
        self.page = page
        self.checkpoints, self.errors, self.test_errors, self.starts = spills
        self.pressure, self.progress = pressure, progress
        self.config = reader.header.config
        self.count = self.passes = self.tested = 0
        self.epoch = -1
        self.block = _Block()
        self.steps = _Steps(reader.header, registry, fresh=True)  # (the reader's events: ours)
        self.last = len(self.config.layers) - 1
        #: a step's :func:`~steptrace.trace.state.step_key`: its ready recipe, the state it
        #: moves (its kind and layer, or None), a getter of the fields its trace leaves out
        #: (None: none) and what it gives when they are
        self.lines: dict[Any, tuple[_Recipe, tuple[str, int] | None, Any, Any]] = {}
        #: a step line's class: what ``lines`` holds of its key (the class fixes it)
        self.of_line: dict[type, tuple[_Recipe, tuple[str, int] | None, Any, Any]] = {}
        #: whether a block may be written at once (an exact run; a pressure view that does
        #: not follow every update)
        self.may = (self.config.arithmetic == "exact"
                    and (pressure is None or not pressure.every_pass))

    def write(self, events: Iterator[Event]) -> int:
        """Write every event's entry; the event count."""
        while chunk := list(islice(events, WINDOW)):
            if not (self.may and self.lines and self.at_once(chunk)):
                self.one_by_one(chunk)
            del chunk  # (not held while the block is written and the next read: memory)
            if self.count % BLOCK == 0:
                self.block.write(self.page)
        if self.block.rows:
            self.block.write(self.page)
        return self.count

    def one_by_one(self, chunk: list[Event]) -> None:
        """Write ``chunk``'s entries an event at a time."""
        steps, block, state = self.steps, self.block, self.steps.state
        key_of, recipes, gather, lines = steps.key, steps.recipes, block.gather, self.lines
        pressure, count, epoch = self.pressure, self.count, self.epoch
        full = (self.last + 1, self.last)  # (every layer's output and delta known)
        drawn = steps.drawn()  # (the snapshot before the next event, written when it comes)
        for event in state.stepped(chunk):
            # (the state is just past the event already: its updates worked out a chunk at once)
            if count % CHECKPOINT == 0:
                self.checkpoints.write((b"," if count else b"") + _json(drawn))
            # (steps.step, inline: the hot loop)
            key = key_of(event)
            recipe = None if key is None else recipes.get(key)
            if recipe is not None and recipe.ready:
                gather(event, recipe)
                if key[-1] == full and step_key(event) not in lines:  # type: ignore[index]
                    self.learn(event, recipe)
            else:
                if isinstance(event, StepLine):
                    event = event.event()
                event, shape, values, recipe = steps.narrate(event, key, recipe)
                block.add(event, shape, values, recipe)
            if pressure is not None:
                pressure.add(event)
            if isinstance(event, EpochEndEvent):
                self.ended(event)
            if event.epoch != epoch:  # where each pass starts: the page jumps there
                self.starts.write((b"," if epoch >= 0 else b"") + str(count).encode())
                epoch = event.epoch
            count += 1
            if count % CHECKPOINT == 0:
                drawn = steps.drawn()
        self.count, self.epoch = count, epoch

    def learn(self, line: Event, recipe: _Recipe) -> None:
        """Keep ``recipe`` (ready, of a step whose every layer's output and delta were
        known: a later step of the same :func:`~steptrace.trace.state.step_key` has the
        same key) for :meth:`at_once`."""
        if (recipe.columns is None or len(line.samples) != 1
                or (line.kind == "update" and (line.rule is not None
                                               or line.details is not None))):
            return
        kind, k = line.kind, line.layer
        left_out = LEFT_OUT[kind]
        self.lines[step_key(line)] = (
            recipe, (kind, k) if kind != "error" else None,
            attrgetter(*left_out) if left_out else None,
            None if len(left_out) < 2 else (None,) * len(left_out))

    def ended(self, event: EpochEndEvent) -> None:
        """A pass's end: the progress, its error and held-out error."""
        if self.progress is not None:
            self.progress(event.epoch + 1, self.config.iterations,
                          (event.seq + 1) // (event.epoch + 1))
        if event.error is not None:
            self.errors.write((b"," if self.passes else b"") + _json(event.error))
            self.passes += 1
        if event.test_error is not None:
            self.test_errors.write((b"," if self.tested else b"") + _json(event.test_error))
            self.tested += 1

    def at_once(self, chunk: list[Event]) -> bool:
        """Write ``chunk``'s entries at once (see :class:`_Writer`); False, nothing written
        and the state as it was, where it cannot be."""
        lines, of_line, state = self.lines, self.of_line, self.steps.state
        recipe_at: list[_Recipe | None] = []
        groups: dict[_Recipe, list[int]] = {}
        places: dict[tuple[str, int], list[list[int]]] = {}
        firsts: list[int] = []  # (where each kind of step first comes; each pass's end)
        for i, event in enumerate(chunk):
            cls = event.__class__
            found = of_line.get(cls)
            if found is None:
                if cls is EpochEndEvent:
                    recipe_at.append(None)
                    firsts.append(i)
                    continue
                found = lines.get(step_key(event))  # (or a step the reader made an event,
                if found is None:  # as in a pass after a checkpoint)
                    return False
                if cls.__base__ is StepLine:  # (the class fixes the step's key)
                    of_line[cls] = found
            recipe, place, left_out, none = found
            if left_out is not None and left_out(event) != none:
                return False  # (a field the trace gives: an event at a time)
            recipe_at.append(recipe)
            at = groups.get(recipe)
            if at is None:
                groups[recipe] = at = [i]
                firsts.append(i)
                if place is not None:
                    places.setdefault(place, []).append(at)
            else:
                at.append(i)
        where = {place: sorted(chain.from_iterable(lists)) for place, lists in places.items()}
        saved = state.snapshot()
        timeline = state.timeline(chunk, where)
        if timeline is None:
            return False
        made: dict[_Recipe, _Columns] = {}
        families: dict[tuple[Any, ...], list[_Recipe]] = {}
        for recipe in groups:
            families.setdefault(_family(recipe), []).append(recipe)
        try:
            for members in families.values():
                numbers = _columns(members, [groups[r] for r in members], chunk, timeline, state,
                                   where, self.last)
                if numbers is None:
                    raise ValueError("not a column")
                made.update(zip(members, numbers, strict=True))
        except (TypeError, ValueError):  # (an event at a time says it as it is)
            state.restore(saved)
            return False
        self._written(chunk, recipe_at, made, timeline, where, firsts)
        return True

    def _written(self, chunk: list[Event], recipe_at: list[_Recipe | None],
                 made: dict[_Recipe, _Columns], timeline: Timeline,
                 where: dict[tuple[str, int], list[int]], firsts: list[int]) -> None:
        """:meth:`at_once`'s rows, the passes' ends, snapshots and pass starts, in order
        (``firsts``: where each kind of step first comes, and each pass's end)."""
        block, steps, pressure = self.block, self.steps, self.pressure
        count, epoch = self.count, self.epoch
        ups = where.get(("update", 1), [])  # (the pressure view follows weights_0_1)
        for offset in range(0, len(chunk), CHECKPOINT):  # (count: a multiple of WINDOW)
            self.checkpoints.write((b"," if count + offset else b"")
                                   + _json(self._drawn(timeline, offset - 1)))
        index_of: dict[_Recipe, int] = {}
        ends: dict[int, list[Any]] = {}  # (a pass's end's row)
        for i in firsts:  # (in order: each kind of step registered where it first comes)
            recipe = recipe_at[i]
            if recipe is not None:
                index_of[recipe] = block.columned(recipe, made[recipe])
                continue
            end, shape, values, _ = steps.narrate(chunk[i], None, None)  # a pass's end
            ends[i] = block.row(end, shape, values, None)
            if pressure is not None:
                if done := bisect_left(ups, i):
                    pressure.current = timeline.at(("weights", 0), ups[done - 1]).tolist()
                pressure.add(end)
            self.ended(end)  # type: ignore[arg-type]
        epochs = [event.epoch for event in chunk]
        block.rows.extend([ends[i] if recipe is None else (index_of[recipe], epochs[i])
                           for i, recipe in enumerate(recipe_at)])
        for i, at in enumerate(epochs):
            if at != epoch:  # where each pass starts: the page jumps there
                self.starts.write((b"," if epoch >= 0 else b"") + str(count + i).encode())
                epoch = at
        if pressure is not None and ups:
            pressure.current = timeline.at(("weights", 0), ups[-1]).tolist()
            pressure.updates += len(ups)
        self.count, self.epoch = count + len(chunk), epoch

    def _drawn(self, timeline: Timeline, at: int) -> dict[str, Any]:
        """:meth:`_Steps.drawn` just after the block's event ``at`` (-1: before the block)."""
        layers = range(self.last + 1)
        return {"nodes": [_rows(timeline.at(("layer", k), at).tolist()) for k in layers],
                "weights": [_block(timeline.at(("weights", j), at).tolist()) for j in layers[:-1]],
                "deltas": [_rows(timeline.at(("delta", k), at).tolist()) if k else []
                           for k in layers]}


def _family(recipe: _Recipe) -> tuple[Any, ...]:
    """What recipes whose values :func:`_columns` makes together share: their kind and
    layer and how each value is made (their samples and constants may differ)."""
    assert recipe.columns is not None  # (a recipe kept by _Writer.learn)
    return (recipe.kind[0], recipe.kind[1], recipe.attrs, recipe.order, recipe.hows,
            tuple("constant" if what == "constant" else (what, of) for what, of in recipe.columns))


def _columns(recipes: list[_Recipe], ats: list[list[int]], chunk: list[Event],
             timeline: Timeline, state: NetworkState, where: dict[tuple[str, int], list[int]],
             last: int) -> list[_Columns] | None:
    """The values of each of ``recipes`` (ready, of one :func:`_family`), of its steps at
    its ``ats`` in ``chunk``, made a column at a time for them all: the steps' own fields,
    those the state fills in and what the recipes read of the state, from ``timeline``;
    None where a value is not numbers of one shape."""
    first = recipes[0]
    kind, k = first.kind[0], first.kind[1]
    counts = [len(at) for at in ats]
    every = list(chain.from_iterable(ats))  # (recipe after recipe, each's in order)
    spots = np.asarray(every, dtype=np.intp)
    count = len(every)

    def constant(of: list[Any]) -> Any:  # (each recipe's own, for each of its steps)
        return np.repeat(np.asarray(of, dtype=np.float64), counts, axis=0)

    def own(name: str) -> Any:
        if kind == "forward" and name == "layer_in":
            return (constant([state.batch(r.kind[2])[0] for r in recipes]) if k == 1
                    else timeline.at(("layer", k - 1), spots))
        if kind == "error" and name in ("prediction", "goal"):
            return (timeline.at(("layer", last), spots) if name == "prediction"
                    else constant([state.batch(r.kind[2])[2] for r in recipes]))
        if kind == "update" and name == "weight_delta":
            return timeline.changes[k][np.searchsorted(where[("update", k)], spots)]
        if kind == "update" and name == "weights":
            return timeline.at(("weights", k - 1), spots)
        return _floats(tuple([getattr(chunk[i], name) for i in every]))

    def held(n: int) -> Any:
        what, of = first.columns[n]  # type: ignore[index]
        if what == "constant":
            return constant([_floats((r.columns[n][1],))[0] for r in recipes])  # type: ignore[index]
        if what == "carried":  # layer_{k+1}_delta · weights_k_{k+1}ᵀ, in exact arithmetic
            with np.errstate(all="ignore"):
                return backs(exact_dot_each, timeline.at(("delta", of + 1), spots),
                             timeline.at(("weights", of), spots))
        return timeline.at((what, of), spots)

    values = [np.empty(0), np.empty(0),  # (epoch and seq: not numbers of the row)
              *map(own, first.attrs), *map(held, range(len(first.columns or ())))]
    ordered = [values[i] for i in first.order]
    if any(array.ndim not in (1, 3) or len(array) != count for array in ordered):
        return None
    ends = np.cumsum(counts).tolist()
    return [_Columns([array[end - n:end] for array in ordered], n)
            for n, end in zip(counts, ends, strict=True)]


class _Block:
    """A block of ``BLOCK`` entries as the page reads them: each kind of step once
    (``kinds``: ``[kind, layer, samples, nonlinearity, shape, fields]``, the shape an index
    into the block's ``shapes``, ``fields`` the names of the entry's fields of the event's
    own numbers, ``[name, i]`` for one that is the step's operand ``i``, written once as the
    operand), and each event a row: ``[its kind's index, epoch, its other fields' values...,
    its operands' values...]``. The page makes each row the entry :func:`page_entries`
    yields.

    A kind of step made by its recipe alone (:class:`_Recipe`, ready) writes its numbers
    not in the rows but as float64s, the block's numbers (:meth:`write`): its kind has two
    elements more, ``slots`` (how each value of its rows is made of numbers: ``0`` one
    number, ``[r, c]`` rows of r×c numbers, ``[r, c, R, C]`` the first r×c of an R×C matrix,
    ``{"rows": ..., "of": [R, C]}``) and ``at`` (where its numbers start), and its events'
    rows are ``[its kind's index, epoch]``: their values are its next numbers, one event
    after another. Those numbers are gathered as the events come (:meth:`_Steps._gathering`)
    and made float64s a kind at a time, with numpy; a kind whose values are not all numbers
    and matrices of one shape (a value left out, a ragged matrix) is written in the rows."""

    def __init__(self) -> None:
        self.shapes: dict[tuple[Any, ...], int] = {}
        self.kinds: dict[Any, int] = {}
        self.kind_list: list[list[Any]] = []
        self.rows: list[Any] = []
        #: per kind of step made by its recipe alone: its index and the values it gathered,
        #: one tuple an event (or, :meth:`columned`, its slots and numbers made already)
        self.gathered: dict[_Recipe, tuple[int, Any]] = {}

    def gather(self, event: Event, recipe: _Recipe) -> None:
        """Add the entry of ``event``, a step of the ready ``recipe``: its values gathered
        now, as the recipe says (:meth:`_Steps._gathering`), before the state moves on."""
        found = self.gathered.get(recipe)
        if found is None:
            kind = recipe.kind
            found = self.gathered[recipe] = (len(self.kind_list), [[]])
            self.kind_list.append([*kind[:4], self.shapes.setdefault(recipe.shape, len(self.shapes)),
                                   kind[5]])
        got = recipe.own(event)  # (epoch, seq, its own fields...)
        if recipe.held:
            got += tuple(map(call, recipe.held))
        if recipe.others:
            got += tuple([get(event) for get in recipe.others])
        gathered = found[1][-1]
        if type(gathered) is not list:  # (after a window's columns: _Writer.at_once)
            gathered = []
            found[1].append(gathered)
        gathered.append(got)
        self.rows.append((found[0], got[0]))

    def add(self, event: Event, shape: tuple[Any, ...], values: list[Any],
            recipe: _Recipe | None) -> None:
        """Add the event's entry, ``values`` its operands, in its row."""
        self.rows.append(self.row(event, shape, values, recipe))

    def row(self, event: Event, shape: tuple[Any, ...], values: list[Any],
            recipe: _Recipe | None) -> list[Any]:
        """The event's row (:meth:`add`), its kind of step registered."""
        key: Any
        if recipe is not None:
            fields, key, kind = recipe.fields, recipe, recipe.kind
        else:  # (a pass's end)
            entry = _entry(event, shape, values)
            names = [name for name in ("input", *(f for f, _, _ in _FIELDS[event.kind])) if name in entry]
            fields = tuple((name, "", False) for name in names)
            key = (event.kind, event.layer, event.samples, shape, tuple(names))
            kind = [event.kind, event.layer, event.samples, entry.get("nonlinearity"), shape, names]
        index = self.kinds.get(key)
        if index is None:
            index = self.kinds[key] = len(self.kind_list)
            self.kind_list.append([*kind[:4], self.shapes.setdefault(shape, len(self.shapes)), kind[5]])
        if recipe is not None and not fields:  # (the usual case: every field an operand)
            return [index, event.epoch, *values]
        row: list[Any] = [index, event.epoch]
        if recipe is not None:
            for _, attr, rows in fields:
                value = getattr(event, attr)
                row.append(_rows(value) if rows else value)
        else:
            row += [entry[name] for name, _, _ in fields]
        row += values
        return row

    def columned(self, recipe: _Recipe, columns: _Columns) -> int:
        """Take the values of some steps of a ready recipe's kind, made a column at a time
        (:func:`_columns`: a window written at once); its kind's index (their rows are
        ``[index, epoch]``, added by the caller). The block's steps of the kind gathered an
        event at a time, before or after, are written with them, in order."""
        found = self.gathered.get(recipe)
        if found is not None:
            found[1].append(columns)
            return found[0]
        index = len(self.kind_list)
        kind = recipe.kind
        self.kind_list.append([*kind[:4], self.shapes.setdefault(recipe.shape, len(self.shapes)),
                               kind[5]])
        self.gathered[recipe] = (index, [columns])
        return index

    def numbers(self) -> bytes:
        """The gathered kinds' numbers as :meth:`number_parts` makes them, one bytes string."""
        return b"".join(map(bytes, self.number_parts()))

    def number_parts(self) -> list[Any]:
        """The gathered kinds' numbers, float64 little-endian arrays, one kind after another
        (each kind's entry given its ``slots`` and ``at``); a kind that cannot be, in the rows."""
        made: list[Any] = []
        at = 0
        for recipe, (index, parts) in self.gathered.items():
            found = _numbers(parts, recipe.order, recipe.hows)
            if found is None:
                self._in_rows(index, parts, recipe.order, recipe.hows)
                continue
            slots, numbers = found
            self.kind_list[index] += [slots, at]
            made.append(numbers)
            at += numbers.size
        return [numbers.astype("<f8", copy=False) for numbers in made]

    def _in_rows(self, index: int, parts: list[Any], order: tuple[int, ...],
                 hows: tuple[str, ...]) -> None:
        """Kind ``index``'s values written in its rows, as :meth:`_Recipe.operands` makes
        them of what ``parts`` hold (events' gathered values, or a window's columns)."""
        values = _each(parts, order, hows)
        for i, row in enumerate(self.rows):
            if row[0] == index:
                self.rows[i] = [*row, *(_made(value, how) for value, how in next(values))]

    def write(self, page: IO[bytes]) -> None:
        """The block, zlib-compressed (a run repeats itself, so many times smaller) and
        base64-encoded (the page inflates it with the browser's
        ``DecompressionStream("deflate")`` when it first goes there); emptied for the next.
        Inflated, it is the length of its JSON (4 bytes, little-endian), the JSON
        (``shapes``, ``kinds``, ``events``: the rows), zeros to a multiple of 8 bytes, and
        the numbers (see :meth:`numbers`; the page reads them as a ``Float64Array``, every
        bit as written: -0.0, NaN and the infinities too)."""
        numbers = self.number_parts()
        # (the rows hold numbers, null, "NaN" and the infinities, and {"rows", "of"} only:
        # nothing to escape, so only the shapes and kinds, which hold names, are escaped)
        rows = pydantic_core.to_json(self.rows, inf_nan_mode="strings")
        data = (b'{"shapes":' + _json(list(self.shapes)) + b',"kinds":' + _json(self.kind_list)
                + b',"events":' + rows + b"}")
        # (deflated as a stream, the numbers an array at a time: no copy of them all made)
        deflate = zlib.compressobj(LEVEL)
        parts = [deflate.compress(len(data).to_bytes(4, "little")), deflate.compress(data),
                 deflate.compress(bytes(-(4 + len(data)) % 8)),
                 *map(deflate.compress, numbers), deflate.flush()]
        packed = base64.b64encode(b"".join(parts))
        page.write(b'<script type="application/x-steptrace-events" class="events">' + packed
                   + b"</script>\n")
        self.shapes.clear()
        self.kinds.clear()
        self.kind_list = []
        self.rows.clear()
        self.gathered.clear()


class _Columns:
    """The values of some steps of a recipe's kind, made a column at a time (:func:`_columns`):
    one float64 array a value of the row, in the recipe's ``order``, ``count`` rows."""

    __slots__ = ("count", "values")

    def __init__(self, values: list[Any], count: int) -> None:
        self.values, self.count = values, count


def _numbers(parts: list[Any], order: tuple[int, ...], hows: tuple[str, ...]
             ) -> tuple[list[Any], Any] | None:
    """The values of a kind of step's events as the page shows them (:meth:`_Recipe.operands`,
    an entry's own fields as :func:`_entry` writes them), made float64s: each value's slot
    (see :class:`_Block`) and the numbers, a row an event after another; None if a value is
    not a number or a matrix of the same shape in every event. ``parts``: the events' values
    in turn, each part gathered (a tuple an event, as :meth:`_Block.gather` gathers them;
    ``order``: where each value of the row is in it) or a window's :class:`_Columns`."""
    arrays_of: list[list[Any]] = []
    count = 0
    for part in parts:
        if isinstance(part, _Columns):
            arrays_of.append(part.values)
            count += part.count
            continue
        columns_gathered = list(zip(*part, strict=True))
        arrays = _arrays([columns_gathered[at] for at in order], hows)
        if arrays is None:
            return None
        arrays_of.append(arrays)
        count += len(part)
    try:
        arrays = (arrays_of[0] if len(arrays_of) == 1
                  else [np.concatenate(each) for each in zip(*arrays_of, strict=True)])
    except ValueError:  # (matrices not all of one shape)
        return None
    return _laid_out(arrays, hows, count)


def _arrays(values_of: list[Any], hows: tuple[str, ...]) -> list[Any] | None:
    """Each value of the row, its events' in turn, as one float64 array (``_BACK``'s the
    products made); None where one is not a number or a matrix of one shape in every event."""
    arrays: list[Any] = []
    for values, how in zip(values_of, hows, strict=True):
        try:
            if how is _BACK:  # layer_{k+1}_delta · weights_k_{k+1}ᵀ, each in exact arithmetic
                if any(map(is_, values, repeat(None))):
                    return None
                above = np.array([value[0] for value in values], dtype=np.float64)
                weights = np.array([value[1] for value in values], dtype=np.float64)
                if above.ndim != 3 or weights.ndim != 3:
                    return None
                with np.errstate(all="ignore"):  # (inf and NaN as the run had them)
                    arrays.append(backs(exact_dot_each, above, weights))
            else:
                arrays.append(_floats(values))
        except (TypeError, ValueError):  # (None, a ragged matrix, ...)
            return None
    return arrays


def _each(parts: list[Any], order: tuple[int, ...], hows: tuple[str, ...]
          ) -> Iterator[list[tuple[Any, str]]]:
    """Each event's values of ``parts`` (see :func:`_numbers`) with how each is written,
    as :func:`_made` takes them (a column's value as the event's own: lists and floats; a
    delta's products made already: a value)."""
    made = [_VALUE if how is _BACK else how for how in hows]
    for part in parts:
        if isinstance(part, _Columns):
            for i in range(part.count):
                yield [(_plain(array[i]), how) for array, how in zip(part.values, made, strict=True)]
        else:
            for got in part:
                yield [(got[at], how) for at, how in zip(order, hows, strict=True)]


def _plain(value: Any) -> Any:
    """A column's value as an event holds it: rows of floats as lists, a number a float."""
    return value.tolist() if isinstance(value, np.ndarray) and value.ndim else float(value)


def _laid_out(arrays: list[Any], hows: tuple[str, ...], count: int
              ) -> tuple[list[Any], Any] | None:
    """:func:`_numbers` of the values' arrays (``count`` rows each)."""
    slots: list[Any] = []
    columns: list[Any] = []
    for array, how in zip(arrays, hows, strict=True):
        if array.ndim == 1 and how not in (_SCALAR, _ROWS):
            slots.append(0)
            columns.append(array[:, np.newaxis])
            continue
        if array.ndim != 3 or 0 in array.shape:
            return None
        rows, cols = array.shape[1:]
        if how is _SCALAR:
            slots.append(0)
            columns.append(array[:, 0, :1])
        elif how in (_AS_IS, _NUMBER) or (rows <= MAX_NODES and cols <= MAX_NODES):
            slots.append([rows, cols])
            columns.append(array.reshape(count, rows * cols))
        else:  # cut to its first rows and columns (and, an operand, saying of what)
            cut = array[:, :MAX_NODES, :MAX_NODES]
            slots.append([*cut.shape[1:], *([] if how is _ROWS else [rows, cols])])
            columns.append(cut.reshape(count, -1))
    numbers = np.concatenate(columns, axis=1) if columns else np.empty((count, 0))
    return slots, numbers.ravel()


def _floats(values: tuple[Any, ...]) -> Any:
    """``np.array(values, dtype=np.float64)``: for matrices of one shape, numbers or
    arrays; a column of rows of numbers (an event's) as one stream of numbers, some 40%
    faster. TypeError where a value is None (which numpy would make NaN), ValueError where
    numpy's would raise (a ragged matrix)."""
    if any(map(is_, values, repeat(None))):
        raise TypeError("a value left out")
    first = values[0]
    if type(first) is not tuple or not first or type(first[0]) is not tuple:
        return np.array(values, dtype=np.float64)
    rows, cols = len(first), len(first[0])
    if set(map(len, values)) != {rows}:
        raise ValueError("ragged")
    every = list(chain.from_iterable(values))
    if set(map(len, every)) != {cols}:
        raise ValueError("ragged")
    return np.fromiter(chain.from_iterable(every), dtype=np.float64,
                       count=len(values) * rows * cols).reshape(len(values), rows, cols)


def _made(value: Any, how: str) -> Any:
    """A gathered value as the page shows it (:meth:`_Recipe.operands`, :func:`_entry`)."""
    if how is _ROWS:
        return _rows(value)
    if how is _SCALAR:
        return float(value[0][0])
    if how is _VALUE:
        return _value(value)
    if how is _BACK:
        if value is None:
            return None
        with np.errstate(all="ignore"):
            return _value(back(exact_dot, np.array(value[0], dtype=np.float64), value[1]))
    return value


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
