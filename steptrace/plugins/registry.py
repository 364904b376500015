"""Plugins in, rules out: what the loaded plugins registered, and by whom.

:class:`Registry` calls each plugin's ``register_*`` hooks one plugin at a time, so
it knows which plugin (and version) provided each rule, and so a plugin that raises
or registers something wrong is reported by name and left out while the rest keeps
working (:mod:`steptrace.plugins.loading` says how plugins are found). It reports unknown
names and conflicts in one place; the built-ins register first, so an outside plugin
cannot take a built-in's name.

A rule that raises while it runs is its plugin's failure, not steptrace's: a plugin's
command (wrapped by the command line, :mod:`steptrace.cli`, which collects the commands)
or a strategy's ``plan`` is wrapped where it is called, and a failure during training is
traced back to the plugin by :meth:`Plan.blame` (the engine's inner loop is not wrapped
call by call). Either becomes a :class:`PluginError` naming the plugin and its version,
with the plugin's exception as its ``__cause__``.

The registry knows no command-line framework: :meth:`Registry.load` is handed the
command line's :data:`CommandCollector` (the command line passes one; the Python API
collects no commands) and keeps which plugin registered which command.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import pluggy
from pydantic import ValidationError

from steptrace.config import ExperimentConfig, describe
from steptrace.engine.plan import Plan, module_of
from steptrace.engine.rules import Nonlinearity, Strategy
from steptrace.errors import ConfigError, PluginError, SteptraceError, one_line
from steptrace.plugins.loading import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    Plugins,
    load_plugins,
    trace,
    trace_hooks,
)

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "CommandCollector", "Provided", "Registry",
           "RunObservers", "checked_options", "get_plugin_manager"]

T = TypeVar("T")

CommandCollector = Callable[[Callable[[Any], None], str], Mapping[str, Any]]
"""How the command line collects one plugin's commands: called with a function that calls
the plugin's ``register_commands`` hook with the ``cli`` object it is given, and the
plugin's label (``NAME VERSION``, for messages); returns the commands the plugin added, by
name, ready to run. What it raises is the plugin's failure in ``register_commands``."""


def get_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins and (unless told not to) installed plugins."""
    return load_plugins(entry_points=entry_points).pm


@dataclass(frozen=True)
class Provided(Generic[T]):
    """A rule and the plugin that registered it."""

    rule: T
    plugin: str
    version: str

    @property
    def label(self) -> str:
        """``plugin version``, as a trace's fingerprint names where a rule came from."""
        return f"{self.plugin} {self.version}"


def _is_steptrace(module: str) -> bool:
    return module == "steptrace" or module.startswith("steptrace.")


