"""Showing a trace: the literate view (every step in the book's terms, numbers plugged
in) and the book view (what the book's program printed).

Both read the events as a stream and keep the current weights (from the header,
then from each ``update``), so they can show a step's weights before its update.
A network with one weight layer is narrated in the names of chapters 4 and 5
(``input``, ``weight``, ``prediction``, ``delta``, ``weight_delta``); a deeper one in
those of chapter 6 (``layer_0``, ``weights_0_1``, ``layer_1_delta``, ...).
"""

from __future__ import annotations

import math
import pprint
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from steptrace.arithmetic import ARITHMETIC
from steptrace.derive import complete_events
from steptrace.errors import ConfigError
from steptrace.events import (
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    Matrix,
    UpdateEvent,
)
from steptrace.registry import Registry
from steptrace.tracefile import Header


def number(x: float, digits: int | None = None) -> str:
    """A number as the book prints it (Python's shortest repr), integers without ``.0``;
    with ``digits``, rounded to that many significant digits."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if digits is not None:
        return f"{x:.{digits}g}"
    if x.is_integer() and abs(x) < 1e16:
        return "-0" if str(x).startswith("-") and x == 0 else str(int(x))
    return repr(x)


def matrix(m: Matrix, digits: int | None = None) -> str:
    """One sample's row as ``[a, b]``; several rows (or a column) as ``[[a], [b]]``."""
    rows = ["[" + ", ".join(number(x, digits) for x in row) + "]" for row in m]
    return rows[0] if len(rows) == 1 else "[" + ", ".join(rows) + "]"


@dataclass
class Filters:
    """Which events to show; an empty set shows all."""

    epochs: set[int] = field(default_factory=set)
    samples: set[int] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    layers: set[int] = field(default_factory=set)

    def keep(self, event: Event) -> bool:
        return (
            (not self.epochs or event.epoch in self.epochs)
            and (not self.samples or bool(self.samples.intersection(event.samples)))
            and (not self.kinds or event.kind in self.kinds)
            and (not self.layers or event.layer in self.layers)
        )


