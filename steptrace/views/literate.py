"""The literate view: every step of a trace in the book's terms, numbers plugged in.

A network with one weight layer is narrated in the names of chapters 4 and 5
(``input``, ``weight``, ``prediction``, ``delta``, ``weight_delta``); a deeper one in
those of chapter 6 (``layer_0``, ``weights_0_1``, ``layer_1_delta``, ...).

Each step is first put together as :class:`Clause` objects (:meth:`Literate.clauses`): a
formula in names only, then its operands (each a name and a number or a matrix) with the
operators between them. ``show`` writes them as one line (:meth:`Literate.narrate`); the
HTML page lays the same operands out as tables (:mod:`steptrace.views.html`), so the two
can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import Any, Literal, NamedTuple, cast

import numpy as np

from steptrace.engine.arithmetic import ARITHMETIC
from steptrace.engine.formulas import backs, transposed
from steptrace.plugins.registry import Registry
from steptrace.trace.consistency import StepLine
from steptrace.trace.events import (
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    Rows,
    UpdateEvent,
)
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader
from steptrace.trace.state import NetworkState
from steptrace.views.at_once import WINDOW, AtOnce, windows
from steptrace.views.text import (
    Filters,
    Numbers,
    first_nonfinite,
    matrix,
    maybe_nonfinite,
    number,
    number_fields,
)

#: an operand's value: a number (the book's scalars, alpha, an error), a matrix (one row
#: per sample, or a weight layer's rows), or None where the trace holds it nowhere ("?")
Value = float | Rows | np.ndarray | None
#: the events :meth:`Literate.lines` reads before it narrates them (and gives their lines out)
CHUNK = 256


class Operand(NamedTuple):
    """A number or matrix a step plugs into its formula, and the name the page writes
    above it. ``page`` marks an operand only the page shows: the line leaves out what an
    earlier line printed (``show`` keeps its lines short; the page shows every step whole)."""

    name: str
    value: Value
    page: bool = False


class Sign(NamedTuple):
    """What stands between operands: an operator (``" − "``, ``" · "``, ``" = "``) or a
    bracket (``"relu("``, ``")²"``). The line writes ``text`` as it is, spaces included; the
    page writes it stripped. ``only`` keeps it to the ``"line"`` (the names a line writes
    before its numbers, ``"(…)"`` for what it left out) or to the ``"page"``."""

    text: str
    only: Literal["line", "page"] | None = None


Part = Operand | Sign


class Clause(NamedTuple):
    """One equation of a step: its ``formula`` in names only (``weights_0_1 -= alpha ·
    layer_0ᵀ · layer_1_delta``), its ``parts`` (the operands and what stands between them,
    in reading order) and a ``note`` after them (which weights were frozen)."""

    formula: str
    parts: tuple[Part, ...] = ()
    note: str = ""

    def line(self, digits: int | None) -> str:
        """The clause as ``show`` writes it: the formula, the line's parts, the note."""
        text = [self.formula]
        for part in self.parts:
            if isinstance(part, Sign):
                if part.only != "page":
                    text.append(part.text)
            elif not part.page:
                text.append(show(part.value, digits))
        return "".join(text) + self.note

    def on_page(self) -> Iterator[Part]:
        """The parts the page shows, in order."""
        return (part for part in self.parts if not isinstance(part, Sign) or part.only != "line")


def show(value: Value, digits: int | None) -> str:
    """An operand's value as the line writes it."""
    if value is None:  # not in the trace, and nothing to derive it from
        return "?"
    if isinstance(value, float):
        return number(value, digits)
    if isinstance(value, np.ndarray):
        return matrix(value.tolist(), digits)
    return matrix(value, digits)


def _is_one_number(values: Rows | np.ndarray) -> bool:
    if type(values) is tuple:  # (the usual case first: this runs for every operand)
        return len(values) == 1 and len(values[0]) == 1
    return isinstance(values, np.ndarray) and values.shape == (1, 1)


