"""Golden traces: every built-in experiment has a trace in traces/ that the engine
reproduces event by event, bit for bit, and that ``steptrace replay`` accepts.

The comparison is the ``golden_trace`` fixture of steptrace's own pytest plugin (the kit
plugin authors use): ``pytest --steptrace-update`` rewrites the traces; a missing golden
trace is written and its test fails, so a new experiment's trace is looked at first.
"""

from __future__ import annotations

import pytest

from steptrace.testing import GoldenCheck
from tests.conftest import TRACES, RunCli, builtin_registry

BUILTINS = sorted(builtin_registry().experiments)


@pytest.mark.parametrize("name", BUILTINS)
def test_engine_reproduces_golden_trace(
        name: str, golden_trace: GoldenCheck, request: pytest.FixtureRequest) -> None:
    report = golden_trace(name, TRACES / f"{name}.jsonl")
    if not request.config.getoption("--steptrace-update"):
        assert report is not None and report.same and report.events > 0


@pytest.mark.parametrize("name", BUILTINS)
def test_golden_trace_replays(name: str, run_cli: RunCli) -> None:
    result = run_cli("replay", TRACES / f"{name}.jsonl")
    assert result.exit_code == 0, result.stderr
    assert "events match (bit for bit)" in result.stdout


def test_every_golden_trace_belongs_to_a_builtin() -> None:
    assert sorted(p.name.removesuffix(".jsonl") for p in TRACES.glob("*.jsonl")) == BUILTINS
