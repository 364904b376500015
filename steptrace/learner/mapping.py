"""The network a learner's run describes: sizes, nonlinearities, alpha, strategy, data.

From the :mod:`~steptrace.learner.timeline` of a captured run:

- the **sizes** from the input's width and each weight matrix's shape (a matrix held as
  outputs × inputs, as chapter 5's lists of rows are, is read transposed; a square one is
  read the way its first forward step reproduces); a 1-D weights vector weighs one output
  (chapter 6's streetlights) or, for a single input, several (chapter 5);
- each layer's **nonlinearity**: the registered nonlinearity that maps the learner's own
  ``layer_{k-1} · weights`` to their ``layer_k`` at the most forward steps (linear first,
  then relu, on a tie: where every weighted sum is positive the two cannot be told apart);
- the **goal** of each step: the goal variable (``goal_pred``, ``true``) where one is
  assigned, else the rows of ``walk_vs_stop`` whose ``streetlights`` rows the step's input
  is (in the pass's order where they match);
- **alpha** (1 where none is assigned, as chapter 4's first cells), the delta's form
  (``prediction - goal``, or the book's ascent form ``goal - prediction`` with ``+=``), and
  the **strategy**: stochastic (one row a step), full (every row in one step) or
  mini-batch (n rows a step);
- the **data**: the rows the first pass was given, in order; with the initial weights
  (each weight matrix as first assigned), an experiment config (:meth:`LearnerRun.config`)
  that the engine can run — when the run is one (every pass given the same rows, alpha
  fixed, every weight layer updated once a step; :attr:`LearnerRun.unlike_a_run` says why
  not otherwise).

:func:`walk` goes through the run assignment by assignment with the learner's own values
just before each, fitted to the network's shapes: what the lockstep check
(:mod:`steptrace.learner.check`) and the trace (:mod:`steptrace.learner.as_trace`) read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from steptrace.config import NAME_PATTERN, ExperimentConfig
from steptrace.defaults import INFER_ATOL, INFER_RTOL
from steptrace.engine import formulas
from steptrace.engine.arithmetic import ARITHMETIC
from steptrace.engine.rules import Array, Nonlinearity
from steptrace.learner.names import Role
from steptrace.learner.runner import Assignment, Captured, ScriptError
from steptrace.learner.timeline import ScriptStep, Timeline, build
from steptrace.matrices import Matrix
from steptrace.plugins.registry import Registry
from steptrace.trace.header import TRACED_FROM

Key = tuple[str, int]  # (kind, layer) of a role
#: The tolerance that decides which nonlinearity and which delta form a run uses.
INFER = {"rtol": INFER_RTOL, "atol": INFER_ATOL}
#: The order in which nonlinearities are preferred when several reproduce a layer.
PREFERRED = ("linear", "relu", "sigmoid", "tanh")
DOT = ARITHMETIC["blas"].dot  # the learner uses np.dot
TOTAL = ARITHMETIC["blas"].total


def close(a: Array, b: Array, rtol: float = INFER["rtol"], atol: float = INFER["atol"]) -> bool:
    """Whether two values agree: the same shape, each number within the tolerance
    (numpy's ``isclose``; NaN agrees with NaN)."""
    return a.shape == b.shape and bool(np.all(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)))


def fit(value: Array, like: Array) -> Array:
    """``value`` in ``like``'s shape when it is a number or a list (0-d or 1-D) holding as
    many numbers as ``like``'s row or column (the same thing written another way); as it is
    otherwise (a 2-D column where the book has a row is a transpose too many)."""
    def vector(a: Array) -> bool:
        return sum(int(n) > 1 for n in a.shape) <= 1

    if (value.shape != like.shape and value.size == like.size and vector(value) and vector(like)
            and min(value.ndim, like.ndim) < 2):  # (a column for a row is numpy's mistake too)
        return value.reshape(like.shape)
    return value


