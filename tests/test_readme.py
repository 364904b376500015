"""The README's quickstart is what CI runs, and the examples of the docs pages the README
leads to (docs/learning.md, docs/pictures.md) are what the tool prints."""

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
