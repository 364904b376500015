"""Every network cell of the book's chapters 3-6, as its built-in experiment, printed
byte for byte in exact mode. Two documented exceptions are asserted exactly:

- ch04-hot-and-cold-learning: 2 of the 1101 errors the book stored are 1 ulp off the
  correctly rounded square (its platform's ``pow``); steptrace prints the correctly
  rounded values, which are the re-run's ``reproduced_stdout``.
- ch05-multi-input-multi-output-one-step: the book shows an ``execute_result`` (IPython's
  display of the weights under numpy < 1.14), not stdout; steptrace prints that text.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.conftest import BOOK_REPORT, TRACES, RunCli, book_cells, builtin_registry

PRIMER = ("ch03-numpy-", "ch06-numpy-")  # numpy primer cells: not networks
CELLS = {cell_id: cell for chapter in (3, 4, 5, 6) for cell_id, cell in book_cells(chapter).items()
         if not cell_id.startswith(PRIMER)}
HOT_AND_COLD = "ch04-hot-and-cold-learning"
EXECUTE_RESULT = "ch05-multi-input-multi-output-one-step"


def book_view(run_cli: RunCli, tmp_path: Path, name: str) -> str:
    trace = tmp_path / f"{name}.jsonl"
    assert run_cli("record", name, "-o", trace).exit_code == 0
    shown = run_cli("show", trace, "--view", "book")
    assert shown.exit_code == 0, shown.stderr
    return shown.stdout


def test_the_29_cells_are_the_builtin_book_experiments() -> None:
    assert len(CELLS) == 29
    builtins = {name for name in builtin_registry().experiments if name.startswith("ch0")}
    assert builtins == set(CELLS)


@pytest.mark.parametrize("name", sorted(set(CELLS) - {HOT_AND_COLD, EXECUTE_RESULT}))
def test_book_view_is_the_books_stdout(run_cli: RunCli, tmp_path: Path, name: str) -> None:
    assert book_view(run_cli, tmp_path, name) == CELLS[name]["stdout"]


def test_hot_and_cold_differs_from_the_stored_output_in_exactly_two_ulps(
        run_cli: RunCli, tmp_path: Path) -> None:
    cell = CELLS[HOT_AND_COLD]
    shown = book_view(run_cli, tmp_path, HOT_AND_COLD)
    assert shown == cell["reproduced_stdout"]
    mine, stored = shown.splitlines(), cell["stdout"].splitlines()
    assert len(mine) == len(stored) == 1101
    different = [n for n, (a, b) in enumerate(zip(mine, stored, strict=True)) if a != b]
    assert different == [475, 929]
    for n in different:
        ours = float(mine[n].split()[0].removeprefix("Error:"))
        theirs = float(stored[n].split()[0].removeprefix("Error:"))
        gap = abs(struct.unpack("<q", struct.pack("<d", ours))[0]
                  - struct.unpack("<q", struct.pack("<d", theirs))[0])
        assert gap == 1  # one unit in the last place
        assert mine[n].split()[1] == stored[n].split()[1]  # the predictions agree


def test_execute_result_cell_prints_the_stored_display(run_cli: RunCli, tmp_path: Path) -> None:
    cell = CELLS[EXECUTE_RESULT]
    assert cell["stdout"] == ""
    assert book_view(run_cli, tmp_path, EXECUTE_RESULT) == cell["stored_execute_result"] + "\n"


def test_count_of_cells_reproduced_byte_for_byte(run_cli: RunCli, tmp_path: Path) -> None:
    exact = []
    for name, cell in sorted(CELLS.items()):
        expected = {HOT_AND_COLD: cell.get("reproduced_stdout"),
                    EXECUTE_RESULT: cell.get("stored_execute_result", "") + "\n"}.get(
                        name, cell["stdout"])
        if book_view(run_cli, tmp_path, name) == expected:
            exact.append(name)
    BOOK_REPORT.append(f"the book, ch. 3-6: {len(exact)} of {len(CELLS)} network cells reproduce "
                       "byte for byte (hot-and-cold against its correctly rounded re-run, "
                       "the ch. 5 execute_result against its stored display)")
    assert len(exact) == 29


def test_a_diverging_run_is_recorded_and_replayed_exactly(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "diverge.jsonl"
    recorded = run_cli("record", "ch04-breaking-gd-diverge", "-o", trace)
    assert recorded.stdout.startswith("recorded ch04-breaking-gd-diverge: 100 events, 20 epoch(s), "
                                      "final error 5.403406870691965e+16")
    assert run_cli("replay", trace).stdout.splitlines()[0].endswith("all 100 events match (bit for bit)")


def test_chapter_5_narration_watches_the_steps_with_the_books_numbers(run_cli: RunCli) -> None:
    shown = run_cli("show", TRACES / "ch05-multi-input-three-steps.jsonl", "--epoch", "0",
                    "--exact").stdout
    lines = shown.splitlines()
    assert lines[1] == ("[0] prediction = input · weights = [8.5, 0.65, 1.2] · "
                        "[[0.1], [0.2], [-0.1]] = 0.8600000000000001")
    assert lines[2] == ("[1] error = (prediction − win_or_lose_binary[0])² = "
                        "(0.8600000000000001 − 1)² = 0.01959999999999997")
    assert lines[3] == "[2] delta = prediction − win_or_lose_binary[0] = -0.1399999999999999"
    assert lines[4].startswith(
        "[3] weight_delta = inputᵀ · delta = [[8.5], [0.65], [1.2]] · -0.1399999999999999 = "
        "[[-1.189999999999999], [-0.09099999999999994], [-0.16799999999999987]]; weights -= "
        "alpha · weight_delta: weights = [[0.1], [0.2], [-0.1]] − 0.01 · ")


def test_hot_and_cold_narration_names_its_rule(run_cli: RunCli) -> None:
    shown = run_cli("show", TRACES / "ch04-hot-and-cold-learning.jsonl", "--epoch", "0",
                    "--kind", "update", "--exact").stdout
    assert shown == ("[2] hot_and_cold: up_prediction = 0.2505, up_error = 0.3019502500000001, "
                     "down_prediction = 0.2495, down_error = 0.30305024999999997 → weight_delta = "
                     "-0.001; weight -= alpha · weight_delta: weight = 0.5 − 1 · -0.001 = 0.501\n")