@dataclass(frozen=True)
class Shape:
    """The network's layer sizes, and which weight matrices the script holds transposed."""

    sizes: tuple[int, ...]
    transposed: tuple[bool, ...]  # per weight layer (index k - 1): outputs × inputs

    def fit(self, role: Role, value: Array, rows: int) -> Array:
        """``value`` in the engine's shape for its role: rows × units for a layer, a delta or
        a goal; inputs × outputs for weights and weight_deltas; as it is otherwise (a number,
        or one that does not fit: its comparison says so)."""
        kind, k = role.kind, role.layer
        if kind in ("input", "layer", "delta", "goal"):
            units = self.sizes[0 if kind == "input" else len(self.sizes) - 1 if kind == "goal" else k]
            if value.ndim == 2:
                return value
            if value.size == rows * units:
                return value.reshape(rows, units)
            return value.reshape(1, -1)
        if kind in ("weights", "weight_delta"):
            shape = (self.sizes[k - 1], self.sizes[k])
            if value.ndim == 2 and self.transposed[k - 1] and value.shape == shape[::-1]:
                return value.T
            if value.shape == shape:
                return value
            if value.ndim < 2 and value.size == shape[0] * shape[1]:
                return value.reshape(shape)
            return value
        return value


@dataclass(frozen=True)
class Given:
    """What a step was given: its rows (how many, and where in the pass) and its goal."""

    rows: int
    offset: int  # its first sample's place in the pass
    input: Array  # the learner's input rows, fitted
    goal: Array | None  # the goal it was held to (None: there is no telling)
    goal_label: str  # how the formula names it: goal_pred, walk_vs_stop[2]
    in_order: Array | None = None  # the dataset's goal rows for this place of the pass


@dataclass(frozen=True)
class LearnerRun:
    """A captured run, understood: the network, each step's rows and goals, the data.
    Built once (:func:`understand`), never changed after."""

    timeline: Timeline
    shape: Shape
    nonlinearities: tuple[Nonlinearity, ...]
    alpha: float
    ascent: bool  # the book's ascent form: delta = goal - prediction, weights +=
    delta_mean: bool  # chapter 8's batch mean taken in the output delta (the update sums)
    strategy: str  # stochastic, full or minibatch
    batch_size: int
    initial_weights: list[Array]
    given: dict[int, Given]  # by step number
    inputs: Array  # the first pass's rows
    goals: Array
    frozen: tuple[tuple[int, int, int], ...] = ()
    #: why the run is not one an experiment config can describe (None: it is)
    unlike_a_run: str | None = None
    names: dict[Key, str] = field(default_factory=dict)
    #: every nonlinearity the loaded plugins offer (a mistake may use another's derivative)
    registered: tuple[Nonlinearity, ...] = ()
    #: how many steps each pass holds
    pass_lengths: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def captured(self) -> Captured:
        return self.timeline.captured

    @property
    def output(self) -> int:
        return self.timeline.output

    def pass_length(self, epoch: int) -> int:
        """How many steps the pass ``epoch`` holds."""
        return self.pass_lengths.get(epoch, 0)

    def name(self, kind: str, layer: int = 0) -> str:
        """The learner's name for a role, or the book's where the script has none."""
        found = self.names.get((kind, layer))
        if found is not None:
            return found
        if self.timeline.numbered:
            return {"input": "layer_0", "layer": f"layer_{layer}", "delta": f"layer_{layer}_delta",
                    "weights": f"weights_{layer - 1}_{layer}", "alpha": "alpha",
                    "weight_delta": f"layer_{layer - 1}.T.dot(layer_{layer}_delta)",
                    "error": "error", "accumulator": f"layer_{layer}_error"}.get(kind, kind)
        return {"input": "input", "layer": "prediction", "delta": "delta", "weights": "weights",
                "alpha": "alpha", "weight_delta": "weight_delta", "error": "error",
                "accumulator": "error_for_all_lights"}.get(kind, kind)

    def config(self, name: str) -> ExperimentConfig:
        """The run as an experiment (``blas`` arithmetic: the learner's np.dot); BadInput
        saying why when the run is not one (:attr:`unlike_a_run`)."""
        if self.unlike_a_run is not None:
            raise ScriptError(f"{self.captured.script.label}: {self.unlike_a_run}, which a "
                              "trace cannot describe (steptrace check still checks it)")
        strategy: dict[str, object] = {"name": self.strategy}
        if self.strategy == "minibatch":
            strategy["batch_size"] = self.batch_size
        inputs = self.names.get(("inputs", 0)) or self.names.get(("input", 0)) or "inputs"
        goals = self.names.get(("goals", 0)) or self.names.get(("goal", 0)) or "goals"
        return ExperimentConfig.model_validate({
            "name": name, "title": f"{self.captured.script.path.name}, traced",
            "source": self.captured.script.label.join(TRACED_FROM),
            "layers": list(self.shape.sizes),
            "nonlinearities": [n.name for n in self.nonlinearities],
            "weights": [Matrix(w) for w in self.initial_weights],
            "alpha": self.alpha, "iterations": self.timeline.passes, "arithmetic": "blas",
            "frozen": [list(f) for f in self.frozen],
            "delta": "goal - prediction" if self.ascent else "prediction - goal",
            "input_name": inputs if re.fullmatch(r"[A-Za-z_]\w*", inputs) else "inputs",
            "goal_name": goals if re.fullmatch(r"[A-Za-z_]\w*", goals) else "goals",
            "inputs": Matrix(self.inputs), "goals": Matrix(self.goals), "strategy": strategy})


