"""``python -m benchmarks.bench``: steptrace against the bare loop, side by side, in one run.

Workloads:

- **B1**: the book's ch. 6 backprop: 3-4-1, relu, 4 samples, 60 passes, stochastic.
- **B2**: an MNIST-shaped net: 784-40-10, relu, 1000 synthetic samples (seeded, in
  [0, 1), one-hot goals), alpha 0.005, stochastic, 1 pass; **B2/100**: the same in
  mini-batches of 100; **B2-tanh**: B2 with a tanh hidden layer (exact mode computes it
  with :mod:`steptrace.portable`, blas mode and the bare loop with ``np.tanh``).

Contenders: the book's bare numpy loop (the baseline); PyTorch float64 with no tracing
(one thread; when torch is installed); the engine without events; recording every event
to a new trace file, from the config in memory and from an experiment file (which, like a
replay, reads and validates the dataset first), and over the trace it wrote the round
before (a file replaced goes to the disk first: ``fsync``); the header alone (the floor
of any trace of that config: its dataset and initial weights, written); replaying that
trace; and, for the B2 workloads, recording with the dataset by reference (the inputs
and goals in .npy files, written once before the rounds, that the config names with
their sha256: the trace holds the references, not the numbers), from the config in
memory and from its experiment file (which reads and hashes the .npy files). A contender
that writes a trace writes a new file every round (:class:`Fresh`: the last round's is
removed first, untimed), as ``record -o NEW`` does, except the one that replaces it.
After one untimed round (imports, caches, compiled kernels), each runs ``--repeat`` times,
interleaved so that machine noise hits all alike, in an order shuffled every round (a
contender that always ran after PyTorch, say, would pay for the caches it left cold);
each ratio is the median over the rounds of the two times in the same round. Prints a
table of ratios; nothing here is asserted (timed assertions belong nowhere: the machines
are shared and noisy).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.rounds import interleaved, same_round_ratio
from steptrace.config import ExperimentConfig, dump_json, load_config
from steptrace.datafiles import sha256_of
from steptrace.engine.network import Network, initial_weights, training_data
from steptrace.engine.rules import Array
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import Registry
from steptrace.recording import header_for, record
from steptrace.replay import replay
from steptrace.trace.writer import TraceWriter


@dataclass(frozen=True)
class Workload:
    name: str
    config: ExperimentConfig
    batch_size: int
    samples: int


def b1(registry: Registry) -> Workload:
    config = registry.experiment("ch06-streetlights-backprop")
    return Workload("B1", config.model_copy(update={"arithmetic": "blas"}), 1, 4)


def b2(batch_size: int, hidden: str = "relu") -> Workload:
    """784-40-10 on 1000 seeded samples in [0, 1) with one-hot goals; the weights drawn as
    the book's chapter 8 draws them (0.2 * random - 0.1), so that relu stays in range;
    ``hidden``: the hidden layer's nonlinearity (relu or tanh)."""
    random = np.random.RandomState(0)
    inputs = random.random_sample((1000, 784))
    goals = np.eye(10)[random.randint(0, 10, 1000)]
    weights = [0.2 * random.random_sample((784, 40)) - 0.1,
               0.2 * random.random_sample((40, 10)) - 0.1]
    strategy: Any = ("stochastic" if batch_size == 1
                     else {"name": "minibatch", "batch_size": batch_size})
    config = ExperimentConfig.model_validate({
        "name": ("b2" if batch_size == 1 else f"b2-minibatch-{batch_size}")
                + ("" if hidden == "relu" else f"-{hidden}"),
        "layers": [784, 40, 10], "nonlinearities": [hidden, "linear"],
        "weights": weights, "alpha": 0.005, "iterations": 1,
        "strategy": strategy, "arithmetic": "blas",
        "inputs": inputs, "goals": goals, "book_view": {}})
    name = ("B2" if batch_size == 1 else f"B2/{batch_size}") + ("" if hidden == "relu" else f"-{hidden}")
    return Workload(name, config, batch_size, 1000)


