"""A learner's assignments grouped into the book's steps and passes.

A **step** is one batch through the network (one sample, in the book's stochastic loops):
it opens with its input (``layer_0 = ...``, ``input = ...``) or, where the input is set once
for the whole run (chapter 4), with its first forward layer, and holds what follows —
the forward layers, the error, the deltas, the weight_deltas and the updates — until the
next one opens. Assignments before the first step are the setup (the data, alpha, the
initial weights).

A **pass** over the data ends where the error summed over it is set back to 0
(``layer_2_error = 0``, ``error_for_all_lights = 0``: a plain assignment of 0, where the
sum is made by ``+=`` or ``x = x + ...``); without such a sum, the passes are the
shortest repeating run of the steps' inputs (and goals): a program that learns one sample
(chapter 4) makes every step a pass.

Two ways the book builds a value are put back together first: a list or array filled in
element by element in a loop (``error[i] = ...``, ``weights[i] -= ...``: in-place changes
on one line, nothing else but such changes between them) is one assignment, of its last
value; a list of zeros made only to be filled so (``delta = [0, 0, 0]``) is not one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from steptrace.learner.names import OUTPUT, Role, role_of
from steptrace.learner.runner import Assignment, Captured, Script


@dataclass(frozen=True)
class ScriptStep:
    """One step of the learner's run: which assignments it holds, and where it falls (the
    engine's :class:`~steptrace.engine.network.Step` is what a step computed; this is where
    a script's step is among its assignments)."""

    number: int  # from 0, over the run
    first: int  # the index of its first assignment
    members: tuple[int, ...]  # indices of its assignments, in order
    epoch: int  # its pass
    position: int  # its place in the pass, from 0


@dataclass
class _Opened:
    """A step while the timeline is built: its number, first assignment, members so far."""

    number: int
    first: int
    members: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Timeline:
    """The learner's assignments (merged as the module says), each with its role, and the
    steps and passes they make."""

    captured: Captured
    assignments: list[Assignment]
    roles: list[Role | None]  # per assignment; None: a name of the other naming, ignored
    numbered: bool  # chapter 6's names (layer_1, weights_0_1), or chapters 4-5's
    output: int  # the output layer's number (the network's weight layers)
    steps: list[ScriptStep]
    passes: int
    step_of: dict[int, ScriptStep]  # assignment index -> its step
    resets: int  # how many times the summed error was set back to 0 between steps
    #: a layer (or input) changed in place by a statement that does not assign it: a
    #: function it was passed to wrote into it (``output[output > 0] = 1``); not a step's
    side_effects: tuple[Assignment, ...] = ()

    def name(self, kind: str, layer: int = 0) -> str | None:
        """The learner's name for a role (the first assigned), if any."""
        for assignment, role in zip(self.assignments, self.roles, strict=True):
            if role is not None and role.kind == kind and role.layer == layer:
                return assignment.name
        return None

    def learns(self, step: ScriptStep) -> bool:
        """Whether a step learns (makes a delta, a weight_delta or an update): one that only
        predicts (a forward pass to print the trained network's outputs) does not."""
        return any((role := self.roles[i]) is not None
                   and role.kind in ("delta", "weight_delta", "weights") for i in step.members)

    def first(self, kind: str, layer: int = 0) -> Assignment | None:
        """The first assignment of a role, if any."""
        for assignment, role in zip(self.assignments, self.roles, strict=True):
            if role is not None and role.kind == kind and role.layer == layer:
                return assignment
        return None


def resolved_roles(assignments: Sequence[Assignment]) -> tuple[list[Role | None], bool, int]:
    """Each assignment's role, the output layer's number made explicit; whether the script
    uses chapter 6's numbered names (then the one-layer names ``input``, ``prediction``,
    ``delta``, ``weights`` are not followed) and its output layer's number."""
    roles = [role_of(a.name) for a in assignments]
    numbered = any(r is not None and r.numbered and r.kind in ("layer", "weights") for r in roles)
    if numbered:
        output = max(r.layer for r in roles if r is not None and r.numbered
                     and r.kind in ("layer", "weights", "delta", "weight_delta"))
    else:
        output = 1
    resolved: list[Role | None] = []
    for role in roles:
        if role is None or (numbered and not role.numbered
                            and role.kind in ("input", "layer", "delta", "weights", "weight_delta")):
            resolved.append(None)
        elif role.layer == OUTPUT:
            resolved.append(role._replace(layer=output))
        else:
            resolved.append(role)
    return resolved, numbered, output


def merged(assignments: Sequence[Assignment]) -> list[Assignment]:
    """Values built element by element made one assignment each (see the module)."""
    kept: list[Assignment | None] = list(assignments)
    last_of: dict[str, int] = {}  # name -> index in kept of its latest assignment
    since_all_inplace: dict[str, bool] = {}  # only in-place changes since that one
    for i, assignment in enumerate(assignments):
        for name in since_all_inplace:
            since_all_inplace[name] = since_all_inplace[name] and assignment.inplace
        previous = last_of.get(assignment.name)
        if (previous is not None and assignment.inplace and since_all_inplace.get(assignment.name)
                and (old := kept[previous]) is not None and old.line == assignment.line
                and old.inplace):
            kept[previous] = None  # the same build, one element further
        last_of[assignment.name] = i
        since_all_inplace[assignment.name] = True
    result = [a for a in kept if a is not None]
    # a list of zeros made only to be filled in place: not a value of its own
    dropped = set()
    for i, assignment in enumerate(result):
        if assignment.inplace or np.any(assignment.value):
            continue
        following = next((j for j in range(i + 1, len(result)) if result[j].name == assignment.name), None)
        if following is not None and result[following].inplace and result[following].line != assignment.line:
            dropped.add(i)
    return [replace_index(a, n) for n, a in enumerate(a for i, a in enumerate(result) if i not in dropped)]


