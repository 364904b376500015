"""The README's quickstart is what CI runs, and the examples of the docs pages the README
leads to (docs/learning.md, docs/pictures.md, docs/experiments.md) are what the tool prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, RunCli


def test_ci_runs_the_readme_test_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command.startswith(
        "python -m pip install -e '.[test,parity,plot,browser,fast]' -e plugins/steptrace-extras")
    assert f"```sh\n{command}\n```" in (ROOT / "README.md").read_text()


def test_readme_book_view_example_is_real(run_cli: RunCli, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's first block, as a newcomer runs it in an empty folder: the record line
    that makes backprop.jsonl, then what show prints, "…" for the line left out."""
    monkeypatch.chdir(tmp_path)
    recorded = run_cli("record", "ch06-streetlights-backprop", "-o", "backprop.jsonl")
    assert recorded.exit_code == 0, recorded.stderr
    readme = (ROOT / "docs" / "learning.md").read_text()
    literate = run_cli("show", "backprop.jsonl", "--epoch", "0", "--sample", "0").stdout.splitlines()
    assert [line[:4] for line in literate[1:]] == ["[0] ", "[1] ", "[2] ", "[3] ", "[4] ", "[5] ",
                                                   "[6] ", "[28]"]
    shown = run_cli("show", "backprop.jsonl", "--view", "book").stdout
    lines = "\n".join([*literate[:7], "…", literate[-1]])  # [6] left out
    assert (f"```text\n$ steptrace record ch06-streetlights-backprop -o backprop.jsonl\n"
            f"{recorded.stdout}$ steptrace show backprop.jsonl --epoch 0 --sample 0\n{lines}\n\n"
            f"$ steptrace show backprop.jsonl --view book\n{shown}```") in readme


def test_readme_chapter_4_narration_is_real(run_cli: RunCli, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    readme = (ROOT / "docs" / "learning.md").read_text()
    recorded = run_cli("record", "ch04-watch-several-steps", "-o", "ch04-watch-several-steps.jsonl")
    assert recorded.exit_code == 0, recorded.stderr
    shown = run_cli("show", "ch04-watch-several-steps.jsonl", "--epoch", "1")
    assert (f"```text\n$ steptrace record ch04-watch-several-steps -o ch04-watch-several-steps.jsonl\n"
            f"{recorded.stdout}$ steptrace show ch04-watch-several-steps.jsonl --epoch 1\n"
            f"{shown.stdout}```") in readme


def test_readme_pressure_table_is_real(run_cli: RunCli) -> None:
    readme = (ROOT / "docs" / "pictures.md").read_text()
    shown = run_cli("show", ROOT / "traces" / "ch06-streetlights-full-dataset.jsonl", "--view",
                    "pressure")
    assert f"```text\n{shown.stdout}```" in readme


def test_the_experiment_file_shown_is_what_experiments_show_writes(run_cli: RunCli) -> None:
    page = (ROOT / "docs" / "experiments.md").read_text()
    shown = run_cli("experiments", "--show", "ch06-streetlights-backprop")
    assert shown.exit_code == 0, shown.stderr
    assert ("`steptrace experiments --show ch06-streetlights-backprop > mine.toml` writes:\n\n"
            f"```toml\n{shown.stdout}```") in page


def test_the_warning_the_experiments_page_explains_is_real(run_cli: RunCli, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The file --show wrote, alpha changed, keeps the built-in's name: record warns, in the
    words the page shows, and records all the same."""
    monkeypatch.chdir(tmp_path)
    written = run_cli("experiments", "--show", "ch06-streetlights-backprop").stdout
    assert written.count("\nalpha = 0.2\n") == 1
    (tmp_path / "mine.toml").write_text(written.replace("\nalpha = 0.2\n", "\nalpha = 0.5\n"))
    recorded = run_cli("record", "mine.toml")
    assert recorded.exit_code == 0
    assert recorded.stdout.startswith("recorded ch06-streetlights-backprop: 1740 events")
    page = (ROOT / "docs" / "experiments.md").read_text()
    assert f"```text\n{recorded.stderr}```" in page
