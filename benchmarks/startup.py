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

The same run times pytest's start with and without steptrace's pytest plugin (the module
``steptrace.testing``, which its ``pytest11`` entry point loads in every pytest session of
an environment where steptrace is installed, used or not): ``python -m pytest --co -q``
on a folder of one empty test (its own ``pytest.ini``), with ``-p no:steptrace`` (bare:
the rest of this environment's plugins load) and without (the plugin loaded, by its entry
point; by ``-p steptrace.testing`` where steptrace is not installed). Each is a new
process, in the same shuffled rounds; the plugin's cost is printed as the ratio to bare
and as the difference in milliseconds (medians of same-round ratios and differences),
beside its target, + 10 ms: of the wall clock, and of the CPU time the process used (user
and system), which other processes on a loaded machine move much less. A start still varies
by more than 10 ms from round to round on a shared machine, so one more row times the
import of ``steptrace.testing`` alone, after pytest's, inside a new Python (its median in
ms): what the plugin adds before any hook runs.

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

from benchmarks.rounds import bytecode_note, child_environment, interleaved, same_round_ratio

BASELINE = 'python -c "import numpy"'
FLOOR = "floor of record: numpy, click, pydantic"
VERSION = "steptrace --version"
HELP = "steptrace --help"
RECORD = "steptrace record ch06-streetlights-backprop -o TMP"
#: The most each command may take, as a multiple of the baseline.
TARGETS = {VERSION: 1.3, HELP: 1.3, RECORD: 2.0}
PYTEST_BARE = "pytest --co -q -p no:steptrace (bare)"
PYTEST_PLUGIN = "pytest --co -q (steptrace's plugin loaded)"
PLUGIN_IMPORT = "import steptrace.testing, after pytest's"
#: The most steptrace's plugin may add to a pytest start, in milliseconds.
PLUGIN_TARGET_MS = 10.0
#: The pytest start's rows, printed in a table of their own (not against numpy).
PYTEST_ROWS = (PYTEST_BARE, PYTEST_PLUGIN, PLUGIN_IMPORT)
#: The key of a pytest start's CPU times (user and system) beside its wall-clock times.
CPU = "cpu: "
#: Times the import of the plugin's module alone, after pytest's, and prints the seconds.
IMPORT_PROBE = ("import time, pytest; start = time.perf_counter(); import steptrace.testing; "
                "print(time.perf_counter() - start)")


def steptrace_command() -> list[str]:
    """The ``steptrace`` script of this Python's environment (else on the PATH), or
    ``python -m steptrace`` where steptrace is not installed."""
    beside = Path(sys.executable).parent / "steptrace"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("steptrace")
    return [found] if found else [sys.executable, "-m", "steptrace"]


def plugin_installed() -> bool:
    """Whether steptrace's pytest plugin is installed (found by its entry point): if not, the
    benchmark loads it by name, ``-p steptrace.testing``."""
    import importlib.metadata

    return any(entry_point.value == "steptrace.testing"
               for entry_point in importlib.metadata.entry_points(group="pytest11"))


def pytest_project(folder: Path) -> Path:
    """A folder of one empty test, with a ``pytest.ini`` of its own (no project's settings
    apply), for pytest to collect."""
    project = folder / "pytest-start"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    return project


def pytest_commands(project: Path) -> dict[str, list[str]]:
    """pytest's start, bare and with steptrace's plugin, and the plugin's import alone."""
    pytest = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
              "--rootdir", str(project), "-c", str(project / "pytest.ini"), str(project)]
    plugin = [] if plugin_installed() else ["-p", "steptrace.testing"]
    return {PYTEST_BARE: [*pytest, "-p", "no:steptrace"], PYTEST_PLUGIN: [*pytest, *plugin]}


def commands(folder: Path) -> dict[str, list[str]]:
    steptrace = steptrace_command()
    return {
        BASELINE: [sys.executable, "-c", "import numpy"],
        FLOOR: [sys.executable, "-c", "import numpy, click; from pydantic import BaseModel"],
        VERSION: [*steptrace, "--version"],
        HELP: [*steptrace, "--help"],
        RECORD: [*steptrace, "record", "ch06-streetlights-backprop", "-o", str(folder / "x.jsonl")],
    }


