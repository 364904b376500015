"""Golden traces: every built-in experiment has a trace in traces/ that the engine
reproduces event by event, bit for bit, and that ``steptrace replay`` accepts.

``pytest --steptrace-update`` rewrites them; a missing golden trace is written and its
test fails, so a new experiment's trace is looked at before it is committed.
"""

from __future__ import annotations

import os
import shutil

import pytest

from steptrace.compare import Tolerance
from steptrace.diff import diff
from steptrace.registry import Registry
from steptrace.tracefile import open_trace
from tests.conftest import TRACES

BUILTINS = sorted(Registry.load().experiments)


def write_golden(fresh, golden):
    tmp = golden.with_name(f".{golden.name}.tmp")
    shutil.copyfile(fresh, tmp)
    os.replace(tmp, golden)  # atomic: a golden is never half-written


@pytest.mark.parametrize("name", BUILTINS)
def test_engine_reproduces_golden_trace(name, tmp_path, run_cli, request):
    golden = TRACES / f"{name}.jsonl"
    fresh = tmp_path / golden.name
    assert run_cli("record", name, "-o", fresh).exit_code == 0
    if request.config.getoption("--steptrace-update"):
        write_golden(fresh, golden)
        return
    if not golden.exists():
        write_golden(fresh, golden)
        pytest.fail(f"{golden} was missing: written now; look at it, then commit it")
    report = diff(golden, fresh, Tolerance())
    assert report.same, "\n".join(report.lines())
    assert report.events > 0
    with open_trace(golden) as old, open_trace(fresh) as new:
        assert old.header.config == new.header.config
        assert old.header.initial_weights == new.header.initial_weights


@pytest.mark.parametrize("name", BUILTINS)
def test_golden_trace_replays(name, run_cli):
    result = run_cli("replay", TRACES / f"{name}.jsonl")
    assert result.exit_code == 0, result.stderr
    assert "events match (bit for bit)" in result.stdout


def test_every_golden_trace_belongs_to_a_builtin():
    assert sorted(p.name.removesuffix(".jsonl") for p in TRACES.glob("*.jsonl")) == BUILTINS
