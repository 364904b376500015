"""Exact mode gives the same bits whatever the CPU's features, OpenBLAS's kernel, its
threads, and with or without numba: every built-in experiment, tanh and sigmoid networks,
and the portable functions, recorded under each setting (and steptrace-extras' golden
traces of softplus, gelu and silu, and of Nesterov's look-ahead gradient, replayed bit for
bit under each) in a process of its own
(tests/cross_cpu_run.py) and compared byte for byte with the machine's default.

The settings: numpy's CPU dispatch turned off group by group, from the newest of the
groups this CPU has down to numpy's baseline (``NPY_DISABLE_CPU_FEATURES``: on an AVX-512
machine, AVX512_SPR, then AVX512_ICL, X86_V4 (AVX-512), X86_V3 (AVX2, FMA)); OpenBLAS's
Prescott and Haswell kernels on x86-64 (``OPENBLAS_CORETYPE``), with 1 and 2 threads; and
numba off (``STEPTRACE_NUMBA=0``) against numba's compiled versions. That the settings
take effect is shown by numpy's own ``np.tanh``, whose bits move under X86_V3 where the
CPU has it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMPY_TANH = "np.tanh (numpy's, machine-dependent)"


def found_features() -> list[str]:
    """The CPU feature groups numpy dispatches to on this machine, oldest first."""
    simd = np.show_config(mode="dicts")["SIMD Extensions"]
    return list(simd.get("found", []))


def cpu_settings() -> list[dict[str, str]]:
    """NPY_DISABLE_CPU_FEATURES values: the dispatched groups this CPU has, turned off from
    the newest down (each value turns off that group and every newer one)."""
    present = found_features()
    return [{"NPY_DISABLE_CPU_FEATURES": " ".join(present[i:])} for i in range(len(present))]


def blas_settings() -> list[dict[str, str]]:
    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    return [{"OPENBLAS_CORETYPE": core, "OPENBLAS_NUM_THREADS": threads}
            for core in ("Prescott", "Haswell") for threads in ("1", "2")]


def run(folder: Path, env: dict[str, str], compiled: bool) -> dict[str, str]:
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    for name in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "STEPTRACE_NUMBA"):
        if name not in env:
            environment.pop(name, None)
    folder.mkdir()
    done = subprocess.run([sys.executable, "-m", "tests.cross_cpu_run", str(folder)]
                          + (["--compiled"] if compiled else []),
                          capture_output=True, text=True, env=environment, cwd=ROOT, timeout=600)
    assert done.returncode == 0, f"{env}: {done.stderr[-2000:]}"
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_exact_traces_and_the_portable_functions_are_the_same_bits_on_every_setting(
        tmp_path: Path) -> None:
    baseline = run(tmp_path / "default", {}, compiled=True)
    assert len(baseline) >= 31 + 3 + 5 + 1  # the built-ins, 3 of tanh and sigmoid, 5 functions
    replays = {name: said for name, said in baseline.items() if name.startswith("replay ")}
    if importlib.util.find_spec("steptrace_extras") is not None:
        assert sorted(replays) == ["replay streetlights-gelu", "replay streetlights-nesterov",
                                   "replay streetlights-silu", "replay streetlights-softplus"]
    for name, said in replays.items():  # (then the same words under every setting, below)
        events = 1260 if name.endswith("nesterov") else 1740  # (nesterov's steps: no deltas)
        assert said.startswith(f"{name.removeprefix('replay ')}.jsonl: all {events} events "
                               "match (bit for bit)"), said
    settings = cpu_settings() + blas_settings() + [{"STEPTRACE_NUMBA": "0"}]
    numpy_tanh_moved = []
    for number, env in enumerate(settings):
        digests = run(tmp_path / f"setting-{number}", env, compiled="STEPTRACE_NUMBA" not in env)
        differ = sorted(name for name in baseline if name != NUMPY_TANH
                        and digests[name] != baseline[name])
        assert not differ, f"under {env}, exact mode gave other bits for: {', '.join(differ)}"
        if digests[NUMPY_TANH] != baseline[NUMPY_TANH]:
            numpy_tanh_moved.append(env)
    # The reproducer: a tanh network's exact trace, recorded with every feature,
    # replays with the fewest (with AVX2 off, numpy's own tanh moved ~30% of its values).
    fewest = cpu_settings()[0] if cpu_settings() else {}
    replayed = subprocess.run([sys.executable, "-m", "steptrace", "replay",
                               str(tmp_path / "default" / "ch06-tanh.jsonl")],
                              capture_output=True, text=True, timeout=300, cwd=ROOT,
                              env={**os.environ, **fewest, "PYTHONPATH": str(ROOT)})
    assert replayed.returncode == 0, f"under {fewest}: {replayed.stdout}{replayed.stderr}"
    assert "all 1740 events match (bit for bit)" in replayed.stdout
    # The settings bite: without AVX2, numpy's own tanh gives other bits (the reason for
    # steptrace.portable), so a trace made with it would have differed above.
    if "X86_V3" in found_features():
        assert any("X86_V3" in env.get("NPY_DISABLE_CPU_FEATURES", "") for env in numpy_tanh_moved)
    assert np.tanh(0.5) == pytest.approx(0.46211715726000974)


def test_a_setting_numpy_refuses_is_a_one_line_error() -> None:
    """Turning off a feature numpy cannot do without stops numpy itself from starting: the
    command says so in a line and exits 2 (not "internal error")."""
    baseline = np.show_config(mode="dicts")["SIMD Extensions"].get("baseline", [])
    if not baseline:
        pytest.skip("numpy has no baseline CPU features here to refuse turning off")
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": baseline[0], "PYTHONPATH": str(ROOT)}
    env.pop("STEPTRACE_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "steptrace", "experiments"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: numpy cannot start: ")
    assert done.stderr.endswith(" Fix or unset NPY_DISABLE_CPU_FEATURES.\n")
    assert done.stderr.count("\n") == 1