def replace_index(assignment: Assignment, index: int) -> Assignment:
    return Assignment(index, assignment.name, assignment.line, assignment.value, assignment.inplace)


def called_writers(script: Script, line: int) -> list[str]:
    """The script's own functions the statement at ``line`` calls that write into an array
    they are handed."""
    words = script.names_in(line)
    return sorted(name for name in script.writes_into if name in words)


def build(captured: Captured) -> Timeline:
    """The timeline of a captured run: roles, steps and passes."""
    assignments = merged(captured.assignments)
    roles, numbered, output = resolved_roles(assignments)
    script = captured.script
    side_effects = []
    for i, (assignment, role) in enumerate(zip(assignments, roles, strict=True)):
        if (role is not None and role.kind in ("layer", "input") and assignment.inplace
                and assignment.name not in script.assigns.get(assignment.line, ())
                and called_writers(script, assignment.line)):
            side_effects.append(assignment)
            roles[i] = None
    forward_layers = [r.layer for r in roles if r is not None and r.kind == "layer"]
    opening = min(forward_layers) if forward_layers else None  # the first forward a step makes
    accumulating = captured.script.accumulating
    opened: list[_Opened] = []
    current: _Opened | None = None
    pending_input: int | None = None  # an input set before its step's first forward
    boundaries: list[int] = []  # step numbers at which a pass begins (a reset before them)

    def close() -> None:
        nonlocal current
        if current is not None:
            opened.append(current)
        current = None

    for i, (assignment, role) in enumerate(zip(assignments, roles, strict=True)):
        if role is None or role.kind in ("goal", "alpha", "inputs", "goals"):
            continue
        kind = role.kind
        if (kind == "accumulator" and (assignment.line, assignment.name) not in accumulating
                and not np.any(assignment.value)):
            # the summed error set back to 0: a pass begins with the next step
            boundaries.append(len(opened) + (current is not None))
            continue
        if kind == "input":
            if current is not None and len(current.members) > 0 and any(
                    roles[j] is not None and roles[j].kind != "input" for j in current.members):  # type: ignore[union-attr]
                close()
            if current is None:
                pending_input = i
            else:
                current.members.append(i)
            continue
        if kind == "layer" and role.layer == opening:
            if current is not None and any(roles[j] == role for j in current.members):
                close()
            if current is None:
                current = _Opened(len(opened), pending_input if pending_input is not None else i)
                if pending_input is not None:
                    current.members.append(pending_input)
                pending_input = None
        if current is None:
            continue  # setup: the initial weights, a summed error's first 0
        current.members.append(i)
    close()
    steps = _passes(opened, boundaries, _keys(opened, assignments, roles)) if opened else []
    step_of = {i: step for step in steps for i in step.members}
    resets = sum(1 for b in boundaries if 0 < b < len(steps))
    passes = steps[-1].epoch + 1 if steps else 0
    return Timeline(captured, assignments, roles, numbered, output, steps, passes, step_of, resets,
                    tuple(side_effects))


def _passes(steps: list[_Opened], boundaries: list[int], keys: list[bytes]) -> list[ScriptStep]:
    """The steps, each with its pass and its place in it."""
    starts = sorted({b for b in boundaries if 0 < b < len(steps)})
    if starts:  # the summed error set back to 0 between steps: that is where passes begin
        edges = [0, *starts, len(steps)]
    else:
        period = _period(keys)
        edges = list(range(0, len(steps) + 1, period))
        if edges[-1] != len(steps):
            edges.append(len(steps))
    return [ScriptStep(step.number, step.first, tuple(step.members), epoch, position)
            for epoch, (start, end) in enumerate(pairwise(edges))
            for position, step in enumerate(steps[start:end])]


def _keys(steps: list[_Opened], assignments: Sequence[Assignment],
          roles: Sequence[Role | None]) -> list[bytes]:
    """What each step was given: the bits of the input and the goal it had when it ended."""
    latest: dict[str, bytes] = {"input": b"", "goal": b""}
    keys = []
    i = 0
    for step in steps:
        end = max(step.members)
        while i <= end:
            role = roles[i]
            if role is not None and role.kind in latest:
                latest[role.kind] = assignments[i].value.tobytes()
            i += 1
        keys.append(latest["input"] + b"|" + latest["goal"])
    return keys


def _period(keys: list[bytes]) -> int:
    """The shortest p that divides len(keys) with keys[j] == keys[j % p] for every j (a pass
    of p steps, repeated), or len(keys) when there is none."""
    n = len(keys)
    for p in range(1, n + 1):
        if n % p == 0 and all(keys[j] == keys[j % p] for j in range(n)):
            return p
    return n