def trace_name(stem: str) -> str:
    """A script's file name as an experiment's name (``my backprop`` -> ``my_backprop``)."""
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip(".") or "script"
    name = name[:100]
    return name if re.fullmatch(NAME_PATTERN, name) else "script"


@dataclass
class Moment:
    """One assignment of a step, with the learner's values just before it (fitted): what
    the check and the trace read. ``before`` and ``at_start`` are live: read them now."""

    assignment: Assignment
    role: Role
    step: ScriptStep
    given: Given
    value: Array  # the assignment's value, fitted
    before: dict[Key, Array]  # each role's latest value, before this assignment
    at_start: dict[int, Array]  # each weight layer as the step began
    earlier: dict[Key, Assignment]  # what this step assigned before, by role


def walk(run: LearnerRun) -> Iterator[Moment]:
    """Every assignment that belongs to a step, in order, with the values before it."""
    yield from _walk(run.timeline, run.shape, run.given)


def _walk(timeline: Timeline, shape: Shape, given: dict[int, Given]) -> Iterator[Moment]:
    latest: dict[Key, Array] = {}
    at_start: dict[int, Array] = {}
    earlier: dict[Key, Assignment] = {}
    current: ScriptStep | None = None
    for assignment, role in zip(timeline.assignments, timeline.roles, strict=True):
        if role is None:
            continue
        step = timeline.step_of.get(assignment.index)
        if step is not None and step is not current:
            current = step
            at_start = {k: w for (kind, k), w in latest.items() if kind == "weights"}
            earlier = {}
        rows = given[step.number].rows if step is not None and step.number in given else 1
        value = shape.fit(role, assignment.value, rows)
        key = (role.kind, role.layer)
        if step is not None and step.number in given:
            yield Moment(assignment, role, step, given[step.number], value, latest, at_start, earlier)
            earlier[key] = assignment
        latest[key] = value


def understand(captured: Captured, registry: Registry) -> LearnerRun:
    """The network and data of a captured run (ScriptError when it makes no step the book
    would recognise)."""
    with np.errstate(all="ignore"):  # a run that diverged holds inf and NaN: no warnings
        return _understand(captured, registry)


