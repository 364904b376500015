"""The common mistakes of a learner's backprop loop, each a way to compute a step wrongly.

When the learner's value disagrees with the book's rule (:mod:`steptrace.learner.check`),
each mistake of :data:`CATALOGUE` recomputes that step its wrong way, from the same
values, and the first whose result is the learner's names the likely mistake. A mistake
is a name, a one-line title, the kinds of assignment it can explain and a function that
yields its wrong values, each with the sentence that says what was done.

Where a mistake gives the right value it cannot be seen, and is not one: relu's
derivative of the weighted sum equals relu's derivative of the layer's output (both are 1
exactly where the sum is positive), so ``relu2deriv(np.dot(layer_0, weights_0_1))`` is as
right as the book's ``relu2deriv(layer_1)``; for sigmoid and tanh they differ.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from steptrace.engine import formulas
from steptrace.engine.rules import Array
from steptrace.learner.mapping import DOT, TOTAL, close, fit
from steptrace.learner.operands import Operands
from steptrace.learner.rules import book, shown

#: A mistake's wrong values: each with the sentence saying what was done, and, where it
#: has some, the names a statement making it would mention (its evidence).
Candidates = Iterator[tuple[Array, str] | tuple[Array, str, tuple[str, ...]]]


@dataclass(frozen=True)
class Mistake:
    name: str
    title: str
    kinds: tuple[str, ...]  # the roles whose assignment it can explain
    candidates: Callable[[Operands], Candidates]
    #: the line to fix, where it is not the one that departs (None: that one)
    cause: Callable[[Operands], int | None] = lambda op: None


#: A step without the update the book makes (found by the check itself, not by trying
#: candidates: there is no value of the learner's to reproduce).
MISSING_UPDATE = Mistake("missing-update", "no update in this step", ("weights",),
                         lambda op: iter(()))


@dataclass(frozen=True)
class Found:
    """A mistake that reproduces the learner's value, what exactly was done, and the other
    mistakes that give the same numbers here (which one it is, the numbers cannot tell)."""

    mistake: Mistake
    detail: str
    also: tuple[str, ...] = ()
    line: int | None = None  # the line to fix, where it is not the line that departs

    @property
    def name(self) -> str:
        return self.mistake.name

    @property
    def title(self) -> str:
        return self.mistake.title


def _layer_here(op: Operands) -> int:
    return op.moment.role.layer


def _broadcasts(a: Array, to: Array) -> bool:
    """Whether ``a * to`` has ``to``'s shape."""
    try:
        return np.broadcast_shapes(a.shape, to.shape) == to.shape
    except ValueError:
        return False


def _layers(op: Operands) -> Iterator[int]:
    return iter(range(op.output + 1))


# -- the deltas ----------------------------------------------------------------------

def _hidden_back(op: Operands, k: int, weights: Array | None) -> Array | None:
    back = op.delta(k + 1)
    if back is None or weights is None:
        return None
    return DOT(back, weights.T)


def weights_after_update(op: Operands) -> Candidates:
    k = _layer_here(op)
    now, before = op.weights(k + 1), op.weights_at_start(k + 1)
    if k == op.output or now is None or before is None or np.array_equal(now, before):
        return
    back, layer = _hidden_back(op, k, now), op.layer(k)
    if back is None or layer is None:
        return
    deriv = op.derivative(k, layer)
    updated = op.moment.earlier.get(("weights", k + 1))
    where = f" ({op.run.captured.script.place(updated.line)})" if updated is not None else ""
    yield (back if deriv is None else back * deriv,
           f"{op.name('weights', k + 1)} was already updated{where} when this line used it; the "
           "hidden delta takes the weights before this sample's update: compute "
           f"{op.name('delta', k)} before updating {op.name('weights', k + 1)}")


def _delta_without_derivative(op: Operands, k: int) -> Array | None:
    if k == op.output:
        prediction = op.layer(k)
        if prediction is None:
            return None
        plain = formulas.miss(prediction, op.goal, op.run.ascent)
        return formulas.batch_mean(plain, op.rows) if op.run.delta_mean else plain
    return _hidden_back(op, k, op.weights_at_start(k + 1))


