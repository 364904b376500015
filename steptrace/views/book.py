"""The book view: what the book's program printed, from a trace.

A recorded experiment's trace prints its config's ``book_view`` templates, filled in with
the run's numbers. A traced script's trace (``steptrace trace``) prints what the script
itself printed, kept in its header (:class:`~steptrace.trace.header.Printed`)."""

from __future__ import annotations

import pprint
import re
import string
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from steptrace.errors import ConfigError
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, Event, ForwardEvent, UpdateEvent
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader
from steptrace.trace.state import walk


class BookPrintout:
    """What the book's program printed: the experiment's ``book_view`` templates, filled
    in step by step (see :class:`steptrace.config.BookView`); or, in the trace of a
    learner's script, the lines it printed (the header's ``printed``)."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.config = header.config
        self.view = header.config.book_view
        self.last = len(header.initial_weights)
        self.frozen = {(i, j) for k, i, j in self.config.frozen if k == self.last - 1}

    def lines(self, events: Iterable[Event]) -> Iterator[str]:
        printed = self.header.printed
        if printed is not None:  # the script's own lines, once every event is read (checked)
            deque(_only(events, ()), maxlen=0)
            yield from printed.lines
            return
        if self.view.step is None:  # the passes' lines alone: no step's numbers are needed
            yield from self.epoch_lines(events)
            return
        step: dict[str, Any] | None = None
        # (the network's state only where the step template names what it fills in)
        walked = (walk(self.header, events) if _named(self.view.step) & _FILLED_IN
                  else ((event, None) for event in events))
        for event, state in walked:
            if isinstance(event, ForwardEvent) and event.layer == 1:
                if step is not None:
                    yield from self.step_lines(step)
                step = {"epoch": event.epoch, "iteration": event.epoch + 1,
                        "samples": list(event.samples)}
                if state is not None:
                    step["weights"] = state.weights[-1]
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
            elif isinstance(event, UpdateEvent) and event.weights is not None and state is not None:
                if event.layer == self.last and event.weight_delta is not None:
                    step["weight_delta"] = np.array(event.weight_delta)
                    step["new_weights"] = state.weights[-1]
            elif isinstance(event, EpochEndEvent):
                if step:
                    yield from self.step_lines(step)
                step = None
                if self.view.epoch is not None and (event.epoch + 1) % self.view.every == 0:
                    yield self.fill(self.view.epoch, {
                        "error": event.error, "epoch": event.epoch, "iteration": event.epoch + 1})
        if step:
            yield from self.step_lines(step)

    def epoch_lines(self, events: Iterable[Event]) -> Iterator[str]:
        """The lines of the passes' ends (every event read, and so checked, all the same)."""
        template, every = self.view.epoch, self.view.every
        for event in _only(events, ("epoch_end",)):
            if event.kind == "epoch_end" and template is not None and (event.epoch + 1) % every == 0:
                yield self.fill(template, {"error": event.error, "epoch": event.epoch,
                                           "iteration": event.epoch + 1})

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



#: What a step's template may name that the network's state fills in (a step trace leaves
#: out the goal rows, the weights and the weight deltas).
_FILLED_IN = frozenset({"weights", "goal", "weight_delta", "new_weights"})


def _named(template: str) -> set[str]:
    """The names a template's fields start with (``{weights[0]}``, ``{error:.3f}``: weights, error)."""
    return {re.split(r"[.\[]", field, maxsplit=1)[0]
            for _, field, _, _ in string.Formatter().parse(template) if field}


def _only(events: Iterable[Event], kinds: tuple[str, ...]) -> Iterable[Event]:
    """The events of ``kinds`` a trace being read yields, each line still checked
    (:meth:`TraceReader.only`: the others' events are not made); other events as they are."""
    return events.only(kinds) if isinstance(events, TraceReader) else events


def _as_numpy_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_numpy_floats(item) for item in value]
    return np.float64(value)


def book_lines(header: Header, events: Iterable[Event]) -> Iterator[str]:
    """What the book's program printed, line by line (``print`` adds each newline); for a
    traced script, what it printed (``header.printed.cut()`` says what a trace left out)."""
    return BookPrintout(header).lines(events)
