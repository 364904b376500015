"""The literate view's steps as clauses (formula, operands, operators) and as lines.

``show`` writes each step's clauses out as one line, the HTML page lays the same operands
out as tables; the lines below were printed by ``show`` before the clauses existed (one for
each way a step is narrated that the CLI's and README's tests do not already pin), so the
line ``show`` writes has not moved by a byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import steptrace
from steptrace.plugins.loaded import registry
from steptrace.trace.events import UpdateEvent
from steptrace.trace.reader import open_trace
from steptrace.views.literate import Clause, Literate, Operand, Sign
from steptrace.views.text import Filters
from tests.conftest import TRACES

MINIBATCH = {"iterations": 2, "strategy": {"name": "minibatch", "batch_size": 4}}
# (experiment, changes to it, the line's start "[seq]" or "── epoch", the line)
LINES = [
    ("ch05-freeze-one-weight", {}, "[3]",
     "[3] weight_delta = inputᵀ · delta = [[ 8.5], [0.65], [ 1.2]] · -0.14 = [[     0], [-0.091], "
     "[-0.168]]; weights -= alpha · weight_delta: weights = [[ 0.1], [ 0.2], [-0.1]] − 0.3 · [[     0], "
     "[-0.091], [-0.168]] = [[    0.1], [ 0.2273], [-0.0496]] (weights[0][0] frozen: its weight_delta "
     "is 0)"),
    ("ch04-hot-and-cold-learning", {"iterations": 3}, "[2]",
     "[2] hot_and_cold: up_prediction = 0.2505, up_error = 0.302, down_prediction = 0.2495, "
     "down_error = 0.3031 → weight_delta = -0.001; weight -= alpha · weight_delta: weight = 0.5 − 1 · "
     "-0.001 = 0.501"),
    ("streetlights-momentum", {"iterations": 3}, "[5]",
     "[5] momentum: beta = 0.9 → weight_delta = [[      0], [-0.3151], [      0], [      0]]; "
     "weights_1_2 -= alpha · weight_delta: weights_1_2 = [[-0.5911], [ 0.7562], [-0.9452], [ 0.3409]] "
     "− 0.05 · [[      0], [-0.3151], [      0], [      0]] = [[-0.5911], [  0.772], [-0.9452], "
     "[ 0.3409]]"),
    # Nesterov's second update: its velocity, 0.9 times the first plus the look-ahead's
    # gradient; right after the error, as the trace holds no deltas (a look-ahead is untraced)
    ("streetlights-nesterov", {"iterations": 3}, "[8]",
     "[8] nesterov: beta = 0.9 → weight_delta = [[       0], [ -0.2836], [       0], [-0.06027]]; "
     "weights_1_2 -= alpha · weight_delta: weights_1_2 = [[-0.5911], [  0.772], [-0.9452], "
     "[ 0.3409]] − 0.05 · [[       0], [ -0.2836], [       0], [-0.06027]] = [[-0.5911], "
     "[ 0.7862], [-0.9452], [ 0.3439]]"),
    ("ch04-alpha", {"iterations": 3, "nonlinearities": ["sigmoid"], "delta": "goal - prediction"}, "[0]",
     "[0] prediction = sigmoid(input · weight) = sigmoid(1) = 0.7311"),
    ("ch04-alpha", {"iterations": 3, "nonlinearities": ["sigmoid"], "delta": "goal - prediction"}, "[2]",
     "[2] delta = (goal_pred[0] − prediction) * sigmoid2deriv(prediction) = (…) * 0.1966 = 0.01355"),
    ("ch04-alpha", {"iterations": 3, "nonlinearities": ["sigmoid"], "delta": "goal - prediction"}, "[3]",
     "[3] weight_delta = inputᵀ · delta = 2 · 0.01355 = 0.02711; weight += alpha · weight_delta: "
     "weight = 0.5 + 0.1 · 0.02711 = 0.5027"),
    ("ch06-streetlights-backprop", {"iterations": 2, "nonlinearities": ["tanh", "sigmoid"]}, "[3]",
     "[3] layer_2_delta = (layer_2 − walk_vs_stop[0]) * sigmoid2deriv(layer_2) = (…) * [0.1646] = "
     "[-0.03418]"),
    ("ch06-streetlights-full-dataset", MINIBATCH, "[3]",
     "[3] weight_delta = mean over 4 samples of (inputᵀ · delta) = mean([[1, 0, 0, 1], [0, 1, 0, 1], "
     "[1, 1, 1, 1]] · [[ -0.2], [-1.22], [ -0.7], [-0.72]]) = [[ -0.23], [-0.485], [ -0.71]]; weights "
     "-= alpha · weight_delta: weights = [[ 0.5], [0.48], [-0.7]] − 0.1 · [[ -0.23], [-0.485], "
     "[ -0.71]] = [[ 0.523], [0.5285], [-0.629]]"),
    ("ch06-streetlights-full-dataset", MINIBATCH, "── epoch 0 · samples 4",
     "── epoch 0 · samples 4, 5: input = streetlights[4:6] = [[0, 1, 1], [1, 0, 1]], goal "
     "walk_vs_stop[4:6] = [[1], [0]]"),
    ("streetlights-linear-hidden-layer", {"iterations": 1}, "[4]",
     "[4] layer_1_delta = layer_2_delta · weights_1_2ᵀ = [-0.4146, 0.5304, -0.6629, 0.2391]"),
    ("ch03-stacked-hidden-layer", {}, "── epoch",
     "── epoch 0 · sample 0: layer_0 = toes_wlrec_nfans[0] = [8.5, 0.65, 1.2]"),
    ("ch03-stacked-hidden-layer", {}, "[2]", "[2] end of epoch 0"),
    ("ch06-streetlights-backprop", {"iterations": 2, "strategy": {"name": "full"},
                                    "frozen": [[0, 1, 1]]}, "[6]",
     "[6] weights_0_1 -= alpha · mean over 4 samples of (layer_0ᵀ · layer_1_delta): weights_0_1 = "
     "[[ -0.166,  0.4406, -0.9998, -0.3953], [-0.7065, -0.8153, -0.6275, -0.3089], [-0.2065, 0.07763, "
     "-0.1616,  0.3704]] − 0.2 · [[       0,   -0.115,        0,        0], [       0,        0,        "
     "0, -0.08344], [       0, -0.07998,        0, -0.06768]] = [[ -0.166,  0.4636, -0.9998, -0.3953], "
     "[-0.7065, -0.8153, -0.6275, -0.2922], [-0.2065, 0.09363, -0.1616,   0.384]] (weights_0_1[1][1] "
     "frozen)"),
]


def record(tmp_path: Path, name: str, changes: dict[str, Any]) -> Path:
    config = steptrace.experiment(name).model_dump() | changes
    path = tmp_path / f"{name}.jsonl"
    steptrace.record(steptrace.Experiment.model_validate(config), output=path)
    return path


@pytest.mark.parametrize(("name", "changes", "start", "expected"), LINES,
                         ids=[f"{name}{start}" for name, _, start, _ in LINES])
def test_each_way_of_narrating_a_step_writes_the_line_it_always_wrote(
        tmp_path: Path, name: str, changes: dict[str, Any], start: str, expected: str) -> None:
    with open_trace(record(tmp_path, name, changes)) as reader:
        narrator = Literate(reader.header, registry(), 4)
        line = next(line for line in narrator.lines(reader, Filters()) if line.startswith(start))
    assert line == expected


def test_an_update_is_four_operands_the_trace_holds() -> None:
    """weights_0_1 (before) − alpha · weight_delta = weights_0_1 (after), in that order, each
    the trace's own numbers; the line writes the formula, then the same operands."""
    with open_trace(TRACES / "ch06-streetlights-backprop.jsonl") as reader:
        narrator = Literate(reader.header, registry(), 4)
        for event in reader:
            event = narrator.state.complete(event)
            if isinstance(event, UpdateEvent) and event.layer == 1:
                break
        assert isinstance(event, UpdateEvent)
        before = narrator.state.before[0]
        (clause,) = narrator.clauses(event)
        line = narrator.narrate(event)
    assert isinstance(clause, Clause)
    assert clause.formula == "weights_0_1 -= alpha · layer_0ᵀ · layer_1_delta"
    shown = list(clause.on_page())
    operands = [part for part in shown if isinstance(part, Operand)]
    assert [o.name for o in operands] == ["weights_0_1 (before)", "alpha", "layer_0ᵀ · layer_1_delta",
                                          "weights_0_1 (after)"]
    assert [part.text.strip() for part in shown if isinstance(part, Sign)] == ["−", "·", "="]
    assert np.array_equal(np.asarray(operands[0].value), before)
    assert operands[1].value == event.alpha == 0.2
    assert operands[2].value == event.weight_delta and operands[3].value == event.weights
    assert line.startswith(clause.formula + ": weights_0_1 = [[ -0.166,")


def test_the_page_sees_what_the_line_leaves_out() -> None:
    """The line of layer_2's forward step writes only its result (layer_1 and the weights
    were printed before); the page shows layer_1 · weights_1_2 = layer_2 whole."""
    with open_trace(TRACES / "ch06-streetlights-backprop.jsonl") as reader:
        narrator = Literate(reader.header, registry(), 4)
        events = [narrator.state.complete(event) for _, event in zip(range(2), reader, strict=False)]
        (clause,) = narrator.clauses(events[1])
    assert clause.line(4) == "layer_2 = layer_1 · weights_1_2 = [0.3919]"
    shown = list(clause.on_page())
    assert [p.name if isinstance(p, Operand) else p.text.strip() for p in shown] == [
        "layer_1", "·", "weights_1_2", "=", "layer_2"]
    assert shown[0].value == events[0].layer_out  # type: ignore[union-attr]
