"""The book's rule for one assignment of a learner's run, with the learner's own operands.

For each kind of assignment a step makes (a forward layer, the error, a pass's summed
error, a delta, a weight_delta, an update), :func:`book` gives the formula in the learner's
names, the same with their numbers plugged in, and the value the book's rule gives from
their values just before it (:mod:`steptrace.learner.operands`). The numbers come from the
engine's formulas (:mod:`steptrace.engine.formulas`), in ``blas`` arithmetic: the learner's
``np.dot``. What the lockstep check (:mod:`steptrace.learner.check`) compares with, and what
a mistake (:mod:`steptrace.learner.mistakes`) departs from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from steptrace.defaults import DIGITS
from steptrace.engine import formulas
from steptrace.engine.rules import Array
from steptrace.learner.mapping import DOT, TOTAL, close, fit
from steptrace.learner.operands import Operands
from steptrace.views.text import matrix, number


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
    a while to print, and agreeing steps never print theirs), and its value. ``numbers``
    is None where there is nothing to plug in (what the book's run does as a whole)."""

    formula: str
    numbers: Callable[[], str] | None
    value: Array

    @property
    def plugged(self) -> str | None:
        return None if self.numbers is None else self.numbers()


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
    value = formulas.forward(DOT, act.fast or act.function, x, w)[1]
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
    squares = formulas.squared_errors(prediction, op.goal)
    pred, goal = op.layer_name(op.output), _goal_label(op)
    def plugged() -> str:
        return f"({shown(prediction)} − {shown(op.goal)})²"

    name = op.name("error", op.output)
    if op.moment.value.size > 1 and op.moment.value.size == squares.size:  # one per output
        return Expected(f"{name} = ({pred} − {goal})²", plugged, squares)
    total = np.array(formulas.error(TOTAL, prediction, op.goal))
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

        deriv = op.derivative(k, prediction)
        value = formulas.output_delta(prediction, op.goal, ascent, deriv)
        mean = f" / {op.rows}" if op.run.delta_mean and op.rows > 1 else ""
        if mean:  # chapter 8: the batch's mean taken in the delta (the update then sums)
            value = formulas.batch_mean(value, op.rows)
        if deriv is None:
            return Expected(f"{name} = ({terms}){mean}" if mean else f"{name} = {terms}",
                            lambda: f"({numbers()}){mean}" if mean else numbers(), value)
        act = op.act(k)
        return Expected(f"{name} = ({terms}) * {act.deriv_name}({pred}){mean}",
                        lambda: f"({numbers()}) * {act.deriv_name}({shown(prediction)}){mean}", value)
    back, weights, layer = op.delta(k + 1), op.weights_at_start(k + 1), op.layer(k)
    if back is None or weights is None or layer is None:
        return None
    formula = f"{name} = {op.name('delta', k + 1)} · {op.name('weights', k + 1)}ᵀ"
    def through() -> str:
        return f"{shown(back)} · {shown(weights)}ᵀ"

    deriv = op.derivative(k, layer)
    value = formulas.hidden_delta(DOT, back, weights, deriv)
    if deriv is None:
        return Expected(formula, through, value)
    act = op.act(k)
    return Expected(f"{formula} * {act.deriv_name}({op.layer_name(k)})",
                    lambda: f"{through()} * {act.deriv_name}({shown(layer)})", value)


def weight_delta(op: Operands, k: int) -> Expected | None:
    x, d = op.layer(k - 1), op.delta(k)
    if x is None or d is None:
        return None
    if op.assigned("weight_delta", k):  # set again in this step: the book's frozen weights
        old = op.value(("weight_delta", k))
        new = op.moment.value
        if old is not None and old.shape == new.shape and np.all((old == new) | (new == 0)):
            return None
    product = formulas.summed_weight_delta(DOT, x, d)
    batch = f" / {op.rows}" if op.rows > 1 and not op.run.delta_mean else ""
    if not batch or close(fit(op.moment.value, product), product):
        batch, value = "", product  # summed over the batch: the update may divide it later
    else:
        value = formulas.batch_mean(product, op.rows)
    return Expected(f"{op.name('weight_delta', k)} = {op.layer_name(k - 1)}ᵀ · {op.name('delta', k)}{batch}",
                    lambda: f"{shown(x)}ᵀ · {shown(d)}{batch}", value)


def update(op: Operands, k: int) -> Expected | None:
    w, change = op.weights(k), op.weight_delta(k)
    if w is None or change is None:
        return None
    alpha, sign = op.alpha, "+" if op.run.ascent else "−"
    value = formulas.updated(w, change, alpha, op.run.ascent)
    weights, operator = op.name("weights", k), "+=" if op.run.ascent else "-="
    alpha_name = op.name("alpha") if op.value(("alpha", 0)) is not None else "1"
    if op.assigned("weight_delta", k):
        return Expected(f"{weights} {operator} {alpha_name} · {op.name('weight_delta', k)}",
                        lambda: f"{shown(w)} {sign} {shown(alpha)} · {shown(change)}", value)
    x, d = op.layer(k - 1), op.delta(k)
    assert x is not None and d is not None  # (weight_delta found them)
    batch = f" / {op.rows}" if op.rows > 1 and not op.run.delta_mean else ""
    return Expected(f"{weights} {operator} {alpha_name} · {op.layer_name(k - 1)}ᵀ · "
                    f"{op.name('delta', k)}{batch}",
                    lambda: f"{shown(w)} {sign} {shown(alpha)} · {shown(x)}ᵀ · {shown(d)}{batch}", value)
