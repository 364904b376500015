"""The book's up/down pressure table, from what the run did."""

from __future__ import annotations

from tests.conftest import TRACES, RunCli

#: ch06-streetlights-full-dataset's first pass (the middle light pushed up three times), as
#: `show --view pressure --epoch 0` prints it; the notebook's pressure cell prints the same.
FIRST_PASS = [
    "How each update moved each weight: + up, − down, 0 no move (its input or its delta was 0).",
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


def test_the_middle_streetlight_is_pushed_up_three_times_in_the_first_pass(run_cli: RunCli) -> None:
    shown = run_cli("show", TRACES / "ch06-streetlights-full-dataset.jsonl", "--view", "pressure",
                    "--epoch", "0")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines() == FIRST_PASS


def test_a_two_layer_net_gets_a_table_per_weight_layer_and_pass(run_cli: RunCli) -> None:
    shown = run_cli("show", TRACES / "streetlights-minibatch.jsonl", "--view", "pressure")
    lines = shown.stdout.splitlines()
    titles = [line for line in lines if ", pass (epoch) " in line]
    assert len(titles) == 2 * 300
    assert lines[0].startswith("How each update moved each weight")  # the legend, once
    assert sum(line.startswith("How each update") for line in lines) == 1
    assert lines[1] == "w[i][j] is the weight from input i (a node of the layer below) to output j."
    assert titles[0] == "weights_0_1, pass (epoch) 0:"
    assert titles[1] == "weights_1_2, pass (epoch) 0:"
    assert lines[lines.index(titles[1]) + 1] == "samples    w[0] w[1] w[2] w[3]"


def test_pressure_takes_only_an_epoch_filter(run_cli: RunCli) -> None:
    result = run_cli("show", TRACES / "ch06-streetlights-backprop.jsonl", "--view", "pressure",
                     "--sample", "1")
    assert result.exit_code == 2
    assert "--view pressure takes --epoch only" in result.stderr
