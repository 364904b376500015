"""Trace detail: a step-detail trace leaves out what it determines, and everything read
from it — narration, book view, diff, replay — is what a trace of every field (`all`) gives."""

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


def test_a_step_trace_reads_as_the_trace_of_every_field(
        run_cli: RunCli, traces: tuple[str, dict[str, Path]]) -> None:
    name, paths = traces
    for args in (("--view", "book"), ("--epoch", "0"), ("--epoch", "1", "--digits", "5")):
        full = run_cli("show", paths["all"], *args)
        step = run_cli("show", paths["step"], *args)
        assert full.exit_code == step.exit_code  # (2 for a pass the run does not have)
        assert step.stderr == full.stderr
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


def test_all_is_schema_3_and_full_its_old_name_writes_schema_1(run_cli: RunCli, tmp_path: Path) -> None:
    """``all`` was named ``full`` (the strategy ``full`` is another thing): an ``all`` trace
    says schema 3, which older steptrace versions refuse with "upgrade"; ``--detail full``
    writes the same events under the old name, as schema 1 (they read it), and a header
    that says ``full``, or no detail at all (the oldest traces), reads, replays and diffs as
    ``all``."""
    paths = {detail: tmp_path / f"{detail}.jsonl" for detail in ("all", "full", "step")}
    for detail, path in paths.items():
        assert run_cli("record", "ch06-streetlights-backprop", "-o", path, "--detail", detail).exit_code == 0
    headers = {detail: json.loads(path.read_text().splitlines()[0]) for detail, path in paths.items()}
    assert (headers["all"]["schema_version"], headers["all"]["detail"]) == (3, "all")
    assert (headers["full"]["schema_version"], headers["full"]["detail"]) == (1, "full")
    assert headers["step"]["schema_version"] == 1
    assert paths["all"].read_text().splitlines()[1:] == paths["full"].read_text().splitlines()[1:]
    undetailed = tmp_path / "undetailed.jsonl"  # a trace from before the detail levels
    lines = paths["full"].read_text().splitlines()
    del headers["full"]["detail"]
    undetailed.write_text("\n".join([json.dumps(headers["full"]), *lines[1:]]) + "\n")
    for path in (paths["full"], undetailed):
        replayed = run_cli("replay", path)
        assert replayed.exit_code == 0 and "all 1740 events match" in replayed.stdout, replayed.stderr
        assert run_cli("diff", path, paths["all"]).exit_code == 0
        assert run_cli("show", path).stdout == run_cli("show", paths["step"]).stdout
