"""The ``steptrace`` command line.

Exit codes: 0 ok · 1 mismatch (replay or diff found a divergent event or header) · 2 bad
input (a file, a config, a name or an option is wrong; one line says what), an output that
cannot be written, or a plugin that failed · 3 internal error (a steptrace bug) ·
130 interrupted · 143 terminated. Output to a closed pipe is dropped; the exit code stays.

Starting is quick: this module imports click and the standard library only, and each
command imports what it needs (numpy, pydantic, the plugins) when it runs. ``--help`` and
``--version`` load no plugin: ``--help`` lists the built-in commands (``steptrace plugins``
lists the plugins' commands); a command name that is not built in loads the plugins to
look for it. The plugins' commands are collected here (:func:`_plugin_commands`, for the
registry, which knows no click) and guarded (:func:`_guard`).
"""

from __future__ import annotations

import errno
import io
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from steptrace import __version__
from steptrace.views import VIEWS

if TYPE_CHECKING:
    from steptrace.compare import Tolerance
    from steptrace.config import ExperimentConfig
    from steptrace.plugins.registry import Registry

#: The kinds of event ``show --kind`` takes: :data:`steptrace.trace.events.EVENT_KINDS`,
#: written out so that the command line starts without building the event models
#: (tests/test_startup.py holds the two equal).
EVENT_KINDS = ("forward", "error", "delta", "update", "epoch_end")

#: Runs with more update steps than this show a progress bar on stderr (a terminal only:
#: logs and pipes get no bar).
PROGRESS_THRESHOLD = 20_000


def _show_progress(steps: int) -> bool:
    return steps > PROGRESS_THRESHOLD and sys.stderr.isatty()


class Failure(click.ClickException):
    """A SteptraceError on its way out: one line on stderr, its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        from steptrace.errors import one_line

        super().__init__(one_line(message))
        self.exit_code = exit_code  # type: ignore[misc, unused-ignore]  # a ClassVar from click 8.5 on


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    from steptrace.errors import one_line

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
            from steptrace.errors import CannotWrite

            raise CannotWrite(f"{self._name}: cannot write: {self.error.strerror or self.error}"
                              "; what it should have shown was lost")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class SteptraceCommand(click.Command):
    """A built-in command: it runs with numpy's floating-point warnings off (overflow to
    inf/NaN is recorded, not warned about); numpy is imported when it runs, not before."""

    def invoke(self, ctx: click.Context) -> Any:
        import numpy as np

        with np.errstate(all="ignore"):
            return super().invoke(ctx)


class SteptraceGroup(click.Group):
    command_class = SteptraceCommand

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
            from steptrace.errors import one_line

            where = error.ctx.command_path if error.ctx is not None else "steptrace"
            see = f"'{where} --help'"
            if isinstance(getattr(error, "command_name", None), str):  # no such command
                see += ", and 'steptrace plugins' for the plugins' commands"
            click.echo(f"Error: {one_line(error.format_message())} (see {see})", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            from steptrace.errors import EXIT_INTERRUPTED

            click.echo("Error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as error:  # raised while plugins load outside a command's run
            from steptrace.errors import SteptraceError, one_line

            if not isinstance(error, SteptraceError):
                raise
            click.echo(f"Error: {one_line(str(error))}", err=True)
            sys.exit(error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """A built-in command, or one a plugin registered: a name that is not built in
        loads the plugins to look for it (``--help`` lists the built-in commands only, so
        that it loads no plugin; ``steptrace plugins`` lists the plugins' commands)."""
        command = super().get_command(ctx, name)
        if command is not None or ctx.resilient_parsing:
            return command
        provided = _session(ctx).registry().commands.get(name)
        return cast(click.Command, provided.rule) if provided is not None else None

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's, but an unknown command's "did you mean" knows the plugins' commands too."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            session = ctx.find_root().obj
            loaded = session._registry if isinstance(session, Session) else None
            name = getattr(error, "command_name", None)  # click's NoSuchCommand (click >= 8.2)
            if isinstance(name, str) and loaded is not None and loaded.commands:
                import difflib

                known = [*self.commands, *loaded.commands]
                error.possibilities = difflib.get_close_matches(name, known)  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: click.Context) -> Any:
        from steptrace.errors import (
            EXIT_BAD_INPUT,
            EXIT_INTERNAL,
            EXIT_INTERRUPTED,
            EXIT_TERMINATED,
            SteptraceError,
            Terminated,
        )

        try:
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
            if isinstance(error, RuntimeError) and "NPY_DISABLE_CPU_FEATURES" in str(error):
                # numpy refused to start (told to turn off a feature it cannot do without)
                raise Failure(f"numpy cannot start: {' '.join(str(error).split())} Fix or unset "
                              "NPY_DISABLE_CPU_FEATURES.", EXIT_BAD_INPUT) from None
            notes = "".join(f"; {note}" for note in getattr(error, "__notes__", []))
            raise Failure(
                f"internal error: {type(error).__name__}: {error}{notes} (a steptrace bug: "
                "please report it; STEPTRACE_DEBUG=1 shows the traceback)",
                EXIT_INTERNAL,
            ) from None


