"""The commands that read a trace: ``show`` (as text), ``replay`` (run again and
checked), ``diff`` (against another), ``plot`` and ``html`` (a picture, a page). Each
streams the trace from its file through the function the Python API's :class:`~steptrace.Trace`
calls on its lines in memory (:func:`~steptrace.views.lines.view_lines`,
:func:`steptrace.replay.replay`, :func:`steptrace.diff.diff`, :mod:`steptrace.views`), and
formats what it returns."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from steptrace.cli import options
from steptrace.cli.runtime import Progress, command, registry, warn
from steptrace.defaults import EVENT_KINDS

if TYPE_CHECKING:
    from steptrace.trace.reader import TraceReader
    from steptrace.views.text import Filters


@command()
@options.trace
@options.view
@click.option("--epoch", "epochs", type=click.IntRange(min=0), multiple=True,
              help="Only this epoch (repeatable).")
@click.option("--sample", "samples", type=click.IntRange(min=0), multiple=True,
              help="Only steps with this sample (repeatable).")
@click.option("--kind", "kinds", type=click.Choice(EVENT_KINDS), multiple=True,
              help="Only events of this kind (repeatable).")
@click.option("--layer", "layers", type=click.IntRange(min=1), multiple=True,
              help="Only events of this layer (repeatable; layer_1 is the first after the input).")
@options.digits
@options.exact
def show(trace: Path, view: str, epochs: tuple[int, ...], samples: tuple[int, ...],
         kinds: tuple[str, ...], layers: tuple[int, ...], digits: int | None, exact: bool) -> None:
    """Narrate a trace, step by step."""
    from steptrace.errors import BadInput, one_line
    from steptrace.trace.reader import open_trace
    from steptrace.views.lines import check_view, view_lines
    from steptrace.views.text import Filters

    filters = Filters(set(epochs), set(samples), set(kinds), set(layers))
    try:  # (a usage error: the options do not go together)
        check_view(view, filters, digits, exact)
    except BadInput as error:
        raise click.UsageError(str(error)) from None
    with ExitStack() as files:
        read = reader = files.enter_context(open_trace(trace))
        sought = _sought(reader, view, filters, digits, exact)
        if sought is None and reader.end is not None:  # (sought, and nothing matched)
            read = files.enter_context(open_trace(trace))
        lines = sought if sought is not None else view_lines(
            read.header, read, view, filters, digits, registry(), exact=exact)
        write_lines(lines, chunk=WRITE_CHUNK if view != "book" else 0)  # (the book's warning
        # on stderr comes between its lines)
        if read.incomplete:
            click.echo(one_line(f"warning: {trace} is incomplete: {read.incomplete} after "
                                f"{read.end.events if read.end else 0} events; the rest of "
                                "the run was never recorded"), err=True)


def _sought(reader: TraceReader, view: str, filters: Filters, digits: int | None,
            exact: bool) -> list[str] | None:
    """The lines of ``show --epoch`` of a trace with an index, read from the checkpoint
    before the first pass asked for to the end of the last; None when it has none to
    trust (``reader`` then reads it whole), or when nothing matched (``reader.end`` is
    set: read it whole, to say what it holds, as a whole read says it)."""
    from steptrace.errors import BadInput
    from steptrace.trace.seek import seek_to_pass, started_at, through_pass
    from steptrace.views.lines import SEEKING_VIEWS, view_lines

    epochs = filters.epochs
    if not epochs or view not in SEEKING_VIEWS:
        return None
    start = seek_to_pass(reader, min(epochs))
    if start is False:
        return None
    events = through_pass(iter(reader), max(epochs))
    with suppress(BadInput):
        return list(view_lines(started_at(reader.header, start), events, view, filters, digits,
                               registry(), exact=exact))
    return None


@command()
@options.trace
@options.tolerance()
@click.option("--ignore-versions", is_flag=True,
              help="Replay even when a rule's plugin is installed in another version than the "
                   "one that recorded the trace (a warning, not an error).")
@options.with_defaults
def replay(trace: Path, rtol: float | None, atol: float | None, ignore_versions: bool) -> None:
    """Re-execute a trace from its config and check every event.

    Exits 0 when every event matches; 1 naming the first divergent event (index, kind,
    field, recorded vs recomputed). The header is held to its config, and to its
    registered experiment when it names one; a second line says which. Exact-mode traces
    must match bit for bit; blas-mode
    traces within rtol {BLAS_RTOL}, atol {BLAS_ATOL} unless --rtol/--atol say otherwise. Every rule
    the trace used must be installed in the plugin version that recorded it (exit 2
    naming it otherwise; see --ignore-versions).
    """
    from steptrace.compare import given
    from steptrace.replay import replay as run_replay

    with Progress(f"replaying {trace.name}") as progress:
        result = run_replay(trace, registry(), given(rtol, atol), progress, ignore_versions)
    for warning in result.warnings:
        warn(warning)
    click.echo(result.describe(trace))


@command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@options.tolerance()
@click.option("--events-only", is_flag=True,
              help="Compare the events alone: configs that differ are listed but do not count.")
def diff(a: Path, b: Path, rtol: float | None, atol: float | None, events_only: bool) -> None:
    """Compare traces A and B: what ran (the configs, every field, and the initial
    weights), then every event, naming the first divergent one.

    Numbers must agree bit for bit unless --rtol/--atol allow more. Against a trace of
    epoch detail, the passes are compared. Exits 0 when the configs and every event
    agree; 1 when a config field or an event differs (or one trace is incomplete).
    """
    from steptrace.compare import Tolerance, given
    from steptrace.diff import diff as run_diff
    from steptrace.errors import Mismatch, one_line

    report = run_diff(a, b, given(rtol, atol) or Tolerance(), events_only=events_only)
    for line in report.lines():
        click.echo(one_line(line))  # (values from the files, escaped and cut short)
    if not report.same:
        sys.exit(Mismatch.exit_code)


@command()
@options.trace
@options.output("The picture to write: FILE.png or FILE.svg.", required=True)
def plot(trace: Path, output: Path) -> None:
    """Draw the error per pass and each layer's weights over time (needs matplotlib:
    pip install 'steptrace[plot]')."""
    from steptrace.views.plot import plot as draw

    with Progress(f"reading {trace.name}") as progress:
        panels = draw(trace, output, progress)
    click.echo(f"plotted {trace} ({panels} panel{'' if panels == 1 else 's'}) -> {output}")


@command()
@options.trace
@options.output("The page to write, e.g. trace.html.", required=True)
@click.option("--edit", is_flag=True,
              help="Add the edit panel: change alpha, passes, a hidden layer's size, a "
                   "nonlinearity, the strategy, the seed, a weight or the data, and the page "
                   "computes the run again (exact arithmetic, the book's rules).")
def html(trace: Path, output: Path, edit: bool) -> None:
    """Write one self-contained HTML page that steps through TRACE: the network with its
    values and weights, each step's formula with its operands as matrices, the error curve
    (buttons, arrow keys, a slider, a jump to a pass). With --edit the learner changes the
    experiment on the page and watches the run change, every number what `steptrace record`
    computes; "copy as experiment" gives it as TOML."""
    from steptrace.views.html import uneditable, write_html

    rules = registry()
    with Progress(f"reading {trace.name}") as progress:
        events = write_html(trace, output, rules, edit=edit, progress=progress)
    click.echo(f"wrote {output}: {events} events; open it in a browser (nothing is fetched)")
    if edit:
        from steptrace.trace.reader import open_trace

        with open_trace(trace) as reader:
            why = uneditable(reader.header.config, rules)
        if why is not None:
            click.echo(f"the page shows the recording only: {why}", err=True)



#: how much text :func:`write_lines` gathers before it writes
WRITE_CHUNK = 1 << 16


def write_lines(lines: Iterable[str], chunk: int = WRITE_CHUNK) -> None:
    """Each line and a line break on standard output, as ``click.echo`` writes them, in
    writes of some ``chunk`` characters (64 K), not one (and a flush) per line (``chunk`` 0:
    one a line); what was gathered is written and
    flushed before an error (or a warning after the last line) goes to stderr. Through the
    command line's guarded stdout: a closed pipe drops the rest, the command runs on."""
    stream = sys.stdout
    gathered: list[str] = []
    size = 0
    try:
        for line in lines:
            gathered.append(line)
            size += len(line)
            if size >= chunk:
                _write(stream, gathered)
                gathered, size = [], 0
                if not chunk:
                    stream.flush()
    finally:
        _write(stream, gathered)
        stream.flush()


def _write(stream: Any, lines: list[str]) -> None:
    if not lines:
        return
    text = "\n".join(lines) + "\n"
    if "\x1b" in text:  # (as click.echo writes it: escapes stripped unless to a terminal)
        for line in lines:
            click.echo(line, file=stream, nl=True)
        return
    stream.write(text)
