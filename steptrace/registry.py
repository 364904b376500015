"""Plugins in, rules out: the plugin manager and what the plugins registered.

:func:`get_plugin_manager` builds a fresh pluggy manager (nothing is loaded at
import time): the built-in plugins of ``DEFAULT_PLUGINS`` are registered exactly as
an outside plugin is, and outside plugins come from the ``steptrace`` entry-point
group. :class:`Registry` collects what each plugin registers, remembers which plugin
(and version) provided it, and reports unknown names and conflicts in one place.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pluggy

from steptrace import __version__, hookspecs
from steptrace.config import ExperimentConfig
from steptrace.errors import ConfigError, PluginError
from steptrace.rules import Batches, Nonlinearity, Strategy

ENTRY_POINT_GROUP = "steptrace"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "steptrace_builtins.nonlinearities",
    "steptrace_builtins.strategies",
    "steptrace_builtins.hot_and_cold",
    "steptrace_builtins.book",
)

T = TypeVar("T")


def get_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins and (unless told not to) installed plugins."""
    pm = pluggy.PluginManager("steptrace")
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


@dataclass(frozen=True)
class Provided(Generic[T]):
    """A rule and the plugin that registered it."""

    rule: T
    plugin: str
    version: str


@dataclass(frozen=True)
class Plan:
    """A config's rules, looked up: what the engine needs besides the numbers."""

    nonlinearities: tuple[Nonlinearity, ...]
    strategy: Strategy
    batches: Batches


@dataclass
class Registry:
    """The nonlinearities, strategies and experiments the loaded plugins registered."""

    pm: pluggy.PluginManager
    nonlinearities: dict[str, Provided[Nonlinearity]] = field(default_factory=dict)
    strategies: dict[str, Provided[Strategy]] = field(default_factory=dict)
    experiments: dict[str, Provided[ExperimentConfig]] = field(default_factory=dict)

    @classmethod
    def load(cls, pm: pluggy.PluginManager | None = None) -> Registry:
        registry = cls(pm if pm is not None else get_plugin_manager())
        registry._collect("register_nonlinearities", Nonlinearity, registry.nonlinearities)
        registry._collect("register_strategies", Strategy, registry.strategies)
        registry._collect("register_experiments", ExperimentConfig, registry.experiments)
        return registry

    def _plugin_version(self, plugin: object) -> str:
        for candidate, dist in self.pm.list_plugin_distinfo():
            if candidate is plugin:
                return str(dist.version)
        return __version__  # a built-in, shipped with steptrace

    def _collect(self, hook_name: str, kind: type[Any], into: dict[str, Provided[Any]]) -> None:
        noun = {"register_nonlinearities": "nonlinearity", "register_strategies": "strategy",
                "register_experiments": "experiment"}[hook_name]
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():  # in registration order
            plugin, version = impl.plugin_name, self._plugin_version(impl.plugin)

            def register(rule: object, plugin: str = plugin, version: str = version) -> None:
                if not isinstance(rule, kind):
                    raise PluginError(
                        f"plugin {plugin} registered {rule!r} as a {noun}; "
                        f"expected a steptrace {kind.__name__}"
                    )
                name = rule.name
                if name in into:
                    raise PluginError(
                        f"{noun} {name!r} is registered by both {into[name].plugin} and {plugin}; "
                        "uninstall or rename one of them"
                    )
                into[name] = Provided(rule, plugin, version)

            arguments = {"register": register}
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
            except PluginError:
                raise
            except Exception as error:
                raise PluginError(
                    f"plugin {plugin} failed in {hook_name}: {type(error).__name__}: {error}"
                ) from None

    # -- lookups -----------------------------------------------------------------

    def nonlinearity(self, name: str) -> Nonlinearity:
        return _lookup("nonlinearity", name, self.nonlinearities).rule

    def strategy(self, name: str) -> Strategy:
        return _lookup("strategy", name, self.strategies).rule

    def experiment(self, name: str) -> ExperimentConfig:
        return _lookup("experiment", name, self.experiments).rule

    def resolve(self, config: ExperimentConfig) -> Plan:
        """Look up a config's rules and plan its batches; ConfigError on anything unknown."""
        nonlinearities = tuple(self.nonlinearity(name) for name in config.nonlinearities)
        strategy = self.strategy(config.strategy.name)
        options = _check_options(strategy, config.strategy.options)
        n_samples = len(config.inputs)
        try:
            batches = [list(batch) for batch in strategy.plan(n_samples, options)]
        except ValueError as error:
            raise ConfigError(f"strategy {strategy.name}: {error}") from None
        if not batches or any(
            not batch or any(not 0 <= i < n_samples for i in batch) for batch in batches
        ):
            raise PluginError(
                f"strategy {strategy.name} planned batches {batches!r} for {n_samples} samples: "
                "each batch must be a non-empty list of sample indices"
            )
        return Plan(nonlinearities, strategy, batches)

    def provenance(self, config: ExperimentConfig) -> dict[str, str]:
        """``{"nonlinearity:relu": "plugin version", ...}`` for every rule a config uses."""
        used: list[tuple[str, Provided[Any]]] = [
            (f"nonlinearity:{name}", _lookup("nonlinearity", name, self.nonlinearities))
            for name in config.nonlinearities
        ]
        name = config.strategy.name
        used.append((f"strategy:{name}", _lookup("strategy", name, self.strategies)))
        return {rule: f"{provided.plugin} {provided.version}" for rule, provided in used}

    def observer(self) -> Callable[[Any], None] | None:
        """The ``observe_event`` hook, or None when no plugin observes (saves a call per event)."""
        hook = self.pm.hook.observe_event
        if not hook.get_hookimpls():
            return None
        return lambda event: hook(event=event)


def _lookup(noun: str, name: str, table: Mapping[str, Provided[T]]) -> Provided[T]:
    if name in table:
        return table[name]
    known = ", ".join(sorted(table)) or "none"
    if len(table) > 8:
        known = f"{len(table)}, listed by `steptrace {noun}s`"
    close = difflib.get_close_matches(name, table, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"unknown {noun} {name!r}: {hint}known: {known}")


def _check_options(strategy: Strategy, options: Mapping[str, Any]) -> dict[str, Any]:
    checked = {}
    for key, value in options.items():
        if key not in strategy.options:
            accepted = ", ".join(strategy.options) or "none"
            raise ConfigError(
                f"strategy {strategy.name} has no option {key!r} (its options: {accepted})"
            )
        expected = strategy.options[key]
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise ConfigError(
                f"strategy {strategy.name}: option {key} must be {expected.__name__}, "
                f"not {value!r}"
            )
        checked[key] = value
    return checked
