"""The commands that run something: ``record`` (an experiment), ``trace`` and ``check``
(a learner's own script). Each formats what the function it calls returns: the work is in
:mod:`steptrace.recording` and :mod:`steptrace.learner.services`, which the Python API
(:func:`steptrace.record`, :func:`steptrace.trace_script`, :func:`steptrace.check_script`)
calls too."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from steptrace.cli import options
from steptrace.cli.runtime import Progress, command, registry, session


@command()
@click.argument("experiment", metavar="EXPERIMENT|FILE")
@options.output("Where to write the trace (default: EXPERIMENT.jsonl; .gz compresses).")
@click.option("--arithmetic", type=click.Choice(["exact", "blas"]),
              help="exact: fixed-order sums, the book's digits on any machine (the default "
                   "of the book's experiments). blas: np.dot, fast, last digits may vary.")
@click.option("--detail", type=click.Choice(["step", "epoch", "all", "full"]), default="step",
              show_default=True,
              help="step: every step, leaving out what earlier lines determine (weights, "
                   "weight_deltas, ...: derived again when read). epoch: the passes only. "
                   "all: every field of every step. full: all under its old name (for "
                   "steptrace versions that read trace schemas 1 and 2 only).")
def record(experiment: str, output: Path | None, arithmetic: str | None, detail: str) -> None:
    """Run an experiment and write its trace.

    EXPERIMENT is a built-in id (see `steptrace experiments`) or a .toml/.json file.
    """
    from steptrace.recording import record as run_record
    from steptrace.recording import recordable
    from steptrace.trace.header import Detail

    rules = registry()
    config, inputs = recordable(rules, experiment, arithmetic, detail)  # (as steptrace.record)
    output = output or Path(f"{config.name}.jsonl")  # a plain file name (NAME_PATTERN)
    with Progress(f"recording {config.name}") as progress:
        done = run_record(config, rules, output, progress, cast(Detail, detail), inputs)
    final = "" if done.errors[-1] is None else f", final error {done.errors[-1]!r}"
    if done.test_errors:
        final += f", held-out error {done.test_errors[-1]!r}"
    session().report()  # an observer that failed during the run
    click.echo(f"recorded {config.name}: {done.events} events, {config.iterations} epoch(s)"
               f"{final} ({config.arithmetic}) -> {output}")


@command("trace")
@click.argument("script", type=click.Path(path_type=Path))
@options.output("Where to write the trace (default: SCRIPT's name.jsonl; .gz compresses).")
@options.timeout
def trace_command(script: Path, output: Path | None, timeout: float) -> None:
    """Run your own numpy script and write what it computed as a trace.

    SCRIPT is your code, and it is run (as `python SCRIPT` would run it, in a process of
    its own; what it prints is kept apart). Every assignment to the names the book uses
    (layer_0, layer_1, layer_2, layer_2_delta, layer_1_delta, weights_0_1, weights_1_2,
    alpha, streetlights, walk_vs_stop, layer_2_error; input, prediction/pred, error,
    delta, weights/weight, weight_delta(s), goal_pred) is recorded with its line; the
    network is inferred from them, and the run written as an ordinary trace, your numbers
    in every field, with what the script printed (`show --view book` prints it; a trace
    keeps the first 1 MiB of it): show, html, diff and replay read it (replay matches only
    where your code computes what the book's does). Exit 2 when the script fails, runs
    past --timeout, or uses none of the book's names.
    """
    from steptrace.learner.mapping import trace_name
    from steptrace.learner.services import trace_file

    output = output or Path(f"{trace_name(script.stem)}.jsonl")
    run = trace_file(script, output, registry(), timeout)  # (as steptrace.trace_script)
    steps, passes = len(run.timeline.steps), run.timeline.passes
    click.echo(f"traced {script}: {steps:,} step{'s' * (steps != 1)} in {passes:,} "
               f"pass{'es' * (passes != 1)}, network "
               f"{'-'.join(map(str, run.shape.sizes))} "
               f"{'/'.join(n.name for n in run.nonlinearities)}, alpha {run.alpha:g}, "
               f"{run.strategy} -> {output}")


@command()
@click.argument("script", type=click.Path(path_type=Path))
@options.against
@options.check_tolerance
@options.timeout
@options.as_json("Print the report as JSON (documented in docs/check-your-code.md), for "
                 "teachers' tools.")
def check(script: Path, against: str | None, rtol: float, atol: float, timeout: float,
          as_json: bool) -> None:
    """Check your own numpy script step by step against the book's rules.

    SCRIPT is your code, and it is run (as `python SCRIPT` would run it, in a process of
    its own). Each forward layer, error, delta and weight update it assigns under the
    book's names is recomputed with the book's formula from your own values just before
    it; the first that disagrees is named: its variable and line, your value, the formula
    with your numbers plugged in, the value it gives, and the likely mistake (the
    derivative of the wrong layer, the weights after their update, a missing transpose,
    the sign, alpha twice or not at all, a batch summed, ...). The run as a whole is
    checked too: every sample once a pass, in order; the pass's error summed from 0;
    each step held to its own sample's goal. Where numpy raises, the line that made
    the value of the wrong shape (a 1-D layer_0, goals not transposed) is named.

    Exit codes: 0 every step agrees (and, with --against, everything compared);
    1 a step departs from the book (or the run differs from the experiment);
    2 the script failed (raised, sys.exit, past --timeout) or uses none of the book's names.
    """
    from steptrace.learner.services import check_file

    report = check_file(script, registry(), against, rtol=rtol, atol=atol, timeout=timeout)
    if as_json:
        click.echo(report.to_json())
    elif report.lockstep is not None:  # (a script that failed may have departed before)
        click.echo("\n".join(report.lines(with_error=False)))
    if report.error is not None:
        from steptrace.errors import one_line

        click.echo(f"Error: {one_line(report.error)}", err=True)
    sys.exit(report.exit_code)
