"""The ``steptrace`` command line.

Exit codes: 0 ok · 1 mismatch (replay or diff found a divergent event or header) · 2 bad
input (a file, a config, a name or an option is wrong; one line says what), an output that
cannot be written, or a plugin that failed · 3 internal error (a steptrace bug) ·
130 interrupted · 143 terminated. Output to a closed pipe is dropped; the exit code stays.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

import click
import numpy as np

from steptrace import __version__
from steptrace.compare import Tolerance
from steptrace.config import ExperimentConfig, dump_json, dump_toml, load_config
from steptrace.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    CannotWrite,
    ConfigError,
    Mismatch,
    SteptraceError,
    Terminated,
    one_line,
)
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import Registry
from steptrace.trace.events import EVENT_KINDS

#: Runs with more update steps than this show a progress bar on stderr (a terminal only:
#: logs and pipes get no bar).
PROGRESS_THRESHOLD = 20_000


def _show_progress(steps: int) -> bool:
    return steps > PROGRESS_THRESHOLD and sys.stderr.isatty()


class Failure(click.ClickException):
    """A SteptraceError on its way out: one line on stderr, its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(one_line(message))
        self.exit_code = exit_code  # type: ignore[misc, unused-ignore]  # a ClassVar from click 8.5 on


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    click.echo(f"warning: {one_line(str(message).removeprefix('steptrace: '))}", err=True)