def derivative_of_wrong_layer(op: Operands) -> Candidates:
    k = _layer_here(op)
    plain = _delta_without_derivative(op, k)
    if plain is None:
        return
    act = op.act(k)
    for j in _layers(op):
        other = op.layer(j)
        if j == k or other is None or not _broadcasts(other, plain):
            continue
        yield (plain * act.derivative(other),
               f"{act.deriv_name}({op.layer_name(j)}) where the book has {act.deriv_name}("
               f"{op.layer_name(k)}): the derivative of this layer's own output",
               (op.layer_name(j),))


def derivative_of_weighted_sum(op: Operands) -> Candidates:
    k = _layer_here(op)
    plain, x, w = _delta_without_derivative(op, k), op.layer(k - 1), op.weights_at_start(k)
    if plain is None or x is None or w is None:
        return
    act = op.act(k)
    yield (plain * act.derivative(DOT(x, w)),
           f"{act.deriv_name} was given the weighted sum {op.layer_name(k - 1)} · "
           f"{op.name('weights', k)} instead of the layer's output {op.layer_name(k)}: the "
           f"book's derivative takes the output ({act.deriv_name}(output) = "
           f"{act.derivative_formula}); for relu the two are the same")


def derivative_in_terms_of_input(op: Operands) -> Candidates:
    k = _layer_here(op)
    plain, layer = _delta_without_derivative(op, k), op.layer(k)
    if plain is None or layer is None:
        return
    act = op.act(k)
    function = act.fast or act.function
    yield (plain * act.derivative(function(layer)),
           f"the derivative was written for the weighted sum ({act.name}'(x) = "
           f"{act.derivative_formula} with output = {act.name}(x)) and given the output "
           f"{op.layer_name(k)}: {act.deriv_name} takes the output itself")


def missing_derivative(op: Operands) -> Candidates:
    k = _layer_here(op)
    plain = _delta_without_derivative(op, k)
    if plain is None:
        return
    act = op.act(k)
    statement = op.run.captured.script.source_of(op.moment.assignment.line)
    if act.deriv_name in statement:  # it multiplies by it: the function must give all ones
        yield (plain, f"{act.deriv_name}({op.layer_name(k)}) gives 1 at every unit here, where "
                      f"the book's {act.derivative_formula} is 0 for a unit that was off: what "
                      f"does your {act.deriv_name} return (output >= 0 for output > 0?)")
    else:
        yield (plain, f"{op.name('delta', k)} is not multiplied by "
                      f"{act.deriv_name}({op.layer_name(k)})")


def _derivative_line(op: Operands) -> int | None:
    """Where the script's own derivative function returns, when the statement calls it."""
    act = op.act(_layer_here(op))
    script = op.run.captured.script
    if act.deriv_name not in script.source_of(op.moment.assignment.line):
        return None
    tree = script.tree
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == act.deriv_name:
            returns = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Return)]
            return min(returns, default=node.lineno)
    return None


def derivative_of_other_nonlinearity(op: Operands) -> Candidates:
    k = _layer_here(op)
    plain, layer = _delta_without_derivative(op, k), op.layer(k)
    if plain is None or layer is None:
        return
    used = op.act(k)
    made = op.run.timeline.first("layer", k)
    for act in op.run.registered:
        if act.name == used.name or act.derivative_is_one:
            continue
        if used.derivative_is_one:  # a layer made without a nonlinearity: which line is wrong?
            at = f" ({op.run.captured.script.place(made.line)} applies none)" if made is not None else ""
            why = (f"{op.layer_name(k)} is a linear layer{at}: either apply {act.name} where it is "
                   f"made, or multiply by nothing (its derivative is 1)")
        else:
            why = (f"{op.layer_name(k)} is a {used.name} layer: its derivative is "
                   f"{used.deriv_name}(output) = {used.derivative_formula}")
        yield (plain * act.derivative(layer),
               f"{act.deriv_name}({op.layer_name(k)}) is {act.name}'s derivative, but {why}",
               (act.deriv_name,))


def prediction_as_delta(op: Operands) -> Candidates:
    """``layer_2_delta = layer_2``: the prediction itself, the goal not subtracted."""
    k = _layer_here(op)
    prediction = op.layer(k)
    if k != op.output or prediction is None:
        return
    yield (prediction, f"{op.moment.assignment.name} is {op.layer_name(k)} itself, the goal not "
                       f"subtracted (and the same array: a -= on it changes {op.layer_name(k)} "
                       f"too): the book's delta is {op.layer_name(k)} − goal, a new array")


