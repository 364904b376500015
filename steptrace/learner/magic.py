"""Jupyter: ``%%steptrace_check``, a cell magic that checks the cell it heads.

::

    %load_ext steptrace          # (or: %load_ext steptrace.learner.magic)

    %%steptrace_check --against ch06-streetlights-backprop
    import numpy as np
    ...the chapter 6 loop...

The cell runs as a script of its own, as ``steptrace check`` runs a file: in a process of
its own (its limits and timeout), and the cell's output is the report (a
:class:`~steptrace.learner.report.CheckReport`, which is also the cell's value). No file
is written for it: the cell's code (a :class:`~steptrace.learner.runner.Script` made from
its text) and what it takes from earlier cells go to that process down a pipe, and it
runs as Jupyter runs a cell: no ``__file__``, the kernel's current folder first on
``sys.path`` (a module beside the notebook imports). Options:
``--against ID``, ``--rtol R``, ``--atol A``, ``--timeout SECONDS``, ``--json``.

Every line the report names is the cell's own (line 1 is the ``%%steptrace_check`` line).
What the cell reads before it sets it and an earlier cell defined — the data, the weights,
alpha, ``relu``, ``np`` — is handed over from the kernel where it can be made again exactly
(modules, numbers, plain data, functions the notebook defined:
:mod:`steptrace.learner.handover`); the book's names among it are the run's setup, as if
assigned before the cell's first line (the report says "from an earlier cell"), and the
report lists what it took. A name that could not be handed over (a DataFrame, a lambda)
is no error unless the cell needs it: then the one line says which and why.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping
from typing import Any, NoReturn

from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, TIMEOUT
from steptrace.errors import SteptraceError
from steptrace.learner.report import CheckReport


class _Options(argparse.ArgumentParser):
    """The magic's options; a mistake in them is an ArgumentError, never a SystemExit
    (argparse exits on an unrecognized argument even with ``exit_on_error=False``)."""

    def error(self, message: str) -> NoReturn:
        raise argparse.ArgumentError(None, message)


def _options() -> argparse.ArgumentParser:
    parser = _Options(prog="%%steptrace_check", add_help=False, exit_on_error=False)
    parser.add_argument("--against")
    parser.add_argument("--rtol", type=float, default=CHECK_RTOL)
    parser.add_argument("--atol", type=float, default=CHECK_ATOL)
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument("--json", action="store_true")
    return parser


def steptrace_check(line: str, cell: str, notebook: Mapping[str, object] | None = None
                    ) -> CheckReport | None:
    """Check the cell's code against the book's rules (see the module), handed what it
    takes from ``notebook`` (the kernel's ``user_ns``)."""
    from steptrace.learner.handover import prelude_for
    from steptrace.learner.runner import ScriptError, script_of
    from steptrace.learner.services import check_file, not_runnable
    from steptrace.plugins.loaded import registry

    try:
        options = _options().parse_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError) as error:
        print(f"%%steptrace_check: {error} (options: --against ID, --rtol R, --atol A, "
              "--timeout SECONDS, --json)")
        return None
    # Line 1 of the cell is the %%steptrace_check line, which IPython keeps from the body:
    # an empty line in its place makes every line the script names (a departure, a
    # traceback, a syntax error, the statement quoted) the cell's own line. The cell's
    # code goes to the check's process down a pipe, as it is: no file is written.
    try:
        try:
            script = script_of("\n" + cell, "the cell")
        except ScriptError as error:  # not Python: a failed report, as for a file
            report = not_runnable(error, registry(), options.against, rtol=options.rtol,
                                  atol=options.atol, timeout=options.timeout, label="the cell")
        else:
            report = check_file(script, registry(), options.against, rtol=options.rtol,
                                atol=options.atol, timeout=options.timeout,
                                prelude=prelude_for(cell, notebook or {}))
    except SteptraceError as error:  # a wrong --against, say: one line, as the CLI says it
        print(f"%%steptrace_check: {error}")
        return None
    if options.json:
        print(report.to_json())
        return None
    return report


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext steptrace`` / ``%load_ext steptrace.learner.magic``: registers the magic."""
    def magic(line: str, cell: str) -> CheckReport | None:
        return steptrace_check(line, cell, ipython.user_ns)

    ipython.register_magic_function(magic, magic_kind="cell", magic_name="steptrace_check")
