"""A trace's events replayed into the network's state: what every reader shares.

:class:`NetworkState` walks the events in order from the header's initial weights and
keeps what the run had at each event: the weights (and, at an update, the weights
before it), each layer's latest output, each layer's latest delta. With it, each event
is made complete: the fields a ``step``-detail trace leaves out (see
:mod:`steptrace.trace.emitter`) are derived back with the engine's own functions
(:mod:`steptrace.engine.formulas`: ``weight_delta``, ``update``, ``back``)
in the trace's arithmetic, so an exact trace's derived numbers are the bits the run had.
Events that already carry a field keep it. ``show`` (every view), ``diff``, ``plot`` and
``html`` read traces through it; none of them keeps weights of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from steptrace.engine.arithmetic import ARITHMETIC
from steptrace.engine.formulas import back, update, weight_delta
from steptrace.engine.network import frozen_masks, training_data
from steptrace.engine.rules import Array
from steptrace.trace.events import DeltaEvent, ErrorEvent, Event, ForwardEvent, UpdateEvent, as_rows
from steptrace.trace.header import Header


class NetworkState:
    """The network as it was at the latest event given to :meth:`complete`."""

    def __init__(self, header: Header) -> None:
        config = header.config
        self.inputs, self.goals = training_data(config)
        #: weights[k] is weights_k_{k+1} now (after the latest update of it)
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        #: before[k]: weights_k_{k+1} before its latest update (the initial weights at first)
        self.before = list(self.weights)
        #: layer[k]: layer_k's latest output, layer[0] the latest step's input rows
        self.layer: dict[int, Array] = {}
        #: delta[k]: layer_k_delta, the latest
        self.delta: dict[int, Array] = {}
        self.dot = ARITHMETIC[config.arithmetic].dot
        self.ascent = config.ascent
        self.frozen = frozen_masks(config, [w.shape for w in self.weights])
        self.output = len(self.weights)

    def back(self, k: int) -> Array:
        """What layer k's delta comes back through: ``layer_{k+1}_delta · weights_k_{k+1}ᵀ``
        (before the derivative), with the weights the step had (its updates come later)."""
        with np.errstate(all="ignore"):  # (inf and NaN as the run had them, without a warning)
            return back(self.dot, self.delta[k + 1], self.weights[k])

    def complete(self, event: Event) -> Event:
        """``event`` with every derivable field filled in; the state moves past it."""
        rows = list(event.samples)
        if isinstance(event, ForwardEvent):
            k = event.layer
            if k == 1:
                self.layer[0] = (self.inputs[rows] if event.layer_in is None
                                 else np.array(event.layer_in, dtype=np.float64))
            self.layer[k] = np.array(event.layer_out, dtype=np.float64)
            if event.layer_in is None and k - 1 in self.layer:
                return event.model_copy(update={"layer_in": as_rows(self.layer[k - 1])})
        elif isinstance(event, ErrorEvent):
            update = {}
            if event.prediction is None and self.output in self.layer:
                update["prediction"] = as_rows(self.layer[self.output])
            if event.goal is None and self.goals is not None:
                update["goal"] = as_rows(self.goals[rows])
            return event.model_copy(update=update) if update else event
        elif isinstance(event, DeltaEvent):
            self.delta[event.layer] = np.array(event.delta, dtype=np.float64)
        elif isinstance(event, UpdateEvent):
            return self._update(event)
        return event

    def _update(self, event: UpdateEvent) -> Event:
        k = event.layer
        self.before[k - 1] = self.weights[k - 1]
        if event.weights is not None:  # an `all`-detail trace: take its numbers as they are
            self.weights[k - 1] = np.array(event.weights, dtype=np.float64)
            return event
        # (a run that diverged overflowed here too, as the run did, without a warning)
        with np.errstate(all="ignore"):
            if event.weight_delta is not None:
                change = np.array(event.weight_delta, dtype=np.float64)
            elif k - 1 in self.layer and k in self.delta:
                change = weight_delta(self.dot, self.layer[k - 1], self.delta[k])
            else:  # nothing to derive it from (a damaged or partial trace): leave it out
                return event
            self.weights[k - 1] = self.weights[k - 1].copy()  # (``before`` keeps the old one)
            update(self.weights[k - 1], change, event.alpha, self.ascent, self.frozen[k - 1])
        return event.model_copy(update={"weight_delta": as_rows(change),
                                        "weights": as_rows(self.weights[k - 1])})


def complete_events(header: Header, events: Iterable[Event]) -> Iterator[Event]:
    """The events with every derivable field filled in, in order."""
    state = NetworkState(header)
    for event in events:
        yield state.complete(event)


def walk(header: Header, events: Iterable[Event]) -> Iterator[tuple[Event, NetworkState]]:
    """Each event, complete, with the network's state just after it (the same object,
    moved on at each step: read it before asking for the next)."""
    state = NetworkState(header)
    for event in events:
        yield state.complete(event), state