def calculus_factor(op: Operands) -> Candidates:
    """``2 * (prediction - goal)``: the derivative of the squared error by calculus."""
    if _layer_here(op) != op.output or (expected := book(op)) is None:
        return
    yield (2 * expected.value,
           f"{op.moment.assignment.name} is twice the book's: 2 · (prediction − goal) is the "
           "calculus derivative of (prediction − goal)²; the book's delta is prediction − goal, "
           "without the 2 (a constant factor that alpha absorbs)")


def sign_of_miss(op: Operands) -> Candidates:
    """``np.sign(prediction - goal)``: the direction of the miss without its size."""
    if _layer_here(op) != op.output or (expected := book(op)) is None:
        return
    yield (np.sign(expected.value),
           f"{op.moment.assignment.name} keeps only the sign of the miss (np.sign): the book's "
           "delta is the miss itself, prediction − goal, so a big miss moves the weights more "
           "than a small one")


def alpha_in_delta(op: Operands) -> Candidates:
    """``layer_2_delta = alpha * (layer_2 - goal)``: alpha taken twice, once here."""
    if _layer_here(op) != op.output or op.alpha == 1 or (expected := book(op)) is None:
        return
    yield (op.alpha * expected.value,
           f"alpha ({op.alpha:g}) multiplies {op.moment.assignment.name}; the book applies alpha "
           "once, in the update (weights -= alpha · layer_inᵀ · delta)", ("alpha",))


def layer_for_delta(op: Operands) -> Candidates:
    """A hidden delta carried back from a layer's output (``layer_2``) instead of its delta."""
    k = _layer_here(op)
    weights, layer = op.weights_at_start(k + 1), op.layer(k)
    if k == op.output or weights is None or layer is None:
        return
    deriv = op.derivative(k, layer)
    for j in range(1, op.output + 1):
        other = op.layer(j)
        if other is None or other.shape[-1:] != weights.shape[-1:]:
            continue
        yield (formulas.hidden_delta(DOT, other, weights, deriv),
               f"{op.name('delta', k)} is carried back from {op.layer_name(j)}, the layer's "
               f"output, where the book carries back {op.name('delta', k + 1)}, how much it "
               "missed by", (op.layer_name(j),))


def missing_transpose_in_delta(op: Operands) -> Candidates:
    k = _layer_here(op)
    back, weights, layer = op.delta(k + 1), op.weights_at_start(k + 1), op.layer(k)
    if k == op.output or back is None or weights is None or layer is None:
        return
    deriv = op.derivative(k, layer)
    plain = DOT(back, weights)
    yield (plain if deriv is None else plain * deriv,
           f"{op.name('delta', k + 1)}.dot({op.name('weights', k + 1)}) where the book has "
           f"{op.name('delta', k + 1)}.dot({op.name('weights', k + 1)}.T)")


def opposite_sign(op: Operands) -> Candidates:
    role = op.moment.role
    k = role.layer
    ascent = op.run.ascent
    if role.kind == "weights":
        w, change = op.weights(k), op.weight_delta(k)
        if w is None or change is None:
            return
        if ascent:
            yield (w - op.alpha * change,
                   f"{op.name('delta', op.output)} = goal − prediction (the book's ascent form) "
                   "goes with +=; -= moves the weights up the error: flip one of the two")
        else:
            yield (w + op.alpha * change,
                   f"{op.name('delta', op.output)} = prediction − goal goes with -=; += moves the "
                   "weights up the error (+= is for the ascent form, delta = goal − prediction)")
        return
    expected = book(op)
    if expected is not None:
        yield (-expected.value, f"{op.moment.assignment.name} has the opposite sign of the book's")


def extra_transpose(op: Operands) -> Candidates:
    expected = book(op)
    if expected is None or expected.value.ndim != 2 or len(set(expected.value.shape)) == 1:
        return
    yield (expected.value.T, f"{op.moment.assignment.name} is the book's value transposed "
                             f"{expected.value.T.shape}: a transpose (.T) too many, or one missing")


# -- the updates -----------------------------------------------------------------------

