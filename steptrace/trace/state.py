"""Completing the events of a step-detail trace: what was left out, derived back.

A trace of ``step`` detail leaves out what its earlier lines determine (see
:mod:`steptrace.trace.events`). :func:`complete_events` walks the events in order, keeping the
network's state (the current weights, each layer's latest output, the latest deltas)
and fills every missing field with the engine's own functions
(:func:`steptrace.engine.network.gradient`, :func:`steptrace.engine.network.apply_update`) in the trace's
arithmetic mode, so an exact trace's derived numbers are the bits the run had. Events
that already carry a field keep it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from steptrace.engine.arithmetic import ARITHMETIC
from steptrace.engine.network import apply_update, frozen_masks, gradient, training_data
from steptrace.engine.rules import Array
from steptrace.trace.events import ErrorEvent, Event, ForwardEvent, UpdateEvent, as_matrix
from steptrace.trace.header import Header


class Completer:
    """The state needed to derive the fields a step-detail trace leaves out."""

    def __init__(self, header: Header) -> None:
        config = header.config
        self.inputs, self.goals = training_data(config)
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        self.dot = ARITHMETIC[config.arithmetic].dot
        self.ascent = config.delta == "goal - prediction"
        self.frozen = frozen_masks(config, [w.shape for w in self.weights])
        self.last = len(self.weights)
        self.layer: dict[int, Array] = {}
        self.delta: dict[int, Array] = {}

    def complete(self, event: Event) -> Event:
        rows = list(event.samples)
        if isinstance(event, ForwardEvent):
            k = event.layer
            if k == 1:
                self.layer[0] = self.inputs[rows]
            layer_in = event.layer_in
            self.layer[k] = np.array(event.layer_out, dtype=np.float64)
            if layer_in is None and k - 1 in self.layer:
                return event.model_copy(update={"layer_in": as_matrix(self.layer[k - 1])})
        elif isinstance(event, ErrorEvent):
            update = {}
            if event.prediction is None and self.last in self.layer:
                update["prediction"] = as_matrix(self.layer[self.last])
            if event.goal is None and self.goals is not None:
                update["goal"] = as_matrix(self.goals[rows])
            return event.model_copy(update=update) if update else event
        elif event.kind == "delta":
            self.delta[event.layer] = np.array(event.delta, dtype=np.float64)
        elif isinstance(event, UpdateEvent):
            return self.update(event)
        return event

    def update(self, event: UpdateEvent) -> Event:
        k = event.layer
        if event.weights is not None:  # a full trace: take its numbers as they are
            self.weights[k - 1] = np.array(event.weights, dtype=np.float64)
            return event
        if event.weight_delta is not None:
            weight_delta = np.array(event.weight_delta, dtype=np.float64)
        elif k - 1 in self.layer and k in self.delta:
            weight_delta = gradient(self.dot, self.layer[k - 1], self.delta[k])
        else:  # nothing to derive it from (a damaged or partial trace): leave it out
            return event
        apply_update(self.weights[k - 1], weight_delta, event.alpha, self.ascent,
                     self.frozen[k - 1])
        return event.model_copy(update={"weight_delta": as_matrix(weight_delta),
                                        "weights": as_matrix(self.weights[k - 1])})


def complete_events(header: Header, events: Iterable[Event]) -> Iterator[Event]:
    """The events with every derivable field filled in, in order."""
    completer = Completer(header)
    for event in events:
        yield completer.complete(event)