def _understand(captured: Captured, registry: Registry) -> LearnerRun:
    timeline = build(captured)
    label = captured.script.label
    if not timeline.steps:
        found = sorted({a.name for a in timeline.assignments})
        raise ScriptError(f"{label}: the script assigns {', '.join(found)}, but makes no step of "
                          "the book's: no forward pass (layer_1 = ..., prediction = ...) was found")
    names: dict[Key, str] = {}
    for assignment, role in zip(timeline.assignments, timeline.roles, strict=True):
        if role is not None:
            names.setdefault((role.kind, role.layer), assignment.name)
    shape, initial = _shape(timeline, names, label)
    given = _given(timeline, shape, names, label)
    nonlinearities = _nonlinearities(timeline, shape, given, registry)
    ascent, delta_mean = _delta_form(timeline, shape, given, nonlinearities)
    strategy, batch_size = _strategy(timeline, given)
    inputs, goals = _data(timeline, given)
    lengths: dict[int, int] = {}
    for step in timeline.steps:
        lengths[step.epoch] = lengths.get(step.epoch, 0) + 1
    run = LearnerRun(timeline, shape, nonlinearities, _alpha(timeline), ascent, delta_mean,
                     strategy, batch_size, initial, given, inputs, goals,
                     _frozen(timeline, shape), names=names, pass_lengths=lengths,
                     registered=tuple(p.rule for p in registry.nonlinearities.values()))
    return replace(run, unlike_a_run=_unlike_a_run(run))


def _shape(timeline: Timeline, names: dict[Key, str], label: str) -> tuple[Shape, list[Array]]:
    """The layer sizes, the transposed weight matrices and the initial weights."""
    first_input = timeline.first("input")
    if first_input is None:
        raise ScriptError(f"{label}: the script never assigns its input ("
                          f"{'layer_0' if timeline.numbered else 'input'} = ...): steptrace "
                          "follows the book's names")
    value = first_input.value
    sizes = [1 if value.ndim == 0 else value.shape[-1]]
    transposed: list[bool] = []
    initial: list[Array] = []
    for k in range(1, timeline.output + 1):
        weights = timeline.first("weights", k)
        if weights is None:
            wanted = f"weights_{k - 1}_{k}" if timeline.numbered else "weights"
            raise ScriptError(f"{label}: the script never assigns {wanted}: steptrace follows "
                              "the book's names")
        w, n_in = weights.value, sizes[-1]
        if w.ndim == 2 and w.shape[0] == n_in:
            n_out, flip = w.shape[1], False
        elif w.ndim == 2 and w.shape[1] == n_in:
            n_out, flip = w.shape[0], True
        elif w.ndim < 2 and w.size % n_in == 0:
            n_out, flip = w.size // n_in, False
        else:
            at = timeline.captured.script.at(weights.line)
            raise ScriptError(f"{at}: {weights.name} has shape {w.shape}, which "
                              f"does not take the {n_in} number(s) of "
                              f"{names.get(('input', 0)) if k == 1 else names.get(('layer', k - 1))}")
        sizes.append(n_out)
        transposed.append(flip)
    shape = Shape(tuple(sizes), tuple(transposed))
    shape = _square_orientation(timeline, shape)
    for k in range(1, timeline.output + 1):
        first = timeline.first("weights", k)
        assert first is not None  # (checked above)
        initial.append(shape.fit(Role("weights", k, timeline.numbered), first.value, 1).copy())
    return shape, initial


def _square_orientation(timeline: Timeline, shape: Shape) -> Shape:
    """A square weight matrix is read transposed when the first forward step it makes is
    reproduced only so (chapter 5's rows-per-output lists of a 3 × 3 network)."""
    flips = list(shape.transposed)
    for k in range(1, len(shape.sizes)):
        if shape.sizes[k - 1] != shape.sizes[k]:
            continue
        latest: dict[Key, Array] = {}
        for assignment, role in zip(timeline.assignments, timeline.roles, strict=True):
            if role is None:
                continue
            if role.kind == "layer" and role.layer == k and ("weights", k) in latest:
                x = latest.get(("input", 0) if k == 1 else ("layer", k - 1))
                if x is not None:
                    w, out = latest[("weights", k)], assignment.value.reshape(1, -1)
                    x = x.reshape(1, -1) if x.ndim < 2 else x
                    straight = _reproduces(DOT(x, w), out)
                    turned = _reproduces(DOT(x, w.T), out)
                    flips[k - 1] = turned and not straight
                break
            latest[(role.kind, role.layer)] = assignment.value
    return Shape(shape.sizes, tuple(flips))


