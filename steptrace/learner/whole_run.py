"""The run as a whole, beside the book's: what no single step's rule can see.

The lockstep check (:mod:`steptrace.learner.check`) recomputes each assignment from the
learner's values just before it, so it accepts ``layer_2_error += error`` whatever the sum
held before, and a pass that never gives one of the samples. The book's run has a shape of
its own, checked here:

- **every pass gives every sample once, in order**: the rows of ``streetlights`` (the
  dataset the script names), sample 0 to the last, each once per pass (a loop that stops
  early skips one; an index list may repeat one), where the script loops over the samples
  at all (chapter 6 first learns one sample, again and again);
- **each step's goal is its own samples' goal**, where the script holds it in a variable
  (``goal_prediction = walk_vs_stop[row_index]``): set once, outside the loop, every
  sample is held to the first one's goal;
- **a layer stays as it was made**: a function of the script's that writes into the array it
  is handed (``output[output > 0] = 1`` in a ``relu2deriv``) changes the layer under the
  step that uses it next;
- **the pass's summed error starts from 0 every pass** (``layer_2_error = 0`` at the start
  of each pass): set to 0 once, before the loop, each pass's error adds onto the last's;
  set to 0 inside the loop over samples, it holds one sample's error, not the pass's.

Each departure is told as the lockstep's are (a :class:`Departure`), at the line to fix:
the loop that gives the samples, or the line that sets the sum to 0.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

from steptrace.defaults import DIGITS
from steptrace.engine.rules import Array
from steptrace.learner.mapping import INFER, LearnerRun, rows_in, walk
from steptrace.learner.runner import Script
from steptrace.learner.timeline import ScriptStep, called_writers


@dataclass(frozen=True)
class Departure:
    """Where the run as a whole parts from the book's: at which step it shows, the line to
    fix (and the name it assigns), what the run did, what the book's does, and why."""

    step: ScriptStep
    samples: tuple[int, ...]  # the samples the step was given (the dataset's rows)
    line: int
    variable: str
    yours: str
    book: str
    name: str  # the mistake's name (as the catalogue's: error-not-reset, sample-skipped, ...)
    title: str
    detail: str
    at: int = -1  # the assignment where it shows (-1: as the step begins)


def departure(run: LearnerRun) -> Departure | None:
    """The earliest place where the run as a whole departs from the book's, if any."""
    found = [d for d in (_samples(run), _error_resets(run), _goals(run), _side_effects(run))
             if d is not None]
    return min(found, key=lambda d: (d.step.number, d.at)) if found else None


def enclosing_loops(script: Script, line: int) -> list[ast.For | ast.While]:
    """The loops around ``line``, outermost first."""
    tree = script.tree
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.For | ast.While)
             and node.lineno < line <= (node.end_lineno or node.lineno)]
    return sorted(loops, key=lambda node: node.lineno)


def _dataset(run: LearnerRun) -> Array | None:
    """The dataset the script names (``streetlights``), as rows of the input's width."""
    timeline = run.timeline
    found = timeline.first("inputs")
    if found is None:
        return None
    value, width = found.value, run.shape.sizes[0]
    if value.ndim == 2 and value.shape[1] == width:
        return value
    if value.ndim == 1 and width == 1:
        return value.reshape(-1, 1)
    return None


