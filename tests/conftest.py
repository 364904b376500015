"""Shared fixtures: run the CLI in-process, find the book's printed outputs, golden traces."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from steptrace.cli import cli
from steptrace.plugin_loader import load_plugins
from steptrace.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "traces"
#: The book's printed outputs, kept in the repository (tests/book/README.md).
BOOK = Path(os.environ.get("STEPTRACE_BOOK_DIR", ROOT / "tests" / "book"))


#: Lines the tests want printed at the end of the run (e.g. how many book cells reproduce).
BOOK_REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in BOOK_REPORT:
        terminalreporter.write_line(line)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def builtin_registry() -> Registry:
    """The built-in rules and experiments only: these tests do not depend on which outside
    plugins happen to be installed (plugins/steptrace-extras has tests of its own)."""
    return Registry.load(load_plugins(entry_points=False))


@pytest.fixture
def run_cli():
    """Run ``steptrace ARGS...`` in-process, with the built-in plugins only
    (``STEPTRACE_PLUGINS=""``); returns exit code, stdout and stderr apart."""

    def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Result:
        result = CliRunner().invoke(cli, [str(a) for a in args], prog_name="steptrace",
                                    env={"STEPTRACE_PLUGINS": "", **(env or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def book_cells(chapter: int) -> dict[str, dict[str, Any]]:
    """The book's cells of one chapter, by id (``tests/book/chNN.json``)."""
    path = BOOK / f"ch{chapter:02d}.json"
    if not path.exists():
        pytest.fail(f"the book's outputs are missing: {path} (set STEPTRACE_BOOK_DIR)")
    return {cell["id"]: cell for cell in json.loads(path.read_text())}
