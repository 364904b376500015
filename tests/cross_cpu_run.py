"""One run of tests/test_cross_cpu.py, in a process of its own (the CPU features numpy uses
and OpenBLAS's kernel are fixed when numpy is imported): record every built-in experiment
and the tanh and sigmoid networks in exact mode at ``--detail all``, run the portable
functions on a probe, and print the SHA-256 of each as JSON; and replay steptrace-extras'
golden traces of portable nonlinearities and of Nesterov's look-ahead gradient
(:data:`EXTRAS_GOLDENS`, where the plugin is installed), each an entry ``replay NAME`` whose
value is what replay said. ``python -m
tests.cross_cpu_run FOLDER``; with ``--compiled``, numba's kernels are loaded first, so the
compiled versions run (where numba is installed).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.errors import SteptraceError
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import Registry
from steptrace.recording import record

ROOT = Path(__file__).resolve().parent.parent
#: steptrace-extras' golden traces whose nonlinearities compute with steptrace.portable
#: (softplus: exp and log1p; gelu: sigmoid; silu: sigmoid), and whose learning rule takes
#: the gradient at look-ahead weights (nesterov: step.gradient(at=...)), replayed bit for bit
EXTRAS_GOLDENS = [ROOT / "plugins" / "steptrace-extras" / "tests" / "golden" / f"streetlights-{name}.jsonl"
                  for name in ("softplus", "gelu", "silu", "nesterov")]


def networks(registry: Registry) -> list[ExperimentConfig]:
    """Every built-in experiment, and chapter 6's network with a tanh and with a sigmoid
    hidden layer, and a deeper one of both in mini-batches, all in exact mode."""
    configs = [registry.experiment(name) for name in sorted(registry.experiments)]
    ch6 = registry.experiment("ch06-streetlights-backprop")
    for hidden in ("tanh", "sigmoid"):
        configs.append(ExperimentConfig.model_validate({
            **ch6.model_dump(), "name": f"ch06-{hidden}", "nonlinearities": [hidden, "linear"]}))
    configs.append(ExperimentConfig.model_validate({
        **ch6.model_dump(), "name": "deep-tanh-sigmoid", "layers": [3, 8, 8, 1], "seed": 7,
        "nonlinearities": ["tanh", "sigmoid", "linear"], "alpha": 0.5, "iterations": 30,
        "strategy": {"name": "minibatch", "batch_size": 2}, "weights": None}))
    return [config.model_copy(update={"arithmetic": "exact"}) for config in configs]


def probe() -> np.ndarray[Any, np.dtype[np.float64]]:
    random = np.random.RandomState(3)
    return np.concatenate([random.uniform(-30, 30, 50_000),
                           random.uniform(-1, 1, 50_000) * 2.0 ** random.randint(-60, 10, 50_000)])


def digest(trace: Path) -> str:
    """The trace's SHA-256, but for the header's note of the environment it was recorded in
    (which names the very settings compared)."""
    first, rest = trace.read_bytes().split(b"\n", 1)
    header = json.loads(first)
    assert set(header["fingerprint"].pop("environment")) <= {
        "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "NPY_DISABLE_CPU_FEATURES"}
    return hashlib.sha256(json.dumps(header).encode() + b"\n" + rest).hexdigest()


def main(folder: Path, compiled: bool) -> dict[str, str]:
    if compiled:
        from steptrace.engine import compiled as kernel
        kernel.load()
    from steptrace import portable

    registry = Registry.load(load_plugins(entry_points=False))
    digests = {}
    for config in networks(registry):
        path = folder / f"{config.name}.jsonl"
        record(config, registry, path, detail="all")
        digests[config.name] = digest(path)
    try:
        import steptrace_extras  # noqa: F401  (installed: its goldens replay here too)
    except ImportError:
        pass
    else:
        from steptrace.replay import replay

        with_extras = Registry.load()
        for golden in EXTRAS_GOLDENS:
            try:
                said = replay(golden, with_extras).describe(golden.name)
            except SteptraceError as error:
                said = f"failed: {error}"
            digests[f"replay {golden.stem}"] = said
    x = probe()
    for name in portable.__all__:
        digests[f"portable.{name}"] = hashlib.sha256(getattr(portable, name)(x).tobytes()).hexdigest()
    digests["np.tanh (numpy's, machine-dependent)"] = hashlib.sha256(np.tanh(x).tobytes()).hexdigest()
    return digests


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), "--compiled" in sys.argv[2:])))
