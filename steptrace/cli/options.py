"""The options more than one command takes, and the long ones, each declared once here.

A default is never written here: it is read from where it is defined
(:mod:`steptrace.defaults`), and ``--help`` shows it from there (``show_default``, or
:func:`with_defaults` in a command's own text).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from steptrace import defaults
from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, DIGITS, TIMEOUT
from steptrace.views import VIEWS

#: What an option is: a decorator of the command's function.
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

def with_defaults(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with the defaults its docstring names (``{BLAS_RTOL}``, ``{EXIT_OK}``:
    any name of :mod:`steptrace.defaults`) filled in, so that a command's ``--help`` says the
    numbers defined there. Put it under ``@command()``, next to the function."""
    function.__doc__ = (function.__doc__ or "").format_map(vars(defaults))
    return function


#: A trace file, the argument of the commands that read one.
trace = click.argument("trace", type=click.Path(path_type=Path))


def output(help: str, *, required: bool = False) -> Decorator:
    """``-o/--output FILE``: where a command writes (a trace, a page, a picture)."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        required=required, help=help)


def tolerance(rtol: float | None = None, atol: float | None = None) -> Decorator:
    """``--rtol`` and ``--atol``: how far two numbers may be apart and still agree; with
    defaults (``check``'s: :data:`~steptrace.defaults.CHECK_RTOL` and
    :data:`~steptrace.defaults.CHECK_ATOL`), shown in ``--help``; without (``replay``,
    ``diff``), the trace's arithmetic decides."""
    given = click.option("--rtol", type=click.FloatRange(min=0), default=rtol,
                         show_default=rtol is not None,
                         help="Relative tolerance: numbers agree when |a-b| <= atol + rtol*|b|.")
    absolute = click.option("--atol", type=click.FloatRange(min=0), default=atol,
                            show_default=atol is not None, help="Absolute tolerance.")
    return lambda function: given(absolute(function))


#: ``check``'s tolerances: :data:`~steptrace.defaults.CHECK_RTOL`, :data:`~steptrace.defaults.CHECK_ATOL`.
check_tolerance = tolerance(CHECK_RTOL, CHECK_ATOL)

timeout = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=TIMEOUT,
                       show_default=True, metavar="SECONDS",
                       help="Stop the script after this long (an endless loop): exit 2.")


def as_json(help: str = "Print the list as JSON.") -> Decorator:
    """``--json``: the command's output as JSON."""
    return click.option("--json", "as_json", is_flag=True, help=help)


view = click.option(
    "--view", type=click.Choice(VIEWS), default="literate", show_default=True,
    help="literate: every step in the book's terms with its numbers. book: exactly what the "
         "book's program printed (a trace of your own script, from `steptrace trace`: what "
         "your script printed). pressure: the book's up/down pressure table from the data "
         "(0/1 inputs and goals), each column's reading, the weights after the last pass (or "
         "each --epoch), and how the run settled each conflicting weight. moves: which way "
         "each update moved each weight, a table per pass (--epoch).")

digits = click.option("--digits", type=click.IntRange(1, 17),
                      help="Round numbers to this many significant digits "
                           f"(default: {DIGITS}).")

exact = click.option("--exact", is_flag=True,
                     help="Every digit of every number, as the run computed it (Python's "
                          "shortest round-tripping form).")

against = click.option("--against", metavar="ID|FILE",
                       help="Also compare the data, the initial weights, alpha, the network, "
                            "the passes and the printed output with this built-in experiment "
                            "(or experiment file).")
