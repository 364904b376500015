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
from steptrace.errors import BadInput
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
    "Not the book's pressure table (--view pressure, from the data alone): a move follows the "
    "update's delta (at the output, prediction − goal), so an example whose goal is 0 moves a "
    "weight up while its prediction is below 0.",
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
    "ups−downs    +1   +3   +4",
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
    assert lines[start + 3:start + 8] == [
        "      pass       ups     up by     downs   down by      w[2]      w[1]",
        "         0         5    0.3171         1   0.01755   -0.4004    0.7211",
        "         1         3     0.156         3   0.04141   -0.2858    0.8419",
        "         2         3    0.1098         3   0.05999    -0.236    0.9125",
        "         3         3   0.08519         3   0.05844   -0.2092    0.9589",
    ]
    last = "        39         5  0.002676         1  0.001511  -0.01599     1.014"
    said = " ".join(lines[lines.index(last) + 1:])
    assert said == (
        "From pass 0 on, every pass moved w[2] toward 0. The data is fitted exactly by w = "
        "[0, 1, 0], and only by it: once w[1] does the job of its input, anything w[2] adds to a "
        "prediction is error on every row where its input is on, so each pass takes some of it "
        "away, and it goes to 0 (from below here, so its moves up outweigh its moves down). "
        "(The book: conflicting pressure is settled by the weights that do correlate.)")
    # the claims, from the run: |w[2]| shrinks every pass, its moves up outweigh its moves
    # down even in the passes of 3 and 3, and w[1] climbs to 1
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
        "correlation). No linear network does better than an error of 1 on this data (the "
        "least-squares fit, w = [0, 0, 0.5]). After pass 299 the run's error is 1.563.")
    assert not any(line.startswith("Conflicting pressure on") for line in lines)
    # the plateau experiments say what their hidden layer does about it
    linear = " ".join(shown(run_cli, TRACES / "streetlights-linear-hidden-layer.jsonl",
                            "--view", "pressure"))
    assert "After pass 299 the run's error is 1.325. This network's hidden layer is linear, so " \
        "it can do no better than one layer" in linear
    relu = shown(run_cli, TRACES / "ch06-streetlights-backprop.jsonl", "--view", "pressure")
    assert "This network's hidden layer (relu) is the book's answer: it makes correlation out " \
        "of combinations of inputs." in " ".join(relu)
    assert ("The data feeds weights_0_1 (3 inputs → a hidden layer of 4): no weight joins an "
            "input to") in " ".join(relu)
    assert relu[-4:] == ["after pass 59:", "  weights_0_1[0] [-0.166, 0.9106, -0.9998, -0.9002]",
                         "  weights_0_1[1] [-0.7065, -0.9279, -0.6275, 0.897]",
                         "  weights_0_1[2] [-0.2065, -0.03308, -0.1616, 0.00237]"]


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
        "The held-out rows disagree about w[0]: the training rows read it toward 1, the held-out "
        "rows toward 0; it ended at 0.51. All the rows together are fitted exactly by w = [0, 1, "
        "0]; the run, which saw only the training rows, ended at [0.51, 0.49, 0]. In the "
        "training rows inputs 0 and 1 are the same in every row, so every update moves w[0] and "
        "w[1] by the same amount: they keep their starting difference (0.02) and end at 0.51 and "
        "0.49. It fits the rows it trained on and not the others (after pass 399 the training "
        "error is 3.11e-23, the held-out error 1.04): it memorised (the book's overfitting).")


def test_held_out_rows_the_run_does_well_on_are_not_called_overfitting(
        run_cli: RunCli, tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    text = run_cli("experiments", "--show", "ch06-streetlights-full-dataset").stdout
    toml.write_text(text.replace('goal_name = "walk_vs_stop"\n', 'goal_name = "walk_vs_stop"\n'
                                 "test_inputs = [[0, 1, 1], [1, 0, 1], [0, 0, 1]]\n"
                                 "test_goals = [[1], [0], [0]]\n"))
    assert run_cli("record", toml, "-o", tmp_path / "t.jsonl").exit_code == 0
    said = " ".join(shown(run_cli, tmp_path / "t.jsonl", "--view", "pressure"))
    assert "memorised" not in said
    assert said.endswith("It does well on the rows it never saw (after pass 39 the training "
                         "error is 0.0005337, the held-out error 0.0002649).")
    # (the same run's training error as the six-light golden's: held-out rows learn nothing)
    assert steptrace.load(SIX_LIGHTS).errors[-1] == steptrace.load(tmp_path / "t.jsonl").errors[-1]


def test_a_weight_the_run_took_away_from_its_reading_is_said(run_cli: RunCli) -> None:
    said = " ".join(shown(run_cli, TRACES / "ch06-streetlight-single-sample.jsonl", "--view",
                          "pressure"))
    assert said.endswith(
        "The run took w[0] away from its reading (toward 0, yet 0.5 → 0.5988). The table says how "
        "each example presses a weight on its own; the run moves all the weights together, and "
        "stops where the data is fitted as a whole (many weights fit this data exactly, and the "
        "run stops at the first it reaches).")


def test_twin_inputs_move_together_whatever_the_pressure(run_cli: RunCli, tmp_path: Path) -> None:
    """The left light always on with the right one: their weights keep their difference."""
    config = steptrace.experiment("ch06-streetlights-full-dataset").model_dump(mode="json")
    config.update(name="twins", inputs=[[1, 0, 1], [1, 1, 1], [1, 0, 1], [1, 1, 1], [1, 1, 1],
                                        [1, 0, 1]])
    (tmp_path / "twins.json").write_text(json.dumps(config))
    assert run_cli("record", tmp_path / "twins.json", "-o", tmp_path / "t.jsonl").exit_code == 0
    said = " ".join(shown(run_cli, tmp_path / "t.jsonl", "--view", "pressure"))
    assert "It did not go to 0 in this run: it ended at 0.6003. Its input is the same as input " \
        "2's in every row, so every update moves w[0] and w[2] by the same amount: their " \
        "difference stays 1.2 (they ended at 0.6003 and -0.5997), whatever the pressure." in said


@pytest.mark.parametrize("view", ["pressure", "moves"])
def test_a_trace_of_the_passes_alone_is_refused(run_cli: RunCli, tmp_path: Path, view: str) -> None:
    run_cli("record", "streetlights-overfitting", "--detail", "epoch", "-o", tmp_path / "e.jsonl")
    result = run_cli("show", tmp_path / "e.jsonl", "--view", view)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.endswith("and this trace holds the passes' ends alone (recorded with "
                                  "--detail epoch): record it with --detail step\n")


def test_moves_of_a_run_without_updates_says_so(run_cli: RunCli) -> None:
    result = run_cli("show", TRACES / "ch03-multi-input-numpy.jsonl", "--view", "moves")
    assert result.exit_code == 2
    assert result.stderr == ("Error: --view moves shows the run's updates, and this run made none "
                             "(a forward pass only): nothing moved\n")


def test_a_trace_of_the_passes_alone_does_not_pretend_to_hold_the_final_weights(
        tmp_path: Path) -> None:
    steptrace.record("streetlights-overfitting", output=tmp_path / "e.jsonl", detail="epoch")
    trace = steptrace.load(tmp_path / "e.jsonl")
    with pytest.raises(BadInput, match=r"holds the passes' ends alone \(recorded with --detail "
                       r"epoch\): the weights the run ended with are not in it"):
        trace.weights  # noqa: B018
    assert len(trace.errors) == 400
    assert steptrace.load(TRACES / "streetlights-overfitting.jsonl").weights[0][0][0] == \
        0.5100000000033255  # (a step trace holds them)
