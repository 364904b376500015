"""The book's printed outputs, byte for byte, from the command line, in exact mode,
whatever BLAS kernel or thread count the machine uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TRACES, RunCli, book_cells

CH06 = [
    "ch06-streetlight-single-sample",
    "ch06-streetlights-full-dataset",
    "ch06-streetlights-backprop",
    "ch06-streetlights-backprop-ascent-form",
]


@pytest.mark.parametrize("name", CH06)
def test_book_view_equals_the_books_stdout(name: str, tmp_path: Path, run_cli: RunCli) -> None:
    trace = tmp_path / "run.jsonl"
    assert run_cli("record", name, "-o", trace).exit_code == 0
    shown = run_cli("show", trace, "--view", "book")
    assert shown.exit_code == 0
    assert shown.stdout == book_cells(6)[name]["stdout"]


@pytest.mark.parametrize("name", CH06)
def test_golden_trace_book_view_equals_the_books_stdout(name: str, run_cli: RunCli) -> None:
    shown = run_cli("show", TRACES / f"{name}.jsonl", "--view", "book")
    assert shown.stdout == book_cells(6)[name]["stdout"]


@pytest.mark.parametrize("setting", [
    {"OPENBLAS_CORETYPE": "Haswell"},
    {"OPENBLAS_NUM_THREADS": "1"},
    {"OPENBLAS_NUM_THREADS": "2"},
])
def test_exact_mode_is_independent_of_blas_settings(setting: dict[str, str], tmp_path: Path) -> None:
    """Each setting needs a fresh process: OpenBLAS reads them when it loads."""
    env = {**os.environ, **setting}
    cells = book_cells(6)
    for name in CH06:
        trace = tmp_path / f"{name}.jsonl"
        steptrace = [sys.executable, "-m", "steptrace"]
        subprocess.run([*steptrace, "record", name, "-o", str(trace)], env=env, check=True,
                       capture_output=True)
        shown = subprocess.run([*steptrace, "show", str(trace), "--view", "book"], env=env,
                               check=True, capture_output=True, text=True)
        assert shown.stdout == cells[name]["stdout"], (setting, name)


@pytest.mark.parametrize("name", CH06)
def test_blas_mode_is_within_1e_12_of_the_book(name: str, tmp_path: Path, run_cli: RunCli) -> None:
    trace = tmp_path / "blas.jsonl"
    assert run_cli("record", name, "-o", trace, "--arithmetic", "blas").exit_code == 0
    shown = run_cli("show", trace, "--view", "book").stdout

    def numbers(text: str) -> list[float]:
        return [float(word.split(":")[1]) for word in text.split() if ":" in word]

    expected = numbers(book_cells(6)[name]["stdout"])
    assert len(expected) >= 6
    np.testing.assert_allclose(numbers(shown), expected, rtol=1e-12, atol=0)