def _update(op: Operands, k: int, change: Array, alpha: float | None = None) -> Array | None:
    w = op.weights(k)
    if w is None:
        return None
    alpha = op.alpha if alpha is None else alpha
    return w + alpha * change if op.run.ascent else w - alpha * change


def wrong_batch_size(op: Operands) -> Candidates:
    """A batch's weight_delta (or a delta) divided by another number than the batch's rows:
    the dataset's size, the batch size where the batch is shorter, a layer's width."""
    role, k, rows = op.moment.role, op.moment.role.layer, op.rows
    sizes = ({len(op.run.inputs), op.run.batch_size, *op.run.shape.sizes} - {rows, 1})
    if role.kind == "delta":
        prediction = op.layer(k)
        if k != op.output or prediction is None:
            return
        plain = formulas.output_delta(prediction, op.goal, op.run.ascent, op.derivative(k, prediction))
        for size in sorted(sizes):
            yield plain / size, _divided(op, size)
        return
    x, d = op.layer(k - 1), op.delta(k)
    if x is None or d is None or op.run.delta_mean:
        return
    summed = formulas.summed_weight_delta(DOT, x, d)
    for size in sorted(sizes):
        if role.kind == "weight_delta":
            yield summed / size, _divided(op, size)
        elif (value := _update(op, k, summed / size)) is not None:
            yield value, _divided(op, size)


def _divided(op: Operands, size: int) -> str:
    what = ("the dataset's rows" if size == len(op.run.inputs) else "the batch size"
            if size == op.run.batch_size else "a layer's width")
    rows = f"{op.rows} row{'s' if op.rows > 1 else ''}"
    if op.moment.role.kind == "delta":
        return (f"it is divided by {size} ({what}); this step's batch has {rows}: the book's "
                + ("chapter 8 form divides the delta by the batch's own rows"
                   if op.run.delta_mean or op.rows > 1 else "delta is prediction − goal, undivided"))
    return (f"it is divided by {size} ({what}), but this step's batch has {rows}: the book "
            f"averages a batch's weight_delta over the batch's own rows (÷ {op.rows})")


def weights_not_written_back(op: Operands) -> Candidates:
    """A function that rebinds its weights parameter (``weights_1_2 = weights_1_2 - ...``)
    makes a new local matrix: the caller's weights never change."""
    rebound = op.run.captured.script.rebound
    if not rebound:
        return
    timeline, shape = op.run.timeline, op.run.shape
    caller: dict[int, Array] = {}  # each weight matrix as the code outside those functions has it
    where: dict[int, tuple[int, str]] = {}
    for assignment, role in zip(timeline.assignments[:op.moment.assignment.index], timeline.roles,
                                strict=False):
        if role is None or role.kind != "weights":
            continue
        key = (assignment.line, assignment.name)
        if key in rebound:
            where[role.layer] = key
        else:
            caller[role.layer] = shape.fit(role, assignment.value, 1)
    now = op.moment.before
    stale = {k: w for k, w in caller.items() if k in where
             and not np.array_equal(w, now.get(("weights", k), w))}
    if not stale:
        return
    before = {**op.moment.before, **{("weights", k): w for k, w in stale.items()}}
    at_start = {**op.moment.at_start, **stale}
    expected = book(Operands(op.run, replace(op.moment, before=before, at_start=at_start)))
    if expected is None:
        return
    line, name = where[op.moment.role.layer if op.moment.role.layer in stale else min(stale)]
    function = rebound[(line, name)]
    yield (expected.value,
           f"line {line} ({name} = ...) inside {function}() makes a new, local {name}: the "
           f"{name} outside {function}() never changes, so every step starts from the weights "
           f"it began with; update it in place ({name} -= ...) or return it and assign the "
           f"result where {function}() is called")


def replaced_not_moved(op: Operands) -> Candidates:
    """``weights = alpha * ...`` where ``weights -= alpha * ...`` was meant."""
    k = op.moment.role.layer
    change = op.weight_delta(k)
    if change is None:
        return
    name = op.name("weights", k)
    for value in (op.alpha * change, -op.alpha * change, change):
        yield (value, f"{name} is set to the change itself: {name} = ... replaces the weights, "
                      f"where {name} {'+=' if op.run.ascent else '-='} ... moves them by it")


