"""Up and down pressure as the book argues it: the table from the data alone (the default
pressure view), its edge cases from the run (conflicting pressure, no correlation), and the
run's own moves (the moves view)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import steptrace
from steptrace.engine.pressure import Sign, Tally, pressure, pushes, tallies
from tests.conftest import TRACES, RunCli, present

SIX_LIGHTS = TRACES / "ch06-streetlights-full-dataset.jsonl"
FOUR_LIGHTS = TRACES / "streetlights-no-hidden-layer.jsonl"

#: The book's table for the six-light data (walk_vs_stop = [0, 1, 0, 1, 1, 0]), as the
#: chapter prints it: left two down one up, middle three up, right three down three up.
BOOK_SIX: list[list[Sign]] = [["−", "0", "−"], ["0", "+", "+"], ["0", "0", "−"],
                              ["+", "+", "+"], ["0", "+", "+"], ["−", "0", "−"]]
#: The same rule by hand on the four-light data of the backprop cell (walk_vs_stop =
#: [1, 1, 0, 0]): every column balanced, the chapter's "no correlation".
BOOK_FOUR: list[list[Sign]] = [["+", "0", "+"], ["0", "+", "+"], ["0", "0", "−"], ["−", "−", "−"]]

#: `show --view pressure` of the six-light run: the book's six rows and readings, and the
#: weights after the last of its 40 passes.
SIX_TABLE = [
    "streetlights   walk_vs_stop           w[0]         w[1]         w[2]",
    "[1, 0, 1]      0                         −            0            −",
    "[0, 1, 1]      1                         0            +            +",
    "[0, 0, 1]      0                         0            0            −",
    "[1, 1, 1]      1                         +            +            +",
    "[0, 1, 1]      1                         0            +            +",
    "[1, 0, 1]      0                         −            0            −",
    "ups                                      1            3            3",
    "downs                                    2            0            3",
    "zeros                                    3            3            0",
    "reading                           toward 0     toward 1  conflicting",
    "after pass 39                      0.01389        1.014     -0.01599",
]

#: ch06-streetlights-full-dataset's first pass as the moves view prints it: the run moved
#: w[0] and w[2] *up* for [1, 0, 1] → 0 (its first prediction, -0.2, was below the goal),
#: where the book's table has − 0 −.
FIRST_PASS_MOVES = [
    "How each update of the run moved each weight: + up, − down, 0 no move (its input or its "
    "delta was 0).",
    "Not the book's pressure table (--view pressure, from the data alone): a move follows "
    "prediction − goal, so an example whose goal is 0 moves a weight up while its prediction "
    "is below 0.",
    "w[i] is the weight from input i.",
    "",
    "weights, pass (epoch) 0:",
    "samples    w[0] w[1] w[2]",
    "0             +    0    +",
    "1             0    +    +",
    "2             0    0    +",
    "3             +    +    +",
    "4             0    +    +",
    "5             −    0    −",
    "net          +1   +3   +4",
    "",
]


def shown(run_cli: RunCli, *args: object) -> list[str]:
    result = run_cli("show", *map(str, args))
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_the_rule_is_the_books() -> None:
    assert [pushes(1, 1), pushes(1, 0), pushes(0, 1), pushes(0, 0)] == ["+", "−", "0", "0"]
    six = steptrace.experiment("ch06-streetlights-full-dataset")
    four = steptrace.experiment("ch06-streetlights-backprop")
    assert pressure(six.inputs.tolist(), present(six.goals).tolist()) == BOOK_SIX
    assert pressure(four.inputs.tolist(), present(four.goals).tolist()) == BOOK_FOUR
    assert tallies(BOOK_SIX) == [Tally(1, 2, 3), Tally(3, 0, 3), Tally(3, 3, 0)]
    assert [t.reading for t in tallies(BOOK_SIX)] == ["toward 0", "toward 1", "conflicting"]
    assert [t.reading for t in tallies(BOOK_FOUR)] == ["conflicting"] * 3
    assert Tally(0, 0, 4).reading == "no pressure"


def test_the_six_light_table_is_the_books_beside_where_the_run_took_each_weight(
        run_cli: RunCli) -> None:
    lines = shown(run_cli, SIX_LIGHTS, "--view", "pressure")
    assert lines[0].startswith("Up and down pressure, from the data (the book's table)")
    start = lines.index(SIX_TABLE[0])
    assert lines[start:start + len(SIX_TABLE)] == SIX_TABLE
    # each column went where the book reads it: toward 0, toward 1, and the conflicting one to 0
    left, middle, right = steptrace.load(SIX_LIGHTS).weights[0][:, 0]
    assert abs(left) < 0.02 and abs(middle - 1) < 0.02 and abs(right) < 0.02


def test_conflicting_pressure_is_settled_by_the_weight_that_correlates(run_cli: RunCli) -> None:
    lines = shown(run_cli, SIX_LIGHTS, "--view", "pressure")
    start = lines.index("Conflicting pressure on w[2]: the data pushes it up 3 times and down 3 "
                        "times a pass, yet the")
    assert lines[start + 1] == "run took it from -0.7 to -0.01599 (toward 0)."
    start += 1
    assert lines[start + 1:start + 6] == [
        "      pass        up      down      w[2]      w[1]",
        "         0         5         1   -0.4004    0.7211",
        "         1         3         3   -0.2858    0.8419",
        "         2         3         3    -0.236    0.9125",
        "         3         3         3   -0.2092    0.9589",
    ]
    assert "        39         5         1  -0.01599     1.014" in lines
    said = " ".join(lines[lines.index("        39         5         1  -0.01599     1.014") + 1:])
    assert said.startswith("From pass 0 on, every pass moved w[2] toward 0. After pass 0, w[1] "
                           "was 0.7211 (the data pushes it toward 1): it carries the correlation.")
    # the claim, from the run: |w[2]| shrinks every pass, while w[1] climbs toward 1
    trace = steptrace.load(SIX_LIGHTS)
    ends = [e for e in trace.events if e.kind == "update" and e.samples == (5,)]
    right = [-0.7] + [present(e.weights)[2][0] for e in ends]
    assert all(abs(b) < abs(a) for a, b in pairwise(right))
    assert present(ends[-1].weights)[1][0] > 0.99


def test_no_correlation_every_column_balanced(run_cli: RunCli) -> None:
    lines = shown(run_cli, FOUR_LIGHTS, "--view", "pressure")
    start = lines.index("streetlights    walk_vs_stop           w[0]         w[1]         w[2]")
    assert lines[start + 1:start + 5] == [
        "[1, 0, 1]       1                         +            0            +",
        "[0, 1, 1]       1                         0            +            +",
        "[0, 0, 1]       0                         0            0            −",
        "[1, 1, 1]       0                         −            −            −",
    ]
    assert lines[start + 8] == ("reading                         conflicting  conflicting  "
                                "conflicting")
    said = " ".join(lines[start + 11:])
    assert said.startswith(
        "Every column is conflicting: no input correlates with walk_vs_stop on its own (no "
        "correlation). With nothing to correlate, the weights settle where the pressures cancel: "
        "after pass 299 they are [1.11e-16, -0.125, 0.375], and the error stays at 1.563.")
    assert not any(line.startswith("Conflicting pressure on") for line in lines)
    # the plateau experiments say what their hidden layer does about it
    linear = " ".join(shown(run_cli, TRACES / "streetlights-linear-hidden-layer.jsonl",
                            "--view", "pressure"))
    assert "This network's hidden layer is linear, so it adds nothing a single layer could " \
        "not do" in linear
    relu = shown(run_cli, TRACES / "ch06-streetlights-backprop.jsonl", "--view", "pressure")
    assert "This network's hidden layer (relu) is the book's answer: it makes correlation out " \
        "of combinations of inputs." in " ".join(relu)
    assert ("The data feeds weights_0_1 (3 inputs → a hidden layer of 4): no weight joins an "
            "input to") in " ".join(relu)
    assert relu[-4:] == ["after pass 59:", "  w[0][·] [-0.166, 0.9106, -0.9998, -0.9002]",
                         "  w[1][·] [-0.7065, -0.9279, -0.6275, 0.897]",
                         "  w[2][·] [-0.2065, -0.03308, -0.1616, 0.00237]"]


def test_the_weights_after_the_passes_asked_for(run_cli: RunCli) -> None:
    lines = shown(run_cli, SIX_LIGHTS, "--view", "pressure", "--epoch", "0", "--epoch", "39")
    assert lines[lines.index(SIX_TABLE[-1]) - 1:lines.index(SIX_TABLE[-1]) + 1] == [
        "after pass 0                        0.5408       0.7211      -0.4004", SIX_TABLE[-1]]
    result = run_cli("show", SIX_LIGHTS, "--view", "pressure", "--epoch", "40")
    assert result.exit_code == 2 and result.stdout == ""
    assert "no event matches --epoch 40" in result.stderr


def test_data_that_is_not_zeros_and_ones_has_no_table(run_cli: RunCli) -> None:
    result = run_cli("show", TRACES / "ch04-hot-cold-up.jsonl", "--view", "pressure")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --view pressure is the book's table of data of 0s and 1s (lights on or off, walk "
        "or stop); ch04-hot-cold-up's inputs are not (e.g. 8.5): --view moves shows which way "
        "each update moved each weight\n")


def test_the_api_shows_the_same(run_cli: RunCli) -> None:
    trace = steptrace.load(SIX_LIGHTS)
    assert trace.show("pressure").splitlines() == shown(run_cli, SIX_LIGHTS, "--view", "pressure")
    assert trace.show("moves", epoch=0).splitlines() == FIRST_PASS_MOVES[:-1]  # (no last "")


def test_the_moves_view_is_how_each_update_moved_each_weight(run_cli: RunCli) -> None:
    assert shown(run_cli, SIX_LIGHTS, "--view", "moves", "--epoch", "0") == FIRST_PASS_MOVES


def test_a_two_layer_net_gets_a_moves_table_per_weight_layer_and_pass(run_cli: RunCli) -> None:
    lines = shown(run_cli, TRACES / "streetlights-minibatch.jsonl", "--view", "moves")
    titles = [line for line in lines if ", pass (epoch) " in line]
    assert len(titles) == 2 * 300
    assert sum(line.startswith("How each update") for line in lines) == 1  # the legend, once
    assert lines[2] == "w[i][j] is the weight from input i (a node of the layer below) to output j."
    assert titles[0] == "weights_0_1, pass (epoch) 0:"
    assert titles[1] == "weights_1_2, pass (epoch) 0:"
    assert lines[lines.index(titles[1]) + 1] == "samples    w[0] w[1] w[2] w[3]"


@pytest.mark.parametrize("view", ["pressure", "moves"])
def test_pressure_and_moves_take_only_an_epoch_filter(run_cli: RunCli, view: str) -> None:
    result = run_cli("show", TRACES / "ch06-streetlights-backprop.jsonl", "--view", view,
                     "--sample", "1")
    assert result.exit_code == 2
    assert f"--view {view} takes --epoch only" in result.stderr


def test_the_page_shows_the_same_table(run_cli: RunCli, tmp_path: Path) -> None:
    def data(trace: Path) -> Any:
        page = tmp_path / f"{trace.stem}.html"
        assert run_cli("html", trace, "-o", page).exit_code == 0
        text = page.read_text()
        start = text.index('<script type="application/json" id="data">') + len(
            '<script type="application/json" id="data">')
        return json.loads(text[start:text.index("</script>", start)].replace("<\\/", "</"))

    assert data(SIX_LIGHTS)["pressure"] == shown(run_cli, SIX_LIGHTS, "--view", "pressure")
    assert data(TRACES / "ch04-hot-cold-up.jsonl")["pressure"] is None  # (not 0s and 1s)


def test_overfitting_the_held_out_rows_read_a_weight_otherwise(run_cli: RunCli) -> None:
    """streetlights-overfitting trains on [1, 1, 1] → 1 and [0, 0, 1] → 0: the training rows
    press the left weight toward 1; the four held out press it toward 0 (the six-light
    data's reading), and the run, which saw only the first two, left it at 0.51."""
    lines = shown(run_cli, TRACES / "streetlights-overfitting.jsonl", "--view", "pressure")
    start = lines.index("streetlights    walk_vs_stop           w[0]         w[1]         w[2]")
    assert lines[start + 1:start + 9] == [
        "[1, 1, 1]       1                         +            +            +",
        "[0, 0, 1]       0                         0            0            −",
        "ups                                       1            1            1",
        "downs                                     0            0            1",
        "zeros                                     1            1            0",
        "reading                            toward 1     toward 1  conflicting",
        "after pass 399                         0.51         0.49   -4.631e-12",
        "",
    ]
    held = lines.index("Held-out rows (test_inputs, test_goals: the run never trained on them), "
                       "the same rule:")
    assert lines[held + 1:held + 10] == [
        "streetlights  walk_vs_stop           w[0]         w[1]         w[2]",
        "[1, 0, 1]     0                         −            0            −",
        "[0, 1, 1]     1                         0            +            +",
        "[0, 1, 1]     1                         0            +            +",
        "[1, 0, 1]     0                         −            0            −",
        "ups                                     0            2            2",
        "downs                                   2            0            2",
        "zeros                                   2            2            0",
        "reading                          toward 0     toward 1  conflicting",
    ]
    assert " ".join(lines[held + 10:]) == (
        "They read w[0] (toward 1 in training, toward 0 held out; it ended at 0.51) otherwise. "
        "The run follows the pressure of the rows it trains on: it fitted them without the "
        "weights that correlate in all the data, so it stops learning there — it memorised (the "
        "book's overfitting); its held-out error after pass 399 is 1.04.")