def _reproduces(weighted_sum: Array, layer: Array) -> bool:
    """Whether some common nonlinearity maps ``weighted_sum`` to ``layer`` (for the shape)."""
    if weighted_sum.size != layer.size:
        return False
    weighted_sum = weighted_sum.reshape(layer.shape)
    return any(close(f, layer) for f in (weighted_sum, (weighted_sum > 0) * weighted_sum))


def _given(timeline: Timeline, shape: Shape, names: dict[Key, str], label: str) -> dict[int, Given]:
    """Each step's rows, place in its pass, input and goal."""
    given: dict[int, Given] = {}
    latest: dict[Key, Array] = {}
    data_in, data_goal = None, None
    steps = iter(timeline.steps)
    step = next(steps, None)
    offset = {"epoch": -1, "next": 0}
    goal_name = names.get(("goals", 0), "goals")
    for assignment, role in zip(timeline.assignments, timeline.roles, strict=True):
        if role is not None:
            latest[(role.kind, role.layer)] = assignment.value
        while step is not None and assignment.index >= _decided(timeline, step):
            if offset["epoch"] != step.epoch:
                offset["epoch"], offset["next"] = step.epoch, 0
            x = latest.get(("input", 0))
            assert x is not None  # (a step has an input: _shape checked one is assigned)
            rows = x.shape[0] if x.ndim == 2 else 1
            if rows == 0:  # a batch sliced past the data's end: the book never makes one
                at = timeline.captured.script.at(timeline.assignments[step.first].line)
                raise ScriptError(f"{at}: this step's {names.get(('input', 0), 'input')}"
                                  " has no rows (an empty batch: does the loop run past the end "
                                  "of the data?)")
            fitted = shape.fit(Role("input", 0, False), x, rows)
            start = offset["next"]
            offset["next"] += rows
            if data_in is None and ("inputs", 0) in latest:
                data_in = _as_rows(latest[("inputs", 0)], shape.sizes[0])
            if data_goal is None and ("goals", 0) in latest:
                data_goal = _as_rows(latest[("goals", 0)], shape.sizes[-1])
            in_order = (data_goal[start:start + rows] if data_goal is not None
                        and start + rows <= len(data_goal) else None)
            goal, goal_label = None, ""
            if ("goal", 0) in latest:
                goal = shape.fit(Role("goal", 0, False), latest[("goal", 0)], rows)
                goal_label = names[("goal", 0)]
            elif data_goal is not None:
                where = rows_in(fitted, data_in, start) if data_in is not None else None
                if where is None and data_in is None and len(data_goal) == rows:
                    where = list(range(rows))  # no inputs dataset: the goals for every row
                if where is not None:
                    goal = data_goal[where]
                    goal_label = (f"{goal_name}[{where[0]}]" if rows == 1 else
                                  f"{goal_name}[{where[0]}:{where[-1] + 1}]"
                                  if where == list(range(where[0], where[-1] + 1)) else
                                  f"{goal_name}[{where}]")
            given[step.number] = Given(rows, start, fitted, goal, goal_label, in_order)
            step = next(steps, None)
    missing = [s for s in timeline.steps if given[s.number].goal is None]
    if missing:
        first = timeline.assignments[missing[0].first]
        at = timeline.captured.script.at(first.line)
        raise ScriptError(f"{at}: no goal for this step: steptrace looks for "
                          "goal_pred / goal_prediction / true, or the rows of walk_vs_stop that go "
                          f"with the rows of streetlights the step's {first.name} is")
    return given


def _decided(timeline: Timeline, step: ScriptStep) -> int:
    """The index by which a step's input and goal are set: its first error, delta or update
    (the goal may be assigned after the prediction), else its last assignment."""
    for i in step.members:
        role = timeline.roles[i]
        if role is not None and role.kind in ("error", "accumulator", "delta", "weight_delta", "weights"):
            return i
    return step.members[-1]


def _as_rows(value: Array, units: int) -> Array:
    if value.ndim == 2:
        return value
    if value.ndim == 1 and units == 1:
        return value.reshape(-1, 1)
    return value.reshape(-1, units) if value.size % units == 0 else value.reshape(1, -1)