def alpha_not_applied(op: Operands) -> Candidates:
    k = op.moment.role.layer
    change = op.weight_delta(k)
    if change is not None and op.alpha != 1 and (value := _update(op, k, change, 1.0)) is not None:
        yield value, f"the weight_delta was not multiplied by alpha ({op.alpha:g})"


def alpha_twice(op: Operands) -> Candidates:
    k = op.moment.role.layer
    change = op.weight_delta(k)
    if change is not None and op.alpha != 1 and (value := _update(op, k, change, op.alpha ** 2)) is not None:
        yield value, f"alpha ({op.alpha:g}) multiplies the weight_delta twice"


def batch_summed(op: Operands) -> Candidates:
    k, role = op.moment.role.layer, op.moment.role
    x, d = op.layer(k - 1), op.delta(k)
    if op.rows == 1 or x is None or d is None:
        return
    summed = DOT(x.T, d)
    detail = (f"the batch's weight_delta is summed over its {op.rows} rows, not averaged (the book's "
              f"full and mini-batch gradient descent divide {op.layer_name(k - 1)}ᵀ · "
              f"{op.name('delta', k)} by the batch size)")
    if role.kind == "weights" and (value := _update(op, k, summed)) is not None:
        yield value, detail


def _weight_delta_line(op: Operands) -> int | None:
    """The line of this step's weight_delta for the weights being updated, if it assigns one
    (a batch summed there, where the update does not divide either, is fixed there)."""
    made = op.moment.earlier.get(("weight_delta", op.moment.role.layer))
    return None if made is None else made.line


def missing_transpose_in_update(op: Operands) -> Candidates:
    k, role = op.moment.role.layer, op.moment.role
    x, d = op.layer(k - 1), op.delta(k)
    if x is None or d is None:
        return
    wrong = op.averaged(DOT(x, d))
    detail = (f"{op.layer_name(k - 1)}.dot({op.name('delta', k)}) where the book has "
              f"{op.layer_name(k - 1)}.T.dot({op.name('delta', k)})")
    if role.kind == "weight_delta":
        yield wrong, detail
    elif (value := _update(op, k, wrong)) is not None:
        yield value, detail


def other_layer_in_update(op: Operands) -> Candidates:
    k, role = op.moment.role.layer, op.moment.role
    for j in _layers(op):
        for i in range(1, op.output + 1):
            x, d = op.layer(j), op.delta(i)
            if (j, i) == (k - 1, k) or x is None or d is None:
                continue
            try:
                change = op.averaged(DOT(x.T, d))
            except ValueError:
                continue
            detail = (f"{op.layer_name(j)}ᵀ · {op.name('delta', i)} where the book has "
                      f"{op.layer_name(k - 1)}ᵀ · {op.name('delta', k)}: the weights between "
                      f"{op.layer_name(k - 1)} and {op.layer_name(k)} move with what they connect")
            evidence = (op.layer_name(j), op.name("delta", i))
            if role.kind == "weight_delta":
                yield change, detail, evidence
            elif (value := _update(op, k, change)) is not None:
                yield value, detail, evidence


# -- errors, goals and inputs --------------------------------------------------------------

def stale_input(op: Operands) -> Candidates:
    """The goal moved on to this sample and the input did not: the learner's goal is the
    dataset's goal for this place in the pass, not the one for the input it has."""
    given = op.moment.given
    in_order = given.in_order
    if in_order is None or in_order.shape != op.goal.shape or np.array_equal(in_order, op.goal):
        return
    # the same step, held to the goal of its place in the pass
    expected = book(Operands(op.run, replace(op.moment, given=replace(given, goal=in_order))))
    if expected is not None:
        name, line = op.layer_name(0), _last_input_line(op)
        where = f" (set {op.run.captured.script.place(line)})" if line is not None else ""
        yield (expected.value,
               f"{name} is {_shown(op.layer(0))}{where}, not sample {given.offset}'s row, while "
               f"the goal is sample {given.offset}'s: set {name} from the sample's index inside "
               "the loop, as the goal is")


def _last_input_line(op: Operands) -> int | None:
    """The line of the learner's latest assignment of the input before this moment."""
    timeline = op.run.timeline
    for assignment in reversed(timeline.assignments[:op.moment.assignment.index]):
        role = timeline.roles[assignment.index]
        if role is not None and role.kind == "input":
            return assignment.line
    return None


