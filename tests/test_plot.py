"""steptrace plot: the learning curve and the weights, as PNG or SVG."""

from __future__ import annotations

import builtins
import errno
import json
import os
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import pytest

from steptrace import outputs
from steptrace.trace.reader import open_trace
from steptrace.trace.state import complete_events
from steptrace.views.plot import Thinned, figure
from tests.conftest import TRACES, RunCli, present

BACKPROP = TRACES / "ch06-streetlights-backprop.jsonl"


def test_a_png_of_the_learning_curve_and_both_weight_layers(run_cli: RunCli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    out = tmp_path / "backprop.png"
    result = run_cli("plot", BACKPROP, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"plotted {BACKPROP} (3 panels) -> {out}\n"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["backprop.png"]  # no temporary left


def test_an_svg_says_what_it_shows(run_cli: RunCli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    out = tmp_path / "full.svg"
    trace = TRACES / "ch06-streetlights-full-dataset.jsonl"
    assert run_cli("plot", trace, "-o", out).exit_code == 0
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "ch06-streetlights-full-dataset: error per pass" in text  # matplotlib keeps each text as a comment


def test_a_diverged_run_leaves_out_its_inf_passes(run_cli: RunCli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    config = json.loads(run_cli("experiments", "--show", "ch04-breaking-gd-diverge",
                                "--format", "json").stdout)
    source = tmp_path / "overflow.json"
    source.write_text(json.dumps({**config, "iterations": 400}))
    trace = tmp_path / "overflow.jsonl"
    run_cli("record", source, "-o", trace, "--detail", "epoch")
    out = tmp_path / "overflow.svg"
    result = run_cli("plot", trace, "-o", out)
    assert result.stdout.endswith("(1 panel) -> " + str(out) + "\n")  # epoch detail: no weights
    assert "(inf/NaN passes left out)" in out.read_text()


def test_without_matplotlib_the_command_says_how_to_get_it(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> ModuleType:  # as __import__ takes them
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = run_cli("plot", BACKPROP, "-o", tmp_path / "x.png")
    assert result.exit_code == 2
    assert result.stderr == ("Error: steptrace plot needs matplotlib: pip install "
                             "'steptrace[plot]'\n")


def test_only_png_and_svg(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("plot", BACKPROP, "-o", tmp_path / "x.jpg")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'x.jpg'}: give a .png or .svg file name\n"


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 10, 17, 100, 1000, 4321])
def test_thinned_keeps_every_step_th_item_and_never_more_than_its_limit(n: int) -> None:
    thinned: Thinned[int] = Thinned(8)
    for i in range(n):
        thinned.add(i)
    assert thinned.items == list(range(0, n, thinned.step))  # evenly spaced, the first kept
    assert list(thinned.positions()) == thinned.items
    if n <= 8:
        assert thinned.step == 1  # a short stream is kept whole
    else:
        assert 4 < len(thinned.items) <= 8


@pytest.mark.parametrize("n", [0, 9, 100, 4321])
def test_an_item_thinned_wants_not_is_never_made_and_the_same_are_kept(n: int) -> None:
    added: Thinned[int] = Thinned(8)
    skipping: Thinned[int] = Thinned(8)
    made = []
    for i in range(n):
        added.add(i)
        if skipping.wants():
            made.append(i)
            skipping.add(i)
        else:
            skipping.skip()
    assert skipping.items == added.items and skipping.step == added.step
    assert len(made) <= 8 * max(1, n.bit_length())  # (of 4321: 45 made, not 4321)
    if n == 4321:
        assert len(made) == 45 and skipping.items == list(range(0, 4321, 1024))
    for runs in ([n], [1] * n, [3, 500, 0, 7] * (n // 510 + 1)):  # add_each: runs at once
        taken: Thinned[int] = Thinned(8)
        made_of_runs: list[int] = []

        def make(i: int, made_of_runs: list[int] = made_of_runs) -> int:
            made_of_runs.append(i)
            return i

        at = 0
        for run in runs:
            items = list(range(at, min(at + run, n)))
            taken.add_each(items, make)
            at += len(items)
        assert (taken.items, taken.step, taken.seen) == (added.items, added.step, n)
        assert made_of_runs == made


def test_the_weights_a_plot_draws_are_the_completed_traces(tmp_path: Path) -> None:
    """The figure takes its weights from the state as it moves (error steps not filled
    in): each update's weights as the trace's completed events hold them."""
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    with open_trace(BACKPROP) as reader:
        updates = [e for e in complete_events(reader.header, reader)
                   if e.kind == "update" and e.layer == 2]
    drawn = figure(BACKPROP)
    lines = drawn.axes[2].get_lines()  # weights_1_2 (after the curve and weights_0_1): four
    assert len(lines) == 4 and len(updates) == 240
    for j, line in enumerate(lines):
        assert list(line.get_ydata()) == [present(u.weights)[j][0] for u in updates]


def test_a_long_run_is_thinned_as_it_is_read(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    monkeypatch.setattr("steptrace.views.plot.MAX_POINTS", 50)  # the trace's 240 updates a layer
    out = tmp_path / "backprop.svg"
    assert run_cli("plot", BACKPROP, "-o", out).exit_code == 0
    text = out.read_text()
    assert text.count("update (thinned)") == 2 and "epoch" in text


class FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, file: IO[bytes], room: int) -> None:
        self.file, self.room = file, room

    def write(self, data: bytes) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Every file written with ``outputs.atomic_write`` fails after ``room`` bytes."""
    real = outputs.create_temporary

    def create(target: Path) -> tuple[FullDisk, Path]:
        file, temporary = real(target)
        return FullDisk(file, room), temporary

    monkeypatch.setattr(outputs, "create_temporary", create)


@pytest.mark.parametrize("name", ["full.png", "full.svg"])
def test_a_full_disk_is_one_line_and_leaves_nothing(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    out = tmp_path / name
    fill_disk(monkeypatch, 1000)
    result = run_cli("plot", BACKPROP, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {out}: cannot write: No space left on device (free some "
                             "space, or write elsewhere with -o; nothing was left behind)\n")
    assert list(tmp_path.iterdir()) == []


def test_the_picture_never_replaces_its_trace(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "run.svg"  # a trace with a picture's name: refused before it is read
    trace.write_bytes(BACKPROP.read_bytes())
    result = run_cli("plot", trace, "-o", trace)
    assert result.exit_code == 2
    assert "is also the input" in result.stderr
    assert trace.read_bytes() == BACKPROP.read_bytes()


def test_the_figure_names_each_weight_and_counts_in_integers() -> None:
    """Each weight's line is labelled w[i][j] (input i to output j), passes are passes, and
    a one-weight run is named as the book names it."""
    from steptrace.views.plot import figure

    drawn = figure(TRACES / "ch06-streetlights-backprop.jsonl")
    curve, first, second = drawn.axes
    assert curve.get_xlabel() == "pass (epoch)"
    assert first.get_title() == "weights_0_1 after each update — w[i][j]: from input i to output j"
    assert [t.get_text() for t in first.get_legend().get_texts()][:3] == ["w[0][0]", "w[0][1]", "w[0][2]"]
    assert second.get_title() == "weights_1_2 after each update — w[i]: from input i"
    assert all(float(tick).is_integer() for tick in curve.get_xticks())
    one = figure(TRACES / "ch04-alpha.jsonl")
    assert one.axes[1].get_title() == "weight after each update" and one.axes[1].get_legend() is None