@dataclass
class Registry:
    """The nonlinearities, strategies, experiments and commands the loaded plugins registered."""

    plugins: Plugins
    nonlinearities: dict[str, Provided[Nonlinearity]] = field(default_factory=dict)
    strategies: dict[str, Provided[Strategy]] = field(default_factory=dict)
    experiments: dict[str, Provided[ExperimentConfig]] = field(default_factory=dict)
    #: The plugins' commands (the command line's objects), collected only when
    #: :meth:`load` is given a :data:`CommandCollector`.
    commands: dict[str, Provided[Any]] = field(default_factory=dict)
    #: The experiments left out because they cannot be recorded: why, by name.
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def pm(self) -> pluggy.PluginManager:
        return self.plugins.pm

    @property
    def problems(self) -> list[str]:
        """One line per plugin that failed to load or to register (outside strict mode)."""
        return self.plugins.problems

    @classmethod
    def load(cls, plugins: Plugins | pluggy.PluginManager | None = None,
             commands: CommandCollector | None = None) -> Registry:
        """What ``plugins`` (default: :func:`load_plugins`) register; their commands too
        when the command line hands over its ``commands`` collector."""
        if plugins is None:
            plugins = load_plugins()
        elif isinstance(plugins, pluggy.PluginManager):
            plugins = Plugins(plugins)
        registry = cls(plugins)
        registry._collect("register_nonlinearities", Nonlinearity, registry.nonlinearities)
        registry._collect("register_strategies", Strategy, registry.strategies)
        registry._collect("register_experiments", ExperimentConfig, registry.experiments)
        registry._check_experiments()
        if commands is not None:
            registry._collect_commands(commands)
        return registry

    def _plugin_version(self, name: str) -> str:
        info = self.plugins.info.get(name)
        if info is not None:
            return info.version
        for plugin, dist in self.pm.list_plugin_distinfo():
            if self.pm.get_name(plugin) == name:
                return str(dist.version)
        return "unknown"

    def _collect(self, hook_name: str, kind: type[Any], into: dict[str, Provided[Any]]) -> None:
        noun = {"register_nonlinearities": "nonlinearity", "register_strategies": "strategy",
                "register_experiments": "experiment"}[hook_name]
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():  # in registration order
            plugin, version = impl.plugin_name, self._plugin_version(impl.plugin_name)
            offered: dict[str, Any] = {}

            def register(rule: object, plugin: str = plugin, offered: dict[str, Any] = offered) -> None:
                if not isinstance(rule, kind):
                    raise PluginError(f"registered {rule!r} as a {noun}; expected a steptrace "
                                      f"{kind.__name__}")
                # a nonlinearity is held bound to its options' defaults: function(x) works
                offered[rule.name] = rule.with_options({}) if isinstance(rule, Nonlinearity) else rule

            if trace_hooks():
                trace(f"{hook_name}(register) -> {plugin}")
            try:
                impl.function(**{name: {"register": register}[name] for name in impl.argnames})
            except Exception as error:  # the plugin's fault: leave all of this hook's out
                self._failed(plugin, hook_name, error)
                continue
            for name, rule in offered.items():
                if name in into:  # the first loaded keeps it (see loading's order)
                    first = into[name].plugin
                    what = ("a built-in's name cannot be taken: rename yours"
                            if first in DEFAULT_PLUGINS
                            else f"{first} loaded first: rename one, or uninstall one of them")
                    self.plugins.problem(f"{noun} {name!r} is registered by both {first} and "
                                         f"{plugin}; {plugin}'s is ignored ({what})")
                    continue
                into[name] = Provided(rule, plugin, version)

    def _check_experiments(self) -> None:
        """Each registered experiment must be one that records: its rules registered, its
        strategy's options valid, its batches planned. One that is not is a problem named
        with its plugin (an error under strict plugins) and is left out, so that ``record``
        never meets it."""
        for name, provided in list(self.experiments.items()):
            try:
                self.resolve(provided.rule)
            except SteptraceError as error:
                del self.experiments[name]
                why = self.refused[name] = (f"plugin {self.plugins.label(provided.plugin)}: "
                                            f"experiment {name!r} cannot be recorded: {error}")
                if provided.plugin not in self.plugins.failed:  # (else said: it failed)
                    self.plugins.problem(why, error)

    def _collect_commands(self, collect: CommandCollector) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            plugin = impl.plugin_name

            def hook(cli: Any, function: Callable[..., Any] = impl.function,
                     argnames: tuple[str, ...] = tuple(impl.argnames)) -> None:
                function(**{name: {"cli": cli}[name] for name in argnames})

            if trace_hooks():
                trace(f"register_commands(cli) -> {plugin}")
            try:
                collected = dict(collect(hook, self.plugins.label(plugin)))
            except Exception as error:
                self._failed(plugin, "register_commands", error)
                continue
            for name, command in collected.items():
                if name in self.commands:
                    self.plugins.problem(f"command {name!r} is registered by both "
                                         f"{self.commands[name].plugin} and {plugin}; {plugin}'s "
                                         "is ignored")
                    continue
                self.commands[name] = Provided(command, plugin, self._plugin_version(plugin))

    def _failed(self, plugin: str, hook_name: str, error: Exception) -> None:
        told = describe(error) if isinstance(error, ValidationError) else one_line(str(error))
        reason = f"failed in {hook_name}: {type(error).__name__}: {told}"
        self.plugins.failed.setdefault(plugin, reason)
        self.plugins.problem(f"plugin {self.plugins.label(plugin)} {reason}", error)

    # -- lookups -----------------------------------------------------------------

    def nonlinearity(self, name: str) -> Nonlinearity:
        return _lookup("nonlinearity", name, self.nonlinearities, self.plugins).rule

    def strategy(self, name: str) -> Strategy:
        return _lookup("strategy", name, self.strategies, self.plugins).rule

    def experiment(self, name: str) -> ExperimentConfig:
        if name in self.refused:
            raise ConfigError(self.refused[name])
        return _lookup("experiment", name, self.experiments, self.plugins).rule

    def resolve(self, config: ExperimentConfig) -> Plan:
        """Look up a config's rules and plan its batches; ConfigError on anything unknown."""
        used = [_lookup("nonlinearity", name, self.nonlinearities, self.plugins)
                for name in config.nonlinearities]
        # each layer's nonlinearity bound to the options its config gives (checked)
        nonlinearities = tuple(
            p.rule.with_options(checked_options(p.rule, given, f"layer_{k}'s nonlinearity",
                                                self.whose(p)))
            for k, (p, given) in enumerate(zip(used, config.nonlinearity_options, strict=True),
                                           start=1))
        provided = _lookup("strategy", config.strategy.name, self.strategies, self.plugins)
        strategy = provided.rule
        options = checked_options(strategy, config.strategy.options, provider=self.whose(provided))
        n_samples = len(config.inputs)
        plugin = self.plugins.label(provided.plugin)
        try:
            batches = [list(batch) for batch in strategy.plan(n_samples, options)]
        except ValueError as error:
            raise ConfigError(f"strategy {strategy.name}{self.whose(provided)}: {error}") from None
        except SteptraceError:
            raise
        except Exception as error:  # the plugin's failure, not steptrace's
            raise PluginError(f"plugin {plugin}: strategy {strategy.name!r} plan raised "
                              f"{type(error).__name__}: {error}") from error
        indices = _as_indices(batches, n_samples)
        if indices is None:
            raise PluginError(one_line(
                f"plugin {plugin}: strategy {strategy.name} planned batches {batches!r:.200} "
                f"for {n_samples} samples: each batch must be a non-empty list of sample "
                "indices (integers from 0)"))
        batches = indices
        # Where each rule's code lives, and whose it is, to blame a failure during training.
        authors: dict[str, str] = {}
        code: list[tuple[str, tuple[object, ...]]] = [
            (provided.plugin, (strategy.plan, strategy.learn)),
            *((p.plugin, (p.rule.function, p.rule.derivative)) for p in used)]
        for owner, callables in code:
            for module in map(module_of, callables):
                if module and not _is_steptrace(module):
                    authors.setdefault(module, self.plugins.label(owner))
        return Plan(nonlinearities, strategy, batches, authors, options)

    def whose(self, provided: Provided[Any]) -> str:
        """The plugin of an outside rule as a message about the rule's options names it,
        after the rule: `` (plugin extras 0.1.0)``; "" for a built-in's."""
        info = self.plugins.info.get(provided.plugin)
        builtin = info.builtin if info is not None else provided.plugin in DEFAULT_PLUGINS
        return "" if builtin else f" (plugin {self.plugins.label(provided.plugin)})"

    def provenance(self, config: ExperimentConfig) -> dict[str, str]:
        """``{"nonlinearity:relu": "plugin version", ...}`` for every rule a config uses."""
        return {rule: provided.label for rule, provided in self._used(config)}

    def _used(self, config: ExperimentConfig) -> list[tuple[str, Provided[Any]]]:
        used: list[tuple[str, Provided[Any]]] = [
            (f"nonlinearity:{name}", _lookup("nonlinearity", name, self.nonlinearities, self.plugins))
            for name in config.nonlinearities]
        name = config.strategy.name
        used.append((f"strategy:{name}", _lookup("strategy", name, self.strategies, self.plugins)))
        return used

    def revisions(self, config: ExperimentConfig) -> dict[str, int]:
        """``{"nonlinearity:tanh": 2, ...}``: the revision of every rule a config uses."""
        return {rule: provided.rule.revision for rule, provided in self._used(config)}

    def distributions(self, config: ExperimentConfig) -> dict[str, str]:
        """``{"extras": "steptrace-extras"}``: the distribution of each plugin behind the
        config's rules (and its experiment), where it came from one."""
        plugins = {provided.plugin for _, provided in self._used(config)}
        if config.name in self.experiments:
            plugins.add(self.experiments[config.name].plugin)
        found = {name: self.plugins.info[name].distribution for name in sorted(plugins)
                 if name in self.plugins.info}
        return {name: dist for name, dist in found.items() if dist is not None}

    def describe_plugins(self, include_builtins: bool = False) -> list[dict[str, Any]]:
        """Each loaded plugin: name, version, source, hooks, what it contributes, and the
        options its strategies (``options``) and nonlinearities (``nonlinearity_options``)
        declare (type, default, doc), by rule."""
        listing = []
        for name, info in self.plugins.info.items():
            if info.builtin and not include_builtins:
                continue
            plugin = self.pm.get_plugin(name)
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

            def mine(table: Mapping[str, Provided[Any]], name: str = name) -> list[str]:
                return sorted(rule for rule, provided in table.items() if provided.plugin == name)

            listing.append({
                "name": name, "version": info.version, "source": info.source, "hooks": hooks,
                "nonlinearities": mine(self.nonlinearities), "strategies": mine(self.strategies),
                "experiments": mine(self.experiments), "commands": mine(self.commands),
                "options": self._options_of(self.strategies, name),
                "nonlinearity_options": self._options_of(self.nonlinearities, name),
                "observes_events": "observe_event" in hooks,
            })
        return listing

    @staticmethod
    def _options_of(table: Mapping[str, Provided[Any]],
                    plugin: str) -> dict[str, dict[str, dict[str, Any]]]:
        """The options (type, default, doc) each rule of ``table`` that ``plugin``
        registered declares, by rule."""
        return {name: {option_name: {"type": option.type.__name__, "default": option.default,
                                     "doc": option.doc, "described": option.describe()}
                       for option_name, option in provided.rule.declared.items()}
                for name, provided in sorted(table.items())
                if provided.plugin == plugin and provided.rule.options}

    def observers(self) -> RunObservers | None:
        """The plugins' ``run_started``, ``observe_event`` and ``run_finished`` as one
        object, or None when no plugin implements any of them (no call per event then)."""
        names = ("run_started", "observe_event", "run_finished")
        impls = {name: getattr(self.pm.hook, name).get_hookimpls() for name in names}
        if not any(impls.values()):
            return None
        return RunObservers(self.plugins, impls)

    def observer(self) -> Callable[[Any], None] | None:
        """Every plugin's ``observe_event``, in order, or None when no plugin observes."""
        observers = self.observers()
        return None if observers is None or not observers.watching else observers.event