class Literate:
    """Narrates events one line each, in the book's names."""

    def __init__(self, header: Header, registry: Registry | None, digits: int | None) -> None:
        config = header.config
        self.header = header
        self.config = config
        self.digits = digits
        #: the network at the event being narrated (weights before and after an update, the
        #: step's input, the deltas): :meth:`lines` moves it on, event by event
        self.state = NetworkState(header)
        self.started = False  # (the state moved on by :meth:`lines`)
        self.last = len(config.layers) - 1
        self.single = self.last == 1  # one weight layer: the names of chapters 4 and 5
        self.update_op = "+=" if config.ascent else "-="
        #: per weight layer k (from 1), its frozen weights as the line writes them: "[0][1]"
        self.frozen: dict[int, list[str]] = {}
        for k, i, j in sorted(config.frozen):
            self.frozen.setdefault(k + 1, []).append(f"[{i}][{j}]")
        self.one_weight = self.single and self.state.weights[0].size == 1
        self.formulas: dict[str, tuple[str, str, str]] = {}
        #: the trace's events lack fields the state fills in (a step trace read): each
        #: chunk is filled in before it is narrated (:meth:`quick_chunk`)
        self.filling = False
        #: the nonlinearities whose derivative takes the weighted sum (derivative_of="input")
        self.of_input: set[str] = set()
        if registry is not None:
            for name, provided in registry.nonlinearities.items():
                rule = provided.rule
                self.formulas[name] = (rule.formula, rule.derivative_formula, rule.deriv_name)
                if rule.derivative_of == "input":
                    self.of_input.add(name)
        #: per layer k (from 1), its nonlinearity as the narration names it, with the options
        #: the config gives it: leaky_relu(slope 0.2)
        self.labels = {k: config.nonlinearity_label(k) for k in range(1, self.last + 1)}
        #: per layer k (from 1) whose nonlinearity the config gives options, those options as
        #: the narration writes them after a name: "(slope 0.2)" (leaky_relu2deriv(slope 0.2))
        self.option_texts = {k: label[len(config.nonlinearities[k - 1]):]
                             for k, label in self.labels.items()
                             if label != config.nonlinearities[k - 1]}

    # -- names ---------------------------------------------------------------------

    def layer(self, k: int) -> str:
        if self.single:
            return "input" if k == 0 else "prediction"
        return f"layer_{k}"

    def weights_name(self, k: int) -> str:
        if self.single:
            return "weight" if self.one_weight else "weights"
        return f"weights_{k - 1}_{k}"

    def delta_name(self, k: int) -> str:
        return "delta" if self.single else f"layer_{k}_delta"

    def operand(self, name: str, values: Rows | np.ndarray | None, page: bool = False) -> Operand:
        """``values`` as an operand: a 1×1 matrix of a one-weight-layer network is the
        book's scalar (a plain number), anything else stays a matrix."""
        if self.single and values is not None and _is_one_number(values):
            return Operand(name, float(values[0][0]), page)
        return Operand(name, values, page)

    def m(self, values: Rows | np.ndarray | None) -> str:
        """``values`` as the line writes them (a one-weight-layer network's 1×1 as a number)."""
        return show(self.operand("", values).value, self.digits)

    def rows(self, name: str, samples: tuple[int, ...]) -> str:
        if len(samples) == 1:
            return f"{name}[{samples[0]}]"
        if samples == tuple(range(samples[0], samples[-1] + 1)):
            return f"{name}[{samples[0]}:{samples[-1] + 1}]"
        return f"{name}[{list(samples)}]"

    # -- lines ---------------------------------------------------------------------

    def lines(self, events: Iterable[Event], filters: Filters) -> Iterator[str]:
        """Each event's line (and a sample's banner before its first forward step), with a
        warning before the first event that holds a number that is not finite. The text
        is :meth:`reference_lines`' byte for byte; each way a step is narrated is worked
        out once (:class:`Templates`), and then only its numbers are written. A chunk of
        events whose every way is worked out is filled in at once
        (:meth:`NetworkState.complete_all <steptrace.trace.state.NetworkState.complete_all>`)
        and narrated from its own events (:meth:`Templates.quick`); any other, an event at
        a time. A trace's reader, of an exact run of more than one weight layer, rounded and
        unfiltered, is read as its steps in windows of ``WINDOW``, each narrated at once
        where it can be (:class:`~steptrace.views.at_once.AtOnce`), else as above."""
        reader = isinstance(events, TraceReader)
        if reader and not self.started:
            # (a reader's events are held by nobody else: filled in themselves, not copied)
            self.state = NetworkState(self.header, fresh=True)
        self.started = True
        templates = Templates(self)
        filtered = bool(filters.epochs or filters.samples or filters.kinds or filters.layers)
        keep = filters.keep
        finite = True
        # chunks in a row not narrated at once (never, for a network of one weight layer:
        # its updates read the step's input from the state)
        missed = 0
        trying = not self.single
        # a trace of a repeating run, rounded: windows of its steps narrated at once where
        # they can be (read as the reader's step lines: made events where they cannot)
        at_once = (AtOnce(templates) if reader and trying and not filtered
                   and self.digits is not None and self.config.arithmetic == "exact" else None)
        source: Iterable[Event] = events
        if at_once is not None:
            templates.learned = at_once.learn
            source = cast("Iterator[Event]", cast("TraceReader", events).steps(("epoch_end",)))
        for window, failure in windows(iter(source), WINDOW if at_once is not None else CHUNK):
            # A window of events is read, then narrated with numpy's warnings off once (the
            # state's products overflow as the run did), then its lines are given out.
            out: list[str] = []
            try:
                with np.errstate(all="ignore"):
                    made = (at_once.lines(window, finite)
                            if at_once is not None and failure is None else None)
                    if made is not None:
                        out = made
                    else:
                        if at_once is not None:
                            window = [line.event() if isinstance(line, StepLine) else line
                                      for line in window]
                        for start in range(0, len(window), CHUNK):
                            chunk = window[start:start + CHUNK]
                            quick = (self.quick_chunk(templates, chunk, filters, finite)
                                     if trying and missed < QUICK_MISSES else None)
                            if quick is not None:
                                out += quick[0]
                                finite = quick[1]
                                missed = 0
                                continue
                            known = len(templates.known)
                            finite = self.slow_chunk(templates, chunk, filtered, keep, finite, out)
                            # (a chunk that worked out new ways, a dataset of many samples'
                            # first pass, is no reason to stop trying)
                            missed = 0 if len(templates.known) > known else missed + 1
            except BaseException as error:
                failure = error
            yield from out
            if failure is not None:
                raise failure

    def slow_chunk(self, templates: Templates, chunk: list[Event], filtered: bool,
                   keep: Callable[[Event], bool], finite: bool, out: list[str]) -> bool:
        """``chunk``'s lines onto ``out``, an event at a time, the state moved past each;
        whether every number so far was finite."""
        complete = self.state.complete
        for raw in chunk:
            event = complete(raw)
            if filtered and not keep(event):
                finite = self.unshown(event, finite, out)
                continue
            banner = (templates.banner(event)
                      if event.kind == "forward" and event.layer == 1 else None)
            line, suspect = templates.line(event, finite)
            if suspect and (where := first_nonfinite(event)) is not None:
                finite = False  # warned once, whatever the filters: it diverged
                out.append(self.diverged(event, where))
            if banner is not None:
                out.append(banner)
            out.append(line)
        return finite

    def quick_chunk(self, templates: Templates, chunk: list[Event], filters: Filters,
                    finite: bool) -> tuple[list[str], bool] | None:
        """``chunk``'s lines and whether every number so far was finite, narrated from its
        events (:meth:`Templates.quick`); None, the state as it was, when one of its steps
        is not narrated so (a way not yet worked out). Events that hold every field (an
        ``all``-detail trace, or events filled in before) are narrated as they are, and the
        state is moved to the chunk's end; others are filled in first, the chunk at once
        (:meth:`NetworkState.complete_all <steptrace.trace.state.NetworkState.complete_all>`)."""
        state = self.state
        seen = Seen(state)  # (the state before the chunk, to narrate from and to go back to)
        layer, delta = dict(state.layer.rows), dict(state.delta.rows)
        found = None
        try:
            if not self.filling:
                found = templates.quick(chunk, seen, filters, finite, whole=True)
                if found is None and seen.unfilled:  # (from here on, filled in first)
                    self.filling = True
                    seen = Seen(state)
                elif found is not None:
                    seen.moved(state)
            if self.filling:
                found = templates.quick(state.complete_all(chunk), seen, filters, finite)
        except Exception:  # (an event at a time says what is wrong, after the lines before)
            found = None
        if found is None:
            state.restore((seen.weights_at_start, seen.before_at_start, layer, delta))
        return found

    def reference_lines(self, events: Iterable[Event], filters: Filters) -> Iterator[str]:
        """What :meth:`lines` writes, the plain way: every step put together as clauses
        and written out (the tests hold :meth:`lines` to it)."""
        finite = True
        for event in map(self.state.complete, events):
            if finite and (where := first_nonfinite(event)) is not None:
                finite = False  # warned once, whatever the filters: the run has diverged
                yield self.diverged(event, where)
            if not filters.keep(event):
                continue
            if isinstance(event, ForwardEvent) and event.layer == 1:
                yield self.banner(event)
            yield f"[{event.seq}] {self.narrate(event)}"

    def unshown(self, event: Event, finite: bool, out: list[str]) -> bool:
        """An event the filters leave out: its line is not shown, but the run's first
        number that is not finite is warned of all the same (onto ``out``); whether every
        number so far was finite."""
        if finite and maybe_nonfinite(event) and (where := first_nonfinite(event)) is not None:
            out.append(self.diverged(event, where))
            return False
        return finite

    @staticmethod
    def diverged(event: Event, where: tuple[str, float]) -> str:
        field, value = where
        return (f"⚠ [{event.seq}] the first number that is not finite: {field} = {value} "
                f"({event.kind}, epoch {event.epoch}): the run has diverged; from here "
                "on the numbers overflow to inf and NaN")

    def banner(self, event: ForwardEvent) -> str:
        """The line before a sample's (or batch's) first forward step: which samples, and
        their input and goal rows (:meth:`given`)."""
        which = "sample" if len(event.samples) == 1 else "samples"
        where = ", ".join(map(str, event.samples))
        return (f"── epoch {event.epoch} · {which} {where}: "
                + ", ".join(clause.line(self.digits) for clause in self.given(event)))

    def given(self, event: ForwardEvent) -> tuple[Clause, ...]:
        """What a sample's first forward step starts from: ``layer_0 = streetlights[1]`` and,
        when the run has goals, ``goal walk_vs_stop[1]``."""
        config = self.config
        clauses = [Clause(f"{self.layer(0)} = {self.rows(config.input_name, event.samples)}",
                          (Sign(" = ", "line"), self.operand(self.layer(0), event.layer_in)))]
        if config.goals is not None:
            goals = tuple(config.goals[i] for i in event.samples)
            clauses.append(Clause(f"goal {self.rows(config.goal_name, event.samples)}",
                                  (Sign(" = ", "line"), self.operand("goal", goals))))
        return tuple(clauses)

    def narrate(self, event: Event) -> str:
        """One event's line; ``event`` is the one :attr:`state` was last moved past
        (``state.complete(event)``), complete. It is :meth:`clauses`, written out."""
        return "; ".join(clause.line(self.digits) for clause in self.clauses(event))

    def clauses(self, event: Event) -> tuple[Clause, ...]:
        """One event's step as equations, formula and operands (see :class:`Clause`);
        ``event`` as for :meth:`narrate`."""
        if isinstance(event, ForwardEvent):
            return (self.forward(event),)
        if isinstance(event, ErrorEvent):
            return (self.error(event),)
        if isinstance(event, DeltaEvent):
            return (self.delta(event),)
        if isinstance(event, UpdateEvent):
            return self.update(event)
        if isinstance(event, EpochEndEvent):
            return self.pass_end(event)
        raise TypeError(event)

    def pass_end(self, event: EpochEndEvent) -> tuple[Clause, ...]:
        """The end of a pass: the error summed over its samples and, when the experiment has
        held-out rows, their error with the weights the pass ended with."""
        if event.error is None:
            clauses = [Clause(f"end of epoch {event.epoch}")]
        else:
            clauses = [Clause(f"end of epoch {event.epoch}: error summed over "
                              f"{len(event.samples)} sample(s)",
                              (Sign(" = ", "line"), Operand("error", event.error)))]
        if event.test_error is not None:
            rows = len(self.config.test_inputs or ())
            clauses.append(Clause(f"held-out error summed over {rows} row(s)",
                                  (Sign(" = ", "line"), Operand("held-out error",
                                                                event.test_error))))
        return tuple(clauses)

    def forward(self, event: ForwardEvent) -> Clause:
        k = event.layer
        before, weights = self.layer(k - 1), self.weights_name(k)
        product = f"{before} · {weights}"
        formula = self.formulas.get(event.nonlinearity, ("", "", ""))[0]
        out = self.operand(self.layer(k), event.layer_out)
        if formula == "x":  # no nonlinearity: the weighted sum is the layer
            # the operands too where the network has one weight layer, as chapters 3-5 walk them
            hide = not self.single
            return Clause(f"{self.layer(k)} = {product}", (
                Sign(" = ", "line"),
                self.operand(before, event.layer_in, hide), Sign(" · ", "page" if hide else None),
                self.operand(weights, self.state.weights[k - 1], hide),
                Sign(" = ", "page" if hide else None), out))
        name = event.nonlinearity
        if name == self.config.nonlinearities[k - 1]:
            name = self.labels[k]  # with the options the config gives it
        return Clause(f"{self.layer(k)} = {name}({product})", (
            Sign(" = ", "line"),
            Sign(f"{name}(", "page"), self.operand(before, event.layer_in, True), Sign(" · ", "page"),
            self.operand(weights, self.state.weights[k - 1], True), Sign(")", "page"),
            Sign(" = ", "page"),
            Sign(f"{name}("), self.operand(product, event.weighted_sum), Sign(")"), Sign(" = "), out))

    def error(self, event: ErrorEvent) -> Clause:
        goal = self.rows(self.config.goal_name, event.samples)
        prediction = self.operand(self.layer(event.layer), event.prediction)
        target = self.operand(goal, event.goal)
        scalar = event.prediction is not None and len(event.prediction) == 1 == len(event.prediction[0])
        opening, closing = ("(", ")²") if self.single and scalar else ("sum((", ")²)")
        return Clause(f"error = {opening}{self.layer(event.layer)} − {goal}{closing}", (
            Sign(" = ", "line"), Sign(opening), prediction, Sign(" − "), target, Sign(closing),
            Sign(" = "), Operand("error", event.error)))

    def delta(self, event: DeltaEvent) -> Clause:
        k = event.layer
        _, deriv_formula, deriv_name = self.formulas.get(
            event.nonlinearity, ("", "", f"{event.nonlinearity}2deriv"))
        if k in self.option_texts and event.nonlinearity == self.config.nonlinearities[k - 1]:
            deriv_name += self.option_texts[k]  # with the options, as the forward line's name
        times_deriv = deriv_formula != "1"
        name = self.delta_name(k)
        delta = self.operand(name, event.delta)
        # the book's derivative takes the layer's output; one of the input, the weighted sum
        of = (f"{self.layer(k - 1)} · {self.weights_name(k)}" if event.nonlinearity in self.of_input
              else self.layer(k))
        derivative = self.operand(f"{deriv_name}({of})", event.derivative)
        if k == self.last:  # the output: how far the prediction missed its goal
            goal = self.rows(self.config.goal_name, event.samples)
            layer = self.operand(self.layer(k), self.state.layer.get(k), True)
            target = self.operand(goal, None if self.state.goals is None
                                  else self.state.goals[list(event.samples)], True)
            ascent = self.update_op == "+="
            first, second = (target, layer) if ascent else (layer, target)
            miss = f"{first.name} − {second.name}"
            if not times_deriv:
                return Clause(f"{name} = {miss}", (
                    Sign(" = ", "line"), first, Sign(" − ", "page"), second, Sign(" = ", "page"),
                    delta))
            return Clause(f"{name} = ({miss}) * {derivative.name}", (
                Sign(" = ", "line"), Sign("("), first, Sign(" − ", "page"), second,
                Sign("…", "line"), Sign(")"), Sign(" * "), derivative, Sign(" = "), delta))
        # a hidden layer: the next layer's delta, back through the weights it came by
        back = f"{self.delta_name(k + 1)} · weights_{k}_{k + 1}ᵀ"
        if not times_deriv:
            return Clause(f"{name} = {back}", (
                Sign(" = ", "line"),
                self.operand(self.delta_name(k + 1), self.state.delta.get(k + 1), True),
                Sign(" · ", "page"),
                self.operand(f"weights_{k}_{k + 1}ᵀ", transposed(self.state.weights[k]), True),
                Sign(" = ", "page"), delta))
        return Clause(f"{name} = {back} * {derivative.name}", (
            Sign(" = ", "line"), self.operand(back, self.state.back(k)), Sign(" * "), derivative,
            Sign(" = "), delta))

    def update(self, event: UpdateEvent) -> tuple[Clause, ...]:
        k = event.layer
        name = self.weights_name(k)
        before = self.operand(f"{name} (before)", self.state.before[k - 1])
        after = self.operand(f"{name} (after)", event.weights)
        alpha = Operand("alpha", event.alpha)
        weight_delta = self.operand("weight_delta", event.weight_delta)
        sign = Sign(" + " if self.update_op == "+=" else " − ")
        frozen = self.frozen.get(k, [])
        change = Clause(f"{name} {self.update_op} alpha · weight_delta", (
            Sign(f": {name} = ", "line"), before, sign, alpha, Sign(" · "), weight_delta, Sign(" = "),
            after), f" ({name}{', '.join(frozen)} frozen: its weight_delta is 0)" if frozen else "")
        if event.rule is not None:  # a strategy's own rule, and the numbers it decided by
            details: list[Part] = [Sign(": ", "line")]
            for i, (key, value) in enumerate((event.details or {}).items()):
                details += [Sign(", ", "line")] if i else []  # (the page sets them apart)
                details += [Sign(f"{key} = ", "line"), Operand(key, value)]
            details += [Sign(" → "), Sign("weight_delta = ", "line"), weight_delta]
            return Clause(event.rule, tuple(details)), change
        term = f"{self.layer(k - 1)}ᵀ · {self.delta_name(k)}"
        batch = len(event.samples) > 1
        if batch:
            term = f"mean over {len(event.samples)} samples of ({term})"
        if self.single and 0 in self.state.layer and k in self.state.delta:
            product: tuple[Part, ...] = (
                self.operand(f"{self.layer(k - 1)}ᵀ", transposed(self.state.layer[0])), Sign(" · "),
                self.operand(self.delta_name(k), self.state.delta[k]))
            if batch:
                product = (Sign("mean("), *product, Sign(")"))
            return (Clause(f"weight_delta = {term}", (Sign(" = ", "line"), *product, Sign(" = "),
                                                       weight_delta)), change)
        return (Clause(f"{name} {self.update_op} alpha · {term}", (
            Sign(f": {name} = ", "line"), before, sign, alpha, Sign(" · "),
            self.operand(term, event.weight_delta), Sign(" = "), after),
            f" ({name}{', '.join(frozen)} frozen)" if frozen else ""),)


