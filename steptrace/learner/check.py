"""The learner's run checked in lockstep with the book's rules, to the first disagreement.

Each assignment a step makes is recomputed with the book's rule *from the learner's own
values just before it* (:mod:`steptrace.learner.operands`), so one early slip does not
drown every later step: ``layer_1 = relu(layer_0 · weights_0_1)`` with their ``layer_0``
and ``weights_0_1`` at that moment; the deltas from their ``layer_2``, goal and weights
(a hidden delta with the weights as the step began); an update ``weights -= alpha ·
layer_inᵀ · delta`` from their values (or their own weight_delta). Numbers agree within a
tolerance (default ``rtol 1e-9, atol 1e-12``: the learner's ``np.dot`` and steptrace's
may add in different orders). The first assignment that disagrees is reported with the
formula, the learner's operands plugged in, the value they give, and the likely mistake
(:mod:`steptrace.learner.mistakes`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from steptrace.engine.rules import Array
from steptrace.learner.mapping import DOT, LearnerRun, Moment, close, fit, walk
from steptrace.learner.mistakes import MISSING_UPDATE, Found, diagnose
from steptrace.learner.operands import Operands
from steptrace.views.text import matrix, number

#: The default tolerance: numbers agree when |a - b| <= atol + rtol * |b|.
RTOL, ATOL = 1e-9, 1e-12
DIGITS = 4  # as steptrace show rounds


def shown(value: Array | float, digits: int | None = DIGITS) -> str:
    """A value as the report prints it: a number, or rows of numbers (4 significant digits)."""
    array = np.asarray(value, dtype=np.float64)
    if array.size == 1:
        return number(float(array.reshape(())), digits)
    rows = array.reshape(1, -1) if array.ndim < 2 else array
    return matrix(tuple(map(tuple, rows.tolist())), digits)


@dataclass(frozen=True)
class Expected:
    """What the book's rule gives for an assignment: the formula in the learner's names,
    the same with their numbers plugged in (written when asked for: a 784 × 40 matrix takes
    a while to print, and agreeing steps never print theirs), and its value."""

    formula: str
    numbers: Callable[[], str]
    value: Array

    @property
    def plugged(self) -> str:
        return self.numbers()


@dataclass(frozen=True)
class Divergence:
    """The first assignment that disagrees with the book's rule."""

    epoch: int
    samples: tuple[int, ...]
    step: int  # the step's number in the run, from 0
    kind: str  # forward, error, delta, update (or weight_delta, accumulator)
    layer: int
    variable: str
    line: int
    statement: str  # the script's statement, as written
    value: Array  # the learner's
    expected: Expected
    mistake: Found | None
    note: str | None = None  # what else the reader should know (what was not the book's)


@dataclass(frozen=True)
class Lockstep:
    """What the check found: how many assignments (and whole steps) agreed, and the first
    that did not."""

    checked: int
    steps: int
    divergence: Divergence | None


KIND = {"layer": "forward", "error": "error", "accumulator": "error", "delta": "delta",
        "weight_delta": "update", "weights": "update"}


def check(run: LearnerRun, rtol: float = RTOL, atol: float = ATOL) -> Lockstep:
    """Recompute every assignment of every step from the learner's values before it; and
    every step must update each weight layer the run updates at all (the book updates after
    every step: one that skips some, an ``if i % 2 == 0:`` around the update, departs)."""
    checked = steps_done = 0
    current = -1
    trained = {role.layer for role in run.timeline.roles
               if role is not None and role.kind == "weights" and _updates(run, role.layer)}
    updated: set[int] = set()
    last: Moment | None = None
    for moment in walk(run):
        if moment.step.number != current:
            if last is not None and (missing := trained - updated):
                return Lockstep(checked, steps_done, _no_update(run, last, min(missing)))
            steps_done += current >= 0
            current = moment.step.number
            updated = set()
        last = moment
        if moment.role.kind == "weights":
            updated.add(moment.role.layer)
        operands = Operands(run, moment)
        expected = book(operands)
        if expected is None:
            continue
        checked += 1
        if close(fit(moment.value, expected.value), expected.value, rtol, atol):
            continue
        step, assignment, role = moment.step, moment.assignment, moment.role
        samples = tuple(range(moment.given.offset, moment.given.offset + moment.given.rows))
        return Lockstep(checked, steps_done, Divergence(
            step.epoch, samples, step.number, KIND[role.kind], role.layer, assignment.name,
            assignment.line, run.captured.script.statement(assignment.line),
            fit(moment.value, expected.value), expected,
            diagnose(operands, fit(moment.value, expected.value), rtol, atol), _note(operands)))
    if last is not None and (missing := trained - updated):
        return Lockstep(checked, steps_done, _no_update(run, last, min(missing)))
    return Lockstep(checked, steps_done + (current >= 0), None)