class RunObservers:
    """The plugins that watch a run, called one plugin at a time: one that raises is
    reported once (in one line, with its plugin's name) and called no more in this run
    (no more events, no ``run_finished``); the others go on."""

    def __init__(self, plugins: Plugins, impls: Mapping[str, list[Any]]) -> None:
        self.plugins = plugins
        self.impls = {name: [(impl.plugin_name, impl.function, tuple(impl.argnames))
                             for impl in found] for name, found in impls.items()}
        self.dropped: set[str] = set()
        self.tracing = trace_hooks()
        #: whether any plugin observes events (else none need making for it)
        self.watching = bool(self.impls["observe_event"])

    def _call(self, hook: str, where: str, **arguments: Any) -> None:
        for plugin, function, argnames in self.impls[hook]:
            if plugin in self.dropped:
                continue
            if self.tracing:
                trace(f"{hook}({where}) -> {plugin}")
            try:
                function(**{name: arguments[name] for name in argnames})
            except Exception as error:
                self.dropped.add(plugin)
                at = f" at event {arguments['event'].seq}" if hook == "observe_event" else ""
                self.plugins.problem(
                    f"plugin {plugin} failed in {hook}{at}: {type(error).__name__}: {error}; "
                    "it observes no more events", error)

    def started(self, config: ExperimentConfig) -> None:
        self._call("run_started", config.name, config=config)

    def event(self, event: Any) -> None:
        self._call("observe_event", f"event {event.seq} {event.kind}", event=event)

    def finished(self, config: ExperimentConfig, errors: list[float | None], events: int) -> None:
        self._call("run_finished", config.name, config=config, errors=errors, events=events)