#: chunks in a row not narrated at once (:meth:`Literate.quick_chunk`) nor working out a
#: new way of narrating a step, after which the rest of a trace is narrated an event at a
#: time (a strategy's own rule in every pass)
QUICK_MISSES = 8


class Seen:
    """The network as a chunk's complete events show it, moved on event by event: what
    :meth:`Templates.quick` narrates from in place of :class:`NetworkState` (the weights
    are the latest update's rows; a hidden delta's ``back`` is worked out for the whole
    chunk at once, :func:`~steptrace.engine.formulas.backs`)."""

    def __init__(self, state: NetworkState) -> None:
        self.weights_at_start = list(state.weights)
        self.before_at_start = list(state.before)
        #: weights[k] is weights_k_{k+1} after its latest update; before[k], before it
        self.weights: list[Any] = list(state.weights)
        self.before: list[Any] = list(state.before)
        #: delta[k]: layer_k_delta, the latest (as its event holds it)
        self.delta: dict[int, Any] = dict(state.delta.rows)
        #: layer[k]: layer_k's latest output, layer[0] the latest step's input rows
        self.layer: dict[int, Any] = {}
        #: the weight layers updated (k - 1)
        self.updated: set[int] = set()
        #: what the hidden delta being narrated came back through
        self.carried: Any = None
        #: an event was met that lacks a field the state fills in
        self.unfilled = False

    def moved(self, state: NetworkState) -> None:
        """``state`` moved past the chunk (its events held every field): what
        :meth:`NetworkState.complete` of each would have left."""
        for i in self.updated:
            state.before[i] = (self.before[i] if isinstance(self.before[i], np.ndarray)
                               else np.array(self.before[i], dtype=np.float64))
            state.weights[i] = np.array(self.weights[i], dtype=np.float64)
        state.layer.rows.update(self.layer)
        state.delta.rows.update(self.delta)

    def back(self, k: int) -> Any:
        return self.carried


