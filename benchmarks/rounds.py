"""How the benchmarks time their contenders: side by side, in rounds, and ratios of times
measured in the same round (machine noise hits both alike; nothing here is asserted)."""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Callable, Mapping
from pathlib import Path


def interleaved(runs: Mapping[str, Callable[[], float]], repeat: int,
                warmed: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Each of ``runs`` (a callable returning the seconds it took) once, untimed (imports,
    caches, compiled kernels), then ``repeat`` rounds in an order shuffled every round (seeded),
    so that no contender always runs right after the same other one: every time, by name.
    ``warmed`` is called between the untimed round and the timed ones."""
    for go in runs.values():
        go()
    if warmed is not None:
        warmed()
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    shuffle = random.Random(0).shuffle
    for _ in range(repeat):
        shuffle(order)
        for name in order:
            times[name].append(runs[name]())
    return times


def same_round_ratio(times: Mapping[str, list[float]], name: str, to: str) -> float:
    """The median over the rounds of ``name``'s time ÷ ``to``'s in the same round."""
    return statistics.median(a / b for a, b in zip(times[name], times[to], strict=True))


def child_environment(folder: Path, bytecode_cache: bool) -> dict[str, str]:
    """The environment the timed processes run in: this one as it is, or (``bytecode_cache``)
    with their bytecode cached in ``folder/pycache`` — filled by the untimed round, as an
    installed steptrace runs, its modules compiled once — where ``PYTHONDONTWRITEBYTECODE``
    (as on the development machine) would have every start compile them again."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def bytecode_note(bytecode_cache: bool) -> str:
    """How the timed processes' bytecode was had, for the report's first line."""
    if bytecode_cache:
        return "bytecode cached (--bytecode-cache)"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "PYTHONDONTWRITEBYTECODE=1: steptrace compiled at every start"
    return "bytecode as Python caches it"