def rows_in(rows: Array, data: Array, start: int) -> list[int] | None:
    """Where ``rows`` are in ``data``: at ``start`` if they are there, else the first place
    that holds them (each row on its own if no run of rows does); None if a row is not."""
    n = len(rows)
    if rows.shape[1:] != data.shape[1:]:
        return None
    if start + n <= len(data) and np.array_equal(data[start:start + n], rows):
        return list(range(start, start + n))
    for j in range(len(data) - n + 1):
        if np.array_equal(data[j:j + n], rows):
            return list(range(j, j + n))
    found = []
    for row in rows:
        matches = np.flatnonzero((data == row).all(axis=1))
        if len(matches) == 0:
            return None
        found.append(int(matches[0]))
    return found


def _nonlinearities(timeline: Timeline, shape: Shape, given: dict[int, Given],
                    registry: Registry) -> tuple[Nonlinearity, ...]:
    """Each layer's nonlinearity: the one that reproduces most of its forward steps."""
    candidates = sorted(registry.nonlinearities.values(),
                        key=lambda p: (PREFERRED.index(p.rule.name) if p.rule.name in PREFERRED
                                       else len(PREFERRED), p.rule.name))
    counts = [dict.fromkeys((p.rule.name for p in candidates), 0) for _ in shape.sizes[1:]]
    seen = [0] * (len(shape.sizes) - 1)
    for moment in _walk(timeline, shape, given):
        k = moment.role.layer
        if moment.role.kind != "layer" or seen[k - 1] >= 100:
            continue
        x = moment.before.get(("input", 0) if k == 1 else ("layer", k - 1))
        w = moment.before.get(("weights", k))
        if x is None or w is None:
            continue
        try:
            weighted_sum = DOT(x, w)
        except ValueError:
            continue
        seen[k - 1] += 1
        for provided in candidates:
            act = provided.rule
            if close((act.fast or act.function)(weighted_sum), moment.value):
                counts[k - 1][act.name] += 1
    chosen = []
    for k, count in enumerate(counts, start=1):
        best = max(count.values(), default=0)
        default = "relu" if k < len(counts) else "linear"
        name = next((n for n, c in count.items() if c == best), default) if best else default
        chosen.append(registry.nonlinearity(name))
    return tuple(chosen)


def _alpha(timeline: Timeline) -> float:
    """alpha as the first update found it (1, as chapter 4's first cells, with none)."""
    alpha = 1.0
    for assignment, role in zip(timeline.assignments, timeline.roles, strict=True):
        if role is None:
            continue
        if role.kind == "alpha" and assignment.value.size == 1:
            alpha = float(assignment.value.reshape(()))
        if role.kind == "weights" and assignment.index in timeline.step_of:
            break
    return alpha


def _delta_form(timeline: Timeline, shape: Shape, given: dict[int, Given],
                nonlinearities: tuple[Nonlinearity, ...]) -> tuple[bool, bool]:
    """The run's output delta: whether it is the book's ascent form (``goal - prediction``,
    with ``+=``), and whether a batch's mean is taken in it (chapter 8's ``(layer_2 -
    goal) / batch_size``, the update then summing). From the first output delta of the run
    (and of a batch step); without a delta, whether the first update of the output weights
    adds."""
    output, act = timeline.output, nonlinearities[-1]
    for moment in _walk(timeline, shape, given):
        role, goal = moment.role, moment.given.goal
        prediction = moment.before.get(("layer", output))
        if goal is None or prediction is None or role.layer != output:
            continue
        deriv = None if act.derivative_is_one else act.derivative(prediction)
        try:
            if role.kind == "delta":
                rows = moment.given.rows
                for ascent in (False, True):
                    value = formulas.output_delta(prediction, goal, ascent, deriv)
                    if close(value, moment.value):
                        return ascent, False
                    if rows > 1 and close(formulas.batch_mean(value, rows), moment.value):
                        return ascent, True
                return False, False
            if role.kind == "weights":
                w = moment.before.get(("weights", output))
                x = moment.before.get(("layer", output - 1) if output > 1 else ("input", 0))
                if w is None or x is None:
                    return False, False
                descent = formulas.summed_weight_delta(
                    DOT, x, formulas.output_delta(prediction, goal, False, deriv))
                return bool(np.sum((moment.value - w) * descent) > 0), False  # moved with it: adds
        except ValueError:  # shapes that do not fit: the check will say where
            return False, False
    return False, False