def _samples(run: LearnerRun) -> Departure | None:
    """Every pass gives each sample of the dataset once, in order."""
    data = _dataset(run)
    if data is None or len(data) == 0:
        return None
    name = run.names.get(("inputs", 0), "streetlights")
    everything = list(range(len(data)))
    passes: dict[int, list[tuple[ScriptStep, list[int]]]] = {}
    for step in run.timeline.steps:
        if not run.timeline.learns(step):  # a prediction (the trained network's outputs)
            continue
        given = run.given[step.number]
        rows = rows_in(given.input, data, given.offset)
        if rows is None:  # a row that is not the dataset's: the lockstep says what it is
            return None
        passes.setdefault(step.epoch, []).append((step, rows))
    if len({sample for steps in passes.values() for _, rows in steps for sample in rows}) < 2:
        return None  # a program that learns one sample (chapter 6's first cell) loops over none
    for epoch, steps in sorted(passes.items()):
        seen: list[int] = []
        for step, rows in steps:
            for sample in rows:
                if sample in seen:
                    return _departs(run, step, rows, epoch, name, seen + rows, "sample-repeated",
                                    "a sample given twice in a pass",
                                    f"sample {sample} is given a second time in pass {epoch}")
            seen += rows
            if seen != everything[:len(seen)]:
                return _departs(run, step, rows, epoch, name, seen, "sample-order",
                                "the samples out of the book's order",
                                f"pass {epoch} gives sample {seen[-1]} where the book's gives "
                                f"sample {everything[len(seen) - 1]}: the book's loop goes "
                                "through the samples in order (each step's own rule may agree; "
                                "a shuffled order is another run, whose numbers are not the "
                                "book's)")
        if seen != everything:
            last_step, last_rows = steps[-1]
            if (misplaced := _reset_in_sample_loop(run, last_step)) is not None:
                return misplaced
            missing = [i for i in everything if i not in seen]
            return _departs(run, last_step, last_rows, epoch, name, seen, "sample-skipped",
                            "a sample never given",
                            f"pass {epoch} ends without sample{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(map(str, missing))} of the {len(data)} of {name}: does the "
                            "loop over the samples stop early (range(len(...) - 1))?")
    return None


def _listed(samples: list[int]) -> str:
    return ", ".join(map(str, samples[:12])) + (", …" if len(samples) > 12 else "")


def _departs(run: LearnerRun, step: ScriptStep, rows: list[int], epoch: int, name: str, seen: list[int],
             mistake: str, title: str, detail: str) -> Departure:
    """A departure in the samples a pass gives, at the loop that gives them."""
    first = run.timeline.assignments[step.first]
    loops = enclosing_loops(run.captured.script, first.line)
    line = loops[-1].lineno if loops else first.line
    samples = len(run.inputs) if (data := _dataset(run)) is None else len(data)
    return Departure(step, tuple(rows), line, first.name, f"pass {epoch} gives samples {_listed(seen)}",
                     f"every pass gives each sample of {name} once, in order: "
                     f"{_listed(list(range(samples)))}", mistake, title, detail)


def _places(run: LearnerRun, step: ScriptStep) -> tuple[int, ...]:
    """The places in its pass of a step's samples."""
    given = run.given[step.number]
    return tuple(range(given.offset, given.offset + given.rows))


def _resets(run: LearnerRun) -> list[tuple[int, int]]:
    """(assignment index, line) of each time the pass's summed error is set to 0."""
    timeline, adding = run.timeline, run.captured.script.accumulating
    return [(a.index, a.line) for a, role in zip(timeline.assignments, timeline.roles, strict=True)
            if role is not None and role.kind == "accumulator"
            and (a.line, a.name) not in adding and not np.any(a.value)]


def _reset_in_sample_loop(run: LearnerRun, step: ScriptStep) -> Departure | None:
    """A pass cut short by the summed error set to 0 inside the loop over the samples."""
    script, first = run.captured.script, run.timeline.assignments[step.first]
    earlier = [line for index, line in _resets(run) if index < step.first]
    if not earlier or not run.timeline.resets:
        return None
    line = earlier[-1]
    around_input = enclosing_loops(script, first.line)
    if not around_input or around_input[-1] not in enclosing_loops(script, line):
        return None
    name = run.name("accumulator", run.output)
    return Departure(step, _places(run, step), line, name, f"{name} = 0 before every sample",
                     f"{name} = 0 once at the start of every pass",
                     "error-reset-per-sample", "the pass's error set to 0 for every sample",
                     f"{name} is set to 0 inside the loop over the samples ({script.place(line)}): it "
                     "holds one sample's error, not the pass's; the book sets it to 0 once, at "
                     "the start of each pass, before the loop over the samples")


