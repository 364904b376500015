"""A learner's run written as an ordinary steptrace trace: their own numbers, every field.

The header holds the run as an experiment (:meth:`steptrace.learner.mapping.LearnerRun.config`:
the learner's data and initial weights, the inferred network, alpha and strategy, ``blas``
arithmetic), and what the script printed as it ran (:class:`~steptrace.trace.header.Printed`:
the trace's book view, where an experiment's trace has its config's templates). The events
hold what the learner's code computed — each layer, delta and updated weight matrix as their
script had it — at ``all`` detail, so that nothing is derived back from the book's rules
when the trace is read: where their code is wrong, ``show`` prints their wrong number beside
the operands that should have made another.
What the script did not compute under a book name (a weighted sum, a delta written inline,
a weight_delta) is the book's, from their values. A pass's error is their summed error
(``layer_2_error``) where they sum one.

``replay`` of such a trace re-runs its config with the engine and compares every event:
it matches only where the learner's code does what the book's does. What the script
printed is taken as recorded: replay runs the config again, not the script.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from steptrace.engine import formulas
from steptrace.engine.network import NOTHING, Network, Step
from steptrace.engine.rules import Array
from steptrace.learner.mapping import DOT, TOTAL, Key, LearnerRun, Moment, walk
from steptrace.learner.operands import Operands
from steptrace.plugins.registry import Registry
from steptrace.recording import header_for
from steptrace.trace.emitter import Emitter
from steptrace.trace.header import Printed
from steptrace.trace.writer import TraceWriter


def write(run: LearnerRun, name: str, registry: Registry, path: Path | IO[bytes]) -> int:
    """Write the learner's run to ``path`` (atomically), or to a binary stream, as a trace
    named ``name``; returns how many events it holds."""
    config = run.config(name)
    plan = registry.resolve(config)
    network = Network.from_config(config, plan)
    header = header_for(config, registry, network, "all", Printed.of(run.captured.stdout),
                        checkpoints=False)  # (its events are the script's: no checkpoints)
    writer = TraceWriter(path, header, [run.captured.script.path])
    with writer, np.errstate(all="ignore"):
        emitter = Emitter(config, plan, "all", writer.write)
        epoch: int | None = None
        error, summed = 0.0, None  # the pass's errors added up; the learner's own sum
        for pass_, samples, step, accumulated in steps(run):
            if pass_ != epoch:
                if epoch is not None:
                    emitter.pass_end(epoch, error if summed is None else summed)
                epoch, error, summed = pass_, 0.0, None
            error += step.error or 0.0
            summed = accumulated if accumulated is not None else summed
            emitter.step(pass_, samples, step)
        if epoch is not None:
            emitter.pass_end(epoch, error if summed is None else summed)
    return writer.events


def steps(run: LearnerRun) -> Iterator[tuple[int, tuple[int, ...], Step, float | None]]:
    """Each step of the run as the engine's :class:`Step` of the learner's values, with its
    pass, samples, and the learner's summed error after it (None if they sum none)."""
    values: dict[Key, Array] = {}
    first: Moment | None = None
    accumulated: float | None = None
    for moment in walk(run):
        if first is not None and moment.step is not first.step:
            yield _step(run, first, values, accumulated)
            values, accumulated = {}, None
        if first is None or moment.step is not first.step:
            first = moment
        role = moment.role
        op = Operands(run, moment)
        if role.kind == "weights":
            change = op.weight_delta(role.layer)
            if change is not None:
                values[("change", role.layer)] = change
        if role.kind == "accumulator" and moment.value.size == 1:
            accumulated = float(moment.value.reshape(()))
        values[(role.kind, role.layer)] = moment.value
    if first is not None:
        yield _step(run, first, values, accumulated)


def _step(run: LearnerRun, first: Moment, values: dict[Key, Array],
          accumulated: float | None) -> tuple[int, tuple[int, ...], Step, float | None]:
    """One step from what the learner assigned in it, the rest computed the book's way."""
    given, out = first.given, run.output
    start: dict[int, Array] = {}
    for k in range(1, out + 1):
        weights_k = first.at_start.get(k)
        assert weights_k is not None  # (mapping found every weight matrix's first value)
        start[k] = weights_k
    layer: list[Array] = [given.input]
    weighted: list[Array] = [NOTHING]
    for k in range(1, out + 1):
        act = run.nonlinearities[k - 1]
        weighted_sum, book_layer = formulas.forward(DOT, act.fast or act.function, layer[k - 1],
                                                    start[k])
        weighted.append(weighted_sum)
        layer.append(values.get(("layer", k), book_layer))
    goal = given.goal
    assert goal is not None
    error = values.get(("error", out))
    total = float(TOTAL(error)) if error is not None else formulas.error(TOTAL, layer[out], goal)
    derivative: list[Array | None] = [None] * (out + 1)
    delta: list[Array] = [NOTHING] * (out + 1)
    for k in range(out, 0, -1):
        act = run.nonlinearities[k - 1]
        derivative[k] = None if act.derivative_is_one else act.derivative(layer[k])
        if ("delta", k) in values:
            delta[k] = values[("delta", k)]
        elif k == out:
            delta[k] = formulas.output_delta(layer[out], goal, run.ascent, derivative[k])
            if run.delta_mean:
                delta[k] = formulas.batch_mean(delta[k], given.rows)
        else:
            delta[k] = formulas.hidden_delta(DOT, delta[k + 1], start[k + 1], derivative[k])
    changes: list[Array] = []
    weights: list[Array] = []
    for k in range(1, out + 1):
        change = values.get(("change", k))
        if change is None:
            change = formulas.summed_weight_delta(DOT, layer[k - 1], delta[k])
            if not run.delta_mean:
                change = formulas.batch_mean(change, given.rows)
        changes.append(np.asarray(change, dtype=np.float64))
        weights.append(values[("weights", k)])
    samples = tuple(range(given.offset, given.offset + given.rows))
    step = Step(layer, weighted, goal, total, derivative, delta, changes, tuple(weights))
    return first.step.epoch, samples, step, accumulated