#: where a template reads the network: the state, or what a chunk's events show of it
At = NetworkState | Seen
#: what a template does with an event: the values its line writes, in order
Fetch = Callable[[Event, At], tuple[Value | str, ...]]
#: a rounded line as one ``%`` format: the format, each operand's kind (n > 0: one row of
#: n numbers, a slot each; 0: a number; -1: text, a ``%s``), and whether the words hold an
#: "n" (then finiteness is not read off the line)
Plan = tuple[str, tuple[int, ...], bool]
#: a template: its ``%`` format, what fills it, the event's number fields it does not write,
#: how :meth:`Templates.quick` narrates it (:data:`SLOW`, :data:`QUICK`, :data:`CARRIED`),
#: and its rounded line's one format (:meth:`Templates.plan`)
Template = tuple[str, Fetch, tuple[str, ...], int, Plan | None]
#: what each slot of a template is, in order, as a window narrated at once makes it
#: (:mod:`steptrace.views.at_once`): ``("own", field)`` (the event's, or the state's filling
#: in of it), ``("back", k)`` (what layer k's delta came back through), ``("before", k)``
#: (the weights layer k's update started from)
Spec = tuple[tuple[str, Any], ...]


class _Misfit(Exception):
    """A step's numbers are not of the shapes its template's one format was made for."""
