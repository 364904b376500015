"""A property of ``steptrace check``: whatever step departs, at whatever layer, in whatever
strategy, however it departs, the check says so at its line, and never fails itself.

Every case of :mod:`tests.departures` (a network of 1 to 3 weight layers; stochastic,
mini-batch or full; each statement of the step scaled, negated, transposed, given another
operand or layer, or a factor short): the check exits 1 (a departure) or 2 (numpy raised)
naming the statement's line, or, where the change leaves every number the script computes
as it was (a transpose of a 1 × 1, a factor of 1), exits 0. It never exits 3.

CI runs a sample of ``STEPTRACE_DEPARTURES`` cases (default 60, drawn with a fixed seed, a
different draw with ``STEPTRACE_DEPARTURES_SEED``); ``STEPTRACE_DEPARTURES=all`` runs every
one of the 415 (some four minutes).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np
import pytest

import steptrace
from steptrace.learner.runner import Captured, ScriptError, capture
from tests.departures import Statement, depart, every_case, program

CASES = every_case()
WANTED = os.environ.get("STEPTRACE_DEPARTURES", "60")
SEED = int(os.environ.get("STEPTRACE_DEPARTURES_SEED", "22"))
SAMPLE = CASES if WANTED == "all" else random.Random(SEED).sample(CASES, min(int(WANTED), len(CASES)))


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})


def _values(path: Path) -> list[tuple[str, np.ndarray]] | str:
    """What a run assigned to the book's names, in order, or how it failed."""
    try:
        captured: Captured = capture(path)
    except ScriptError as error:
        return str(error)
    return [(a.name, a.value) for a in captured.assignments]


def _same(a: list[tuple[str, np.ndarray]] | str, b: list[tuple[str, np.ndarray]] | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return len(a) == len(b) and all(
        x[0] == y[0] and x[1].shape == y[1].shape and np.allclose(x[1], y[1], rtol=1e-9, atol=1e-12)
        for x, y in zip(a, b, strict=True))


def acceptable(statement: Statement, statements: list[Statement], way: str) -> set[int]:
    """The lines a report may name: the statement's; for an output delta negated, also the
    updates (``goal - prediction`` is the book's ascent form, which goes with ``+=``: the
    update with ``-=`` is then the line that departs); for a hidden layer made without its
    relu, also the delta that multiplies by relu2deriv (a linear layer, every step: which of
    the two lines is wrong, the numbers cannot tell, and the report names both)."""
    lines = {statement.line}
    if statement.kind == "output-delta" and way == "negated":
        lines |= {s.line for s in statements if s.kind in ("weight-delta", "update")}
    if statement.kind == "forward" and way == "missing-factor":
        lines |= {s.line for s in statements if s.kind == "hidden-delta" and s.layer == statement.layer}
    return lines


def test_the_cases_cover_every_kind_of_step_and_way() -> None:
    kinds = {(program(depth, strategy)[1][index].kind, way) for depth, strategy, index, way in CASES}
    for kind in ("forward", "error", "output-delta", "hidden-delta", "weight-delta", "update"):
        assert {way for k, way in kinds if k == kind} >= {"scaled", "negated", "transposed"}, kind
    assert len(CASES) > 400


@pytest.mark.parametrize(("depth", "strategy", "index", "way"), SAMPLE,
                         ids=[f"{d}-{s}-{i}-{w}" for d, s, i, w in SAMPLE])
def test_a_departing_step_is_named_at_its_line(tmp_path: Path, depth: int, strategy: str,
                                               index: int, way: str) -> None:
    source, statements = program(depth, strategy)
    statement = statements[index]
    departed = depart(source, statement, way)
    assert departed is not None
    path = tmp_path / "mine.py"
    path.write_text(departed)
    report = steptrace.check_script(path)  # (an internal error would raise here)
    assert report.exit_code in (0, 1, 2), str(report)
    if report.exit_code == 0:  # only where the change changed no number
        original = tmp_path / "book.py"
        original.write_text(source)
        assert _same(_values(path), _values(original)), str(report)
        return
    divergence = None if report.lockstep is None else report.lockstep.divergence
    if divergence is not None:
        named = divergence.line
    else:
        assert report.error is not None
        found = re.match(rf"{re.escape(str(path))}:(\d+):", report.error)
        assert found is not None, report.error
        named = int(found[1])
    assert named in acceptable(statement, statements, way), (
        f"{statement} {way}: named line {named}\n{departed}\n{report}")
