"""Replay and diff: a good trace matches; one number changed by a part in 10⁹ is found,
named (event, kind, field) and given both ways; tolerances are honoured."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from steptrace import __version__
from tests.conftest import RunCli

BACKPROP = "ch06-streetlights-backprop"  # 60 passes x (4 samples x 7 steps + epoch_end)
BACKPROP_EVENTS = 1740
SMALL = "ch06-streetlight-single-sample"  # 20 passes x 5 events


@pytest.fixture
def good(run_cli: RunCli, tmp_path: Path) -> Path:
    path = tmp_path / "good.jsonl"
    result = run_cli("record", BACKPROP, "-o", path)
    assert result.exit_code == 0, result.stderr
    return path


def edit_event(trace: Path, out: Path, seq: int, edit: Callable[[dict[str, Any]], None]) -> None:
    """Copy ``trace`` to ``out`` with the event ``seq`` parsed, edited and re-dumped."""
    lines = trace.read_bytes().splitlines(keepends=True)
    event = json.loads(lines[seq + 1])  # line 1 is the header
    assert event["seq"] == seq
    edit(event)
    lines[seq + 1] = json.dumps(event, separators=(",", ":")).encode() + b"\n"
    out.write_bytes(b"".join(lines))


# (seq, kind, field, row, column): a forward event's weighted_sum and a delta event's delta
# (a step-detail trace holds no weights: they are derived from the deltas)
CHANGES = [
    (37, "forward", "weighted_sum", 0, 0),
    (33, "delta", "delta", 0, 1),
]


#: The changed trace, the event's seq and kind, the field as named, its old and new value.
Changed = tuple[Path, int, str, str, float, float]


@pytest.fixture(params=CHANGES, ids=[f"event {c[0]} {c[2]}" for c in CHANGES])
def changed(request: pytest.FixtureRequest, good: Path, tmp_path: Path) -> Changed:
    """A copy of ``good`` with one number of one event multiplied by 1 + 1e-9."""
    seq, kind, field, row, column = request.param
    old: list[float] = []
    new: list[float] = []

    def edit(event: dict[str, Any]) -> None:
        assert event["kind"] == kind
        value = event[field][row][column]
        assert isinstance(value, float) and value != 0.0
        old.append(value)
        new.append(value * (1 + 1e-9))
        event[field][row][column] = new[0]

    bad = tmp_path / "bad.jsonl"
    edit_event(good, bad, seq, edit)
    assert new[0] != old[0] and math.isclose(new[0], old[0], rel_tol=2e-9)
    return bad, seq, kind, f"{field}[{row}][{column}]", old[0], new[0]


def test_replay_of_a_good_trace(run_cli: RunCli, good: Path) -> None:
    result = run_cli("replay", good)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (f"{good}: all {BACKPROP_EVENTS} events match (bit for bit)\n"
                             f"{good}: the header agrees with experiment {BACKPROP!r} "
                             f"(steptrace_builtins.book {__version__})\n")
    assert result.stderr == ""


def test_replay_finds_one_changed_number(run_cli: RunCli, changed: Changed) -> None:
    bad, seq, kind, field, old, new = changed
    result = run_cli("replay", bad)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"Error: {bad}: replay diverges at event {seq} ({kind}, epoch 1, "), line
    assert f"field {field}: recorded {new!r}, recomputed {old!r}" in line
    assert "relative 1e-09" in line


def test_replay_within_a_tolerance(run_cli: RunCli, changed: Changed) -> None:
    bad = changed[0]
    loose = run_cli("replay", bad, "--rtol", "1e-6")
    assert loose.exit_code == 0, loose.stderr
    assert loose.stdout.splitlines()[0] == (
        f"{bad}: all {BACKPROP_EVENTS} events match (within rtol 1e-06, atol 0)")
    tight = run_cli("replay", bad, "--rtol", "1e-10")
    assert tight.exit_code == 1
    assert f"event {changed[1]}" in tight.stderr


def test_diff_finds_one_changed_number(run_cli: RunCli, good: Path, changed: Changed) -> None:
    bad, seq, kind, field, old, new = changed
    result = run_cli("diff", good, bad)
    assert result.exit_code == 1, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"first divergence at event {seq} ({kind}, epoch 1, "), lines
    assert lines[1] == f"  field {field}: {good} {old!r}, {bad} {new!r} (|Δ| {abs(new - old):.3g}, " \
                       f"relative {abs(new - old) / max(abs(old), abs(new)):.3g})"
    assert lines[2].startswith(f"  after event {seq - 2} (")
    assert lines[3].startswith(f"  after event {seq - 1} (") and lines[3].endswith("(agrees)")
    assert lines[4] == ("  likely cause: nothing in the headers (the same config, every rule from "
                        "the same plugin, release and revision): a rule's code changed without a "
                        "new revision, or a trace was edited")
    assert len(lines) == 5
    assert "configs differ" not in result.stdout


def test_diff_the_other_way_round(run_cli: RunCli, good: Path, changed: Changed) -> None:
    bad, seq, _, field, old, new = changed
    result = run_cli("diff", bad, good)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"first divergence at event {seq} (")
    assert result.stdout.splitlines()[1].startswith(f"  field {field}: {bad} {new!r}, {good} {old!r} (")


def test_diff_of_a_trace_with_itself(run_cli: RunCli, good: Path) -> None:
    result = run_cli("diff", good, good)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{BACKPROP_EVENTS} events agree (bit for bit)\n"
    assert result.stderr == ""


def test_diff_within_a_tolerance(run_cli: RunCli, good: Path, changed: Changed) -> None:
    bad = changed[0]
    loose = run_cli("diff", good, bad, "--rtol", "1e-6")
    assert loose.exit_code == 0, loose.stdout
    assert loose.stdout == f"{BACKPROP_EVENTS} events agree (within rtol 1e-06, atol 0)\n"
    tight = run_cli("diff", good, bad, "--rtol", "1e-10")
    assert tight.exit_code == 1
    assert tight.stdout.startswith(f"first divergence at event {changed[1]} ")


def test_diff_of_traces_of_different_lengths(run_cli: RunCli, tmp_path: Path) -> None:
    experiment = run_cli("experiments", "--show", SMALL).stdout
    assert experiment.count("iterations = 20\n") == 1
    shorter = tmp_path / "ten.toml"
    shorter.write_text(experiment.replace("iterations = 20\n", "iterations = 10\n"))
    short, long = tmp_path / "short.jsonl", tmp_path / "long.jsonl"
    assert run_cli("record", shorter, "-o", short).exit_code == 0
    assert run_cli("record", SMALL, "-o", long).exit_code == 0

    result = run_cli("diff", short, long)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "the headers differ in what ran:",
        f"  config field iterations: {short} 10, {long} 20",
        f"{short} ends after 50 events; {long} goes on with event 50 (forward, epoch 10, "
        "samples [0], layer 1)",
    ]
    result = run_cli("diff", long, short)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        f"{short} ends after 50 events; {long} goes on with event 50 (forward, epoch 10, "
        "samples [0], layer 1)"
    )


def test_diff_of_two_experiments(run_cli: RunCli, good: Path, tmp_path: Path) -> None:
    other = tmp_path / "small.jsonl"
    assert run_cli("record", SMALL, "-o", other).exit_code == 0
    result = run_cli("diff", good, other)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "the headers differ in what ran:"
    assert lines[1] == f"  config field name: {good} {BACKPROP!r}, {other} {SMALL!r}"
    at = lines.index("first divergence at event 0 (forward, epoch 0, samples [0], layer 1):")
    assert all(line.startswith(("  config field ", "  initial weights")) for line in lines[2:at])
    assert lines[at + 1] == f"  field nonlinearity: {good} 'relu', {other} 'linear'"


def test_replay_of_a_header_promising_more_passes(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "small.jsonl"
    assert run_cli("record", SMALL, "-o", trace).exit_code == 0
    lines = trace.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["config"]["iterations"] = 21
    lines[0] = json.dumps(header).encode() + b"\n"
    trace.write_bytes(b"".join(lines))
    result = run_cli("replay", trace)
    assert result.exit_code == 1  # the header says it is the built-in's, which runs 20
    assert result.stderr == (
        f"Error: {trace}: the header's config is not experiment {SMALL!r} as registered: "
        "field iterations: recorded 21, registered 20\n")
    # a config of its own (no claim to be the built-in's): the replay runs on past the end
    del header["fingerprint"]["rules"][f"experiment:{SMALL}"]
    lines[0] = json.dumps(header).encode() + b"\n"
    trace.write_bytes(b"".join(lines))
    result = run_cli("replay", trace)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {trace}: the trace ends after 100 events; the replay goes on with event 100 "
        "(forward, epoch 20, samples [0], layer 1)\n"
    )


@pytest.mark.parametrize("experiment", [BACKPROP, SMALL])
def test_changed_initial_weights_fail_replay(run_cli: RunCli, tmp_path: Path, experiment: str) -> None:
    """Seeded (backprop) or explicit (single sample): the header must hold the config's weights."""
    trace = tmp_path / "trace.jsonl"
    assert run_cli("record", experiment, "-o", trace).exit_code == 0
    lines = trace.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    weight = header["initial_weights"][0][1][0]
    header["initial_weights"][0][1][0] = math.nextafter(weight, math.inf)  # one ulp
    lines[0] = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    trace.write_bytes(b"".join(lines))

    result = run_cli("replay", trace)
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"Error: {trace}: header initial weights_0_1 differ from the config's\n"


