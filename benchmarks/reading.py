"""``python -m benchmarks.reading``: reading a big trace, against the floor of any reader, in one run.

The trace: the book's ch. 6 backprop (3-4-1, relu, 4 samples, stochastic, exact) for
``--passes`` passes (35,000 by default: 1,015,000 events, about 136 MB at step detail),
recorded once into ``--dir`` (kept there for the next run when given; a temporary folder
otherwise), and the same trace gzip-compressed (``.jsonl.gz``, as ``steptrace record -o
x.jsonl.gz`` writes it).

Contenders, each a whole process as a user starts it (``python -m steptrace ...``, its
output to ``/dev/null`` or a file in the folder):

- **floor**: a Python that reads every line and parses it with pydantic-core, nothing else
  — what any reader of the file must at least do;
- ``show`` (the literate view of every step), ``show --view book``, ``html``, ``plot``;
- ``show --epoch 0`` and ``show --epoch LAST`` (the last pass), of the plain trace and of
  the ``.gz``: a seekable trace reads only the pass asked for (and the checkpoint before it).

After one untimed round (the disk cache), each runs once per round, ``--repeat`` rounds, in
an order shuffled every round, so that machine noise hits all alike. A ratio is the median,
over the rounds, of the two times measured in the same round; the peak memory is each
process's maximum resident set (the largest over the timed rounds: with
``--bytecode-cache`` the untimed one compiles steptrace's bytecode, which an installed
steptrace has done already). The targets of issue 28 are printed beside the ratios; nothing
here is asserted (timed assertions belong nowhere: the machines are shared and noisy).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click

from benchmarks.rounds import bytecode_note, child_environment, interleaved, same_round_ratio

FLOOR = "floor: read + parse every line"
SMALL = 10  # passes of the trace whose memory is the baseline of the growth
#: (name, arguments after ``steptrace`` — TRACE, GZ, LAST and DIR filled in —, target
#: ratio to the floor, or None)
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("show", ("show", "TRACE"), 5.0),
    ("show --view book", ("show", "TRACE", "--view", "book"), 2.0),
    ("html", ("html", "TRACE", "-o", "DIR/page.html"), 5.0),
    ("plot", ("plot", "TRACE", "-o", "DIR/plot.png"), 5.0),
    ("show --epoch 0", ("show", "TRACE", "--epoch", "0"), None),
    ("show --epoch LAST", ("show", "TRACE", "--epoch", "LAST"), None),
    ("show .gz --epoch 0", ("show", "GZ", "--epoch", "0"), None),
    ("show .gz --epoch LAST", ("show", "GZ", "--epoch", "LAST"), None),
)
_PARSE = ("import sys, pydantic_core\n"
          "with open(sys.argv[1], 'rb') as lines:\n"
          "    for line in lines:\n"
          "        pydantic_core.from_json(line)\n")


def make_traces(folder: Path, passes: int) -> tuple[Path, Path]:
    """The book's ch. 6 backprop for ``passes`` passes, plain and gzip-compressed, in
    ``folder`` (recorded unless already there, from an earlier run with the same folder).
    Recorded by ``steptrace`` processes: this one imports neither steptrace nor numpy, so
    that each timed process's peak memory is its own (a child's starts from its parent's)."""
    plain, packed = folder / f"ch06-{passes}.jsonl", folder / f"ch06-{passes}.jsonl.gz"
    steptrace = [sys.executable, "-m", "steptrace"]
    shown = subprocess.run([*steptrace, "experiments", "--show", "ch06-streetlights-backprop",
                            "--format", "json"], check=True, capture_output=True).stdout
    config = json.loads(shown)
    config.update(name=f"ch06-{passes}", iterations=passes)
    experiment = folder / f"ch06-{passes}.json"
    experiment.write_text(json.dumps(config), encoding="utf-8")
    for path in (plain, packed):
        if not path.exists():
            click.echo(f"recording {path} ...", err=True)
            subprocess.run([*steptrace, "record", str(experiment), "-o", str(path)], check=True,
                           stdout=subprocess.DEVNULL)
    return plain, packed


def process(argv: list[str], peaks: dict[str, int], name: str,
            env: dict[str, str] | None = None) -> Callable[[], float]:
    """A run of ``argv`` as a new process (its output to /dev/null; in ``env``, else this
    environment), returning its wall time; its peak resident memory goes to ``peaks[name]``
    (the largest seen)."""
    def run() -> float:
        start = time.perf_counter()
        with open(os.devnull, "wb") as null:
            child = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE, env=env)
            assert child.stderr is not None
            errors = child.stderr.read()
            _, status, usage = os.wait4(child.pid, 0)
        took = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise click.ClickException(f"{' '.join(argv)} exited {child.returncode}: "
                                       f"{errors.decode(errors='replace').strip()[-500:]}")
        peaks[name] = max(peaks.get(name, 0), usage.ru_maxrss * 1024)  # (KiB on Linux)
        return took
    return run