def _updates(run: LearnerRun, k: int) -> bool:
    """Whether the run changes weight layer k after its first assignment (an update)."""
    seen = [a for a, role in zip(run.timeline.assignments, run.timeline.roles, strict=True)
            if role is not None and role.kind == "weights" and role.layer == k]
    return len(seen) > 1


def _no_update(run: LearnerRun, last: Moment, k: int) -> Divergence:
    """A step that leaves weight layer k as it was, where the book updates it."""
    operands = Operands(run, last)
    weights = operands.weights(k)
    value = weights if weights is not None else np.zeros((0, 0))
    expected = None
    with np.errstate(all="ignore"), contextlib.suppress(ValueError, AssertionError):
        expected = update(operands, k)
    name = operands.name("weights", k)
    if expected is None:
        expected = Expected(f"{name} {'+=' if run.ascent else '-='} alpha · …",
                            lambda: "(its operands are not in this step)", value)
    given = last.given
    samples = tuple(range(given.offset, given.offset + given.rows))
    found = Found(MISSING_UPDATE, f"this step ({describe_moment(last)}) leaves {name} as it "
                  "was; the book updates the weights after every step (an update inside an if, "
                  "or a loop that skips samples?)")
    return Divergence(last.step.epoch, samples, last.step.number, "update", k, name,
                      last.assignment.line, run.captured.script.statement(last.assignment.line),
                      value, expected, found)


def _note(op: Operands) -> str | None:
    """An update made with no delta or weight_delta in its step is not gradient descent."""
    role = op.moment.role
    if role.kind == "weights" and not (op.assigned("delta", role.layer)
                                        or op.assigned("weight_delta", role.layer)):
        return (f"this step assigns no delta or weight_delta for {op.name('weights', role.layer)}: "
                "steptrace checks gradient descent (weights move by alpha · inputᵀ · delta); "
                "chapter 4's hot and cold learning, which moves them by a fixed step_amount, is "
                "another rule")
    return None


def book(op: Operands) -> Expected | None:
    """The book's rule for the assignment at ``op.moment``, with the learner's operands;
    None where there is no rule to check (an input) or nothing to compute it from."""
    role = op.moment.role
    try:
        with np.errstate(all="ignore"):
            if role.kind == "layer":
                return forward(op, role.layer)
            if role.kind == "error":
                return error(op)
            if role.kind == "accumulator":
                return accumulated(op)
            if role.kind == "delta":
                return delta(op, role.layer)
            if role.kind == "weight_delta":
                return weight_delta(op, role.layer)
            if role.kind == "weights":
                return update(op, role.layer)
    except ValueError:  # the learner's operands do not fit together: no rule to apply
        return None
    return None


def forward(op: Operands, k: int) -> Expected | None:
    x, w = op.layer(k - 1), op.weights(k)
    if x is None or w is None:
        return None
    act = op.act(k)
    weighted = DOT(x, w)
    value = (act.fast or act.function)(weighted)
    names = f"{op.layer_name(k - 1)} · {op.name('weights', k)}"
    def numbers() -> str:
        return f"{shown(x)} · {shown(w)}"

    if act.derivative_is_one:
        return Expected(f"{op.layer_name(k)} = {names}", numbers, value)
    return Expected(f"{op.layer_name(k)} = {act.name}({names})", lambda: f"{act.name}({numbers()})",
                    value)


def _goal_label(op: Operands) -> str:
    return op.moment.given.goal_label


def error(op: Operands) -> Expected | None:
    prediction = op.layer(op.output)
    if prediction is None:
        return None
    squares = (prediction - op.goal) ** 2
    pred, goal = op.layer_name(op.output), _goal_label(op)
    def plugged() -> str:
        return f"({shown(prediction)} − {shown(op.goal)})²"

    name = op.name("error", op.output)
    if op.moment.value.size > 1 and op.moment.value.size == squares.size:  # one per output
        return Expected(f"{name} = ({pred} − {goal})²", plugged, squares)
    total = np.array(np.sum(squares))
    if squares.size == 1:
        return Expected(f"{name} = ({pred} − {goal})²", plugged, total)
    return Expected(f"{name} = sum(({pred} − {goal})²)", lambda: f"sum({plugged()})", total)