def test_blas_recording_replays(run_cli: RunCli, tmp_path: Path) -> None:
    blas = tmp_path / "blas.jsonl"
    recorded = run_cli("record", BACKPROP, "--arithmetic", "blas", "-o", blas)
    assert recorded.exit_code == 0, recorded.stderr
    assert "(blas)" in recorded.stdout
    assert json.loads(blas.read_bytes().splitlines()[0])["config"]["arithmetic"] == "blas"
    result = run_cli("replay", blas)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{blas}: all {BACKPROP_EVENTS} events match (within rtol 1e-12, atol 1e-15)",
        f"{blas}: the header agrees with experiment {BACKPROP!r} (steptrace_builtins.book "
        f"{__version__})",
    ]


def test_exact_and_blas_agree_within_tolerance(run_cli: RunCli, good: Path, tmp_path: Path) -> None:
    blas = tmp_path / "blas.jsonl"
    assert run_cli("record", BACKPROP, "--arithmetic", "blas", "-o", blas).exit_code == 0
    result = run_cli("diff", good, blas, "--rtol", "1e-12", "--atol", "1e-15", "--events-only")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines() == [
        "the headers differ in what ran (ignored: --events-only):",
        f"  config field arithmetic: {good} 'exact', {blas} 'blas'",
        f"{BACKPROP_EVENTS} events agree (within rtol 1e-12, atol 1e-15)",
    ]
    # without --events-only, configs that differ are a difference
    result = run_cli("diff", good, blas, "--rtol", "1e-12", "--atol", "1e-15")
    assert result.exit_code == 1, result.stdout
    assert result.stdout.splitlines()[:2] == [
        "the headers differ in what ran:",
        f"  config field arithmetic: {good} 'exact', {blas} 'blas'",
    ]