class Literate:
    """Narrates events one line each, in the book's names."""

    def __init__(self, header: Header, registry: Registry | None, digits: int | None) -> None:
        config = header.config
        self.header = header
        self.config = config
        self.digits = digits
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        self.dot = ARITHMETIC[config.arithmetic].dot
        self.last = len(config.layers) - 1
        self.single = self.last == 1  # one weight layer: the names of chapters 4 and 5
        self.update_op = "+=" if config.delta == "goal - prediction" else "-="
        self.frozen = {(k + 1, i, j) for k, i, j in config.frozen}
        self.formulas: dict[str, tuple[str, str, str]] = {}
        if registry is not None:
            for name, provided in registry.nonlinearities.items():
                rule = provided.rule
                self.formulas[name] = (rule.formula, rule.derivative_formula, rule.deriv_name)
        self.deltas: dict[int, np.ndarray] = {}
        self.layer_in: np.ndarray | None = None

    # -- names ---------------------------------------------------------------------

    def layer(self, k: int) -> str:
        if self.single:
            return "input" if k == 0 else "prediction"
        return f"layer_{k}"

    def weights_name(self, k: int) -> str:
        if self.single:
            return "weight" if self.weights[0].size == 1 else "weights"
        return f"weights_{k - 1}_{k}"

    def delta_name(self, k: int) -> str:
        return "delta" if self.single else f"layer_{k}_delta"

    def m(self, values: Matrix | np.ndarray | None) -> str:
        if values is None:  # not in the trace, and nothing to derive it from
            return "?"
        if isinstance(values, np.ndarray):
            values = tuple(map(tuple, values.tolist()))
        if self.single and len(values) == 1 and len(values[0]) == 1:
            return number(values[0][0], self.digits)  # the book's scalars
        return matrix(values, self.digits)

    def rows(self, name: str, samples: tuple[int, ...]) -> str:
        if len(samples) == 1:
            return f"{name}[{samples[0]}]"
        if samples == tuple(range(samples[0], samples[-1] + 1)):
            return f"{name}[{samples[0]}:{samples[-1] + 1}]"
        return f"{name}[{list(samples)}]"

    # -- lines ---------------------------------------------------------------------

    def lines(self, events: Iterable[Event], filters: Filters) -> Iterator[str]:
        finite = True
        for event in complete_events(self.header, events):
            if finite and (where := first_nonfinite(event)) is not None:
                finite = False  # warned once, whatever the filters: the run has diverged
                field, value = where
                yield (f"⚠ [{event.seq}] the first number that is not finite: {field} = {value} "
                       f"({event.kind}, epoch {event.epoch}): the run has diverged; from here "
                       "on the numbers overflow to inf and NaN")
            if not filters.keep(event):
                self.track(event)  # no text, but the weights and deltas stay up to date
                continue
            if isinstance(event, ForwardEvent) and event.layer == 1:
                yield self.banner(event)
            yield f"[{event.seq}] {self.narrate(event)}"

    def track(self, event: Event) -> None:
        """Keep what later lines need: the input, the last deltas, the current weights."""
        if isinstance(event, ForwardEvent) and event.layer == 1:
            self.layer_in = np.array(event.layer_in)
        elif isinstance(event, DeltaEvent):
            self.deltas[event.layer] = np.array(event.delta)
        elif isinstance(event, UpdateEvent) and event.weights is not None:
            self.weights[event.layer - 1] = np.array(event.weights, dtype=np.float64)

    def banner(self, event: ForwardEvent) -> str:
        config = self.config
        which = "sample" if len(event.samples) == 1 else "samples"
        where = ", ".join(map(str, event.samples))
        text = (f"── epoch {event.epoch} · {which} {where}: {self.layer(0)} = "
                f"{self.rows(config.input_name, event.samples)} = {self.m(event.layer_in)}")
        if config.goals is not None:
            text += (f", goal {self.rows(config.goal_name, event.samples)} = "
                     f"{self.m(tuple(config.goals[i] for i in event.samples))}")
        return text

    def narrate(self, event: Event) -> str:
        if isinstance(event, ForwardEvent):
            return self.forward(event)
        if isinstance(event, ErrorEvent):
            return self.error(event)
        if isinstance(event, DeltaEvent):
            return self.delta(event)
        if isinstance(event, UpdateEvent):
            return self.update(event)
        if isinstance(event, EpochEndEvent):
            if event.error is None:
                return f"end of epoch {event.epoch}"
            return (f"end of epoch {event.epoch}: error summed over {len(event.samples)} "
                    f"sample(s) = {number(event.error, self.digits)}")
        raise TypeError(event)

    def forward(self, event: ForwardEvent) -> str:
        k = event.layer
        if k == 1:
            self.layer_in = np.array(event.layer_in)
        product = f"{self.layer(k - 1)} · {self.weights_name(k)}"
        if self.single:  # the operands too, as chapters 3-5 walk them
            operands = f"{self.m(event.layer_in)} · {self.m(self.weights[k - 1])}"
        formula = self.formulas.get(event.nonlinearity, ("", "", ""))[0]
        if formula == "x":  # no nonlinearity: the weighted sum is the layer
            if self.single:
                return f"{self.layer(k)} = {product} = {operands} = {self.m(event.layer_out)}"
            return f"{self.layer(k)} = {product} = {self.m(event.layer_out)}"
        name = event.nonlinearity
        return (f"{self.layer(k)} = {name}({product}) = {name}({self.m(event.weighted_sum)}) = "
                f"{self.m(event.layer_out)}")

    def error(self, event: ErrorEvent) -> str:
        goal = self.rows(self.config.goal_name, event.samples)
        prediction, target = self.m(event.prediction), self.m(event.goal)
        scalar = event.prediction is not None and len(event.prediction) == 1 == len(event.prediction[0])
        if self.single and scalar:
            return (f"error = ({self.layer(event.layer)} − {goal})² = ({prediction} − {target})² = "
                    f"{number(event.error, self.digits)}")
        return (f"error = sum(({self.layer(event.layer)} − {goal})²) = "
                f"sum(({prediction} − {target})²) = {number(event.error, self.digits)}")

    def delta(self, event: DeltaEvent) -> str:
        k = event.layer
        _, deriv_formula, deriv_name = self.formulas.get(
            event.nonlinearity, ("", "", f"{event.nonlinearity}2deriv"))
        self.deltas[k] = np.array(event.delta)
        times_deriv = deriv_formula != "1"
        name = self.delta_name(k)
        if k == self.last:
            goal = self.rows(self.config.goal_name, event.samples)
            miss = (f"{goal} − {self.layer(k)}" if self.update_op == "+="
                    else f"{self.layer(k)} − {goal}")
            if not times_deriv:
                return f"{name} = {miss} = {self.m(event.delta)}"
            return (f"{name} = ({miss}) * {deriv_name}({self.layer(k)}) = "
                    f"(…) * {self.m(event.derivative)} = {self.m(event.delta)}")
        back = self.dot(self.deltas[k + 1], self.weights[k].T)
        text = f"{name} = {self.delta_name(k + 1)} · weights_{k}_{k + 1}ᵀ"
        if not times_deriv:
            return f"{text} = {self.m(event.delta)}"
        return (f"{text} * {deriv_name}({self.layer(k)}) = {self.m(back)} * "
                f"{self.m(event.derivative)} = {self.m(event.delta)}")

    def update(self, event: UpdateEvent) -> str:
        k = event.layer
        name = self.weights_name(k)
        before = self.weights[k - 1]
        if event.weights is not None:
            self.weights[k - 1] = np.array(event.weights, dtype=np.float64)
        sign = "+" if self.update_op == "+=" else "−"
        change = (f"{name} {self.update_op} alpha · weight_delta: {name} = {self.m(before)} "
                  f"{sign} {number(event.alpha, self.digits)} · {self.m(event.weight_delta)} = "
                  f"{self.m(event.weights)}")
        frozen = [f"[{i}][{j}]" for (layer, i, j) in sorted(self.frozen) if layer == k]
        if frozen:
            change += f" ({name}{', '.join(frozen)} frozen: its weight_delta is 0)"
        if event.rule is not None:
            details = ", ".join(f"{key} = {number(value, self.digits)}"
                                for key, value in (event.details or {}).items())
            return f"{event.rule}: {details} → weight_delta = {self.m(event.weight_delta)}; {change}"
        term = f"{self.layer(k - 1)}ᵀ · {self.delta_name(k)}"
        if len(event.samples) > 1:
            term = f"mean over {len(event.samples)} samples of ({term})"
        if self.single and self.layer_in is not None and k in self.deltas:
            operands = f"{self.m(self.layer_in.T)} · {self.m(self.deltas[k])}"
            if len(event.samples) > 1:
                operands = f"mean({operands})"
            return f"weight_delta = {term} = {operands} = {self.m(event.weight_delta)}; {change}"
        return (f"{name} {self.update_op} alpha · {term}: {name} = {self.m(before)} {sign} "
                f"{number(event.alpha, self.digits)} · {self.m(event.weight_delta)} = "
                f"{self.m(event.weights)}"
                + (f" ({name}{', '.join(frozen)} frozen)" if frozen else ""))


