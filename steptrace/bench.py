"""``python -m steptrace.bench``: steptrace against the book's bare numpy loop, side by side.

Workload B1, the book's ch. 6 backprop (3-4-1, relu, 4 samples, 60 iterations,
stochastic). Each contender runs ``--repeat`` times, interleaved, and the medians are
compared with the bare loop's. Prints a table of ratios; nothing here is asserted.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine import run
from steptrace.recording import record as record_trace
from steptrace.registry import Registry


def bare_loop() -> float:
    """The book's cell, as printed (np.dot, in place updates)."""
    np.random.seed(1)
    streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
    walk_vs_stop = np.array([[1, 1, 0, 0]]).T
    alpha, hidden_size = 0.2, 4
    weights_0_1 = 2 * np.random.random((3, hidden_size)) - 1
    weights_1_2 = 2 * np.random.random((hidden_size, 1)) - 1
    layer_2_error = 0.0
    for _ in range(60):
        layer_2_error = 0
        for i in range(len(streetlights)):
            layer_0 = streetlights[i:i + 1]
            layer_1 = (np.dot(layer_0, weights_0_1) > 0) * np.dot(layer_0, weights_0_1)
            layer_2 = np.dot(layer_1, weights_1_2)
            layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i + 1]) ** 2)
            layer_2_delta = layer_2 - walk_vs_stop[i:i + 1]
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * (layer_1 > 0)
            weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    return float(layer_2_error)


def contenders(registry: Registry, folder: Path) -> dict[str, Callable[[], object]]:
    base = registry.experiment("ch06-streetlights-backprop")

    def engine(config: ExperimentConfig) -> Callable[[], object]:
        plan = registry.resolve(config)
        return lambda: run(config, plan)

    def record(config: ExperimentConfig) -> Callable[[], object]:
        return lambda: record_trace(config, registry, folder / "bench.jsonl")

    blas = base.model_copy(update={"arithmetic": "blas"})
    return {
        "bare numpy loop (the book's cell)": bare_loop,
        "engine, no events (blas)": engine(blas),
        "engine, no events (exact)": engine(base),
        "record to a trace file (blas)": record(blas),
        "record to a trace file (exact)": record(base),
    }


@click.command()
@click.option("--repeat", default=21, show_default=True, help="Runs per contender.")
def main(repeat: int) -> None:
    """Time B1 (ch06-streetlights-backprop) against the book's bare numpy loop."""
    registry = Registry.load()
    with tempfile.TemporaryDirectory() as tmp:
        runs = contenders(registry, Path(tmp))
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeat):  # interleaved, so machine noise hits all alike
            for name, go in runs.items():
                start = time.perf_counter()
                go()
                times[name].append(time.perf_counter() - start)
        size = (Path(tmp) / "bench.jsonl").stat().st_size
    bare = statistics.median(times["bare numpy loop (the book's cell)"])
    click.echo(f"B1 ch06-streetlights-backprop, median of {repeat} interleaved runs")
    click.echo(f"{'contender':<36} {'median ms':>10} {'× bare':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        click.echo(f"{name:<36} {median * 1e3:>10.2f} {median / bare:>8.2f}")
    click.echo(f"trace size: {size} bytes")


if __name__ == "__main__":
    main()