def test_replay_and_diff_read_gzip(run_cli: RunCli, good: Path, tmp_path: Path) -> None:
    gz = tmp_path / "good.jsonl.gz"
    assert run_cli("record", BACKPROP, "-o", gz).exit_code == 0
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert run_cli("replay", gz).stdout.splitlines()[0] == (
        f"{gz}: all {BACKPROP_EVENTS} events match (bit for bit)")
    result = run_cli("diff", good, gz)
    assert (result.exit_code, result.stdout) == (0, f"{BACKPROP_EVENTS} events agree (bit for bit)\n")


def test_an_option_written_as_an_int_or_a_float_is_the_same_run(run_cli: RunCli, tmp_path: Path) -> None:
    """step_amount = 1 and 1.0 in an experiment file (a float option takes the int as that
    float): the same numbers, and diff says so; 1 and 2 differ, in the config and events."""
    config = json.loads(run_cli("experiments", "--show", "ch04-hot-and-cold-learning",
                                "--format", "json").stdout)
    traces = {}
    for name, step in (("int", 1), ("float", 1.0), ("two", 2)):
        experiment = tmp_path / f"{name}.json"
        experiment.write_text(json.dumps({**config, "strategy": {**config["strategy"],
                                                                 "step_amount": step}}))
        traces[name] = tmp_path / f"{name}.jsonl"
        assert run_cli("record", experiment, "-o", traces[name]).exit_code == 0
    same = run_cli("diff", traces["int"], traces["float"])
    assert same.exit_code == 0, same.stdout
    assert same.stdout.endswith("events agree (bit for bit)\n")
    other = run_cli("diff", traces["int"], traces["two"])
    assert other.exit_code == 1
    assert "config field strategy.step_amount: " in other.stdout
