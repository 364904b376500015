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

import ast
import contextlib
from dataclasses import dataclass

import numpy as np

from steptrace.defaults import CHECK_ATOL, CHECK_RTOL
from steptrace.engine.rules import Array
from steptrace.learner.differences import how_it_differs
from steptrace.learner.mapping import LearnerRun, Moment, close, fit, walk
from steptrace.learner.mistakes import MISSING_UPDATE, NOT_WRITTEN_BACK, Found, Mistake, diagnose
from steptrace.learner.operands import Operands
from steptrace.learner.rules import Expected, book, update
from steptrace.learner.runner import Script
from steptrace.learner.whole_run import departure

#: The default tolerance (:mod:`steptrace.defaults`): numbers agree when
#: |a - b| <= atol + rtol * |b|.
RTOL, ATOL = CHECK_RTOL, CHECK_ATOL


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
    #: how the value differs from the book's, where no known mistake explains it
    difference: str | None = None
    #: what the run did, in words, where the departure is the run's as a whole (kind "run")
    told: str | None = None
    #: the line of the assignment that departs, where ``line`` (the line to fix) is another
    shows_at: int | None = None
    #: the departing assignment's place in the run (-1: a step's or the run's as a whole)
    index: int = -1


@dataclass(frozen=True)
class Lockstep:
    """What the check found: how many assignments (and whole steps) agreed, and the first
    that did not."""

    checked: int
    steps: int
    divergence: Divergence | None


KIND = {"layer": "forward", "error": "error", "accumulator": "error", "delta": "delta",
        "weight_delta": "update", "weights": "update"}


def check(run: LearnerRun, rtol: float = RTOL, atol: float = ATOL, cut_short: bool = False) -> Lockstep:
    """The run against the book's, to the first departure: each assignment recomputed from
    the learner's values before it (:func:`lockstep`), and the run as a whole
    (:mod:`steptrace.learner.whole_run`: every sample once a pass, the pass's error summed
    from 0), whichever departs first. ``cut_short``: the script failed during its last step,
    which is not held to make every update (nor its run to be whole)."""
    stepwise, counted = lockstep(run, rtol, atol, cut_short)
    whole = None if cut_short else departure(run)
    if whole is None or (stepwise.divergence is not None
                         and (stepwise.divergence.step, stepwise.divergence.index)
                         <= (whole.step.number, whole.at)):
        return stepwise
    step = whole.step
    found = Found(Mistake(whole.name, whole.title, ("run",), lambda op: iter(())), whole.detail)
    return Lockstep(counted.get(step.number, stepwise.checked), step.number, Divergence(
        step.epoch, whole.samples, step.number, "run", 0,
        whole.variable, whole.line, run.captured.script.statement(whole.line), np.zeros(0),
        Expected(whole.book, None, np.zeros(0)), found, told=whole.yours))


def lockstep(run: LearnerRun, rtol: float = RTOL, atol: float = ATOL,
             cut_short: bool = False) -> tuple[Lockstep, dict[int, int]]:
    """Recompute every assignment of every step from the learner's values before it; and
    every step must update each weight layer the run updates at all (the book updates after
    every step: one that skips some, an ``if i % 2 == 0:`` around the update, departs).
    Also returns how many assignments had agreed before each step began."""
    checked = steps_done = 0
    current = -1
    counted: dict[int, int] = {}
    trained = _trained(run)
    updated: set[int] = set()
    last: Moment | None = None
    for moment in walk(run):
        if moment.step.number != current:
            if (last is not None and (missing := trained - updated)
                    and run.timeline.learns(last.step)):
                return Lockstep(checked, steps_done, _no_update(run, last, min(missing))), counted
            steps_done += current >= 0
            current = moment.step.number
            counted[current] = checked
            updated = set()
        last = moment
        if moment.role.kind == "weights":
            updated.add(moment.role.layer)
        operands = Operands(run, moment)
        expected = book(operands)
        if expected is None:
            continue
        value = fit(moment.value, expected.value)
        if close(value, expected.value, rtol, atol):
            checked += 1  # (agreed: the departing assignment is not counted)
            continue
        step, assignment, role = moment.step, moment.assignment, moment.role
        samples = tuple(range(moment.given.offset, moment.given.offset + moment.given.rows))
        mistake = diagnose(operands, value, rtol, atol)
        line = assignment.line if mistake is None or mistake.line is None else mistake.line
        return Lockstep(checked, steps_done, Divergence(
            step.epoch, samples, step.number, KIND[role.kind], role.layer, assignment.name,
            line, run.captured.script.statement(line), value, expected, mistake, _note(operands),
            difference=None if mistake is not None else how_it_differs(
                value, expected.value, rtol, atol),
            shows_at=None if line == assignment.line else assignment.line,
            index=assignment.index)), counted
    if (last is not None and not cut_short and (missing := trained - updated)
            and run.timeline.learns(last.step)):
        return Lockstep(checked, steps_done, _no_update(run, last, min(missing))), counted
    return Lockstep(checked, steps_done + (current >= 0), None), counted