class BookView:
    """What the book's program printed: the experiment's ``book_view`` templates, filled
    in step by step (see :class:`steptrace.config.BookView`)."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.config = header.config
        self.view = header.config.book_view
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        self.last = len(self.weights)
        self.frozen = {(i, j) for k, i, j in self.config.frozen if k == self.last - 1}

    def lines(self, events: Iterable[Event]) -> Iterator[str]:
        step: dict[str, Any] | None = None
        for event in complete_events(self.header, events):
            if isinstance(event, ForwardEvent) and event.layer == 1:
                if step is not None:
                    yield from self.step_lines(step)
                step = {"epoch": event.epoch, "iteration": event.epoch + 1,
                        "samples": list(event.samples), "weights": self.weights[-1]}
            if step is None:
                step = {}
            if isinstance(event, ForwardEvent) and event.layer == self.last:
                step["prediction"] = np.array(event.layer_out)
            elif isinstance(event, ErrorEvent):
                step["error"] = event.error
                if event.goal is not None:
                    step["goal"] = np.array(event.goal)
            elif isinstance(event, DeltaEvent) and event.layer == self.last:
                step["delta"] = np.array(event.delta)
            elif isinstance(event, UpdateEvent) and event.weights is not None:
                self.weights[event.layer - 1] = np.array(event.weights)
                if event.layer == self.last and event.weight_delta is not None:
                    step["weight_delta"] = np.array(event.weight_delta)
                    step["new_weights"] = self.weights[-1]
            elif isinstance(event, EpochEndEvent):
                if step:
                    yield from self.step_lines(step)
                step = None
                if self.view.epoch is not None and (event.epoch + 1) % self.view.every == 0:
                    yield self.fill(self.view.epoch, {
                        "error": event.error, "epoch": event.epoch, "iteration": event.epoch + 1})
        if step:
            yield from self.step_lines(step)

    def step_lines(self, step: dict[str, Any]) -> Iterator[str]:
        if self.view.step is not None:
            yield self.fill(self.view.step, step)

    def fill(self, template: str, values: dict[str, Any]) -> str:
        rendered = {}
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                is_weights = key in {"weights", "new_weights", "weight_delta"}
                rendered[key] = self.render(value, is_weights, key == "weight_delta")
            else:
                rendered[key] = str(value)
        try:
            return template.format(**rendered)
        except KeyError as missing:
            raise ConfigError(
                f"book_view uses {{{missing.args[0]}}}, which this run does not have "
                "(a forward-only run has no delta or weights update)") from None

    def render(self, value: np.ndarray, is_weights: bool, is_weight_delta: bool) -> str:
        """A matrix as the book printed it: a 1×1 as a number, a row or a column as a flat
        list, anything else as a list of rows."""
        items: list[list[Any]] = value.tolist()
        if is_weight_delta and self.view.numbers == "python":
            for i, j in self.frozen:  # the book assigned the integer 0
                items[i][j] = 0
        if is_weights and self.view.weights_layout == "outputs x inputs":
            items = [list(column) for column in zip(*items, strict=True)]
        shaped: Any = items
        if len(items) == 1 and len(items[0]) == 1:
            shaped = items[0][0]
        elif len(items) == 1:
            shaped = items[0]
        elif all(len(row) == 1 for row in items):
            shaped = [row[0] for row in items]
        if self.view.numbers == "numpy":
            return str(np.array(shaped))
        if self.view.numbers == "ipython-numpy-1.13":
            with np.printoptions(legacy="1.13"):
                return pprint.pformat(_as_numpy_floats(shaped))
        return str(shaped)


def first_nonfinite(event: Event) -> tuple[str, float] | None:
    """The first field of an event (with its index) that holds inf or NaN, if any."""
    for name, value in event:
        if isinstance(value, float) and not math.isfinite(value):
            return name, value
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            if all(map(math.isfinite, chain.from_iterable(value))):  # the usual case, in C
                continue
            i, j = next((i, j) for i, row in enumerate(value) for j, x in enumerate(row)
                        if not math.isfinite(x))
            return f"{name}[{i}][{j}]", value[i][j]
    return None


def _as_numpy_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_numpy_floats(item) for item in value]
    return np.float64(value)


def book_lines(header: Header, events: Iterable[Event]) -> Iterator[str]:
    """What the book's program printed, line by line (``print`` adds each newline)."""
    return BookView(header).lines(events)


