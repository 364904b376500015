"""Showing a trace: the literate view (every step in the book's terms, numbers plugged
in) and the book view (what the book's program printed).

Both read the events as a stream. The literate narrator keeps the current weights
(from the header, then from each ``update``) so it can show each update as
``before − alpha · weight_delta = after``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from steptrace.arithmetic import ARITHMETIC
from steptrace.config import ExperimentConfig
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
        self.config = config
        self.digits = digits
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        self.dot = ARITHMETIC[config.arithmetic].dot
        self.last = len(config.layers) - 1
        self.update_op = "+=" if config.delta == "goal - prediction" else "-="
        self.formulas: dict[str, tuple[str, str, str]] = {}
        if registry is not None:
            for name, provided in registry.nonlinearities.items():
                rule = provided.rule
                self.formulas[name] = (rule.formula, rule.derivative_formula, rule.deriv_name)
        self.deltas: dict[int, np.ndarray] = {}
        self.step: tuple[int, tuple[int, ...]] | None = None

    def m(self, values: Matrix | np.ndarray) -> str:
        if isinstance(values, np.ndarray):
            values = tuple(map(tuple, values.tolist()))
        return matrix(values, self.digits)

    def rows(self, name: str, samples: tuple[int, ...]) -> str:
        if len(samples) == 1:
            return f"{name}[{samples[0]}]"
        if samples == tuple(range(samples[0], samples[-1] + 1)):
            return f"{name}[{samples[0]}:{samples[-1] + 1}]"
        return f"{name}[{list(samples)}]"

    def lines(self, events: Iterable[Event], filters: Filters) -> Iterator[str]:
        for event in events:
            shown = filters.keep(event)
            if shown and isinstance(event, ForwardEvent) and event.layer == 1:
                yield self.banner(event)
            line = self.narrate(event)  # always: keeps the weights up to date
            if shown:
                yield f"[{event.seq}] {line}"

    def banner(self, event: ForwardEvent) -> str:
        config = self.config
        which = "sample" if len(event.samples) == 1 else "samples"
        where = ", ".join(map(str, event.samples))
        return (f"── epoch {event.epoch} · {which} {where}: layer_0 = "
                f"{self.rows(config.input_name, event.samples)} = {self.m(event.layer_in)}, "
                f"goal {self.rows(config.goal_name, event.samples)} = "
                f"{self.m(tuple(config.goals[i] for i in event.samples))}")

    def narrate(self, event: Event) -> str:
        if isinstance(event, ForwardEvent):
            return self.forward(event)
        if isinstance(event, ErrorEvent):
            goal = self.rows(self.config.goal_name, event.samples)
            return (f"error = sum((layer_{event.layer} − {goal})²) = "
                    f"sum(({self.m(event.prediction)} − {self.m(event.goal)})²) = "
                    f"{number(event.error, self.digits)}")
        if isinstance(event, DeltaEvent):
            return self.delta(event)
        if isinstance(event, UpdateEvent):
            return self.update(event)
        if isinstance(event, EpochEndEvent):
            return (f"end of epoch {event.epoch}: error summed over {len(event.samples)} "
                    f"sample(s) = {number(event.error, self.digits)}")
        raise TypeError(event)

    def forward(self, event: ForwardEvent) -> str:
        k = event.layer
        product = f"layer_{k - 1} · weights_{k - 1}_{k}"
        formula = self.formulas.get(event.nonlinearity, ("", "", ""))[0]
        if formula == "x":  # no nonlinearity: the weighted sum is the layer
            return f"layer_{k} = {product} = {self.m(event.layer_out)}"
        name = event.nonlinearity
        return (f"layer_{k} = {name}({product}) = {name}({self.m(event.weighted_sum)}) = "
                f"{self.m(event.layer_out)}")

    def delta(self, event: DeltaEvent) -> str:
        k = event.layer
        _, deriv_formula, deriv_name = self.formulas.get(
            event.nonlinearity, ("", "", f"{event.nonlinearity}2deriv"))
        self.deltas[k] = np.array(event.delta)
        times_deriv = deriv_formula != "1"
        if k == self.last:
            goal = self.rows(self.config.goal_name, event.samples)
            miss = (f"{goal} − layer_{k}" if self.update_op == "+="
                    else f"layer_{k} − {goal}")
            if not times_deriv:
                return f"layer_{k}_delta = {miss} = {self.m(event.delta)}"
            return (f"layer_{k}_delta = ({miss}) * {deriv_name}(layer_{k}) = "
                    f"(…) * {self.m(event.derivative)} = {self.m(event.delta)}")
        back = self.dot(self.deltas[k + 1], self.weights[k].T)
        text = f"layer_{k}_delta = layer_{k + 1}_delta · weights_{k}_{k + 1}ᵀ"
        if not times_deriv:
            return f"{text} = {self.m(event.delta)}"
        return (f"{text} * {deriv_name}(layer_{k}) = {self.m(back)} * "
                f"{self.m(event.derivative)} = {self.m(event.delta)}")

    def update(self, event: UpdateEvent) -> str:
        k = event.layer
        name = f"weights_{k - 1}_{k}"
        before = self.weights[k - 1]
        self.weights[k - 1] = np.array(event.weights, dtype=np.float64)
        averaged = len(event.samples) > 1
        term = f"layer_{k - 1}ᵀ · layer_{k}_delta"
        term = f"mean over {len(event.samples)} samples of ({term})" if averaged else term
        sign = "+" if self.update_op == "+=" else "−"
        return (f"{name} {self.update_op} alpha · {term}: {name} = {self.m(before)} {sign} "
                f"{number(event.alpha, self.digits)} · {self.m(event.weight_delta)} = "
                f"{self.m(event.weights)}")


def _value(m: Matrix) -> Any:
    """A 1×1 matrix prints as its number (the book's scalars); a row as a list."""
    if len(m) == 1 and len(m[0]) == 1:
        return m[0][0]
    return list(m[0]) if len(m) == 1 else [list(row) for row in m]


def book_lines(config: ExperimentConfig, events: Iterable[Event]) -> Iterator[str]:
    """What the book's program printed, line by line (``print`` adds each newline)."""
    view = config.book_view
    for event in events:
        if isinstance(event, ErrorEvent) and view.step is not None:
            yield view.step.format(error=event.error, prediction=_value(event.prediction),
                                   goal=_value(event.goal), epoch=event.epoch,
                                   samples=list(event.samples))
        elif (isinstance(event, EpochEndEvent) and view.epoch is not None
              and (event.epoch + 1) % view.every == 0):
            yield view.epoch.format(error=event.error, epoch=event.epoch)