@click.command()
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(min=1),
              help="Timed rounds, after one untimed round (ratios are their medians).")
@click.option("--passes", default=35_000, show_default=True, type=click.IntRange(min=2),
              help="Passes of the ch. 6 backprop in the trace (29 events a pass).")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the traces between runs (default: a temporary folder).")
@click.option("--only", multiple=True, type=click.Choice([name for name, _, _ in COMMANDS]),
              help="Only these commands (repeatable; the floor always runs).")
@click.option("--bytecode-cache", is_flag=True,
              help="Run the commands with their bytecode cached (a temporary "
                   "PYTHONPYCACHEPREFIX), as an installed steptrace runs; by default the "
                   "environment is passed on as it is.")
def main(repeat: int, passes: int, folder: Path | None, only: tuple[str, ...],
         bytecode_cache: bool) -> None:
    """Time show, show --view book, html, plot and show --epoch of a big trace against the
    floor of any reader (reading and parsing every line), side by side, in one run."""
    with tempfile.TemporaryDirectory() as scratch:
        where = folder or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        plain, packed = make_traces(where, passes)
        steptrace = [sys.executable, "-m", "steptrace"]
        fill = {"TRACE": str(plain), "GZ": str(packed), "LAST": str(passes - 1)}
        peaks: dict[str, int] = {}
        env = child_environment(Path(scratch), bytecode_cache)
        runs = {FLOOR: process([sys.executable, "-c", _PARSE, str(plain)], peaks, FLOOR, env)}
        for name, args, _ in COMMANDS:
            if only and name not in only:
                continue
            argv = [fill.get(arg, arg.replace("DIR", scratch)) for arg in args]
            runs[name] = process(steptrace + argv, peaks, name, env)
        # (the peaks of the timed rounds: the untimed one may compile steptrace's bytecode,
        # with --bytecode-cache, which an installed steptrace has compiled already)
        times = interleaved(runs, repeat, warmed=peaks.clear)
        # The same commands once on a trace of SMALL passes: what a process takes whatever
        # it reads (Python, numpy, pydantic; matplotlib for plot), so that the growth with
        # the trace's length shows apart from it.
        small, small_packed = make_traces(where, SMALL)
        base: dict[str, int] = {}
        fill_small = {"TRACE": str(small), "GZ": str(small_packed), "LAST": str(SMALL - 1)}
        for name, args, _ in COMMANDS:
            if name in runs:
                argv = [fill_small.get(arg, arg.replace("DIR", scratch)) for arg in args]
                process(steptrace + argv, base, name, env)()
        process([sys.executable, "-c", _PARSE, str(small)], base, FLOOR, env)()
        sizes = plain.stat().st_size, packed.stat().st_size
    events = passes * 29
    click.echo(f"python -m benchmarks.reading --repeat {repeat} --passes {passes}"
               f"{' --bytecode-cache' * bytecode_cache} on {platform.machine()}, "
               f"{os.cpu_count()} cores, Python {platform.python_version()}: {events:,} events, "
               f"{sizes[0] / 1e6:.0f} MB ({sizes[1] / 1e6:.0f} MB gzip-compressed); "
               f"{bytecode_note(bytecode_cache)}")
    click.echo(f"  {'command':<30} {'median s':>9} {'× floor':>8} {'target':>7} {'peak MB':>8} "
               f"{f'at {SMALL}':>8} {'growth':>7}")
    targets = {name: target for name, _, target in COMMANDS}
    for name, took in times.items():
        target = targets.get(name)
        click.echo(f"  {name:<30} {statistics.median(took):>9.2f} "
                   f"{same_round_ratio(times, name, FLOOR):>8.2f} "
                   f"{'' if target is None else f'≤ {target:g}':>7} {peaks[name] / 1e6:>8.0f} "
                   f"{base[name] / 1e6:>8.0f} {(peaks[name] - base[name]) / 1e6:>7.1f}")
    for kind in ("", ".gz "):
        last, first = f"show {kind}--epoch LAST", f"show {kind}--epoch 0"
        if last in times and first in times:
            click.echo(f"  {last} ÷ {first}: {same_round_ratio(times, last, first):.2f} "
                       f"(target ≤ 1.5; and ≤ 0.5 s: median {statistics.median(times[last]):.2f} s)")
    click.echo(f"  peak memory target: ≤ 60 MB for every command (peak MB: the process's largest "
               f"resident set, over the timed rounds; at {SMALL}: the same command on a trace of "
               f"{SMALL} passes; growth: the difference, what the trace's length costs)")


if __name__ == "__main__":
    main()
