"""The command line's runtime: what every command runs in, whatever it does.

The group class (:class:`SteptraceGroup`: one-line usage errors, the plugins' commands
found by name), the guarded standard streams (:class:`Guarded`: a closed pipe drops the
rest of the output, a full disk is exit 2), the exit code of each
:class:`~steptrace.errors.SteptraceError` (and of Ctrl-C, SIGTERM, a bug), the
:class:`Session` that loads the plugins once per command, the guard around a plugin's
commands (:func:`guard`), the progress bar of a long run, :func:`run_in_process` and
:func:`main`. It imports click and the standard library only; what a command needs
(numpy, pydantic, the plugins) is imported when it runs.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

if TYPE_CHECKING:
    from pathlib import Path

    from steptrace.plugins.registry import Registry

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


_WARNINGS_BEFORE: list[Any] = []  # how warnings were shown before each running main


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    from steptrace.errors import one_line

    if issubclass(category, ResourceWarning):
        # Fired when the garbage collector meets an unclosed object, of whatever made it (in
        # a process that also runs other code: a notebook's sockets). Not the command's to
        # report; Python's own handling shows it, if the filters let it through.
        _WARNINGS_BEFORE[-1](message, category, filename, lineno, file, line)
        return
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
                _WARNINGS_BEFORE.append(warnings.showwarning)
                warnings.showwarning = _one_line_warning
                try:
                    code = super().main(args, prog_name, complete_var, False, **extra)
                finally:
                    _WARNINGS_BEFORE.pop()
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
            from steptrace.defaults import EXIT_INTERRUPTED

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
        provided = session(ctx).registry().commands.get(name)
        return cast(click.Command, provided.rule) if provided is not None else None

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's, but an unknown command's "did you mean" knows the plugins' commands too."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            root = ctx.find_root().obj
            loaded = root._registry if isinstance(root, Session) else None
            name = getattr(error, "command_name", None)  # click's NoSuchCommand (click >= 8.2)
            if isinstance(name, str) and loaded is not None and loaded.commands:
                import difflib

                known = [*self.commands, *loaded.commands]
                error.possibilities = difflib.get_close_matches(name, known)  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: click.Context) -> Any:
        from steptrace.defaults import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED
        from steptrace.errors import SteptraceError, Terminated

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
            if (stopped := _stopped_while_building(error)) is not None:
                raise Failure(stopped, EXIT_INTERRUPTED if stopped == "interrupted"
                              else EXIT_TERMINATED) from None
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


def _stopped_while_building(error: Exception) -> str | None:
    """"interrupted" or "terminated" when ``error`` is pydantic-core's report of a Ctrl-C
    (KeyboardInterrupt) or SIGTERM (Terminated) that came while it built a model's
    validator (models are built when first used): pydantic-core, in Rust, turns the Python
    exception raised inside it into a SchemaError naming it. None for any other error."""
    if type(error).__name__ != "SchemaError":  # (pydantic_core's; not imported to start)
        return None
    text = str(error)
    if "KeyboardInterrupt" in text:
        return "interrupted"
    if "Terminated" in text:
        return "terminated"
    return None


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
                                           commands=plugin_commands)
        self.report()
        return self._registry

    def report(self) -> None:
        """Print the plugin problems not yet printed, one line each, on stderr."""
        if self._registry is not None:
            for problem in self._registry.problems[self._reported:]:
                warn(problem)
            self._reported = len(self._registry.problems)


def session(ctx: click.Context | None = None) -> Session:
    """The invocation's session, from the group's options (parsed before any subcommand
    is looked up, so a plugin's command can be found in --plugins-dir)."""
    root = (ctx or click.get_current_context()).find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session(root.params.get("plugins_dir"), root.params.get("strict_plugins"))
    return root.obj


def registry() -> Registry:
    """The current command's registry (its plugins, loaded once)."""
    return session().registry()


def plugin_commands(register: Callable[[Any], None], plugin: str) -> dict[str, click.Command]:
    """One plugin's commands, for the registry (a :data:`~steptrace.plugins.registry.CommandCollector`):
    ``register`` calls the plugin's ``register_commands`` hook with a group of its own;
    each command it adds is guarded (:func:`guard`) with ``plugin``, its label."""
    group = click.Group()
    register(group)
    for command in group.commands.values():
        guard(command, plugin)
    return dict(group.commands)


def guard(command: click.Command, plugin: str) -> None:
    """Make what a plugin's command raises (a steptrace error, click's own and a closed
    pipe aside) a PluginError naming the plugin, raised from it; a group's commands too.
    The command runs as a built-in one does, with numpy's floating-point warnings off."""
    import functools

    from steptrace.errors import PluginError, SteptraceError

    if isinstance(command, click.Group):
        for sub in command.commands.values():
            guard(sub, plugin)
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


def command(name: str | None = None) -> Callable[[Callable[..., Any]], SteptraceCommand]:
    """``@command()``: a function as a built-in command (a :class:`SteptraceCommand`), to be
    added to the group in :mod:`steptrace.cli`."""
    return click.command(name, cls=SteptraceCommand)


class Progress:
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

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def warn(message: str) -> None:
    """One "warning: ..." line on stderr (the message made one line)."""
    from steptrace.errors import one_line

    click.echo(f"warning: {one_line(message)}", err=True)


def run_in_process(args: Sequence[str], env: Mapping[str, str | None]) -> tuple[int, str, str]:
    """``steptrace ARGS...`` run in this process, with ``env`` set for the run (None
    unsets): exit code, stdout and stderr (the authoring kit's ``steptrace_cli``). An
    exception that is not the command's exit is raised, with its traceback."""
    from click.testing import CliRunner

    result = CliRunner().invoke(group(), list(args), prog_name="steptrace", env=dict(env))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def group() -> click.Group:
    """The ``steptrace`` group (:data:`steptrace.cli.cli`), every built-in command added."""
    from steptrace.cli import cli

    return cli


def main() -> NoReturn:
    """The command line, in this process (``steptrace`` and ``python -m steptrace`` run it
    through :mod:`steptrace.__main__`): exits by raising SystemExit, as click does."""
    group().main(prog_name="steptrace")
    raise AssertionError("click's main exits")
