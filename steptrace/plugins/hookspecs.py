"""The hooks a steptrace plugin can implement (pluggy project name ``steptrace``).

A plugin is a module or object with functions decorated by :data:`hookimpl`, found
through the ``steptrace`` entry-point group or in a ``--plugins-dir``. Implementations
may accept fewer arguments than a spec names; arguments may be added to a spec later
without breaking them. Hooks are always called with keywords, one plugin at a time:
a plugin that raises is reported by name and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from steptrace.config import ExperimentConfig
    from steptrace.engine.rules import Nonlinearity, Strategy
    from steptrace.trace.events import Event

hookspec = pluggy.HookspecMarker("steptrace")
hookimpl = pluggy.HookimplMarker("steptrace")


@hookspec
def register_nonlinearities(register: Callable[[Nonlinearity], None]) -> None:
    """Called once when rules are collected: call ``register(Nonlinearity(...))`` for each one.

    Returns: nothing (the return value is ignored). A name another plugin took first is
    refused with a warning (a built-in's always).

    Example::

        @hookimpl
        def register_nonlinearities(register):
            register(Nonlinearity("softsign", lambda x: x / (1 + np.abs(x)),
                                  lambda output: (1 - np.abs(output)) ** 2,
                                  "x / (1 + |x|)", "(1 - |output|) ** 2"))
    """


@hookspec
def register_strategies(register: Callable[[Strategy], None]) -> None:
    """Called once when rules are collected: call ``register(Strategy(...))`` for each one.

    Returns: nothing (the return value is ignored).

    Example::

        @hookimpl
        def register_strategies(register):
            def plan(n_samples, options):
                size = options["batch_size"]
                return [list(range(i, min(i + size, n_samples)))
                        for i in range(0, n_samples, size)]
            register(Strategy("chunks", plan,
                              {"batch_size": Option(int, 2, "samples per update")}))
    """


@hookspec
def register_experiments(register: Callable[[ExperimentConfig], None]) -> None:
    """Called once when rules are collected: call ``register(config)`` for each named
    experiment, a config made with ``ExperimentConfig.model_validate({...})`` (which checks
    it as an experiment file is checked).

    Returns: nothing (the return value is ignored).

    Example::

        @hookimpl
        def register_experiments(register):
            register(ExperimentConfig.model_validate({
                "name": "xor", "layers": [2, 4, 1], "nonlinearities": ["relu", "linear"],
                "seed": 0, "alpha": 0.1, "iterations": 100,
                "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "goals": [[0], [1], [1], [0]]}))
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Called when the command line loads the plugins (for any command; ``--help`` and
    ``--version`` load none): add click commands with ``@cli.command()``. ``steptrace
    plugins`` lists them; ``steptrace --help`` lists the built-in commands only.

    Returns: nothing (the return value is ignored).

    Example::

        @hookimpl
        def register_commands(cli):
            @cli.command()
            @click.argument("trace")
            def passes(trace):
                \"\"\"How many passes TRACE holds.\"\"\"
                click.echo(len(steptrace.load(trace).errors))
    """


@hookspec
def run_started(config: ExperimentConfig) -> None:
    """Called when a ``record`` starts (``steptrace record``, :func:`steptrace.record`), before
    its first event, with the experiment's config: set up what the run's observation needs
    (an observer keeps its state on itself, started afresh here, not in module globals).

    Returns: nothing. If it raises, a warning names the plugin, which observes no more of
    the run; the run goes on.

    Example::

        class Largest:
            @hookimpl
            def run_started(self, config):
                self.largest = 0.0
    """


@hookspec
def observe_event(event: Event) -> None:
    """Called for every event of a ``record``, in order, complete (every field filled in,
    whatever the trace's ``--detail``: at ``epoch`` detail the trace holds only the
    ``epoch_end`` events, an observer still sees every step's). Must not mutate the event.

    Returns: nothing. If it raises, a warning names the plugin, which observes no more of
    the run; the run goes on.

    Example::

            @hookimpl
            def observe_event(self, event):
                if event.kind == "update":
                    self.largest = max(self.largest, float(np.abs(event.weight_delta).max()))
    """


@hookspec
def run_finished(config: ExperimentConfig, errors: list[float | None], events: int) -> None:
    """Called when a ``record`` has run to its end and its trace is written: ``errors`` is
    each pass's summed error (None without goals), ``events`` how many events the trace
    holds. Not called for a run that failed or was interrupted.

    Returns: nothing. If it raises, a warning names the plugin; the trace stays written.

    Example::

            @hookimpl
            def run_finished(self, config, errors, events):
                print(f"{config.name}: largest weight_delta {self.largest} in {events} events")
    """