def goal_of_another_sample(op: Operands) -> Candidates:
    """The step held to another sample's goal (a goal row sliced with another index)."""
    goals, rows = op.run.goals, op.rows
    words = op.run.captured.script.names_in(op.moment.assignment.line)
    named = {op.run.names.get(("goals", 0)), op.run.names.get(("goal", 0))} & words
    if goals.ndim != 2 or len(goals) < 2 or not (named or _goal_line(op) is not None):
        return  # (a statement that names no goal at all holds none to another sample's)
    for j in range(0, len(goals) - rows + 1):
        other = goals[j:j + rows]
        if other.shape != op.goal.shape or np.array_equal(other, op.goal):
            continue
        expected = book(Operands(op.run, replace(op.moment, given=replace(op.moment.given, goal=other))))
        if expected is not None:
            yield (expected.value,
                   f"the goal used is sample {j}'s ({_shown(other)}), not the goal of this step's "
                   f"sample {op.moment.given.offset}: take the goal row with the same index as the "
                   "input")


def _goal_line(op: Operands) -> int | None:
    """Where the goal this statement uses was taken from the goals dataset, if in a variable
    of the script's own (``target = walk_vs_stop[j:j+1]``): the line that took it."""
    script, line = op.run.captured.script, op.moment.assignment.line
    dataset = op.run.names.get(("goals", 0))
    if dataset is None:
        return None
    tree = script.tree
    used = script.names_in(line)
    taken = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assign)
             and node.lineno < line and any(isinstance(t, ast.Name) and t.id in used for t in node.targets)
             and any(isinstance(n, ast.Name) and n.id == dataset for n in ast.walk(node.value))]
    return max(taken, default=None)


def _shown(value: Array | None) -> str:
    return "?" if value is None else shown(value)


def error_not_squared(op: Operands) -> Candidates:
    prediction = op.layer(op.output)
    if prediction is None:
        return
    plain = prediction - op.goal
    role = op.moment.role
    detail = "the error is (prediction − goal)², squared"
    if role.kind == "error":
        yield np.array(TOTAL(plain)), detail
        yield np.array(TOTAL(np.abs(plain))), detail
    elif role.kind == "accumulator" and (old := op.value(("accumulator", op.output))) is not None:
        yield np.array(old.reshape(()) + TOTAL(plain)), detail
        yield np.array(old.reshape(()) + TOTAL(np.abs(plain))), detail


def sum_replaced(op: Operands) -> Candidates:
    error = op.step_error()
    if error is not None:
        name = op.name("accumulator", op.output)
        yield error, f"{name} = ... replaced the sum over the pass: {name} += adds each sample's error"


def other_nonlinearity(op: Operands) -> Candidates:
    k = op.moment.role.layer
    x, w = op.layer(k - 1), op.weights(k)
    if x is None or w is None:
        return
    used = op.act(k)
    weighted = DOT(x, w)
    for act in {a.name: a for a in op.run.nonlinearities}.values():
        if act.name != used.name:
            yield ((act.fast or act.function)(weighted),
                   f"{act.name}(...) where the rest of the run applies {used.name} to "
                   f"{op.layer_name(k)}")
    yield weighted, f"no nonlinearity where the rest of the run applies {used.name} to {op.layer_name(k)}"
    if used.name == "relu":
        yield ((weighted > 0).astype(np.float64),
               f"{op.layer_name(k)} is 1 where the weighted sum is positive and 0 elsewhere: "
               "relu(x) returns x > 0, a mask, where the book's returns (x > 0) * x")


#: A function that rebinds its weights parameter: the caller's never change.
NOT_WRITTEN_BACK = Mistake("weights-not-written-back", "weights changed in a function, never written back",
                           ("layer", "error", "accumulator", "delta", "weight_delta", "weights"),
                           weights_not_written_back)

