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
    """Called once when rules are collected: call ``register(Nonlinearity(...))`` for each one."""


@hookspec
def register_strategies(register: Callable[[Strategy], None]) -> None:
    """Called once when rules are collected: call ``register(Strategy(...))`` for each one."""


@hookspec
def register_experiments(register: Callable[[ExperimentConfig], None]) -> None:
    """Called once when rules are collected: call ``register(config)`` for each named experiment."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Called when the command line loads the plugins (for any command; ``--help`` and
    ``--version`` load none): add click commands with ``@cli.command()``. ``steptrace
    plugins`` lists them; ``steptrace --help`` lists the built-in commands only."""


@hookspec
def run_started(config: ExperimentConfig) -> None:
    """Called when a ``record`` starts (``steptrace record``, :func:`steptrace.record`), before
    its first event, with the experiment's config: set up what the run's observation needs
    (an observer keeps its state on itself, started afresh here, not in module globals)."""


@hookspec
def observe_event(event: Event) -> None:
    """Called for every event of a ``record``, in order, complete (every field filled in,
    whatever the trace's ``--detail``: at ``epoch`` detail the trace holds only the
    ``epoch_end`` events, an observer still sees every step's). Must not mutate the event."""


@hookspec
def run_finished(config: ExperimentConfig, errors: list[float | None], events: int) -> None:
    """Called when a ``record`` has run to its end and its trace is written: ``errors`` is
    each pass's summed error (None without goals), ``events`` how many events the trace
    holds. Not called for a run that failed or was interrupted."""
