"""The ``steptrace`` command line: a thin layer over the Python API and the functions it
calls. Each command parses its options, calls the function that does the work, and
formats what it returns.

Exit codes: ``steptrace.defaults``' ``EXIT_*`` (``--help`` states them), each raised by an
error of :mod:`steptrace.errors`: ok; a mismatch (replay or diff found a divergent event or
header); bad input (a file, a config, a name or an option is wrong; one line says what), an
output that cannot be written, or a plugin that failed; an internal error (a steptrace bug);
interrupted; terminated. Output to a closed pipe is dropped; the exit code stays.

The package:

- :mod:`~steptrace.cli.runtime`: what every command runs in (the group class, the
  guarded streams, the exit codes, the session that loads the plugins once, the guard
  around the plugins' commands, :func:`run_in_process`, :func:`main`);
- :mod:`~steptrace.cli.options`: the options more than one command takes (``--rtol``,
  ``--atol``, ``--timeout``, ``-o/--output``, ...), their defaults read from
  :mod:`steptrace.defaults`;
- the commands, by what they do: :mod:`~steptrace.cli.running` (``record``, ``trace``,
  ``check``), :mod:`~steptrace.cli.reading` (``show``, ``replay``, ``diff``, ``plot``,
  ``html``), :mod:`~steptrace.cli.listing` (``experiments``, ``plugins``, ``schema``,
  ``new-plugin``); this module builds the group from them.

Starting is quick: these modules import click and the standard library only (and
:mod:`steptrace.defaults` and :mod:`steptrace.views`, which import nothing), and each
command imports what it needs (numpy, pydantic, the plugins) when it runs. ``--help`` and
``--version`` load no plugin: ``--help`` lists the built-in commands (``steptrace plugins``
lists the plugins' commands); a command name that is not built in loads the plugins to
look for it.
"""

from __future__ import annotations

from pathlib import Path

import click

from steptrace import __version__
from steptrace.cli import listing, options, reading, running
from steptrace.cli.runtime import (
    CONTEXT,
    Failure,
    Session,
    SteptraceCommand,
    SteptraceGroup,
    main,
    run_in_process,
    session,
)

__all__ = ["CONTEXT", "Failure", "Session", "SteptraceCommand", "SteptraceGroup", "cli", "main",
           "run_in_process"]


@click.group(cls=SteptraceGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="steptrace")
@click.option("--plugins-dir", type=click.Path(file_okay=False, path_type=Path), is_eager=True,
              help="Also load every *.py in this directory as a plugin "
                   "(or set $STEPTRACE_PLUGINS_DIR).")
@click.option("--strict-plugins", is_flag=True, default=None, is_eager=True,
              help="A plugin that fails to load or raises is an error (exit 2), not a warning "
                   "(or set STEPTRACE_STRICT_PLUGINS=1).")
@click.pass_context
@options.with_defaults
def cli(ctx: click.Context, plugins_dir: Path | None, strict_plugins: bool | None) -> None:
    """Train the networks of Grokking Deep Learning (ch. 3-6) and trace every step.

    \b
      steptrace record ch06-streetlights-backprop -o backprop.jsonl
      steptrace show backprop.jsonl                 # each step, in the book's terms
      steptrace show backprop.jsonl --view book     # what the book's program printed
      steptrace replay backprop.jsonl               # re-execute and check every event
      steptrace diff a.jsonl b.jsonl                # first divergent event
      steptrace check my_backprop.py                # your own loop, step by step

    Exit codes: {EXIT_OK} ok, {EXIT_MISMATCH} mismatch or divergence, {EXIT_BAD_INPUT} bad input
    (or an output that cannot be written, or a plugin that failed), {EXIT_INTERNAL} internal
    error, {EXIT_INTERRUPTED} interrupted (Ctrl-C), {EXIT_TERMINATED} terminated (SIGTERM).

    Plugins: installed ones (entry-point group `steptrace`) and --plugins-dir load
    unless $STEPTRACE_PLUGINS lists the ones allowed (empty: built-ins only);
    STEPTRACE_TRACE_HOOKS=1 prints every hook call. Plugins may add commands, which
    the list below leaves out (it loads no plugin): `steptrace plugins` lists the
    plugins and their commands.
    """
    session(ctx)


#: The built-in commands, by module (a new command goes in the module of what it does, and here).
COMMANDS = (running.record, running.trace_command, running.check,
            reading.show, reading.replay, reading.diff, reading.plot, reading.html,
            listing.experiments, listing.plugins, listing.schema, listing.new_plugin)
for command in COMMANDS:
    cli.add_command(command)