def run(name: str, command: Sequence[str], env: dict[str, str],
        cpu: list[float] | None = None) -> float:
    """The wall-clock seconds of one process, from start to exit (it must succeed); its CPU
    seconds (user and system, its own and its children's) appended to ``cpu`` if given."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          check=False)
    elapsed = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise click.ClickException(f"{name} failed (exit {done.returncode}): "
                                   f"{done.stderr.decode(errors='replace').strip()}")
    if cpu is not None:  # (zero where the system does not say: Windows)
        cpu.append(after.children_user + after.children_system
                   - before.children_user - before.children_system)
    return elapsed


def imported(env: dict[str, str]) -> float:
    """The seconds ``import steptrace.testing`` takes after ``import pytest``, in a new
    Python (as the probe measures it)."""
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"{PLUGIN_IMPORT} failed (exit {done.returncode}): "
                                   f"{done.stderr.strip()}")
    return float(done.stdout.split()[-1])


def measure(repeat: int, bytecode_cache: bool) -> dict[str, list[float]]:
    """Every command's time (seconds) in every round; for pytest's starts also their CPU
    time, under ``CPU + name``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = child_environment(folder, bytecode_cache)
        timed = {name: functools.partial(run, name, command, env)
                 for name, command in commands(folder).items()}
        cpu: dict[str, list[float]] = {}
        for name, command in pytest_commands(pytest_project(folder)).items():
            timed[name] = functools.partial(run, name, command, env, cpu.setdefault(CPU + name, []))
        times = interleaved({**timed, PLUGIN_IMPORT: functools.partial(imported, env)}, repeat)
        return {**times, **{name: seconds[1:] for name, seconds in cpu.items()}}  # (untimed round)


def ratio(times: dict[str, list[float]], name: str) -> float:
    """The median over the rounds of ``name``'s time ÷ the baseline's in the same round."""
    return same_round_ratio(times, name, BASELINE)


def plugin_cost_ms(times: dict[str, list[float]], prefix: str = "") -> float:
    """The median over the rounds of the pytest start with the plugin minus the bare one's
    in the same round, in milliseconds (``prefix=CPU``: of their CPU times)."""
    return 1000 * statistics.median(
        a - b for a, b in zip(times[prefix + PYTEST_PLUGIN], times[prefix + PYTEST_BARE], strict=True))


def _pytest_row(times: dict[str, list[float]], name: str, prefix: str) -> str:
    """A pytest start's median time, its ratio to bare's and what it adds (ms), or n/a
    where the times are not known (CPU times on Windows)."""
    if not all(times[prefix + PYTEST_BARE]):
        return f"{'n/a':>8} {'':>8} {'':>7}"
    if name == PYTEST_BARE:
        shown, plus = 1.0, 0.0
    else:
        shown = same_round_ratio(times, prefix + name, prefix + PYTEST_BARE)
        plus = plugin_cost_ms(times, prefix)
    return f"{statistics.median(times[prefix + name]):>8.3f} {shown:>8.3f} {plus:>+7.1f}"


@click.command()
@click.option("--repeat", default=11, show_default=True, type=click.IntRange(min=1),
              help="Timed rounds, after one untimed round (times and ratios are their medians).")
@click.option("--bytecode-cache", is_flag=True,
              help="Run the commands with their bytecode cached (a temporary "
                   "PYTHONPYCACHEPREFIX), as an installed steptrace runs; by default the "
                   "environment is passed on as it is.")
def main(repeat: int, bytecode_cache: bool) -> None:
    """Time steptrace's startup as whole processes against `python -c "import numpy"`, and
    pytest's start with steptrace's pytest plugin against it without.

    Prints each command's median wall-clock time and its ratio to the baseline (the
    median over the rounds of same-round ratios), beside its target; then pytest's start,
    bare and with the plugin, their ratio and difference in ms, and the plugin's import
    alone. Nothing is asserted."""
    times = measure(repeat, bytecode_cache)
    cache = bytecode_note(bytecode_cache)
    click.echo(f"python -m benchmarks.startup --repeat {repeat}{' --bytecode-cache' * bytecode_cache}"
               f" on {platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}; {cache}")
    click.echo(f"{repeat} rounds after one untimed round; steptrace is "
               f"{' '.join(steptrace_command())}")
    click.echo(f"  {'command':<52} {'median s':>8} {'× numpy':>8} {'target':>7}")
    for name in times:
        if name in PYTEST_ROWS or name.startswith(CPU):
            continue
        target = f"≤ {TARGETS[name]}" if name in TARGETS else ""
        click.echo(f"  {name:<52} {statistics.median(times[name]):>8.3f} "
                   f"{ratio(times, name):>8.2f} {target:>7}")
    how = "its entry point" if plugin_installed() else "-p steptrace.testing (not installed)"
    click.echo(f"pytest's start, without and with steptrace's plugin (loaded by {how}); "
               "python -m pytest --co -q on a folder of one empty test; wall clock, and CPU time "
               "(user + system: less moved by other processes)")
    click.echo(f"  {'pytest':<44} {'wall s':>8} {'× bare':>8} {'+ ms':>7} {'cpu s':>8} {'× bare':>8} "
               f"{'+ ms':>7} {'target':>9}")
    for name, target in ((PYTEST_BARE, ""), (PYTEST_PLUGIN, f"≤ +{PLUGIN_TARGET_MS:g} ms")):
        click.echo(f"  {name:<44} {_pytest_row(times, name, '')} {_pytest_row(times, name, CPU)} "
                   f"{target:>9}")
    click.echo(f"  {PLUGIN_IMPORT:<44} {'':>8} {'':>8} "
               f"{1000 * statistics.median(times[PLUGIN_IMPORT]):>+7.1f}")

if __name__ == "__main__":
    main()