class _Guarded:
    """Standard output or error as the command line writes them.

    When the reader goes away (``steptrace diff a b | head -1``, ``2>&1 | true``), the
    rest of the output is dropped instead of stopping the command: it runs to its end and
    exits with its own code, so a closed pipe never hides a mismatch (under
    ``set -o pipefail``) nor turns one exit code into another. Standard output that cannot
    be written otherwise (``>/dev/full``, closed with ``>&-``) is dropped the same way and
    remembered (``error``): the command then ends with one line saying so, exit 2. (A write
    never raises: click probes streams with writes whose errors it swallows.)"""

    def __init__(self, stream: Any, name: str, must_write: bool) -> None:
        self._stream = stream
        self._name = name
        self._must_write = must_write
        self.dropping = False
        self.error: OSError | None = None  # why output that had to be written was not

    def write(self, text: str) -> int:
        if not self.dropping:
            try:
                if self._stream is None:
                    raise OSError(errno.EBADF, "it is closed")
                return int(self._stream.write(text))
            except OSError as error:
                self._failed(error)
        return len(text)

    def flush(self) -> None:
        if not self.dropping and self._stream is not None:
            try:
                self._stream.flush()
            except OSError as error:
                self._failed(error)

    def _failed(self, error: OSError) -> None:
        self.dropping = True
        try:  # so that Python's own flush at exit finds nothing to complain about
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass
        if self._must_write and not isinstance(error, BrokenPipeError):
            self.error = error

    def check(self) -> None:
        """CannotWrite if output that had to be written could not be (all of it flushed)."""
        self.flush()
        if self.error is not None:
            raise CannotWrite(f"{self._name}: cannot write: {self.error.strerror or self.error}"
                              "; what it should have shown was lost")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class SteptraceGroup(click.Group):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's main, but a usage error is one line (what is wrong, and where help is)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        if not isinstance(sys.stdout, _Guarded):
            sys.stdout = _Guarded(sys.stdout, "standard output", must_write=True)
        if not isinstance(sys.stderr, _Guarded):
            sys.stderr = _Guarded(sys.stderr, "standard error", must_write=False)
        try:
            with warnings.catch_warnings():  # a Python warning is one "warning:" line too
                warnings.showwarning = _one_line_warning
                code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()  # `steptrace` alone: the help text
            sys.exit(error.exit_code)
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx is not None else "steptrace"
            click.echo(f"Error: {one_line(error.format_message())} (see '{where} --help')",
                       err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except SteptraceError as error:  # raised while plugins load for --help
            click.echo(f"Error: {one_line(str(error))}", err=True)
            sys.exit(error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """A built-in command, or one a plugin registered (plugins load only when needed)."""
        command = super().get_command(ctx, name)
        if command is not None or ctx.resilient_parsing:
            return command
        provided = _session(ctx).registry().commands.get(name)
        return provided.rule if provided is not None else None

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        if ctx.resilient_parsing:
            return names
        return names + sorted(set(_session(ctx).registry().commands) - set(names))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with np.errstate(all="ignore"):  # overflow to inf/NaN is recorded, not warned about
                result = super().invoke(ctx)
            if isinstance(sys.stdout, _Guarded):
                sys.stdout.check()  # a full disk or a closed stdout lost the output: exit 2
            return result
        except SteptraceError as error:
            if os.environ.get("STEPTRACE_DEBUG") and error.__cause__ is not None:
                import traceback  # what raised it (a plugin's code): its traceback first

                traceback.print_exception(error.__cause__, file=sys.stderr)
            raise Failure(str(error), error.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise Failure("interrupted", EXIT_INTERRUPTED) from None
        except Terminated:
            raise Failure("terminated", EXIT_TERMINATED) from None
        except MemoryError:
            raise Failure("out of memory: the network or the data is too large for this machine",
                          EXIT_BAD_INPUT) from None
        except Exception as error:
            if os.environ.get("STEPTRACE_DEBUG"):
                raise
            notes = "".join(f"; {note}" for note in getattr(error, "__notes__", []))
            raise Failure(
                f"internal error: {type(error).__name__}: {error}{notes} (a steptrace bug: "
                "please report it; STEPTRACE_DEBUG=1 shows the traceback)",
                EXIT_INTERNAL,
            ) from None


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Session:
    """One invocation's plugin settings, and its registry, loaded once when first needed."""

    plugins_dir: Path | None = None
    strict: bool | None = None
    _registry: Registry | None = None
    _reported: int = 0

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry.load(load_plugins(self.plugins_dir, strict=self.strict))
        self.report()
        return self._registry

    def report(self) -> None:
        """Print the plugin problems not yet printed, one line each, on stderr."""
        if self._registry is not None:
            for problem in self._registry.problems[self._reported:]:
                click.echo(f"warning: {one_line(problem)}", err=True)
            self._reported = len(self._registry.problems)


def _session(ctx: click.Context | None = None) -> Session:
    """The invocation's session, from the group's options (parsed before any subcommand
    is looked up, so a plugin's command can be found in --plugins-dir)."""
    root = (ctx or click.get_current_context()).find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session(root.params.get("plugins_dir"), root.params.get("strict_plugins"))
    return root.obj


def _registry() -> Registry:
    return _session().registry()


@click.group(cls=SteptraceGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="steptrace")
@click.option("--plugins-dir", type=click.Path(file_okay=False, path_type=Path), is_eager=True,
              help="Also load every *.py in this directory as a plugin "
                   "(or set $STEPTRACE_PLUGINS_DIR).")
@click.option("--strict-plugins", is_flag=True, default=None, is_eager=True,
              help="A plugin that fails to load or raises is an error (exit 2), not a warning "
                   "(or set STEPTRACE_STRICT_PLUGINS=1).")
@click.pass_context
def cli(ctx: click.Context, plugins_dir: Path | None, strict_plugins: bool | None) -> None:
    """Train the networks of Grokking Deep Learning (ch. 3-6) and trace every step.

    \b
      steptrace record ch06-streetlights-backprop -o backprop.jsonl
      steptrace show backprop.jsonl                 # each step, in the book's terms
      steptrace show backprop.jsonl --view book     # what the book's program printed
      steptrace replay backprop.jsonl               # re-execute and check every event
      steptrace diff a.jsonl b.jsonl                # first divergent event

    Exit codes: 0 ok, 1 mismatch or divergence, 2 bad input (or an output that cannot
    be written, or a plugin that failed), 3 internal error, 130 interrupted (Ctrl-C),
    143 terminated (SIGTERM).

    Plugins: installed ones (entry-point group `steptrace`) and --plugins-dir load
    unless $STEPTRACE_PLUGINS lists the ones allowed (empty: built-ins only);
    STEPTRACE_TRACE_HOOKS=1 prints every hook call. `steptrace plugins` lists them.
    """
    _session(ctx)


def _experiment(registry: Registry, name: str) -> tuple[ExperimentConfig, Path | None]:
    """A built-in experiment by id, or an experiment file by path (and the file). A bare
    name that is both a registered experiment and a file in the current directory is the
    experiment (say ./NAME for the file), with a warning saying so."""
    path = Path(name)
    is_path = path.suffix in {".toml", ".json"} or os.sep in name or name.startswith(".")
    if name in registry.experiments and not is_path:
        if path.exists():
            click.echo(f"warning: {one_line(name)} is both a registered experiment and a file "
                       f"here: recording the experiment (give ./{one_line(name)} to record the "
                       "file)", err=True)
        return registry.experiment(name), None
    if is_path or path.exists():
        from steptrace.recording import unlike_registered

        config = load_config(path)
        try:
            registry.resolve(config)  # unknown rules and bad options, named with the file
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        if (unlike := unlike_registered(config, registry)) is not None:
            click.echo(one_line(f"warning: {path} is named {config.name!r} like a registered "
                                f"experiment, but is not it ({unlike.describe('ours', 'registered')})"
                                ": its trace is a config of its own; give it a name of its own"),
                       err=True)
        return config, path
    try:
        registry.experiment(name)
    except ConfigError as error:
        raise ConfigError(f"{error}; or give the path of a .toml/.json experiment file") from None
    raise AssertionError("unreachable")


@cli.command()
@click.argument("experiment", metavar="EXPERIMENT|FILE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the trace (default: EXPERIMENT.jsonl; .gz compresses).")
@click.option("--arithmetic", type=click.Choice(["exact", "blas"]),
              help="exact: fixed-order sums, the book's digits on any machine (the default "
                   "of the book's experiments). blas: np.dot, fast, last digits may vary.")
@click.option("--detail", type=click.Choice(["step", "epoch", "full"]), default="step",
              show_default=True,
              help="step: every step, leaving out what earlier lines determine (weights, "
                   "weight_deltas, ...: derived again when read). epoch: the passes only. "
                   "full: every field of every step.")
def record(experiment: str, output: Path | None, arithmetic: str | None, detail: str) -> None:
    """Run an experiment and write its trace.

    EXPERIMENT is a built-in id (see `steptrace experiments`) or a .toml/.json file.
    """
    from steptrace.recording import record as run_record
    from steptrace.trace.header import Detail

    registry = _registry()
    config, source = _experiment(registry, experiment)
    if arithmetic is not None:
        config = config.model_copy(update={"arithmetic": arithmetic})
    output = output or Path(f"{config.name}.jsonl")  # a plain file name (NAME_PATTERN)
    with _Progress(f"recording {config.name}") as progress:
        done = run_record(config, registry, output, progress, cast(Detail, detail),
                          inputs=[source] if source is not None else [])
    final = "" if done.errors[-1] is None else f", final error {done.errors[-1]!r}"
    _session().report()  # an observer that failed during the run
    click.echo(f"recorded {config.name}: {done.events} events, {config.iterations} epoch(s)"
               f"{final} ({config.arithmetic}) -> {output}")


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("--view", type=click.Choice(["literate", "book", "pressure"]), default="literate",
              show_default=True,
              help="literate: every step in the book's terms with its numbers. book: exactly "
                   "what the book's program printed. pressure: the book's up/down pressure "
                   "table, which way each update moved each weight, per pass (--epoch).")
@click.option("--epoch", "epochs", type=click.IntRange(min=0), multiple=True,
              help="Only this epoch (repeatable).")
@click.option("--sample", "samples", type=click.IntRange(min=0), multiple=True,
              help="Only steps with this sample (repeatable).")
@click.option("--kind", "kinds", type=click.Choice(EVENT_KINDS), multiple=True,
              help="Only events of this kind (repeatable).")
@click.option("--layer", "layers", type=click.IntRange(min=1), multiple=True,
              help="Only events of this layer (repeatable; layer_1 is the first after the input).")
@click.option("--digits", type=click.IntRange(1, 17),
              help="Round numbers to this many significant digits (default: every digit).")
def show(trace: Path, view: str, epochs: tuple[int, ...], samples: tuple[int, ...],
         kinds: tuple[str, ...], layers: tuple[int, ...], digits: int | None) -> None:
    """Narrate a trace, step by step."""
    from steptrace.trace.reader import open_trace
    from steptrace.views.book import book_lines
    from steptrace.views.literate import Literate
    from steptrace.views.pressure import PressureView
    from steptrace.views.text import Filters

    filters = Filters(set(epochs), set(samples), set(kinds), set(layers))
    if view == "book" and (epochs or samples or kinds or layers or digits):
        raise click.UsageError("--view book prints the whole run as the book did: "
                               "the filters and --digits apply to --view literate")
    if view == "pressure" and (samples or kinds or layers or digits):
        raise click.UsageError("--view pressure takes --epoch only (one table per pass)")
    with open_trace(trace) as reader:
        if view == "book":
            lines = book_lines(reader.header, reader)
        elif view == "pressure":
            lines = PressureView(reader.header).lines(reader, set(epochs))
        else:
            lines = Literate(reader.header, _registry(), digits).lines(reader, filters)
        for line in lines:
            click.echo(line)
        if reader.incomplete:
            click.echo(one_line(f"warning: {trace} is incomplete: {reader.incomplete} after "
                                f"{reader.end.events if reader.end else 0} events; the rest of "
                                "the run was never recorded"), err=True)


class _Progress:
    """A progress bar on stderr, opened on the first report of a long run."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int, steps_per_epoch: int) -> None:
        if self.bar is None:
            if not _show_progress(total * steps_per_epoch):
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _tolerance(rtol: float | None, atol: float | None) -> Tolerance | None:
    if rtol is None and atol is None:
        return None
    return Tolerance(rtol or 0.0, atol or 0.0)


_rtol = click.option("--rtol", type=click.FloatRange(min=0),
                     help="Relative tolerance: numbers agree when |a-b| <= atol + rtol*|b|.")
_atol = click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance.")


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@_rtol
@_atol
@click.option("--ignore-versions", is_flag=True,
              help="Replay even when a rule's plugin is installed in another version than the "
                   "one that recorded the trace (a warning, not an error).")
def replay(trace: Path, rtol: float | None, atol: float | None, ignore_versions: bool) -> None:
    """Re-execute a trace from its config and check every event.

    Exits 0 when every event matches; 1 naming the first divergent event (index, kind,
    field, recorded vs recomputed). The header is held to its config, and to its
    registered experiment when it names one; a second line says which. Exact-mode traces
    must match bit for bit; blas-mode
    traces within rtol 1e-12, atol 1e-15 unless --rtol/--atol say otherwise. Every rule
    the trace used must be installed in the plugin version that recorded it (exit 2
    naming it otherwise; see --ignore-versions).
    """
    from steptrace.replay import replay as run_replay

    with _Progress(f"replaying {trace.name}") as progress:
        result = run_replay(trace, _registry(), _tolerance(rtol, atol), progress,
                            ignore_versions)
    for warning in result.warnings:
        click.echo(f"warning: {one_line(warning)}", err=True)
    click.echo(result.describe(trace))


@cli.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@_rtol
@_atol
@click.option("--events-only", is_flag=True,
              help="Compare the events alone: configs that differ are listed but do not count.")
def diff(a: Path, b: Path, rtol: float | None, atol: float | None, events_only: bool) -> None:
    """Compare traces A and B: what ran (the configs, every field, and the initial
    weights), then every event, naming the first divergent one.

    Numbers must agree bit for bit unless --rtol/--atol allow more. Against a trace of
    epoch detail, the passes are compared. Exits 0 when the configs and every event
    agree; 1 when a config field or an event differs (or one trace is incomplete).
    """
    from steptrace.diff import diff as run_diff

    report = run_diff(a, b, _tolerance(rtol, atol) or Tolerance(), events_only=events_only)
    for line in report.lines():
        click.echo(one_line(line))  # (values from the files, escaped and cut short)
    if not report.same:
        sys.exit(Mismatch.exit_code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--show", "show_id", metavar="ID",
              help="Print one experiment as a file to copy, edit and `record`.")
@click.option("--format", "file_format", type=click.Choice(["toml", "json"]), default="toml",
              show_default=True, help="The file format for --show.")
def experiments(as_json: bool, show_id: str | None, file_format: str) -> None:
    """List the experiments (the book's, and those plugins add)."""
    registry = _registry()
    if show_id is not None:
        config = registry.experiment(show_id)
        click.echo(dump_toml(config) if file_format == "toml" else dump_json(config), nl=False)
        return
    rows = [(name, p.rule, p.plugin) for name, p in sorted(registry.experiments.items())]
    if as_json:
        click.echo(json.dumps([
            {"name": name, "title": c.title, "source": c.source, "plugin": plugin,
             "layers": list(c.layers), "nonlinearities": list(c.nonlinearities),
             "strategy": c.strategy.model_dump(), "alpha": c.alpha, "iterations": c.iterations,
             "arithmetic": c.arithmetic}
            for name, c, plugin in rows], indent=2))
        return
    table = [(name, "-".join(map(str, c.layers)), "/".join(c.nonlinearities),
              c.strategy.name if c.train else "forward only", c.title) for name, c, _ in rows]
    widths = [max((len(row[i]) for row in table), default=0) for i in range(4)]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                   + "  " + row[4])


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include steptrace's built-in plugins.")
def plugins(as_json: bool, show_all: bool) -> None:
    """List the loaded plugins: name, version, where from, hooks, and what each contributes."""
    listing = _registry().describe_plugins(include_builtins=show_all)
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    if not listing:
        click.echo("no outside plugins are loaded (--all lists the built-ins too)")
    for entry in listing:
        click.echo(f"{entry['name']} {entry['version']} ({entry['source']})")
        click.echo(f"  hooks: {', '.join(entry['hooks'])}")
        for key in ("nonlinearities", "strategies", "experiments", "commands"):
            if entry[key]:
                click.echo(f"  {key}: {', '.join(entry[key])}")
        if entry["observes_events"]:
            click.echo("  observes every event")


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The picture to write: FILE.png or FILE.svg.")
def plot(trace: Path, output: Path) -> None:
    """Draw the error per pass and each layer's weights over time (needs matplotlib:
    pip install 'steptrace[plot]')."""
    from steptrace.views.plot import plot as draw

    panels = draw(trace, output)
    click.echo(f"plotted {trace} ({panels} panels) -> {output}")


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The page to write, e.g. trace.html.")
def html(trace: Path, output: Path) -> None:
    """Write one self-contained HTML page that steps through TRACE: the network with its
    values and weights, each step's line, the error curve (buttons and arrow keys)."""
    from steptrace.views.html import write_html

    events = write_html(trace, output, _registry())
    click.echo(f"wrote {output}: {events} events; open it in a browser (nothing is fetched)")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a trace line (header, event or end)."""
    from steptrace.trace.header import trace_schema

    click.echo(json.dumps(trace_schema(), indent=2))


def main() -> NoReturn:
    cli.main(prog_name="steptrace")
    raise AssertionError("click's main exits")