def run_in_process(args: Sequence[str], env: Mapping[str, str | None]) -> tuple[int, str, str]:
    """``steptrace ARGS...`` run in this process, with ``env`` set for the run (None
    unsets): exit code, stdout and stderr (the authoring kit's ``steptrace_cli``). An
    exception that is not the command's exit is raised, with its traceback."""
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, list(args), prog_name="steptrace", env=dict(env))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Session:
    """One invocation's plugin settings, and its registry, loaded once when first needed."""

    def __init__(self, plugins_dir: Path | None = None, strict: bool | None = None) -> None:
        self.plugins_dir = plugins_dir
        self.strict = strict
        self._registry: Registry | None = None
        self._reported = 0

    def registry(self) -> Registry:
        if self._registry is None:
            from steptrace.plugins.loading import load_plugins
            from steptrace.plugins.registry import Registry

            self._registry = Registry.load(load_plugins(self.plugins_dir, strict=self.strict),
                                           commands=_plugin_commands)
        self.report()
        return self._registry

    def report(self) -> None:
        """Print the plugin problems not yet printed, one line each, on stderr."""
        if self._registry is not None:
            from steptrace.errors import one_line

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


def _plugin_commands(register: Callable[[Any], None], plugin: str) -> dict[str, click.Command]:
    """One plugin's commands, for the registry (a :data:`~steptrace.plugins.registry.CommandCollector`):
    ``register`` calls the plugin's ``register_commands`` hook with a group of its own;
    each command it adds is guarded (:func:`_guard`) with ``plugin``, its label."""
    group = click.Group()
    register(group)
    for command in group.commands.values():
        _guard(command, plugin)
    return dict(group.commands)