def accumulated(op: Operands) -> Expected | None:
    """A pass's summed error: ``layer_2_error += ...`` (or ``x = x + ...``) adds this step's
    error to it; a plain ``layer_2_error = ...`` sets it, which is the sum only in a pass of
    one step (full gradient descent)."""
    old, error_ = op.value(("accumulator", op.output)), op.step_error()
    if error_ is None:
        return None
    assignment = op.moment.assignment
    acc = op.name("accumulator", op.output)
    term = (op.name("error", op.output) if op.assigned("error", op.output)
            else f"sum(({op.layer_name(op.output)} − {_goal_label(op)})²)")
    adds = (assignment.line, assignment.name) in op.run.captured.script.accumulating
    if not adds and op.run.pass_length(op.moment.step.epoch) == 1:
        return Expected(f"{acc} = {term}", lambda: shown(error_), error_.reshape(()))
    if old is None:
        return None
    return Expected(f"{acc} += {term}", lambda: f"{shown(old)} + {shown(error_)}",
                    np.array(old.reshape(()) + error_.reshape(())))


def delta(op: Operands, k: int) -> Expected | None:
    name = op.name("delta", k)
    if k == op.output:
        prediction = op.layer(k)
        if prediction is None:
            return None
        pred, goal = op.layer_name(k), _goal_label(op)
        terms = f"{goal} − {pred}" if op.run.ascent else f"{pred} − {goal}"
        goal_value, ascent = op.goal, op.run.ascent

        def numbers() -> str:
            return (f"{shown(goal_value)} − {shown(prediction)}" if ascent
                    else f"{shown(prediction)} − {shown(goal_value)}")

        value = op.goal - prediction if op.run.ascent else prediction - op.goal
        deriv = op.derivative(k, prediction)
        if deriv is None:
            return Expected(f"{name} = {terms}", numbers, value)
        act = op.act(k)
        return Expected(f"{name} = ({terms}) * {act.deriv_name}({pred})",
                        lambda: f"({numbers()}) * {act.deriv_name}({shown(prediction)})", value * deriv)
    back, weights, layer = op.delta(k + 1), op.weights_at_start(k + 1), op.layer(k)
    if back is None or weights is None or layer is None:
        return None
    formula = f"{name} = {op.name('delta', k + 1)} · {op.name('weights', k + 1)}ᵀ"
    def through() -> str:
        return f"{shown(back)} · {shown(weights)}ᵀ"

    value = DOT(back, weights.T)
    deriv = op.derivative(k, layer)
    if deriv is None:
        return Expected(formula, through, value)
    act = op.act(k)
    return Expected(f"{formula} * {act.deriv_name}({op.layer_name(k)})",
                    lambda: f"{through()} * {act.deriv_name}({shown(layer)})", value * deriv)


def weight_delta(op: Operands, k: int) -> Expected | None:
    x, d = op.layer(k - 1), op.delta(k)
    if x is None or d is None:
        return None
    if op.assigned("weight_delta", k):  # set again in this step: the book's frozen weights
        old = op.value(("weight_delta", k))
        new = op.moment.value
        if old is not None and old.shape == new.shape and np.all((old == new) | (new == 0)):
            return None
    product = DOT(x.T, d)
    batch = f" / {op.rows}" if op.rows > 1 else ""
    if op.rows > 1 and close(fit(op.moment.value, product), product):
        batch, value = "", product  # summed over the batch: the update may divide it later
    else:
        value = op.averaged(product)
    return Expected(f"{op.name('weight_delta', k)} = {op.layer_name(k - 1)}ᵀ · {op.name('delta', k)}{batch}",
                    lambda: f"{shown(x)}ᵀ · {shown(d)}{batch}", value)


def update(op: Operands, k: int) -> Expected | None:
    w, change = op.weights(k), op.weight_delta(k)
    if w is None or change is None:
        return None
    alpha, sign = op.alpha, "+" if op.run.ascent else "−"
    value = w + alpha * change if op.run.ascent else w - alpha * change
    weights, operator = op.name("weights", k), "+=" if op.run.ascent else "-="
    alpha_name = op.name("alpha") if op.value(("alpha", 0)) is not None else "1"
    if op.assigned("weight_delta", k):
        return Expected(f"{weights} {operator} {alpha_name} · {op.name('weight_delta', k)}",
                        lambda: f"{shown(w)} {sign} {shown(alpha)} · {shown(change)}", value)
    x, d = op.layer(k - 1), op.delta(k)
    assert x is not None and d is not None  # (weight_delta found them)
    batch = f" / {op.rows}" if op.rows > 1 else ""
    return Expected(f"{weights} {operator} {alpha_name} · {op.layer_name(k - 1)}ᵀ · "
                    f"{op.name('delta', k)}{batch}",
                    lambda: f"{shown(w)} {sign} {shown(alpha)} · {shown(x)}ᵀ · {shown(d)}{batch}", value)


def describe_moment(moment: Moment) -> str:
    """``pass 0, sample 2`` (``samples 0-3`` for a batch)."""
    given = moment.given
    if given.rows == 1:
        return f"pass {moment.step.epoch}, sample {given.offset}"
    return f"pass {moment.step.epoch}, samples {given.offset}-{given.offset + given.rows - 1}"
