"""The hooks a steptrace plugin can implement (pluggy project name ``steptrace``).

A plugin is a module or object with functions decorated by :data:`hookimpl`.
Implementations may accept fewer arguments than a spec names; arguments may be
added to a spec later without breaking them. Hooks are always called with keywords.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from steptrace.config import ExperimentConfig
    from steptrace.events import Event
    from steptrace.rules import Nonlinearity, Strategy

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
def observe_event(event: Event) -> None:
    """Called for every event of a run, in order. Must not mutate the event or raise."""
