"""The benchmark runs and prints its table (it asserts no time: machines here are noisy)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.bench import (
    BARE,
    BY_REFERENCE,
    ENGINE,
    EXACT,
    FROM_FILE,
    HEADER,
    OVER,
    RECORD,
    REPLAY,
    Fresh,
    Workload,
    b1,
    b2,
    bare_loop,
    by_reference,
    contenders,
    main,
    timed,
)
from steptrace.engine.network import Network, training_data
from tests.conftest import builtin_registry


def test_the_benchmark_prints_every_contender_with_its_ratio_to_the_bare_loop() -> None:
    result = CliRunner().invoke(main, ["--repeat", "1", "--workload", "B1"])
    assert result.exit_code == 0, result.output
    rows = dict(re.findall(r"^ +(\S.*?)\s+[\d.]+\s+([\d.]+)$", result.output, re.MULTILINE))
    assert {BARE, ENGINE, EXACT, RECORD, REPLAY, HEADER.strip(), OVER.strip()} <= set(rows)
    assert rows[BARE] == "1.00"
    assert "B1: 1 rounds after one untimed round; trace 0.23 MB" in result.output
    assert re.search(r"exact ÷ blas \(no events\): [\d.]+; replay ÷ record: [\d.]+ \(config in "
                     r"memory\), [\d.]+ \(both from a file\)", result.output)


@pytest.mark.parametrize(("batch_size", "hidden"), [(100, "relu"), (1, "tanh")])
def test_the_bare_loop_and_the_engine_train_the_same_network(batch_size: int, hidden: str) -> None:
    """The baseline is the same training: B2/100's and B2-tanh's bare loops and the engine
    (blas) end with the same summed error, within blas's last digits; in exact mode, with
    the portable tanh, within its last digits too."""
    workload = b2(batch_size, hidden)
    assert workload.config.nonlinearities[0] == hidden
    registry = builtin_registry()
    network = Network.from_config(workload.config, registry.resolve(workload.config))
    inputs, goals = training_data(workload.config)
    errors = network.train(inputs, goals, 1)
    engine, bare = errors[-1], bare_loop(workload)()
    assert engine is not None and isinstance(bare, float)  # a training run; the loop's summed error
    assert np.isclose(engine, bare, rtol=1e-12)
    exact = workload.config.model_copy(update={"arithmetic": "exact"})
    errors = Network.from_config(exact, registry.resolve(exact)).train(inputs, goals, 1)
    assert errors[-1] is not None and np.isclose(errors[-1], bare, rtol=1e-12)


def test_the_dataset_by_reference_contender_records_the_same_events(tmp_path: Path) -> None:
    """B2/100 by reference: the .npy files and the experiment naming them are written
    before the rounds; its trace holds the references instead of the 784,000 numbers, and
    the same events as the trace that holds them."""
    from steptrace.recording import record

    workload, registry = b2(100), builtin_registry()
    experiment, referenced = by_reference(workload.config, tmp_path)
    assert set(referenced.data_files) == {"inputs", "goals"}
    assert json.loads(experiment.read_text())["inputs"]["file"] == "b2-minibatch-100-inputs.npy"
    record(workload.config, registry, tmp_path / "inline.jsonl")
    record(referenced, registry, tmp_path / "referenced.jsonl")
    inline = (tmp_path / "inline.jsonl").read_bytes().split(b"\n")
    by_ref = (tmp_path / "referenced.jsonl").read_bytes().split(b"\n")
    assert by_ref[1:] == inline[1:]
    assert json.loads(by_ref[0])["config"]["inputs"]["file"] == "b2-minibatch-100-inputs.npy"
    assert len(inline[0]) - len(by_ref[0]) > 784_000 * 16  # the inputs' hex, and more
    assert BY_REFERENCE in contenders(workload, registry, tmp_path)
    assert BY_REFERENCE not in contenders(Workload("B1", workload.config, 100, 1000), registry,
                                          tmp_path)  # (the B2 workloads only)


def test_a_recording_contender_writes_a_new_file_every_round_but_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording (from the config, from the file) and the header alone write a new trace
    every round, as a first recording does (the last round's removed before the clock
    starts), so that they do not pay for replacing a file (its fsync); the contender
    "over the last trace" does, every round after the first."""
    import os

    registry = builtin_registry()
    runs = contenders(b1(registry), registry, tmp_path)
    assert all(isinstance(runs[name], Fresh) for name in (RECORD, FROM_FILE, HEADER))
    assert not isinstance(runs[OVER], Fresh)
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    for name in (RECORD, FROM_FILE, HEADER, RECORD):
        timed(runs[name])()
    assert synced == []
    for _ in range(3):
        timed(runs[OVER])()
    assert len(synced) == 2  # (the first wrote a new file)
    assert (tmp_path / "B1.jsonl").exists() and timed(runs[REPLAY])() > 0


def test_every_command_the_tracing_benchmark_times_runs(tmp_path: Path) -> None:
    """``benchmarks.tracing``'s contenders, each run once as the benchmark runs them: each
    exits 0 (the capture alone too, which once built the child's command line by hand and
    broke when the child's protocol changed)."""
    import subprocess

    from benchmarks.tracing import SCRIPTS, commands

    script = tmp_path / "my_backprop.py"
    script.write_text(SCRIPTS["backprop"])
    runs = commands(tmp_path, script, "ch06-streetlights-backprop")
    assert len(runs) == 5
    for name, command in runs.items():
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{name}: {done.stderr[-500:]}"
    assert (tmp_path / "t.jsonl").read_bytes().startswith(b'{"kind":"header"')


def test_the_html_benchmark_reads_the_trace_again_each_round(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``benchmarks.html``: the floor, the reading, the page and html's own work, each
    with its ratio, over the ch. 6 run's 1,740 events (read from memory each round: the
    page's writer fills the events it reads in themselves)."""
    from benchmarks.html import main as html_main
    from tests.conftest import TRACES

    html_main([str(TRACES / "ch06-streetlights-backprop.jsonl"), "--repeat", "2"])
    out = capsys.readouterr().out
    assert "(1740 events; the page " in out
    rows = re.findall(r"^  (floor|read|page|html's own) +[\d.]+ s +([\d.]+) × the floor", out,
                      re.MULTILINE)
    assert [name for name, _ in rows] == ["floor", "read", "page", "html's own"]
    assert float(rows[0][1]) == 1.0 and float(rows[2][1]) > float(rows[1][1]) > 0
