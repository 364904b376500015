"""``python -m benchmarks.tracing``: what tracing a learner's script costs, as whole
processes, against running it plainly (``python SCRIPT``) in the same run.

The script is the book's chapter 6 backprop cell (``tests/book_programs.py``: 60 passes,
240 steps, 1,985 assignments to the book's names), or with ``--script big`` an
MNIST-shaped loop of the same form (784-40-10 relu, 200 seeded samples in [0, 1), one
pass, stochastic: 1,606 assignments, 31,360 numbers in weights_0_1; 1,000 samples would
pass the 10^7 numbers steptrace records of a run). Contenders, each a
new process:

- ``python SCRIPT``, the baseline;
- the script captured alone (``steptrace.learner.runner.capture``: the script run in a
  child process under Python's tracing, each assignment to a book name recorded and read
  back over a pipe), without inferring a network or writing a trace;
- ``steptrace trace SCRIPT -o TMP`` (capture, then the network inferred and the trace
  written at ``all`` detail);
- ``steptrace check SCRIPT`` (capture, then every step recomputed in lockstep), and with
  ``--against`` the built-in experiment (which records the experiment, for its printout).

Timed as :mod:`benchmarks.startup` times commands: one untimed round, then ``--repeat``
rounds in an order shuffled every round; each ratio is the median of same-round ratios to
the baseline. Nothing is asserted.
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import click

from benchmarks.rounds import interleaved, same_round_ratio
from benchmarks.startup import run, steptrace_command
from tests.book_programs import CH06_STREETLIGHTS_BACKPROP

BIG = """\
import numpy as np

np.random.seed(1)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.random.random((200, 784))
walk_vs_stop = np.eye(10)[np.random.randint(0, 10, 200)]

alpha = 0.005
weights_0_1 = 0.2 * np.random.random((784, 40)) - 0.1
weights_1_2 = 0.2 * np.random.random((40, 10)) - 0.1

for iteration in range(1):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    print("Error:" + str(layer_2_error))
"""
SCRIPTS = {"backprop": CH06_STREETLIGHTS_BACKPROP, "big": BIG}
#: The capture alone, as the commands capture a script (its child, its pipes, its limits).
CAPTURE = ("import sys; sys.path.insert(0, {root!r}); "
           "from steptrace.learner.runner import capture; capture(sys.argv[1])")
BASELINE = "python SCRIPT"


def commands(folder: Path, script: Path, against: str | None) -> dict[str, list[str]]:
    steptrace = steptrace_command()
    root = str(Path(__file__).resolve().parents[1])
    runs = {
        BASELINE: [sys.executable, str(script)],
        "the script captured (runner.capture), alone": [
            sys.executable, "-c", CAPTURE.format(root=root), str(script)],
        "steptrace trace SCRIPT -o TMP": [*steptrace, "trace", str(script), "-o",
                                          str(folder / "t.jsonl")],
        "steptrace check SCRIPT": [*steptrace, "check", str(script)],
    }
    if against is not None:
        runs[f"steptrace check SCRIPT --against {against}"] = [
            *steptrace, "check", str(script), "--against", against]
    return runs


@click.command()
@click.option("--repeat", default=11, show_default=True, type=click.IntRange(min=1),
              help="Timed rounds, after one untimed round (times and ratios are their medians).")
@click.option("--script", "which", type=click.Choice(sorted(SCRIPTS)), default="backprop",
              show_default=True, help="backprop: the book's ch. 6 cell; big: 784-40-10, 200 samples.")
def main(repeat: int, which: str) -> None:
    """Time tracing and checking a learner's script against running it plainly."""
    against = "ch06-streetlights-backprop" if which == "backprop" else None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "my_backprop.py"
        script.write_text(SCRIPTS[which])
        env = dict(os.environ)
        runs = commands(folder, script, against)
        times = interleaved({name: functools.partial(run, name, command, env)
                             for name, command in runs.items()}, repeat)
    click.echo(f"python -m benchmarks.tracing --repeat {repeat} --script {which} on "
               f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    click.echo(f"{repeat} rounds after one untimed round; steptrace is {' '.join(steptrace_command())}")
    click.echo(f"  {'command':<62} {'median s':>8} {'× plain':>8}")
    for name in times:
        click.echo(f"  {name:<62} {statistics.median(times[name]):>8.3f} "
                   f"{same_round_ratio(times, name, BASELINE):>8.2f}")


if __name__ == "__main__":
    main()
