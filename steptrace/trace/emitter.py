"""Events at the edge: each step the engine computed, turned into the events of a trace.

:class:`Emitter` takes what :meth:`steptrace.engine.network.Network.train` hands on (each
:class:`~steptrace.engine.network.Step`, each pass's error) and makes the events a trace
of its :data:`~steptrace.trace.header.Detail` holds, numbered in order:

- ``step`` (the default): every event, without what earlier lines determine (a forward's
  ``layer_in``, an error's ``prediction`` and ``goal``, a gradient-descent update's
  ``weight_delta``, every update's ``weights``; :mod:`steptrace.trace.state` derives them
  back when the trace is read);
- ``all`` (``full``, its name before trace schema 3): every field of every event;
- ``epoch``: the passes' ``epoch_end`` events only, numbered from 0.

This is the only module that makes events from a run (:mod:`steptrace.trace.state`
derives back, when a trace is read, the fields a ``step`` trace leaves out); what each
detail level holds is :mod:`steptrace.trace.header`'s to say, beside the header's field.
It makes each event as a :data:`Record`, the plain dict its trace line is written from:
building a Pydantic model per event would cost more than the step it describes. Records
go from here to the trace writer, or to replay (which compares their bytes with the
recorded lines), through :mod:`steptrace.recording`, which hands them on; everyone else
(observers, :func:`steptrace.recording.run`) gets the typed event (:func:`typed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any, cast

import numpy as np
from pydantic_core import to_json as to_json_value

from steptrace.config import ExperimentConfig
from steptrace.engine.network import Step
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Array
from steptrace.matrices import PACK_ABOVE, json_ones, json_rows
from steptrace.trace.events import EVENT_CLASSES, MATRIX_FIELDS, Event, build, tuples
from steptrace.trace.header import Detail, holds_every_field, holds_passes_only, largest_event_matrix

Record = dict[str, Any]
"""An event as plain data, as its trace line holds it: the fields in the model's order
(``seq``, ``epoch``, ``samples``, ``layer``, ``kind``, then the kind's own), absent ones
left out, matrices as nested lists of floats (packed when large:
:func:`steptrace.matrices.json_rows`)."""


class Emitter:
    """Hands ``emit`` the record of every event a trace of ``detail`` holds, in order, as
    the network's steps (:meth:`step`) and passes (:meth:`pass_end`) come in."""

    def __init__(self, config: ExperimentConfig, plan: Plan, detail: Detail,
                 emit: Callable[[Record], None],
                 checkpoint: tuple[int, Callable[[], Sequence[Array]],
                                   Callable[[Record], None]] | None = None) -> None:
        self.emit = emit
        #: (K, the network's weights now, where a checkpoint's record goes): a checkpoint
        #: after every pass whose next is a multiple of K (and is run)
        self.checkpoint = checkpoint
        self.iterations = config.iterations
        self.seq = 0
        self.derived_left_out = not holds_every_field(detail)  # what earlier lines determine
        self.passes_only = holds_passes_only(detail)
        self.alpha = config.alpha
        self.output = len(config.layers) - 1  # the output layer's number
        self.nonlinearity = [""] + [act.name for act in plan.nonlinearities]  # by layer
        self.every_sample = tuple(chain.from_iterable(plan.batches))
        # update events name a strategy whose own rule moved the weights, with its details
        self.rule = plan.strategy.name if plan.strategy.own_rule else None
        # a matrix as its record holds it: rows of numbers, or packed when large (when no
        # matrix of this run can be, tolist straight away: it runs for every matrix)
        largest = largest_event_matrix(config.layers, max(map(len, plan.batches)))
        self.rows: Callable[[Array], Any] = (
            json_rows if largest > PACK_ABOVE else cast(Callable[[Array], Any], np.ndarray.tolist))

    def step(self, epoch: int, samples: tuple[int, ...], step: Step) -> None:
        """The events of one step: forward layer by layer, the error, the deltas and the
        updates from the output back."""
        if self.passes_only:
            return
        emit, seq, output, json_rows = self.emit, self.seq, self.output, self.rows
        lean = self.derived_left_out
        for k in range(1, output + 1):
            record = {"seq": seq, "epoch": epoch, "samples": samples, "layer": k,
                      "kind": "forward", "nonlinearity": self.nonlinearity[k]}
            if not lean:
                record["layer_in"] = json_rows(step.layer[k - 1])
            record["weighted_sum"] = json_rows(step.weighted_sum[k])
            record["layer_out"] = json_rows(step.layer[k])
            emit(record)
            seq += 1
        if step.error is not None:
            record = {"seq": seq, "epoch": epoch, "samples": samples, "layer": output,
                      "kind": "error"}
            if not lean:
                assert step.goal is not None  # (an error has a goal)
                record["prediction"] = json_rows(step.layer[output])
                record["goal"] = json_rows(step.goal)
            record["error"] = step.error
            emit(record)
            seq += 1
        for k in range(len(step.delta) - 1, 0, -1):  # (none when nothing back-propagated)
            derivative = step.derivative[k]
            emit({"seq": seq, "epoch": epoch, "samples": samples, "layer": k, "kind": "delta",
                  "nonlinearity": self.nonlinearity[k],
                  "derivative": (json_ones(step.layer[k].shape) if derivative is None
                                 else json_rows(derivative)),
                  "delta": json_rows(step.delta[k])})
            seq += 1
        for k in range(len(step.weights), 0, -1):  # (none when nothing was learned)
            record = {"seq": seq, "epoch": epoch, "samples": samples, "layer": k,
                      "kind": "update", "alpha": self.alpha}
            if not (lean and self.rule is None):  # gradient descent's follows from the deltas
                record["weight_delta"] = json_rows(step.weight_delta[k - 1])
            if not lean:
                record["weights"] = json_rows(step.weights[k - 1])
            if self.rule is not None:
                record["rule"] = self.rule
                record["details"] = dict(step.details)
            emit(record)
            seq += 1
        self.seq = seq

    def pass_end(self, epoch: int, error: float | None, test_error: float | None = None) -> None:
        """The ``epoch_end`` event of a pass: every sample, the summed error and, when the
        experiment has held-out rows, the error on them (at every detail: a held-out error
        is not derived from earlier lines)."""
        record: Record = {"seq": epoch if self.passes_only else self.seq, "epoch": epoch,
                          "samples": self.every_sample, "layer": self.output, "kind": "epoch_end"}
        if error is not None:
            record["error"] = error
        if test_error is not None:
            record["test_error"] = test_error
        self.emit(record)
        self.seq += 1
        if self.checkpoint is not None and (epoch + 1) % self.checkpoint[0] == 0 \
                and epoch + 1 < self.iterations:
            _, weights, emit = self.checkpoint
            emit({"kind": "checkpoint", "epoch": epoch + 1, "seq": self.seq,
                  "weights": [json_rows(w) for w in weights()]})


def typed(record: Record) -> Event:
    """The typed event of a record (its matrices become tuples)."""
    values = {name: tuples(value) if name in MATRIX_FIELDS else value for name, value in record.items()}
    values["samples"] = tuple(record["samples"])
    return build(EVENT_CLASSES[record["kind"]], values)  # type: ignore[return-value]


def record_json(record: Record) -> bytes:
    """A record as one line of JSON: byte for byte what
    :func:`steptrace.trace.events.to_json` makes of its event."""
    return to_json_value(record, inf_nan_mode="strings")