def _guard(command: click.Command, plugin: str) -> None:
    """Make what a plugin's command raises (a steptrace error, click's own and a closed
    pipe aside) a PluginError naming the plugin, raised from it; a group's commands too.
    The command runs as a built-in one does, with numpy's floating-point warnings off."""
    import functools

    from steptrace.errors import PluginError, SteptraceError

    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _guard(sub, plugin)
    callback = command.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        import numpy as np

        try:
            with np.errstate(all="ignore"):
                return callback(*args, **kwargs)
        except (SteptraceError, click.ClickException, click.exceptions.Exit, click.Abort,
                BrokenPipeError, MemoryError):
            raise
        except Exception as error:
            raise PluginError(f"plugin {plugin}: command {command.name!r} raised "
                              f"{type(error).__name__}: {error}") from error

    command.callback = guarded


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
      steptrace check my_backprop.py                # your own loop, step by step

    Exit codes: 0 ok, 1 mismatch or divergence, 2 bad input (or an output that cannot
    be written, or a plugin that failed), 3 internal error, 130 interrupted (Ctrl-C),
    143 terminated (SIGTERM).

    Plugins: installed ones (entry-point group `steptrace`) and --plugins-dir load
    unless $STEPTRACE_PLUGINS lists the ones allowed (empty: built-ins only);
    STEPTRACE_TRACE_HOOKS=1 prints every hook call. Plugins may add commands, which
    the list below leaves out (it loads no plugin): `steptrace plugins` lists the
    plugins and their commands.
    """
    _session(ctx)


def _experiment(registry: Registry, name: str) -> tuple[ExperimentConfig, Path | None]:
    """A built-in experiment by id, or an experiment file by path (and the file):
    :func:`steptrace.recording.resolve_experiment`, whose warnings print as warning lines."""
    from steptrace.recording import resolve_experiment

    return resolve_experiment(registry, name)


@cli.command()
@click.argument("experiment", metavar="EXPERIMENT|FILE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the trace (default: EXPERIMENT.jsonl; .gz compresses).")
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
    if done.test_errors:
        final += f", held-out error {done.test_errors[-1]!r}"
    _session().report()  # an observer that failed during the run
    click.echo(f"recorded {config.name}: {done.events} events, {config.iterations} epoch(s)"
               f"{final} ({config.arithmetic}) -> {output}")


_timeout = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
                        show_default=True, metavar="SECONDS",
                        help="Stop the script after this long (an endless loop): exit 2.")


@cli.command("trace")
@click.argument("script", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the trace (default: SCRIPT's name.jsonl; .gz compresses).")
@_timeout
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
    run = trace_file(script, output, _registry(), timeout)
    steps, passes = len(run.timeline.steps), run.timeline.passes
    click.echo(f"traced {script}: {steps:,} step{'s' * (steps != 1)} in {passes:,} "
               f"pass{'es' * (passes != 1)}, network "
               f"{'-'.join(map(str, run.shape.sizes))} "
               f"{'/'.join(n.name for n in run.nonlinearities)}, alpha {run.alpha:g}, "
               f"{run.strategy} -> {output}")


@cli.command()
@click.argument("script", type=click.Path(path_type=Path))
@click.option("--against", metavar="ID|FILE",
              help="Also compare the data, the initial weights, alpha, the network, the passes "
                   "and the printed output with this built-in experiment (or experiment file).")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-9, show_default=True,
              help="Relative tolerance: numbers agree when |a-b| <= atol + rtol*|b|.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-12, show_default=True,
              help="Absolute tolerance.")
@_timeout
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (documented in docs/check-your-code.md), for teachers' "
                   "tools.")
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

    report = check_file(script, _registry(), against, rtol=rtol, atol=atol, timeout=timeout)
    if as_json:
        click.echo(report.to_json())
    elif report.lockstep is not None:  # (a script that failed may have departed before)
        click.echo("\n".join(report.lines(with_error=False)))
    if report.error is not None:
        from steptrace.errors import one_line

        click.echo(f"Error: {one_line(report.error)}", err=True)
    sys.exit(report.exit_code)


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("--view", type=click.Choice(VIEWS), default="literate",
              show_default=True,
              help="literate: every step in the book's terms with its numbers. book: exactly "
                   "what the book's program printed (a trace of your own script, from "
                   "`steptrace trace`: what your script printed). pressure: the book's up/down "
                   "pressure table from the data (0/1 inputs and goals), each column's reading, "
                   "the weights after the last pass (or each --epoch), and how the run settled "
                   "each conflicting weight. moves: which way each update moved each weight, "
                   "a table per pass (--epoch).")
@click.option("--epoch", "epochs", type=click.IntRange(min=0), multiple=True,
              help="Only this epoch (repeatable).")
@click.option("--sample", "samples", type=click.IntRange(min=0), multiple=True,
              help="Only steps with this sample (repeatable).")
@click.option("--kind", "kinds", type=click.Choice(EVENT_KINDS), multiple=True,
              help="Only events of this kind (repeatable).")
@click.option("--layer", "layers", type=click.IntRange(min=1), multiple=True,
              help="Only events of this layer (repeatable; layer_1 is the first after the input).")
@click.option("--digits", type=click.IntRange(1, 17),
              help="Round numbers to this many significant digits (default: 4).")
@click.option("--exact", is_flag=True,
              help="Every digit of every number, as the run computed it (Python's shortest "
                   "round-tripping form).")
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
    with open_trace(trace) as reader:
        lines = view_lines(reader.header, iter(reader), view, filters, digits, _registry(),
                           exact=exact)
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
    from steptrace.compare import Tolerance

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
    from steptrace.errors import one_line
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
    from steptrace.compare import Tolerance
    from steptrace.diff import diff as run_diff
    from steptrace.errors import Mismatch, one_line

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
    from steptrace.config import dump_json, dump_toml

    registry = _registry()
    if show_id is not None:
        config = registry.experiment(show_id)
        if file_format == "json":
            click.echo(dump_json(config), nl=False)
            return
        strategy = registry.strategies.get(config.strategy.name)
        declared = strategy.rule.declared if strategy is not None else {}
        notes = [f"option {name}: {option.describe()}" for name, option in declared.items()]
        click.echo(dump_toml(config, {"strategy": notes}), nl=False)
        return
    rows = [(name, p.rule, p.plugin) for name, p in sorted(registry.experiments.items())]
    if as_json:
        import json

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


@cli.command("new-plugin")
@click.argument("name")
@click.option("-d", "--directory", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Where to write the steptrace-NAME folder.")
def new_plugin(name: str, directory: Path) -> None:
    """Start a plugin: write steptrace-NAME/, a package ready to install and test.

    It holds a pyproject.toml with the entry point, a module with a nonlinearity, a
    strategy with a declared option, an observer and an experiment, tests written with
    steptrace's kit (the experiment's golden trace recorded by the new plugin), and a
    README. Then: pip install -e steptrace-NAME; steptrace plugins; python -m pytest
    steptrace-NAME. The guide: docs/plugins.md; the hooks and types: docs/plugin-reference.md."""
    from steptrace.starter import new_plugin as write

    root = write(name, directory)
    click.echo(f"wrote {root}: pip install -e {root}, then steptrace plugins, and "
               f"python -m pytest {root}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include steptrace's built-in plugins.")
def plugins(as_json: bool, show_all: bool) -> None:
    """List the loaded plugins: name, version, where from, hooks, and what each contributes."""
    listing = _registry().describe_plugins(include_builtins=show_all)
    if as_json:
        import json

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
            if key == "strategies":
                for strategy, options in entry["options"].items():
                    for name, option in options.items():
                        click.echo(f"    {strategy} option {name}: {option['described']}")
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
    click.echo(f"plotted {trace} ({panels} panel{'' if panels == 1 else 's'}) -> {output}")


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The page to write, e.g. trace.html.")
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

    registry = _registry()
    events = write_html(trace, output, registry, edit=edit)
    click.echo(f"wrote {output}: {events} events; open it in a browser (nothing is fetched)")
    if edit:
        from steptrace.trace.reader import open_trace

        with open_trace(trace) as reader:
            why = uneditable(reader.header.config, registry)
        if why is not None:
            click.echo(f"the page shows the recording only: {why}", err=True)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a trace line (header, event or end)."""
    import json

    from steptrace.trace.header import trace_schema

    click.echo(json.dumps(trace_schema(), indent=2))


def main() -> NoReturn:
    cli.main(prog_name="steptrace")
    raise AssertionError("click's main exits")

