"""The README's quickstart is what CI runs, and the examples of the docs pages the README
leads to (docs/learning.md, docs/pictures.md) are what the tool prints."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, RunCli


def test_ci_runs_the_readme_test_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command.startswith(
        "python -m pip install -e '.[test,parity,plot,browser,fast]' -e plugins/steptrace-extras")
    assert f"```sh\n{command}\n```" in (ROOT / "README.md").read_text()


def test_readme_book_view_example_is_real(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "backprop.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    readme = (ROOT / "docs" / "learning.md").read_text()
    shown = run_cli("show", trace, "--view", "book").stdout
    assert f"$ steptrace show backprop.jsonl --view book\n{shown}" in readme
    literate = run_cli("show", trace, "--epoch", "0", "--sample", "0").stdout.splitlines()
    for line in literate[:6]:  # the banner and the first five steps, verbatim
        assert line in readme


def test_readme_chapter_4_narration_is_real(run_cli: RunCli) -> None:
    readme = (ROOT / "docs" / "learning.md").read_text()
    shown = run_cli("show", ROOT / "traces" / "ch04-watch-several-steps.jsonl", "--epoch", "1")
    assert f"$ steptrace show ch04-watch-several-steps.jsonl --epoch 1\n{shown.stdout}" in readme


def test_readme_pressure_table_is_real(run_cli: RunCli) -> None:
    readme = (ROOT / "docs" / "pictures.md").read_text()
    shown = run_cli("show", ROOT / "traces" / "ch06-streetlights-full-dataset.jsonl", "--view",
                    "pressure")
    assert f"```text\n{shown.stdout}```" in readme
