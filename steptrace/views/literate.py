"""The literate view: every step of a trace in the book's terms, numbers plugged in.

A network with one weight layer is narrated in the names of chapters 4 and 5
(``input``, ``weight``, ``prediction``, ``delta``, ``weight_delta``); a deeper one in
those of chapter 6 (``layer_0``, ``weights_0_1``, ``layer_1_delta``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from steptrace.plugins.registry import Registry
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
from steptrace.trace.state import NetworkState
from steptrace.views.text import Filters, first_nonfinite, matrix, number


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
        self.last = len(config.layers) - 1
        self.single = self.last == 1  # one weight layer: the names of chapters 4 and 5
        self.update_op = "+=" if config.ascent else "-="
        self.frozen = {(k + 1, i, j) for k, i, j in config.frozen}
        self.formulas: dict[str, tuple[str, str, str]] = {}
        if registry is not None:
            for name, provided in registry.nonlinearities.items():
                rule = provided.rule
                self.formulas[name] = (rule.formula, rule.derivative_formula, rule.deriv_name)

    # -- names ---------------------------------------------------------------------

    def layer(self, k: int) -> str:
        if self.single:
            return "input" if k == 0 else "prediction"
        return f"layer_{k}"

    def weights_name(self, k: int) -> str:
        if self.single:
            return "weight" if self.state.weights[0].size == 1 else "weights"
        return f"weights_{k - 1}_{k}"

    def delta_name(self, k: int) -> str:
        return "delta" if self.single else f"layer_{k}_delta"

    def m(self, values: Rows | np.ndarray | None) -> str:
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
        for event in map(self.state.complete, events):
            if finite and (where := first_nonfinite(event)) is not None:
                finite = False  # warned once, whatever the filters: the run has diverged
                field, value = where
                yield (f"⚠ [{event.seq}] the first number that is not finite: {field} = {value} "
                       f"({event.kind}, epoch {event.epoch}): the run has diverged; from here "
                       "on the numbers overflow to inf and NaN")
            if not filters.keep(event):
                continue
            if isinstance(event, ForwardEvent) and event.layer == 1:
                yield self.banner(event)
            yield f"[{event.seq}] {self.narrate(event)}"

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
        """One event's line; ``event`` is the one :attr:`state` was last moved past
        (``state.complete(event)``), complete."""
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
        product = f"{self.layer(k - 1)} · {self.weights_name(k)}"
        if self.single:  # the operands too, as chapters 3-5 walk them
            operands = f"{self.m(event.layer_in)} · {self.m(self.state.weights[k - 1])}"
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
        back = self.state.back(k)
        text = f"{name} = {self.delta_name(k + 1)} · weights_{k}_{k + 1}ᵀ"
        if not times_deriv:
            return f"{text} = {self.m(event.delta)}"
        return (f"{text} * {deriv_name}({self.layer(k)}) = {self.m(back)} * "
                f"{self.m(event.derivative)} = {self.m(event.delta)}")

    def update(self, event: UpdateEvent) -> str:
        k = event.layer
        name = self.weights_name(k)
        before = self.state.before[k - 1]
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
        if self.single and 0 in self.state.layer and k in self.state.delta:
            operands = f"{self.m(self.state.layer[0].T)} · {self.m(self.state.delta[k])}"
            if len(event.samples) > 1:
                operands = f"mean({operands})"
            return f"weight_delta = {term} = {operands} = {self.m(event.weight_delta)}; {change}"
        return (f"{name} {self.update_op} alpha · {term}: {name} = {self.m(before)} {sign} "
                f"{number(event.alpha, self.digits)} · {self.m(event.weight_delta)} = "
                f"{self.m(event.weights)}"
                + (f" ({name}{', '.join(frozen)} frozen)" if frozen else ""))
