"""steptrace plot: the learning curve and the weights, as PNG or SVG."""

from __future__ import annotations

import builtins
import json

import pytest

from tests.conftest import TRACES

BACKPROP = TRACES / "ch06-streetlights-backprop.jsonl"


def test_a_png_of_the_learning_curve_and_both_weight_layers(run_cli, tmp_path):
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    out = tmp_path / "backprop.png"
    result = run_cli("plot", BACKPROP, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"plotted {BACKPROP} (3 panels) -> {out}\n"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["backprop.png"]  # no temporary left


def test_an_svg_says_what_it_shows(run_cli, tmp_path):
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    out = tmp_path / "full.svg"
    trace = TRACES / "ch06-streetlights-full-dataset.jsonl"
    assert run_cli("plot", trace, "-o", out).exit_code == 0
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "ch06-streetlights-full-dataset: error per pass" in text  # matplotlib keeps each text as a comment


def test_a_diverged_run_leaves_out_its_inf_passes(run_cli, tmp_path):
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    config = json.loads(run_cli("experiments", "--show", "ch04-breaking-gd-diverge",
                                "--format", "json").stdout)
    source = tmp_path / "overflow.json"
    source.write_text(json.dumps({**config, "iterations": 400}))
    trace = tmp_path / "overflow.jsonl"
    run_cli("record", source, "-o", trace, "--detail", "epoch")
    out = tmp_path / "overflow.svg"
    result = run_cli("plot", trace, "-o", out)
    assert result.stdout.endswith("(1 panels) -> " + str(out) + "\n")  # epoch detail: no weights
    assert "(inf/NaN passes left out)" in out.read_text()


def test_without_matplotlib_the_command_says_how_to_get_it(run_cli, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = run_cli("plot", BACKPROP, "-o", tmp_path / "x.png")
    assert result.exit_code == 2
    assert result.stderr == ("Error: steptrace plot needs matplotlib: pip install "
                             "'steptrace[plot]'\n")


def test_only_png_and_svg(run_cli, tmp_path):
    result = run_cli("plot", BACKPROP, "-o", tmp_path / "x.jpg")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'x.jpg'}: give a .png or .svg file name\n"
