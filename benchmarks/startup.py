"""``python -m benchmarks.startup``: how long the ``steptrace`` command takes to start, as
whole processes, against ``python -c "import numpy"`` in the same run.

Commands: ``steptrace --version``, ``steptrace --help`` and ``steptrace record
ch06-streetlights-backprop -o TMP/x.jsonl`` (the book's 3-4-1 backprop, 1,740 events),
each a new process, as a user starts them (the ``steptrace`` script beside this Python,
else ``python -m steptrace``), in this environment (installed plugins load, as for a user;
``$STEPTRACE_PLUGINS`` and the rest are passed on). The baseline is a new Python that
imports numpy and exits: the floor of anything that computes with numpy. One more row,
``python -c "import numpy, click; from pydantic import BaseModel"``, is the floor of
``record``: the libraries it cannot run without (its config, header and events are
Pydantic models), imported and nothing done.

After one untimed round (the disk cache; the bytecode cache with ``--bytecode-cache``),
each command runs once per round, ``--repeat`` rounds, in an order shuffled every round,
so that machine noise hits all alike; a time is the wall clock of the process, from
start to exit. Each ratio is the median, over the rounds, of the command's time divided
by the baseline's in the same round. Nothing here is asserted (timed assertions belong
nowhere: the machines are shared and noisy); the targets are printed beside the ratios.

Python compiles a module's source to bytecode when no cached ``.pyc`` is found. Under
``PYTHONDONTWRITEBYTECODE=1`` steptrace's own modules (an editable install, a checkout)
are compiled at every start, while numpy's were cached when pip installed it. By default
the children run in this environment as it is; ``--bytecode-cache`` runs them with their
bytecode cached in a temporary ``PYTHONPYCACHEPREFIX`` (filled by the untimed round), as
an installed steptrace runs.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import click

from benchmarks.rounds import interleaved, same_round_ratio

BASELINE = 'python -c "import numpy"'
FLOOR = "floor of record: numpy, click, pydantic"
VERSION = "steptrace --version"
HELP = "steptrace --help"
RECORD = "steptrace record ch06-streetlights-backprop -o TMP"
#: The most each command may take, as a multiple of the baseline.
TARGETS = {VERSION: 1.3, HELP: 1.3, RECORD: 2.0}


def steptrace_command() -> list[str]:
    """The ``steptrace`` script of this Python's environment (else on the PATH), or
    ``python -m steptrace`` where steptrace is not installed."""
    beside = Path(sys.executable).parent / "steptrace"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("steptrace")
    return [found] if found else [sys.executable, "-m", "steptrace"]


def commands(folder: Path) -> dict[str, list[str]]:
    steptrace = steptrace_command()
    return {
        BASELINE: [sys.executable, "-c", "import numpy"],
        FLOOR: [sys.executable, "-c", "import numpy, click; from pydantic import BaseModel"],
        VERSION: [*steptrace, "--version"],
        HELP: [*steptrace, "--help"],
        RECORD: [*steptrace, "record", "ch06-streetlights-backprop", "-o", str(folder / "x.jsonl")],
    }


def run(name: str, command: Sequence[str], env: dict[str, str]) -> float:
    """The wall-clock seconds of one process, from start to exit (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise click.ClickException(f"{name} failed (exit {done.returncode}): "
                                   f"{done.stderr.decode(errors='replace').strip()}")
    return elapsed


def measure(repeat: int, bytecode_cache: bool) -> dict[str, list[float]]:
    """Every command's time (seconds) in every round."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = dict(os.environ)
        if bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        runs = commands(folder)
        return interleaved({name: functools.partial(run, name, command, env)
                            for name, command in runs.items()}, repeat)


def ratio(times: dict[str, list[float]], name: str) -> float:
    """The median over the rounds of ``name``'s time ÷ the baseline's in the same round."""
    return same_round_ratio(times, name, BASELINE)


@click.command()
@click.option("--repeat", default=11, show_default=True, type=click.IntRange(min=1),
              help="Timed rounds, after one untimed round (times and ratios are their medians).")
@click.option("--bytecode-cache", is_flag=True,
              help="Run the commands with their bytecode cached (a temporary "
                   "PYTHONPYCACHEPREFIX), as an installed steptrace runs; by default the "
                   "environment is passed on as it is.")
def main(repeat: int, bytecode_cache: bool) -> None:
    """Time steptrace's startup as whole processes against `python -c "import numpy"`.

    Prints each command's median wall-clock time and its ratio to the baseline (the
    median over the rounds of same-round ratios), beside its target. Nothing is asserted."""
    times = measure(repeat, bytecode_cache)
    cache = ("bytecode cached (--bytecode-cache)" if bytecode_cache else
             "PYTHONDONTWRITEBYTECODE=1: steptrace compiled at every start"
             if os.environ.get("PYTHONDONTWRITEBYTECODE") else "bytecode as Python caches it")
    click.echo(f"python -m benchmarks.startup --repeat {repeat}{' --bytecode-cache' * bytecode_cache}"
               f" on {platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}; {cache}")
    click.echo(f"{repeat} rounds after one untimed round; steptrace is "
               f"{' '.join(steptrace_command())}")
    click.echo(f"  {'command':<52} {'median s':>8} {'× numpy':>8} {'target':>7}")
    for name in times:
        target = f"≤ {TARGETS[name]}" if name in TARGETS else ""
        click.echo(f"  {name:<52} {statistics.median(times[name]):>8.3f} "
                   f"{ratio(times, name):>8.2f} {target:>7}")


if __name__ == "__main__":
    main()