def _strategy(timeline: Timeline, given: dict[int, Given]) -> tuple[str, int]:
    """stochastic, full or minibatch (and its batch size), from the steps' rows."""
    first_pass = [given[s.number].rows for s in timeline.steps if s.epoch == 0]
    if all(rows == 1 for rows in first_pass):
        return "stochastic", 1
    if len(first_pass) == 1:
        return "full", first_pass[0]
    return "minibatch", first_pass[0]


def _data(timeline: Timeline, given: dict[int, Given]) -> tuple[Array, Array]:
    """The rows the first pass was given, and their goals."""
    first_pass = [given[s.number] for s in timeline.steps if s.epoch == 0]
    goals = [g.goal for g in first_pass if g.goal is not None]
    return np.vstack([g.input for g in first_pass]), np.vstack(goals)


def _frozen(timeline: Timeline, shape: Shape) -> tuple[tuple[int, int, int], ...]:
    """The weights whose weight_delta the learner sets to 0 after computing it (the book's
    ``weight_deltas[0] = 0``), in every step."""
    frozen: set[tuple[int, int, int]] | None = None
    for step in timeline.steps:
        zeroed: set[tuple[int, int, int]] = set()
        seen: dict[int, Array] = {}
        for i in step.members:
            role = timeline.roles[i]
            if role is None or role.kind != "weight_delta":
                continue
            value = shape.fit(role, timeline.assignments[i].value, 1)
            old = seen.get(role.layer)
            if old is not None and old.shape == value.shape:
                changed = (old != value) & (value == 0)
                zeroed.update((role.layer - 1, int(a), int(b)) for a, b in np.argwhere(changed))
            seen[role.layer] = value
        frozen = zeroed if frozen is None else frozen & zeroed
    return tuple(sorted(frozen or ()))


def _unlike_a_run(run: LearnerRun) -> str | None:
    """Why the engine could not run this as an experiment, if it could not."""
    timeline, given = run.timeline, run.given
    rows_of_pass: dict[int, list[tuple[int, bytes, bytes]]] = {}
    for step in timeline.steps:
        g = given[step.number]
        goal = b"" if g.goal is None else g.goal.tobytes()
        rows_of_pass.setdefault(step.epoch, []).append((g.rows, g.input.tobytes(), goal))
        updated = {timeline.roles[i].layer for i in step.members  # type: ignore[union-attr]
                   if timeline.roles[i] is not None and timeline.roles[i].kind == "weights"}  # type: ignore[union-attr]
        if updated != set(range(1, run.output + 1)):
            missing = sorted(set(range(1, run.output + 1)) - updated)
            return (f"step {step.number} (pass {step.epoch}) updates no "
                    f"{', '.join(run.name('weights', k) for k in missing)}")
    first = rows_of_pass[0]
    for epoch, rows in rows_of_pass.items():
        if rows != first:
            return f"pass {epoch} is given other rows (or goals) than pass 0"
    begins = timeline.steps[0].first
    alphas = {float(a.value.reshape(())) for a, r in zip(timeline.assignments, timeline.roles, strict=True)
              if r is not None and r.kind == "alpha" and a.value.size == 1 and a.index > begins}
    if alphas - {run.alpha}:
        return "alpha changes during the run"
    if run.strategy == "minibatch":
        sizes = [given[s.number].rows for s in timeline.steps if s.epoch == 0]
        if any(size != run.batch_size for size in sizes[:-1]) or sizes[-1] > run.batch_size:
            return f"its batches are of {sizes} rows, not of one size"
    return None