def bare_loop(workload: Workload) -> Callable[[], object]:
    """The book's loop as it prints it (its relu and relu2deriv functions, np.dot, in-place
    updates), batched when asked (the weight_delta averaged over the batch, as the engine
    does); with a tanh hidden layer, the book's tanh and tanh2deriv (ch. 9)."""
    config = workload.config
    inputs, goals = training_data(config)
    assert goals is not None  # the workloads train
    start = initial_weights(config)
    alpha, size, iterations = config.alpha, workload.batch_size, config.iterations

    def relu(x: Array) -> Array:  # the book's two functions, as its chapter 6 defines them
        return (x > 0) * x

    def relu2deriv(output: Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return output > 0

    def tanh(x: Array) -> Array:
        return np.tanh(x)

    def tanh2deriv(output: Array) -> Array:
        return 1 - (output ** 2)

    act, act2deriv = (tanh, tanh2deriv) if config.nonlinearities[0] == "tanh" else (relu, relu2deriv)

    def go() -> float:
        weights_0_1, weights_1_2 = start[0].copy(), start[1].copy()
        layer_2_error = 0.0
        for _ in range(iterations):
            layer_2_error = 0.0
            for i in range(0, len(inputs), size):
                layer_0 = inputs[i:i + size]
                layer_1 = act(np.dot(layer_0, weights_0_1))
                layer_2 = np.dot(layer_1, weights_1_2)
                layer_2_error += np.sum((layer_2 - goals[i:i + size]) ** 2)
                layer_2_delta = layer_2 - goals[i:i + size]
                layer_1_delta = layer_2_delta.dot(weights_1_2.T) * act2deriv(layer_1)
                if size == 1:
                    weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
                    weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
                else:
                    weights_1_2 -= alpha * (layer_1.T.dot(layer_2_delta) / len(layer_0))
                    weights_0_1 -= alpha * (layer_0.T.dot(layer_1_delta) / len(layer_0))
        return layer_2_error

    return go


def torch_loop(workload: Workload) -> Callable[[], object] | None:
    """The same training in PyTorch float64, autograd, no tracing at all."""
    try:
        import torch
    except ImportError:
        return None
    # One thread: PyTorch's OpenMP threads spin on after each run and took a core from
    # whichever contender ran next (B2/100's engine ran 2x slower right after PyTorch).
    # On these one-sample and 100-sample steps a second thread gains PyTorch nothing.
    torch.set_num_threads(1)

    config = workload.config
    inputs, goals = (torch.tensor(data, dtype=torch.float64) for data in training_data(config))
    start = [torch.tensor(w) for w in initial_weights(config)]
    alpha, size, iterations = config.alpha, workload.batch_size, config.iterations
    act = torch.tanh if config.nonlinearities[0] == "tanh" else torch.relu

    def go() -> float:
        w01: Any = start[0].clone().requires_grad_()
        w12: Any = start[1].clone().requires_grad_()
        total = 0.0
        for _ in range(iterations):
            for i in range(0, len(inputs), size):
                layer_2 = act(inputs[i:i + size] @ w01) @ w12
                loss: Any = 0.5 * ((layer_2 - goals[i:i + size]) ** 2).sum() / len(layer_2)
                loss.backward()
                with torch.no_grad():
                    w01 -= alpha * w01.grad
                    w12 -= alpha * w12.grad
                    w01.grad = None
                    w12.grad = None
                total += float(loss.detach())
        return total

    return go


BARE, TORCH = "bare numpy loop (the book's)", "PyTorch float64, no tracing"
ENGINE, EXACT = "engine, no events (blas)", "engine, no events (exact)"
RECORD, FROM_FILE, REPLAY = "record every event (blas)", "  the same, from the file", "replay that trace"
OVER = "  the same, over the last trace"
HEADER = "  the header alone, written"
BY_REFERENCE, BY_REFERENCE_FILE = "record, dataset by reference", "  the same, from its file"
REFERENCE_TRACE = "by-reference.trace"


@dataclass(frozen=True)
class Fresh:
    """A contender that writes ``path``: every run writes a new file, as a first recording
    (``record -o NEW``) does; :func:`timed` removes the last run's before the clock starts.
    (Recording over the same file every round paid for replacing it: the ``fsync`` that
    keeps the old trace safe until the new one is on the disk, and the rename over it,
    5 ms on this machine's disk, more than B1's whole bare loop.)"""

    path: Path
    go: Callable[[], object]

    def __call__(self) -> object:
        return self.go()


def contenders(workload: Workload, registry: Registry, folder: Path) -> dict[str, Callable[[], Any]]:
    config = workload.config
    exact = config.model_copy(update={"arithmetic": "exact"})
    plan = registry.resolve(config)
    inputs, goals = training_data(config)

    def engine(config: ExperimentConfig) -> Callable[[], Any]:
        """The engine on data and initial weights prepared once, as the bare loop's are."""
        network = Network.from_config(config, plan)
        start = [w.copy() for w in network.weights]

        def go() -> None:
            network.weights = [w.copy() for w in start]
            network.train(inputs, goals, config.iterations)
        return go

    trace = folder / f"{workload.name.replace('/', '-')}.jsonl"
    record(config, registry, trace)  # so that replay has a trace from the first round on
    experiment = folder / f"{workload.name.replace('/', '-')}.json"  # as a user would keep it
    experiment.write_text(dump_json(config), encoding="utf-8")

    def header_alone() -> None:
        """What every trace of this config costs before its first event: the header (the
        dataset and the initial weights) and the end line, written."""
        network = Network.from_config(config, plan)
        with TraceWriter(folder / "header-alone.trace", header_for(config, registry, network)):
            pass

    over = folder / "over-the-last.trace"  # (not *.jsonl: the trace's size is RECORD's)

    referencing = by_reference(config, folder) if workload.name.startswith("B2") else None
    found: dict[str, Callable[[], Any] | None] = {
        BARE: bare_loop(workload),
        TORCH: torch_loop(workload),
        ENGINE: engine(config),
        EXACT: engine(exact),
        RECORD: Fresh(trace, lambda: record(config, registry, trace)),
        FROM_FILE: Fresh(trace, lambda: record(load_config(experiment), registry, trace)),
        OVER: lambda: record(config, registry, over),
        HEADER: Fresh(folder / "header-alone.trace", header_alone),
        REPLAY: lambda: replay(trace, registry),
    }
    if referencing is not None:
        config_file, referenced = referencing
        by_ref = folder / REFERENCE_TRACE  # (not *.jsonl: the self-contained trace's size)
        found[BY_REFERENCE] = Fresh(by_ref, lambda: record(referenced, registry, by_ref))
        found[BY_REFERENCE_FILE] = Fresh(by_ref, lambda: record(load_config(config_file),
                                                                registry, by_ref))
    return {name: go for name, go in found.items() if go is not None}


def by_reference(config: ExperimentConfig, folder: Path) -> tuple[Path, ExperimentConfig]:
    """``config`` with its inputs and goals in .npy files beside an experiment file that
    names them with their sha256 (written once, outside the timed rounds): that file, and
    the config read from it."""
    data = config.model_dump(mode="json")
    for name in ("inputs", "goals"):
        file = folder / f"{config.name}-{name}.npy"
        np.save(file, getattr(config, name).array)
        data[name] = {"file": file.name, "sha256": sha256_of(file)}
    experiment = folder / f"{config.name}-by-reference.json"
    experiment.write_text(json.dumps(data), encoding="utf-8")
    return experiment, load_config(experiment)


@dataclass(frozen=True)
class Timings:
    """Every contender's time in every round (seconds); a ratio is the median, over the
    rounds, of the two contenders' times in the same round (they ran back to back, so
    machine noise hits both alike)."""

    times: dict[str, list[float]]
    trace_bytes: int
    reference_bytes: int | None = None  # the trace with the dataset by reference

    def median_ms(self, name: str) -> float:
        return statistics.median(self.times[name]) * 1e3

    def ratio(self, name: str, to: str) -> float:
        return same_round_ratio(self.times, name, to)


def measure(workload: Workload, registry: Registry, repeat: int) -> Timings:
    with tempfile.TemporaryDirectory() as tmp:
        runs = contenders(workload, registry, Path(tmp))
        times = interleaved({name: timed(go) for name, go in runs.items()}, repeat)
        size = sum(p.stat().st_size for p in Path(tmp).glob("*.jsonl"))
        by_ref = Path(tmp) / REFERENCE_TRACE
        return Timings(times, size, by_ref.stat().st_size if by_ref.exists() else None)


def timed(go: Callable[[], object]) -> Callable[[], float]:
    """``go``, returning the seconds it took (a :class:`Fresh` one's file removed first,
    untimed)."""
    def run() -> float:
        if isinstance(go, Fresh):
            go.path.unlink(missing_ok=True)
        start = time.perf_counter()
        go()
        return time.perf_counter() - start
    return run


@click.command()
@click.option("--repeat", default=7, show_default=True, type=click.IntRange(min=1),
              help="Timed rounds, after one untimed round (ratios are their medians).")
@click.option("--workload", "names", multiple=True, type=click.Choice(["B1", "B2", "B2/100", "B2-tanh"]),
              help="Only these workloads (repeatable; default: all).")
def main(repeat: int, names: tuple[str, ...]) -> None:
    """Time steptrace against the book's bare numpy loop and PyTorch, side by side.

    For each workload (B1: the book's 3-4-1 backprop; B2: a 784-40-10 net on 1000
    samples, stochastic; B2/100: the same in mini-batches of 100; B2-tanh: B2 with a tanh
    hidden layer) it prints every
    contender's median time and its ratio to the bare loop, then exact ÷ blas and
    replay ÷ record. Nothing is asserted. Exact mode uses numba's kernel where numba is
    installed (STEPTRACE_NUMBA=0: numpy's paths); PyTorch rows appear where torch is."""
    registry = Registry.load(load_plugins(entry_points=False))
    workloads = [b1(registry), b2(1), b2(100), b2(1, "tanh")]
    click.echo(f"python -m benchmarks.bench --repeat {repeat} on {platform.machine()}, "
               f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    for workload in workloads:
        if names and workload.name not in names:
            continue
        timings = measure(workload, registry, repeat)
        size = timings.trace_bytes
        click.echo(f"\n{workload.name}: {repeat} rounds after one untimed round; trace "
                   f"{size / 1e6:.2f} MB ({size / 1e6 * 1000 / workload.samples:.1f} MB per "
                   "1000 samples)")
        if timings.reference_bytes is not None:
            click.echo("  with the dataset by reference, the trace is "
                       f"{timings.reference_bytes / 1e6:.2f} MB")
        click.echo(f"  {'contender':<32} {'median ms':>10} {'× bare':>8}")
        for name in timings.times:
            click.echo(f"  {name:<32} {timings.median_ms(name):>10.2f} "
                       f"{timings.ratio(name, BARE):>8.2f}")
        if TORCH in timings.times:
            click.echo(f"  record every event ÷ PyTorch without tracing: {timings.ratio(RECORD, TORCH):.2f}")
        click.echo(f"  exact ÷ blas (no events): {timings.ratio(EXACT, ENGINE):.2f}; replay ÷ record: "
                   f"{timings.ratio(REPLAY, RECORD):.2f} (config in memory), "
                   f"{timings.ratio(REPLAY, FROM_FILE):.2f} (both from a file)")


if __name__ == "__main__":
    main()
