"""A config's rules, looked up (:class:`Plan`), and whose code failed when one raised.

A rule that raises while the engine trains is its plugin's failure, not steptrace's: the
engine's inner loop is not wrapped call by call; instead :meth:`Plan.blame` traces the
exception back to the plugin whose code raised it, as a :class:`PluginError` naming the
plugin and its version.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from steptrace.engine.rules import Batches, Nonlinearity, Strategy
from steptrace.errors import PluginError, SteptraceError


@dataclass(frozen=True)
class Plan:
    """A config's rules, looked up: what the engine needs besides the numbers.

    ``authors`` maps the module each rule's code comes from to its plugin, as messages
    name it (``extras 0.1.0``): what :meth:`blame` needs to name a failing plugin.
    """

    nonlinearities: tuple[Nonlinearity, ...]
    strategy: Strategy
    batches: Batches
    authors: Mapping[str, str] = field(default_factory=dict)
    #: the strategy's options as the config gives them, checked, the defaults filled in
    options: Mapping[str, Any] = field(default_factory=dict)

    def blame(self, error: Exception) -> PluginError | None:
        """``error``, raised while this plan trained, as the failure of the plugin whose
        code raised it: the innermost frame of its traceback that is a rule's plugin's.
        None when no plugin's code was running: a steptrace bug, or the failure of a
        callback handed to the engine (the engine calls those between steps, never from
        inside a rule)."""
        if isinstance(error, SteptraceError) or not self.authors:
            return None
        rules = {code: (module, what) for module, what, code in self._rules()}
        entered: tuple[str, str] | None = None  # the innermost rule called: module, what
        culprit: tuple[str, str] | None = None  # the plugin to blame, and for what
        for frame, _ in traceback.walk_tb(error.__traceback__):
            entered = rules.get(frame.f_code, entered)
            module = frame.f_globals.get("__name__")
            if isinstance(module, str) and module in self.authors:
                what = entered[1] if entered is not None and entered[0] == module else "a rule"
                culprit = (self.authors[module], what)
        if culprit is None:
            return None
        plugin, what = culprit
        message = f"plugin {plugin}: {what} raised {type(error).__name__}: {error}"
        if isinstance(error, ValueError) and "read-only" in str(error):
            message += (" (a learning rule returns weight_deltas: it must not write into "
                        "step.weights, nor into the step's other arrays)")
        return PluginError(message)

    def _rules(self) -> list[tuple[str, str, CodeType]]:
        """Each rule callable of the plan: its module, what it is, its code."""
        strategy = self.strategy
        callables: list[tuple[str, object]] = [(f"strategy {strategy.name!r} plan", strategy.plan)]
        if strategy.own_rule:
            callables.append((f"strategy {strategy.name!r} learning rule", strategy.learn))
        for act in self.nonlinearities:
            callables.append((f"nonlinearity {act.name!r} function", act.function))
            callables.append((f"nonlinearity {act.name!r} derivative", act.derivative))
        found = []
        for what, rule in callables:
            code = code_of(rule)
            if code is not None:
                found.append((module_of(rule), what, code))
        return found


def _unwrapped(rule: object) -> object:
    while isinstance(rule, functools.partial):
        rule = rule.func
    return getattr(rule, "__func__", rule)  # a bound method: its function


def code_of(rule: object) -> CodeType | None:
    """The code a Python function (or method, or partial of one) runs; None for others
    (a numpy ufunc has no frames of its own to blame)."""
    code = getattr(_unwrapped(rule), "__code__", None)
    return code if isinstance(code, CodeType) else None


def module_of(rule: object) -> str:
    module = getattr(_unwrapped(rule), "__module__", None)
    return module if isinstance(module, str) else ""

