"""Shared fixtures: run the CLI in-process, find the book's printed outputs, golden traces."""

from __future__ import annotations

import importlib.metadata
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from click.testing import CliRunner

from steptrace.cli import cli
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
# The tests' subprocesses (python -m steptrace ...) import the checkout too, as pytest does
# (pyproject's pythonpath): a bare clone runs them without being installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), str(ROOT / "plugins"), *filter(None, [os.environ.get("PYTHONPATH")])])
TRACES = ROOT / "traces"
#: The book's printed outputs, kept in the repository (tests/book/README.md).
BOOK = Path(os.environ.get("STEPTRACE_BOOK_DIR", ROOT / "tests" / "book"))


#: Whether steptrace is installed (its pytest plugin, the kit, found by entry point; its
#: command on the PATH). A bare clone is not: the kit is then loaded here, by name.
INSTALLED = any(entry_point.value == "steptrace.testing"
                for entry_point in importlib.metadata.entry_points(group="pytest11"))
pytest_plugins = [] if INSTALLED else ["steptrace.testing"]

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


T = TypeVar("T")


def present(value: T | None) -> T:
    """``value``, which the test knows is there (an event's optional field, a match)."""
    assert value is not None
    return value


def builtin_registry() -> Registry:
    """The built-in rules and experiments only: these tests do not depend on which outside
    plugins happen to be installed (plugins/steptrace-extras has tests of its own)."""
    return Registry.load(load_plugins(entry_points=False))


@pytest.fixture
def no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """No installed distribution offers a steptrace plugin (an entry point), whichever are
    installed: what the command line lists and says of the plugins it left out is the same
    on every machine."""
    found = importlib.metadata.entry_points

    def entry_points(**selection: Any) -> Any:
        if selection.get("group") == "steptrace":
            return importlib.metadata.EntryPoints(())
        return found(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


class RunCli(Protocol):
    """The type of the ``run_cli`` fixture (``env``: variables to set; None unsets one)."""

    def __call__(self, *args: str | os.PathLike[str],
                 env: Mapping[str, str | None] | None = None) -> Result: ...


@pytest.fixture
def run_cli() -> RunCli:
    """Run ``steptrace ARGS...`` in-process, with the built-in plugins only
    (``STEPTRACE_PLUGINS=""``); returns exit code, stdout and stderr apart."""

    def run(*args: str | os.PathLike[str], env: Mapping[str, str | None] | None = None) -> Result:
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
