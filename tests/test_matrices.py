"""Matrices of experiments and trace headers: exact in both JSON forms, packed when large."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from pydantic import BaseModel

from steptrace.config import ExperimentConfig, dump_json, dump_toml, load_config
from steptrace.matrices import PACK_ABOVE, PACKED_KEY, Matrix
from steptrace.recording import record
from steptrace.replay import replay
from steptrace.trace.reader import open_trace
from tests.conftest import RunCli, builtin_registry, present

#: Numbers whose bits are easy to lose: signed zeros, subnormals, the extremes, 0.1.
AWKWARD = [0.0, -0.0, 5e-324, -2.2250738585072014e-308, 1.7976931308623157e308, 0.1,
           -1 / 3, 2.0**-1074 * 3, 1e16 + 2]


class Holder(BaseModel):
    matrix: Matrix


def _bits(matrix: Matrix) -> bytes:
    return matrix.array.tobytes()


@pytest.mark.parametrize("packed", [False, True])
def test_both_json_forms_round_trip_bit_for_bit(packed: bool) -> None:
    random = np.random.RandomState(3)
    values = random.standard_normal((7, 9)) * 10.0 ** random.randint(-300, 300, (7, 9))
    values.ravel()[: len(AWKWARD)] = AWKWARD
    matrix = Matrix(values)
    text = json.dumps({"matrix": matrix.to_json_value(packed=packed)})
    back = Holder.model_validate_json(text).matrix
    assert _bits(back) == values.tobytes()
    assert back == matrix and back.shape == (7, 9)
    assert (PACKED_KEY in text) is packed


def test_large_matrices_are_written_packed_small_ones_as_rows() -> None:
    small = Holder(matrix=np.ones((40, 25)))  # exactly PACK_ABOVE numbers
    large = Holder(matrix=np.ones((41, 25)))
    assert small.matrix.array.size == PACK_ABOVE
    assert json.loads(small.model_dump_json())["matrix"] == [[1.0] * 25] * 40
    packed = json.loads(large.model_dump_json())["matrix"]
    assert packed["shape"] == [41, 25] and len(packed[PACKED_KEY]) == 41 * 25 * 16
    assert Holder.model_validate_json(large.model_dump_json()) == large


def test_equality_is_bitwise_and_the_array_is_read_only() -> None:
    assert Matrix([[0.0]]) != Matrix([[-0.0]])
    assert Matrix([[1.0, 2.0]]) == Matrix(np.array([[1, 2]]))  # integers become floats
    assert Matrix([[1.0, 2.0]]) != Matrix([[1.0], [2.0]])
    assert len({Matrix([[0.5]]), Matrix([[0.5]])}) == 1
    source = np.zeros((2, 2))
    matrix = Matrix(source)
    source[0, 0] = 7.0  # the matrix holds a copy of its own
    assert matrix.array[0, 0] == 0.0
    with pytest.raises(ValueError):
        matrix.array[0, 0] = 1.0
    assert matrix[1] == (0.0, 0.0) and list(matrix) == [(0.0, 0.0), (0.0, 0.0)]


def _big_config(rows: int = 300, width: int = 20) -> ExperimentConfig:
    random = np.random.RandomState(0)
    return ExperimentConfig.model_validate({
        "name": "big", "layers": [width, 4, 3], "nonlinearities": ["relu", "linear"], "seed": 1,
        "alpha": 0.01, "iterations": 2, "arithmetic": "blas",
        "strategy": {"name": "minibatch", "batch_size": 50},
        "inputs": random.random_sample((rows, width)), "goals": np.eye(3)[random.randint(0, 3, rows)]})


def test_an_experiment_file_with_a_large_dataset_round_trips_packed(tmp_path: Path) -> None:
    config = _big_config()
    assert config.inputs.packed and not present(config.goals).packed
    for name, text in (("big.json", dump_json(config)), ("big.toml", dump_toml(config))):
        path = tmp_path / name
        path.write_text(text)
        assert PACKED_KEY in text
        assert load_config(path) == config, name


def test_a_trace_of_a_large_dataset_holds_it_packed_under_schema_2(tmp_path: Path) -> None:
    config = _big_config()
    registry = builtin_registry()
    trace = tmp_path / "big.jsonl"
    record(config, registry, trace)
    header = json.loads(trace.read_bytes().split(b"\n", 1)[0])
    assert header["schema_version"] == 2
    assert header["config"]["inputs"]["shape"] == [300, 20]
    with open_trace(trace) as reader:
        assert reader.header.config == config
        assert _bits(reader.header.config.inputs) == config.inputs.array.tobytes()
    assert replay(trace, registry).events > 0


def test_a_trace_without_large_matrices_stays_schema_1(tmp_path: Path) -> None:
    """Older steptrace versions read schema 1: a trace that needs nothing newer says 1."""
    trace = tmp_path / "small.jsonl"
    record(builtin_registry().experiment("ch06-streetlights-backprop"), builtin_registry(), trace)
    header = json.loads(trace.read_bytes().split(b"\n", 1)[0])
    assert header["schema_version"] == 1
    assert header["config"]["inputs"] == [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0],
                                          [1.0, 1.0, 1.0]]


def _wide_config(alpha: float = 0.01, iterations: int = 2) -> ExperimentConfig:
    """A batch of 60 rows by a hidden layer of 30: 1,800 numbers per matrix, packed."""
    random = np.random.RandomState(4)
    return ExperimentConfig.model_validate({
        "name": "wide", "layers": [5, 30, 2], "nonlinearities": ["relu", "linear"], "seed": 2,
        "alpha": alpha, "iterations": iterations, "strategy": {"name": "full"},
        "inputs": random.random_sample((60, 5)), "goals": np.eye(2)[random.randint(0, 2, 60)]})


@pytest.mark.parametrize("lean", [True, False], ids=["step detail", "all detail"])
@pytest.mark.parametrize("alpha", [0.01, 1e154], ids=["learning", "overflowing to inf and NaN"])
def test_large_event_matrices_are_packed_and_their_events_read_back_bit_for_bit(
        lean: bool, alpha: float) -> None:
    """A record's packed matrix is exactly its typed event's JSON, and reads back as the same
    numbers (NaN and infinities, which packed bytes hold as they are, included)."""
    from steptrace.engine.network import Network
    from steptrace.recording import train_at_detail
    from steptrace.trace.emitter import record_json, typed
    from steptrace.trace.events import DeltaEvent, event_adapter, to_json

    config = _wide_config(alpha, iterations=3)
    network = Network.from_config(config, builtin_registry().resolve(config))
    records: list[dict[str, Any]] = []
    train_at_detail(network, config, "step" if lean else "all", records.append)
    packed = [r for r in records if isinstance(r.get("layer_out", r.get("delta")), dict)]
    assert len(packed) == 2 * 3  # per pass: the hidden layer's forward and its delta
    for one in records:
        event = typed(one)
        line = record_json(one)
        assert line == to_json(event)
        back = event_adapter.validate_json(line) if b'"NaN"' not in line and b"Inf" not in line else None
        if back is not None:
            assert to_json(back) == line  # the same bits, NaN included
    if alpha > 1:
        assert any(np.isnan(cast(DeltaEvent, typed(r)).delta).any() for r in packed if r["kind"] == "delta")


def test_a_trace_with_packed_events_replays_and_reads_as_a_text_trace_does(
        tmp_path: Path, run_cli: RunCli) -> None:
    """Packed or not, the same run: `show` of the trace equals the narration of the engine's
    own events, `diff` against a full-detail trace of it finds nothing."""
    config = _wide_config()
    registry = builtin_registry()
    step, full = tmp_path / "wide.jsonl", tmp_path / "wide-full.jsonl"
    record(config, registry, step)
    record(config, registry, full, detail="all")
    lines = step.read_bytes().splitlines()
    assert json.loads(lines[0])["schema_version"] == 2
    assert json.loads(lines[1])["weighted_sum"]["shape"] == [60, 30]
    # per pass: 2 forward, error, 2 delta, 2 update, epoch_end
    assert replay(step, registry).events == replay(full, registry).events == 2 * 8
    assert run_cli("diff", step, full).exit_code == 0
    shown = run_cli("show", step, "--kind", "forward", "--layer", "1").stdout
    assert shown.count("layer_1 = relu(layer_0 · weights_0_1)") == 2