def _error_resets(run: LearnerRun) -> Departure | None:
    """The summed error starts from 0 every pass (it adds each of the pass's errors)."""
    if run.timeline.passes < 2:
        return None
    adding = run.captured.script.accumulating
    output = run.output
    begun: set[int] = set()
    for moment in walk(run):
        role, step = moment.role, moment.step
        if role.kind != "accumulator" or step.epoch == 0 or step.epoch in begun:
            continue
        if (moment.assignment.line, moment.assignment.name) not in adding:
            begun.add(step.epoch)  # (a plain assignment: the lockstep checks what it sets)
            continue
        begun.add(step.epoch)
        old = moment.before.get(("accumulator", output))
        if old is None or old.size != 1 or float(old.reshape(())) == 0:
            continue
        name = moment.assignment.name
        resets = [(index, line) for index, line in _resets(run) if index < moment.assignment.index]
        before_loop = [line for index, line in resets if index < run.timeline.steps[0].first]
        if resets and len(resets) == len(before_loop):
            line = before_loop[-1]
            detail = (f"{name} is set to 0 once, before the loop "
                      f"({run.captured.script.place(line)}); the book sets it "
                      "to 0 at the start of every pass, so each pass's error is its own: here "
                      f"pass {step.epoch}'s sum starts from pass {step.epoch - 1}'s "
                      f"({float(old.reshape(())):.6g})")
        else:
            line = resets[-1][1] if resets else moment.assignment.line
            detail = (f"{name} is not set to 0 at the start of pass {step.epoch}: its sum starts "
                      f"from {float(old.reshape(())):.6g}, the last pass's")
        return Departure(step, _places(run, step), line, name,
                         f"{name} = {float(old.reshape(())):.{DIGITS}g} at the start "
                         f"of pass {step.epoch}", f"{name} = 0 at the start of every pass",
                         "error-not-reset", "the pass's error not set to 0 every pass", detail)
    return None


def _goals(run: LearnerRun) -> Departure | None:
    """A goal variable holds the goal of the step's own samples (the rows of the goals
    dataset that go with the rows of the inputs dataset the step was given)."""
    timeline = run.timeline
    data, goals = _dataset(run), timeline.first("goals")
    if data is None or goals is None or ("goal", 0) not in run.names:
        return None
    wanted = goals.value.reshape(len(data), -1) if goals.value.size % max(len(data), 1) == 0 else None
    if wanted is None:
        return None
    for step in timeline.steps:
        given = run.given[step.number]
        rows = rows_in(given.input, data, given.offset)
        if not timeline.learns(step) or rows is None or given.goal is None:
            continue
        book = wanted[rows].reshape(given.goal.shape) if wanted[rows].size == given.goal.size else None
        if book is None or np.allclose(book, given.goal, rtol=INFER["rtol"], atol=INFER["atol"]):
            continue
        made = [a for a in timeline.assignments[:step.members[-1] + 1]
                if (role := timeline.roles[a.index]) is not None and role.kind == "goal"]
        line = made[-1].line if made else timeline.assignments[step.first].line
        name = run.names[("goal", 0)]
        samples = ", ".join(map(str, rows))
        where = run.captured.script.place(line)
        return Departure(step, tuple(rows), line, name,
                         f"{name} = {_values(given.goal)} for sample {samples}",
                         f"{name} = {_values(book)}, sample {samples}'s goal",
                         "goal-of-another-sample", "the goal of another sample",
                         f"{name} (set {where}) is not sample {samples}'s goal: set it inside the "
                         "loop, from the same index as the input, so that each sample is held "
                         "to its own goal")
    return None


def _values(value: Array) -> str:
    flat = [f"{x:g}" for x in value.ravel().tolist()]
    return flat[0] if len(flat) == 1 else "[" + ", ".join(flat) + "]"


def _side_effects(run: LearnerRun) -> Departure | None:
    """A layer changed in place by a function it was passed to, named at the line inside
    that function which writes into it."""
    timeline, script = run.timeline, run.captured.script
    for changed in timeline.side_effects:
        steps = [step for step in timeline.steps if step.first <= changed.index]
        if not steps:
            continue
        step = steps[-1]
        writers = called_writers(script, changed.line)
        function = writers[0]
        line = script.writes_into[function]
        return Departure(step, _places(run, step), line, changed.name,
                         f"{changed.name} changed at line {changed.line} by {function}(), which "
                         "writes into it", f"{changed.name} as its line made it, until it is made again",
                         "changed-by-call", "a layer changed by a function it was passed to",
                         f"{function}() writes into the array it is handed ({script.statement(line)}), "
                         f"so the call at line {changed.line} changes {changed.name} itself, and what "
                         f"uses {changed.name} after it gets other numbers: return a new array "
                         "instead (the book's relu2deriv returns output > 0)", changed.index)
    return None