#: narrated an event at a time only (it reads more of the state than :class:`Seen` keeps)
SLOW = 0
#: narrated from a chunk's events (:class:`Seen`)
QUICK = 1
#: a hidden delta's line: narrated once the chunk's ``back`` products are worked out
CARRIED = 2


class Templates:
    """The lines of :class:`Literate`, each way of narrating a step worked out once.

    Steps of the same kind, layer and nonlinearity (and samples, where the line names
    them) are written with the same words: the first such step is put together as clauses
    (:meth:`Literate.clauses`), its words become a ``%`` format with a slot per number or
    matrix the line writes, and each later step only fills the slots in
    (:class:`~steptrace.views.text.Numbers`). The first line of each template is checked
    against :meth:`Literate.narrate`'s; a way of narrating the templates do not know (a
    strategy's own rule, the end of a pass) is narrated the plain way, every time. The
    weights an update starts from are the weights the layer's previous update ended
    with: their text is kept and written again (when their bits are the same)."""

    #: templates kept (each sample's error and output delta has its own): past it, a step
    #: of a way not yet worked out is narrated the plain way (a dataset of more samples)
    LIMIT = 4096

    def __init__(self, literate: Literate) -> None:
        self.literate = literate
        self.state = literate.state
        self.numbers = Numbers(literate.digits)
        self.single = literate.single
        self.last = literate.last
        self.dot_each = ARITHMETIC[literate.config.arithmetic].dot_each
        #: key -> template, or None: narrated the plain way
        self.known: dict[tuple[object, ...], Template | None] = {}
        #: key -> what each of its template's slots is (:data:`Spec`), for a template a
        #: window may be narrated at once with (:mod:`steptrace.views.at_once`)
        self.specs: dict[tuple[object, ...], Spec] = {}
        #: told each step a template narrates (and its key), when windows are narrated at
        #: once (:meth:`AtOnce.learn <steptrace.views.at_once.AtOnce.learn>`)
        self.learned: Callable[[Event, tuple[object, ...]], None] | None = None
        self.banners: dict[tuple[int, ...], str | None] = {}
        #: per weight layer k, the weights its latest update ended with, and their text
        self.after: dict[int, tuple[Any, tuple[int, ...], bytes, str]] = {}
        formulas = literate.formulas
        #: nonlinearities whose forward line shows the weighted sum (not "x"), and whose
        #: delta line shows the derivative (not "1")
        self.forms = {name: formula[0] != "x" for name, formula in formulas.items()}
        self.derives = {name: formula[1] != "1" for name, formula in formulas.items()}
        #: an operand's value as :func:`show` writes it, after :meth:`Literate.operand`
        #: (a one-weight-layer network's 1×1 matrix is a number); text as it is
        self.value: Callable[[Value | str], str] = (
            self.one_layer_value if self.single else self.numbers.value)

    def one_layer_value(self, value: Value | str) -> str:
        """:meth:`value` for a network of one weight layer: a 1×1 matrix is a number."""
        if (type(value) is tuple or isinstance(value, np.ndarray)) and _is_one_number(value):
            return self.numbers.number(float(value[0][0]))
        return self.numbers.value(value)

    def key(self, event: Event) -> tuple[object, ...] | None:
        """What decides the words of ``event``'s line; None: narrated the plain way."""
        if type(event) is ForwardEvent:
            return ("forward", event.layer, event.nonlinearity)
        if type(event) is DeltaEvent:
            k = event.layer
            return ("delta", k, event.nonlinearity, event.samples if k == self.last else ())
        if type(event) is UpdateEvent:
            if event.rule is not None:
                return None
            k, state = event.layer, self.state
            return ("update", k, len(event.samples),
                    self.single and 0 in state.layer and k in state.delta)
        if type(event) is ErrorEvent:
            p = event.prediction
            return ("error", event.layer, event.samples,
                    p is not None and len(p) == 1 == len(p[0]))
        return None

    def line(self, event: Event, check: bool) -> tuple[str, bool]:
        """``event``'s line, and (when ``check``) whether it may hold a number that is not
        finite (:func:`~steptrace.views.text.maybe_nonfinite`: False is sure)."""
        key = self.key(event)
        if key is not None:
            found = self.known.get(key, _UNKNOWN)
            if found is _UNKNOWN:
                found = self.learn(key, event)
            if found is not None:
                if self.learned is not None:
                    self.learned(event, key)
                try:
                    return self.fill(found, event, check, self.state)
                except Exception:  # (the plain way says what is wrong)
                    pass
        return (f"[{event.seq}] {self.literate.narrate(event)}",
                check and maybe_nonfinite(event))

    def fill(self, template: Template, event: Event, check: bool, at: At) -> tuple[str, bool]:
        """``template`` filled in with ``event``'s numbers (the network read at ``at``), and
        (when ``check``) whether the line may hold a number that is not finite."""
        form, fetch, unshown, _, plan = template
        values = fetch(event, at)
        if plan is not None:  # (rounded: one % format for the line's every number)
            whole, kinds, lettered = plan
            args: list[Any] = [event.seq]
            value = self.value
            try:
                for kind, given in zip(kinds, values, strict=True):
                    if kind > 0:  # one row of `kind` numbers
                        if len(given) != 1 or len(row := given[0]) != kind:  # type: ignore[arg-type, index]
                            raise _Misfit
                        args += row
                    elif kind == 0:  # a number
                        if type(given) is not float:
                            raise _Misfit
                        args.append(given)
                    else:
                        args.append(value(given))
            except (_Misfit, TypeError):
                pass  # (not the shapes the template was made for: an operand at a time)
            else:
                line = whole % tuple(args)
                if not check:
                    return line, False
                if lettered:  # (an "n" in the template's words)
                    return line, maybe_nonfinite(event)
                if "n" in line:
                    return line, True
                for name in unshown:  # (an update's details rarely hold anything)
                    if getattr(event, name) is not None:
                        return line, maybe_nonfinite(event, unshown)
                return line, False
        texts = tuple(map(self.value, values))
        return form % (event.seq, *texts), check and (
            "n" in "".join(texts)  # (inf, nan: finite numbers have no "n")
            or (bool(unshown) and maybe_nonfinite(event, unshown)))

    def quick(self, events: list[Event], seen: Seen, filters: Filters, finite: bool,
              whole: bool = False) -> tuple[list[str], bool] | None:
        """The lines of ``events`` (complete, a chunk filled in at once) and whether every
        number so far was finite, narrated from the events themselves (``seen``: the network
        before them, moved on as they go); None when a step's way of being narrated is not
        worked out yet, or is not narrated so (:data:`SLOW`). ``whole``: the events were
        not filled in; None (``seen.unfilled``) at the first that lacks a field the state
        fills in, and ``seen`` keeps each layer's output for :meth:`Seen.moved`."""
        literate, known, key_of, learned = self.literate, self.known, self.key, self.learned
        layers, updated, goals = seen.layer, seen.updated, self.state.goals is not None
        keep = filters.keep
        filtered = bool(filters.epochs or filters.samples or filters.kinds or filters.layers)
        weights, before, deltas = seen.weights, seen.before, seen.delta
        carried: list[tuple[int, Event, Template, Any, Any]] = []
        out: list[str] = []
        for event in events:
            kind = event.kind
            if kind == "update":
                if self.single:
                    return None  # (its product reads the step's input: the state's)
                i = event.layer - 1
                before[i] = weights[i]
                weights[i] = event.weights  # type: ignore[union-attr]
                if weights[i] is None or event.weight_delta is None:  # type: ignore[union-attr]
                    seen.unfilled = True
                    return None
                updated.add(i)
            elif kind == "delta":
                deltas[event.layer] = event.delta  # type: ignore[union-attr]
            elif whole:
                if kind == "forward":
                    k = event.layer
                    if k == 1:
                        layers[0] = event.layer_in  # type: ignore[union-attr]
                    layers[k] = event.layer_out  # type: ignore[union-attr]
                    if event.layer_in is None:  # type: ignore[union-attr]
                        seen.unfilled = True
                        return None
                elif kind == "error" and (event.prediction is None  # type: ignore[union-attr]
                                          or (goals and event.goal is None)):  # type: ignore[union-attr]
                    seen.unfilled = True
                    return None
            if filtered and not keep(event):
                finite = literate.unshown(event, finite, out)
                continue
            pending: tuple[Template, Any, Any] | None = None
            if kind == "epoch_end":  # (its words read the event alone)
                line, suspect = (f"[{event.seq}] {literate.narrate(event)}",
                                 finite and maybe_nonfinite(event))
            else:
                key = key_of(event)
                found = None if key is None else known.get(key)
                if found is None or found[3] == SLOW:
                    return None
                if learned is not None:
                    learned(event, key)  # type: ignore[arg-type]
                if found[3] == CARRIED:  # (its line once the chunk's products are made)
                    k = event.layer
                    pending = (found, deltas[k + 1], weights[k])
                    line, suspect = "", finite and maybe_nonfinite(event)
                else:
                    line, suspect = self.fill(found, event, finite, seen)
            if suspect and (where := first_nonfinite(event)) is not None:
                finite = False  # warned once, whatever the filters: it diverged
                out.append(literate.diverged(event, where))
            if kind == "forward" and event.layer == 1:
                out.append(self.banner(event))  # type: ignore[arg-type]
            if pending is not None:
                carried.append((len(out), event, *pending))
            out.append(line)
        if carried:
            made = backs(self.dot_each, np.array([c[3] for c in carried], dtype=np.float64),
                         np.array([c[4] for c in carried], dtype=np.float64))
            for (at, event, found, _, _), row in zip(carried, made.tolist(), strict=True):
                seen.carried = row
                out[at] = self.fill(found, event, False, seen)[0]
        return out, finite

    def learn(self, key: tuple[object, ...], event: Event) -> Template | None:
        """The template of ``event``'s way of being narrated, from its clauses; None (the
        plain way, every time) when its line is not the template's filled in."""
        if len(self.known) >= self.LIMIT:
            return None  # (not kept: the plain way, as fast as it was)
        found: Template | None = None
        try:
            fetch, shown, quick, spec = self.fetch(event)
            clauses = self.literate.clauses(event)
            form = "[%d] " + "; ".join(_form(clause) for clause in clauses)
            values = fetch(event, self.state)
            texts = tuple(map(self.value, values))
            expected = f"[{event.seq}] " + "; ".join(
                clause.line(self.literate.digits) for clause in clauses)
            if form % (event.seq, *texts) == expected:
                unshown = tuple(name for name in number_fields(event) if name not in shown)
                found = (form, fetch, unshown, quick, self.plan(clauses, values, expected, event))
                if spec is not None and found[4] is not None and quick != SLOW:
                    self.specs[key] = spec  # (a rounded line of its event and the state)
        except Exception:  # (the plain way says what is wrong)
            found = None
        self.known[key] = found
        return found

    def plan(self, clauses: tuple[Clause, ...], values: tuple[Value | str, ...], expected: str,
             event: Event) -> Plan | None:
        """A rounded line's one ``%`` format (each row of numbers and each number a slot of
        its own, ``%.4g``; a matrix of several rows, text as the operand's ``%s``) and what
        each operand is (:data:`Plan`), from the first step of a template; None where the
        digits are all written (exact) or the format does not write ``expected``."""
        numbers = self.numbers
        if numbers.digits is None:
            return None
        cell = numbers.cell
        kinds: list[int] = []
        slots: list[str] = []
        args: list[Any] = [event.seq]
        for value in values:
            if isinstance(value, np.ndarray) and value.ndim == 2 and len(value) == 1:
                value = (tuple(value[0].tolist()),)  # (a product of one row: written alike)
            if (type(value) is tuple and len(value) == 1 and type(value[0]) is tuple
                    and all(type(x) is float for x in value[0])
                    and not (self.single and len(value[0]) == 1)):  # (that one's a number)
                kinds.append(len(value[0]))
                slots.append("[" + ", ".join([cell] * len(value[0])) + "]")
                args += value[0]
            elif type(value) is float:
                kinds.append(0)
                slots.append(cell)
                args.append(value)
            else:
                kinds.append(-1)
                slots.append("%s")
                args.append(self.value(value))
        it = iter(slots)
        whole = "[%d] " + "; ".join(_form(clause, it) for clause in clauses)
        try:
            if whole % tuple(args) != expected:
                return None
        except (TypeError, ValueError):
            return None
        words = "[%d] " + "; ".join(_form(clause, iter(lambda: "", None)) for clause in clauses)
        return whole, tuple(kinds), "n" in words

    def fetch(self, event: Event) -> tuple[Fetch, tuple[str, ...], int, Spec | None]:
        """What fills the slots of ``event``'s template, in order (as
        :meth:`Literate.clauses` lists the operands its line writes), which of the
        event's fields those are, how :meth:`quick` narrates it, and what each slot is
        (:data:`Spec`, for a window narrated at once: :mod:`steptrace.views.at_once`; None
        for a template that reads more of the state)."""
        k, single = event.layer, self.single
        if isinstance(event, ForwardEvent):
            if self.forms.get(event.nonlinearity, True):
                return (_fields("weighted_sum", "layer_out"), ("weighted_sum", "layer_out"),
                        QUICK, (("own", "weighted_sum"), ("own", "layer_out")))
            if not single:
                return _fields("layer_out"), ("layer_out",), QUICK, (("own", "layer_out"),)
            return (lambda e, at: (e.layer_in, at.weights[k - 1], e.layer_out),
                    ("layer_in", "layer_out"), QUICK, None)
        if isinstance(event, ErrorEvent):
            return (_fields("prediction", "goal", "error"), ("prediction", "goal", "error"),
                    QUICK, (("own", "prediction"), ("own", "goal"), ("own", "error")))
        if isinstance(event, DeltaEvent):
            if not self.derives.get(event.nonlinearity, True):
                return _fields("delta"), ("delta",), QUICK, (("own", "delta"),)
            if k == self.last:
                return (_fields("derivative", "delta"), ("derivative", "delta"), QUICK,
                        (("own", "derivative"), ("own", "delta")))
            # (the state's back, under the warnings :meth:`Literate.lines` turned off; a
            # chunk's, made at once)
            return (lambda e, at: (at.back(k), e.derivative, e.delta),
                    ("derivative", "delta"), CARRIED,
                    (("back", k), ("own", "derivative"), ("own", "delta")))
        assert isinstance(event, UpdateEvent)
        shown = ("alpha", "weight_delta", "weights")
        state = self.state
        if single and 0 in state.layer and k in state.delta:
            return (lambda e, at: (
                transposed(state.layer[0]), state.delta[k], e.weight_delta,
                self.before(k, at), e.alpha, e.weight_delta, self.ended(k, e, at)), shown, SLOW,
                None)
        return (lambda e, at: (
            self.before(k, at), e.alpha, e.weight_delta, self.ended(k, e, at)), shown, QUICK,
            (("before", k), ("own", "alpha"), ("own", "weight_delta"), ("own", "weights")))

    def before(self, k: int, at: At) -> Value | str:
        """The weights layer k's update starts from: the text of those its previous update
        ended with, when they are the same bits."""
        weights = at.before[k - 1]
        kept = self.after.get(k)
        if kept is not None and kept[0] is weights and (
                type(weights) is tuple or (kept[1] == weights.shape
                                           and kept[2] == weights.tobytes())):
            return kept[3]
        return weights

    def ended(self, k: int, event: UpdateEvent, at: At) -> Value | str:
        """The weights ``event`` (layer k's update) ended with, as text, kept for the next."""
        text = self.value(event.weights)
        if event.weights is not None:
            weights = at.weights[k - 1]  # (the same numbers, as an array or the event's rows)
            if isinstance(weights, np.ndarray):
                self.after[k] = (weights, weights.shape, weights.tobytes(), text)
            elif type(weights) is tuple:  # (rows: their numbers cannot change)
                self.after[k] = (weights, (), b"", text)
        return text

    def banner(self, event: ForwardEvent) -> str:
        """:meth:`Literate.banner`'s line; the words (and the samples' goals) worked out
        once per samples."""
        samples = event.samples
        form = self.banners.get(samples, _UNKNOWN)
        if form is _UNKNOWN:
            if len(self.banners) >= self.LIMIT:
                return self.literate.banner(event)
            form = None
            try:
                literate = self.literate
                clauses = literate.given(event)
                which = "sample" if len(samples) == 1 else "samples"
                where = ", ".join(map(str, samples))
                form = ("── epoch %d · " + f"{which} {where}: " + _form(clauses[0]) + "".join(
                    ", " + clause.line(literate.digits).replace("%", "%%")
                    for clause in clauses[1:]))
                if form % (event.epoch, self.value(event.layer_in)) != literate.banner(event):
                    form = None
            except Exception:
                form = None
            self.banners[samples] = form
        if form is None:
            return self.literate.banner(event)
        return str(form % (event.epoch, self.value(event.layer_in)))


_UNKNOWN: Any = object()  # (a template not yet worked out)


def _fields(*names: str) -> Fetch:
    get = attrgetter(*names)
    if len(names) == 1:
        return lambda event, at: (get(event),)
    return lambda event, at: get(event)


def _form(clause: Clause, slots: Iterator[str] | None = None) -> str:
    """``clause`` as :meth:`Clause.line` writes it, a ``%s`` (or the next of ``slots``)
    where each operand's value goes (its words escaped for ``%``)."""
    text = [clause.formula.replace("%", "%%")]
    for part in clause.parts:
        if isinstance(part, Sign):
            if part.only != "page":
                text.append(part.text.replace("%", "%%"))
        elif not part.page:
            text.append("%s" if slots is None else next(slots))
    return "".join(text) + clause.note.replace("%", "%%")
