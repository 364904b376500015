"""The benchmark runs and prints its table (it asserts no time: machines here are noisy)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.bench import BARE, ENGINE, EXACT, HEADER, RECORD, REPLAY, b2, bare_loop, main
from steptrace.engine.network import Network, training_data
from tests.conftest import builtin_registry


def test_the_benchmark_prints_every_contender_with_its_ratio_to_the_bare_loop() -> None:
    result = CliRunner().invoke(main, ["--repeat", "1", "--workload", "B1"])
    assert result.exit_code == 0, result.output
    rows = dict(re.findall(r"^ +(\S.*?)\s+[\d.]+\s+([\d.]+)$", result.output, re.MULTILINE))
    assert {BARE, ENGINE, EXACT, RECORD, REPLAY, HEADER.strip()} <= set(rows)
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