CATALOGUE: tuple[Mistake, ...] = (
    Mistake("weights-after-update", "weights after their update", ("delta",), weights_after_update),
    Mistake("derivative-of-wrong-layer", "the derivative of the wrong layer", ("delta",),
            derivative_of_wrong_layer),
    Mistake("derivative-of-weighted-sum", "the derivative of the weighted sum, not of the output",
            ("delta",), derivative_of_weighted_sum),
    Mistake("derivative-in-terms-of-input", "a derivative written for the weighted sum, given the "
            "output", ("delta",), derivative_in_terms_of_input),
    Mistake("derivative-of-other-nonlinearity", "the derivative of another nonlinearity",
            ("delta",), derivative_of_other_nonlinearity),
    Mistake("missing-derivative", "the derivative left out", ("delta",), missing_derivative,
            lambda op: _derivative_line(op)),
    Mistake("calculus-factor", "the calculus derivative's 2", ("delta",), calculus_factor),
    Mistake("prediction-as-delta", "the prediction where the delta belongs", ("delta",),
            prediction_as_delta),
    Mistake("alpha-in-delta", "alpha in the delta", ("delta",), alpha_in_delta),
    Mistake("layer-for-delta", "a layer's output where its delta belongs", ("delta",), layer_for_delta),
    Mistake("sign-only", "the sign of the miss, not the miss", ("delta",), sign_of_miss),
    Mistake("missing-transpose", "a missing transpose", ("delta",), missing_transpose_in_delta),
    Mistake("missing-transpose", "a missing transpose", ("weight_delta", "weights"),
            missing_transpose_in_update),
    Mistake("sign", "the sign", ("delta", "weight_delta", "weights"), opposite_sign),
    Mistake("transposed", "a transpose too many", ("layer", "delta", "weight_delta"), extra_transpose),
    Mistake("alpha-missing", "alpha not applied", ("weights",), alpha_not_applied),
    Mistake("replaced-not-moved", "the weights replaced by the change, not moved by it", ("weights",),
            replaced_not_moved),
    Mistake("alpha-twice", "alpha applied twice", ("weights",), alpha_twice),
    Mistake("batch-summed", "a batch summed instead of averaged", ("weights",), batch_summed,
            lambda op: _weight_delta_line(op)),
    Mistake("wrong-batch-size", "divided by the wrong batch size", ("delta", "weight_delta", "weights"),
            wrong_batch_size),
    Mistake("wrong-layer-in-update", "the wrong layer or delta in an update",
            ("weight_delta", "weights"), other_layer_in_update),
    Mistake("stale-input", "the input not updated per sample", ("error", "accumulator", "delta"),
            stale_input, lambda op: _last_input_line(op)),
    Mistake("goal-of-another-sample", "the goal of another sample", ("error", "accumulator", "delta"),
            goal_of_another_sample, lambda op: _goal_line(op)),
    Mistake("error-not-squared", "the error not squared", ("error", "accumulator"), error_not_squared),
    Mistake("sum-replaced", "the pass's error replaced, not summed", ("accumulator",), sum_replaced),
    Mistake("other-nonlinearity", "another nonlinearity", ("layer",), other_nonlinearity),
    NOT_WRITTEN_BACK,
)


def diagnose(op: Operands, value: Array, rtol: float, atol: float) -> Found | None:
    """The mistake of the catalogue that reproduces the learner's ``value`` (and the titles
    of the others that do too). Where several do, the numbers cannot tell them apart, and
    the statement is asked: a mistake whose evidence (the names it would mention) is in it
    comes first, then one that has no evidence to look for, then the rest, each group in
    the catalogue's order."""
    kind = op.moment.role.kind
    words = op.run.captured.script.names_in(op.moment.assignment.line)
    found: list[tuple[int, int, Mistake, str]] = []
    for order, mistake in enumerate(CATALOGUE):
        if kind not in mistake.kinds:
            continue
        try:
            with np.errstate(all="ignore"):
                for wrong, detail, *evidence in mistake.candidates(op):
                    if close(fit(wrong, value), value, rtol, atol):
                        names = evidence[0] if evidence else ()
                        tier = 1 if not names else 0 if words.issuperset(names) else 2
                        found.append((tier, order, mistake, detail))
                        break
        except ValueError:  # shapes that do not fit: not this mistake
            continue
    if not found:
        return None
    found.sort(key=lambda each: each[:2])
    (_, _, mistake, detail), others = found[0], found[1:]
    return Found(mistake, detail, tuple(dict.fromkeys(m.title for _, _, m, _ in others
                                                      if m.title != mistake.title)),
                 mistake.cause(op))
