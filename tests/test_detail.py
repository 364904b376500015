"""Trace detail: a step-detail trace leaves out what it determines, and everything read
from it — narration, book view, diff, replay — is what a full trace gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli, builtin_registry

NAMES = ["ch06-streetlights-backprop", "streetlights-minibatch", "ch05-freeze-one-weight",
         "ch04-hot-and-cold-learning", "ch04-watch-several-steps", "ch06-streetlights-full-dataset",
         "ch05-multi-input-multi-output-one-step", "ch03-stacked-hidden-layer"]


@pytest.fixture(params=NAMES)
def traces(request: pytest.FixtureRequest, run_cli: RunCli, tmp_path: Path) -> tuple[str, dict[str, Path]]:
    name: str = request.param
    paths: dict[str, Path] = {}
    for detail in ("all", "step", "epoch"):
        paths[detail] = tmp_path / f"{detail}.jsonl"
        result = run_cli("record", name, "-o", paths[detail], "--detail", detail)
        assert result.exit_code == 0, result.stderr
    return name, paths


def test_a_step_trace_reads_as_the_full_trace(run_cli: RunCli, traces: tuple[str, dict[str, Path]]) -> None:
    name, paths = traces
    for args in (("--view", "book"), ("--epoch", "0"), ("--epoch", "1", "--digits", "5")):
        full = run_cli("show", paths["all"], *args)
        step = run_cli("show", paths["step"], *args)
        assert full.exit_code == step.exit_code == 0
        assert step.stdout == full.stdout, (name, args)
    compared = run_cli("diff", paths["all"], paths["step"])
    assert compared.exit_code == 0, compared.stdout
    assert compared.stdout.endswith("events agree (bit for bit)\n")
    assert paths["step"].stat().st_size <= paths["all"].stat().st_size


def test_every_detail_replays(run_cli: RunCli, traces: tuple[str, dict[str, Path]]) -> None:
    _, paths = traces
    for path in paths.values():
        result = run_cli("replay", path)
        assert result.exit_code == 0, result.stderr


def test_what_each_detail_holds(run_cli: RunCli, traces: tuple[str, dict[str, Path]]) -> None:
    name, paths = traces
    config = builtin_registry().experiment(name)
    step = [json.loads(line) for line in paths["step"].read_text().splitlines()]
    assert step[0]["detail"] == "step"
    for event in step[1:-1]:
        assert "layer_in" not in event and "weights" not in event and "goal" not in event
        if event["kind"] == "update":
            assert ("weight_delta" in event) == ("rule" in event)  # kept only for a rule's own
    epoch = [json.loads(line) for line in paths["epoch"].read_text().splitlines()]
    assert [e["kind"] for e in epoch[1:-1]] == ["epoch_end"] * config.iterations
    assert [e["seq"] for e in epoch[1:-1]] == list(range(config.iterations))
