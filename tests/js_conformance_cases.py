"""The conformance suite's cases: configs, and the events the Python engine makes of them.

One set of cases holds both engines to the same bits (issue 25): the Python engine records
each case here, in exact arithmetic at detail ``all``, in-process; the JavaScript engine
(``steptrace/views/page/engine.js``) runs the same config and ``tests/js/conformance.js``
compares every key and every number's float64 bits. The cases:

- every built-in experiment whose rules the JavaScript engine has (linear, relu, sigmoid,
  tanh; stochastic, full, minibatch, hot_and_cold): the extras plugin's leaky_relu,
  softplus and momentum are Python's alone;
- random networks from a fixed seed: 1-3 weight layers of widths 1-8, any of the four
  nonlinearities per layer, every strategy (hot and cold on small networks), both delta
  forms, frozen weights, seeded and explicit weights, runs that do not train or have no
  goals, held-out rows, alphas that diverge to inf and NaN, 1-4 passes of 1-7 samples;
- a few wide ones, whose matrices of more than 1000 numbers are packed (in the config's
  inputs as well as in events).

A case is one line of JSON: ``{"name", "config", "events"}``, ``config`` as ``steptrace
experiments --show ID --format json`` prints it, ``events`` the trace's lines verbatim.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine.network import Network
from steptrace.plugins.registry import Registry
from steptrace.recording import train_at_detail
from steptrace.trace.emitter import Record, record_json

#: What the JavaScript engine runs.
NONLINEARITIES = ("linear", "relu", "sigmoid", "tanh")
STRATEGIES = ("stochastic", "full", "minibatch", "hot_and_cold")
#: The random cases' seed: the same cases every run.
SEED = 20250
#: Alphas, most of them tame, some that make the weights overflow to inf and then NaN.
ALPHAS = (0.0, 0.01, 0.1, 0.2, 0.5, 1.0, 3.0, 1e3, 1e40, 1e150, 1e300)


def builtin_configs(registry: Registry) -> list[ExperimentConfig]:
    """Every registered experiment the JavaScript engine can run, in exact arithmetic."""
    return [config.model_copy(update={"arithmetic": "exact"})
            for _, config in sorted((name, provided.rule)
                                    for name, provided in registry.experiments.items())
            if set(config.nonlinearities) <= set(NONLINEARITIES)
            and config.strategy.name in STRATEGIES]


def _numbers(random: np.random.RandomState, rows: int, cols: int) -> list[list[float]]:
    """Data as the book's and as nobody's: 0/1, small halves, random reals, -0.0, large."""
    kind = random.randint(5)
    if kind == 0:
        values = random.randint(0, 2, (rows, cols)).astype(float)
    elif kind == 1:
        values = random.randint(-4, 5, (rows, cols)) * 0.5
    elif kind == 2:
        values = random.uniform(-3, 3, (rows, cols))
    elif kind == 3:
        values = random.choice([0.0, -0.0, 1.0, -1.0, 0.1, 1e-310, 7.5], (rows, cols))
    else:
        values = random.uniform(-1, 1, (rows, cols)) * 10.0 ** random.randint(-3, 200, (rows, cols))
    listed: list[list[float]] = values.tolist()
    return listed


def random_config(random: np.random.RandomState, number: int) -> ExperimentConfig:
    """One random network, its data and its rules (valid: Python's checks pass)."""
    hot_and_cold = random.rand() < 0.05
    depth = int(random.randint(1, 3 if hot_and_cold else 4))
    layers = [int(random.randint(1, 4 if hot_and_cold else 9)) for _ in range(depth + 1)]
    samples = int(random.randint(1, 8))
    train = bool(random.rand() < 0.9)
    goals = (_numbers(random, samples, layers[-1])
             if train or random.rand() < 0.5 else None)
    if hot_and_cold:
        strategy: dict[str, Any] = {"name": "hot_and_cold",
                                    "step_amount": float(random.choice([0.001, 0.1, 0.5]))}
    else:
        name = str(random.choice(["stochastic", "full", "minibatch"]))
        strategy = {"name": name}
        if name == "minibatch":
            strategy["batch_size"] = int(random.randint(1, samples + 1))
    data: dict[str, Any] = {
        "name": f"random-{number:05d}", "layers": layers,
        "nonlinearities": [str(random.choice(NONLINEARITIES)) for _ in range(depth)],
        "alpha": float(ALPHAS[random.randint(len(ALPHAS))] if random.rand() < 0.5
                       else random.uniform(0, 0.6)),
        "iterations": int(random.randint(1, 5)), "train": train, "strategy": strategy,
        "arithmetic": "exact",
        "delta": "goal - prediction" if random.rand() < 0.3 else "prediction - goal",
        "inputs": _numbers(random, samples, layers[0]), "goals": goals,
    }
    if random.rand() < 0.5:
        data["seed"] = int(random.choice([0, 1, 2**32 - 1, int(random.randint(0, 2**31))]))
    else:
        data["weights"] = [_numbers(random, n_in, n_out) if random.rand() < 0.3
                           else random.uniform(-1.5, 1.5, (n_in, n_out)).tolist()
                           for n_in, n_out in itertools.pairwise(layers)]
    if random.rand() < 0.3:
        data["frozen"] = [[int(k), int(random.randint(layers[k])), int(random.randint(layers[k + 1]))]
                          for k in random.randint(0, depth, int(random.randint(1, 4)))]
    if random.rand() < 0.3:
        held_out = int(random.randint(1, 4))
        data["test_inputs"] = _numbers(random, held_out, layers[0])
        data["test_goals"] = _numbers(random, held_out, layers[-1])
    return ExperimentConfig.model_validate(data)


def random_configs(count: int, seed: int = SEED) -> Iterator[ExperimentConfig]:
    """``count`` random networks, the same ones for the same seed."""
    random = np.random.RandomState(seed)
    for number in range(count):
        yield random_config(random, number)


def wide_configs() -> list[ExperimentConfig]:
    """Networks whose matrices pack (more than 1000 numbers), in events and in the config;
    each product under 10^4 multiplications (numba is not loaded for them)."""
    random = np.random.RandomState(7)
    base: dict[str, Any] = {"alpha": 0.01, "iterations": 2, "arithmetic": "exact"}
    return [ExperimentConfig.model_validate({**base, **extra}) for extra in [
        # weights_0_1, its weight_delta: 40 × 30
        {"name": "wide-weights", "layers": [40, 30, 1], "nonlinearities": ["relu", "linear"],
         "seed": 3, "inputs": random.uniform(0, 1, (2, 40)), "goals": [[1.0], [0.0]]},
        # the config's inputs and a full batch's layer_in: 26 × 40
        {"name": "wide-inputs", "layers": [40, 9, 1], "nonlinearities": ["tanh", "sigmoid"],
         "seed": 4, "strategy": "full", "inputs": random.uniform(-1, 1, (26, 40)),
         "goals": random.randint(0, 2, (26, 1)).astype(float)},
        # a linear hidden layer's derivative, ones: 25 × 45
        {"name": "wide-ones", "layers": [3, 45, 1], "nonlinearities": ["linear", "relu"],
         "seed": 5, "strategy": "full", "inputs": random.uniform(-1, 1, (25, 3)),
         "goals": random.uniform(0, 1, (25, 1))},
        # diverging: NaN and inf in packed matrices
        {"name": "wide-diverging", "layers": [40, 30, 2], "nonlinearities": ["sigmoid", "tanh"],
         "seed": 6, "alpha": 1e300, "iterations": 3, "inputs": random.uniform(-9, 9, (2, 40)),
         "goals": [[1e200, -1e200], [0.0, 1.0]]},
    ]]


def expected_lines(config: ExperimentConfig, registry: Registry) -> list[bytes]:
    """The lines of ``config``'s trace at detail ``all``, its header and end aside: what
    ``steptrace record --detail all`` writes, recorded in-process."""
    network = Network.from_config(config, registry.resolve(config))
    lines: list[bytes] = []

    def emit(record: Record) -> None:
        lines.append(record_json(record))

    train_at_detail(network, config, "all", emit)
    return lines


def case_line(config: ExperimentConfig, registry: Registry) -> tuple[bytes, int]:
    """A case as one line of JSON, and how many events it holds."""
    lines = expected_lines(config, registry)
    name = config.name.encode()
    return (b'{"name":"' + name + b'","config":' + config.model_dump_json().encode()
            + b',"events":[' + b",".join(lines) + b"]}\n"), len(lines)


def write_cases(configs: Iterable[ExperimentConfig], registry: Registry, path: Path) -> tuple[int, int]:
    """Write each config's case to ``path``; returns (cases, events)."""
    cases = events = 0
    with path.open("wb") as file:
        for config in configs:
            line, count = case_line(config, registry)
            file.write(line)
            cases += 1
            events += count
    return cases, events