def _trained(run: LearnerRun) -> set[int]:
    """The weight layers every learning step must update: those the run updates at all;
    every layer where the run learns (makes deltas) but never updates one."""
    roles = [role for role in run.timeline.roles if role is not None]
    trained = {role.layer for role in roles if role.kind == "weights" and _updates(run, role.layer)}
    if not trained and any(role.kind in ("delta", "weight_delta") for role in roles):
        trained = set(range(1, run.output + 1))
    return trained


def _updates(run: LearnerRun, k: int) -> bool:
    """Whether the run changes weight layer k after its first assignment (an update)."""
    seen = [a for a, role in zip(run.timeline.assignments, run.timeline.roles, strict=True)
            if role is not None and role.kind == "weights" and role.layer == k]
    return len(seen) > 1


def _no_update(run: LearnerRun, last: Moment, k: int) -> Divergence:
    """A step that leaves weight layer k as it was, where the book updates it: named at the
    line that updates it in other steps (and the ``if`` around it), or, where a function
    rebinds its weights parameter, at that line."""
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
    given, script = last.given, run.captured.script
    samples = tuple(range(given.offset, given.offset + given.rows))
    elsewhere = next((a.line for a, role in zip(run.timeline.assignments, run.timeline.roles, strict=True)
                      if role is not None and role.kind == "weights" and role.layer == k
                      and a.index in run.timeline.step_of), None)
    line = last.assignment.line if elsewhere is None else elsewhere
    found = Found(MISSING_UPDATE, f"this step ({describe_moment(last)}) leaves {name} as it "
                  "was; the book updates the weights after every step (an update inside an if, "
                  "or a loop that skips samples?)")
    if elsewhere is not None and (guard := enclosing_if(script, elsewhere)) is not None:
        found = Found(MISSING_UPDATE, f"this step ({describe_moment(last)}) leaves {name} as it "
                      f"was: its update at line {elsewhere} is inside the `if` at line {guard}; "
                      "the book updates the weights after every step")
    elif elsewhere is None and script.rebound:
        (line, rebound), function = next(iter(script.rebound.items()))
        found = Found(NOT_WRITTEN_BACK, f"{name} never changes: line {line} ({rebound} = ...) "
                      f"inside {function}() makes a new, local {rebound}, and the caller's "
                      f"weights stay as they were; update it in place ({rebound} -= ...) or "
                      f"return it and assign the result where {function}() is called")
    return Divergence(last.step.epoch, samples, last.step.number, "update", k, name,
                      line, script.statement(line), value, expected, found)


def enclosing_if(script: Script, line: int) -> int | None:
    """The line of the innermost ``if`` whose body holds ``line``, if any."""
    tree = script.tree
    guards = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.If)
              and node.lineno < line <= (node.end_lineno or node.lineno)]
    return max(guards, default=None)


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


def describe_moment(moment: Moment) -> str:
    """``pass 0, sample 2`` (``samples 0-3`` for a batch)."""
    given = moment.given
    if given.rows == 1:
        return f"pass {moment.step.epoch}, sample {given.offset}"
    return f"pass {moment.step.epoch}, samples {given.offset}-{given.offset + given.rows - 1}"