def _as_indices(batches: list[list[Any]], n_samples: int) -> list[list[int]] | None:
    """The batches as lists of Python ints (numpy's integers too: ``np.array_split`` gives
    them), or None when one is empty or holds anything but an index of a sample (a bool,
    a float, a string, a list)."""
    if not batches:
        return None
    indices = []
    for batch in batches:
        try:
            # operator.index: ints and numpy integers, nothing that only looks like one
            rows = [operator.index(i) for i in batch if not isinstance(i, bool | np.bool_)]
        except TypeError:
            return None
        if not rows or len(rows) != len(batch) or not all(0 <= i < n_samples for i in rows):
            return None
        indices.append(rows)
    return indices


def _lookup(noun: str, name: str, table: Mapping[str, Provided[T]],
            plugins: Plugins | None = None) -> Provided[T]:
    """``table``'s entry for ``name``; ConfigError naming the closest names, and the plugins
    ``$STEPTRACE_PLUGINS`` left out of ``plugins`` (one of them may have registered it)."""
    if name in table:
        return table[name]
    known = ", ".join(sorted(table)) or "none"
    if len(table) > 8:
        known = f"{len(table)}, listed by `steptrace {noun}s`"
    close = difflib.get_close_matches(name, table, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    left_out = None if plugins is None else plugins.left_out_text()
    raise ConfigError(f"unknown {noun} {name!r}: {hint}known: {known}"
                      + (f" ({left_out})" if left_out else ""))


def checked_options(rule: Strategy | Nonlinearity, options: Mapping[str, Any],
                    where: str = "", provider: str = "") -> dict[str, Any]:
    """The options a config gives, checked against what the rule declares (an int taken
    as a float where a float is declared), with the declared defaults filled in.
    ``where`` names the rule in messages (``layer_1's nonlinearity``; a strategy: itself),
    ``provider`` its plugin after its name (:meth:`Registry.whose`: `` (plugin extras
    0.1.0)``, "" for a built-in)."""
    declared = rule.declared
    what = where or ("strategy" if isinstance(rule, Strategy) else "nonlinearity")
    named = f"{rule.name}{provider}"
    checked = {}
    for key, value in options.items():
        if key not in declared:
            if not declared and isinstance(rule, Nonlinearity):
                raise ConfigError(f"{what} {named} takes no options, not {key!r}: give it "
                                  f"by name alone (\"{rule.name}\")")
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            takes = "; ".join(f"{name} ({option.describe()})" for name, option in declared.items())
            raise ConfigError(f"{what} {named} has no option {key!r}: {hint}"
                              f"its options: {takes or 'none'}")
        option = declared[key]
        if option.type is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)  # beta = 0 in TOML is an int
            except OverflowError:
                raise ConfigError(f"{what} {named}: option {key} takes a number, not "
                                  f"an integer of {len(str(value))} digits") from None
        if isinstance(value, bool) != (option.type is bool) or not isinstance(value, option.type):
            raise ConfigError(f"{what} {named}: option {key} takes "
                              f"{_a(option.type)}, not {value!r}")
        checked[key] = value
    for key, option in declared.items():
        if key not in checked and option.default is not None:
            checked[key] = option.default
    return checked


def _a(kind: type) -> str:
    """How a message names what an option takes."""
    return {float: "a number", int: "a whole number", bool: "true or false",
            str: "a string"}.get(kind, f"a {kind.__name__}")
