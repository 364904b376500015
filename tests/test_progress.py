"""Progress on long work: `html` and `plot` read a long run's trace with a progress bar on
a terminal's stderr, told each pass read, as `record` and `replay` are told each pass run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from steptrace.cli import runtime
from steptrace.trace.reader import TraceReader
from steptrace.views.html import write_page
from steptrace.views.plot import figure
from tests.conftest import TRACES, RunCli, builtin_registry

BACKPROP = TRACES / "ch06-streetlights-backprop.jsonl"  # (60 passes of 29 events)
EACH_PASS = [(epoch, 60, 29) for epoch in range(1, 61)]


def test_the_page_is_told_each_pass_read() -> None:
    told: list[tuple[int, int, int]] = []
    with BACKPROP.open("rb") as file:
        count = write_page(TraceReader(file), io.BytesIO(), builtin_registry(), spill=io.BytesIO,
                           progress=lambda *each: told.append(each))
    assert count == 1740 and told == EACH_PASS


def test_the_picture_is_told_each_pass_read() -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    told: list[tuple[int, int, int]] = []
    figure(BACKPROP, lambda *each: told.append(each))
    assert told == EACH_PASS


@pytest.mark.parametrize("command", ["html", "plot"])
def test_a_long_runs_trace_has_a_progress_bar_on_a_terminal(
        command: str, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of more than PROGRESS_THRESHOLD steps (here made 1,000: the golden trace's
    1,740 events are more) on a terminal's stderr gets the bar; a pipe or a log, none."""
    if command == "plot":
        pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    out = tmp_path / ("page.html" if command == "html" else "picture.png")
    monkeypatch.setattr(runtime, "PROGRESS_THRESHOLD", 1_000)
    result = run_cli(command, BACKPROP, "-o", out)  # (CliRunner's stderr: not a terminal)
    assert result.exit_code == 0 and result.stderr == ""
    monkeypatch.setattr(runtime, "_show_progress", lambda steps: steps > runtime.PROGRESS_THRESHOLD)
    result = run_cli(command, BACKPROP, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"reading {BACKPROP.name}\n"  # (click's bar, away from a
    # terminal: its label alone)