class PressureView:
    """The book's "up and down pressure" table, from what the run did: for each update and
    each weight, the direction the weight moved (``+`` up, ``−`` down, ``0`` no move: its
    input was 0, so it had no say, or its delta was), and each weight's net pressure over
    the pass (ups minus downs), one table per weight layer and pass."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.config = header.config
        self.ascent = header.config.delta == "goal - prediction"
        self.single = len(header.config.layers) == 2

    def lines(self, events: Iterable[Event], epochs: set[int]) -> Iterator[str]:
        rows: dict[int, list[tuple[tuple[int, ...], list[str]]]] = {}
        for event in complete_events(self.header, events):
            if epochs and event.epoch not in epochs:
                continue
            if isinstance(event, UpdateEvent) and event.weight_delta is not None:
                signs = [self.sign(x) for row in event.weight_delta for x in row]
                rows.setdefault(event.layer, []).append((event.samples, signs))
            elif isinstance(event, EpochEndEvent):
                for layer in sorted(rows):
                    yield from self.table(layer, event.epoch, rows[layer])
                rows = {}

    def sign(self, weight_delta: float) -> str:
        moves = -weight_delta if not self.ascent else weight_delta  # weights -= alpha * wd
        return "+" if moves > 0 else "−" if moves < 0 else "0"

    def table(self, k: int, epoch: int, rows: list[tuple[tuple[int, ...], list[str]]]
              ) -> Iterator[str]:
        n_in, n_out = self.config.layers[k - 1], self.config.layers[k]
        names = [f"w[{i}]" if n_out == 1 else f"w[{i}][{j}]"
                 for i in range(n_in) for j in range(n_out)]
        width = max(len(name) for name in names) + 1
        label = "weights" if self.single else f"weights_{k - 1}_{k}"
        yield (f"{label}, epoch {epoch}: how each update moved each weight "
               "(+ up, − down, 0 no move: its input or its delta was 0)")
        yield "samples".ljust(10) + "".join(name.rjust(width) for name in names)
        for samples, signs in rows:
            where = ", ".join(map(str, samples))
            yield where.ljust(10) + "".join(sign.rjust(width) for sign in signs)
        net = [sum((s == "+") - (s == "−") for s in column) for column in zip(
            *(signs for _, signs in rows), strict=True)]
        yield "net".ljust(10) + "".join((f"{n:+d}" if n else "0").rjust(width) for n in net)
        yield ""
