"""steptrace: the networks of *Grokking Deep Learning*, chapters 3-6, traced step by step.

From Python (:mod:`steptrace.api`)::

    import steptrace
    trace = steptrace.record("ch06-streetlights-backprop")
    print(trace.show(epoch=0))

The package's names are imported when first used, so that ``import steptrace`` (and the
command line's ``--help``) stays quick:

- to run and read: ``record``, ``load``, ``experiments``, ``experiment``, ``Trace``,
  ``Events``, ``Experiment``, ``Check`` (:mod:`steptrace.api`); to edit a run and watch it
  change, on its page: ``playground``, ``Page``;
- to check a learner's own script against the book: ``check_script``, ``trace_script``
  (:mod:`steptrace.api`); in Jupyter, ``%load_ext steptrace`` and ``%%steptrace_check``
  (:mod:`steptrace.learner.magic`);
- to write a plugin: ``hookimpl`` (:mod:`steptrace.plugins.hookspecs`), ``Nonlinearity``,
  ``Strategy``, ``Option``, ``LearningStep``, ``Learned``, ``gradient_descent``, ``Array``, ``Batches``
  (:mod:`steptrace.engine.rules`), ``ExperimentConfig`` (:mod:`steptrace.config`), ``Event``
  (:mod:`steptrace.trace.events`: what an observer sees) and
  ``portable`` (:mod:`steptrace.portable`: exp, expm1, log1p, tanh and sigmoid that give
  the same bits on every machine, for exact mode); ``new_plugin(name, directory)``
  (:mod:`steptrace.starter`) writes a plugin package to start from.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # (``X as X``: a name this module gives, to type checkers)
    from steptrace.api import Check as Check
    from steptrace.api import Events as Events
    from steptrace.api import Experiment as Experiment
    from steptrace.api import Page as Page
    from steptrace.api import Trace as Trace
    from steptrace.api import check_script as check_script
    from steptrace.api import experiment as experiment
    from steptrace.api import experiments as experiments
    from steptrace.api import load as load
    from steptrace.api import playground as playground
    from steptrace.api import record as record
    from steptrace.api import trace_script as trace_script
    from steptrace.config import ExperimentConfig as ExperimentConfig
    from steptrace.engine.rules import Array as Array
    from steptrace.engine.rules import Batches as Batches
    from steptrace.engine.rules import Learned as Learned
    from steptrace.engine.rules import LearningStep as LearningStep
    from steptrace.engine.rules import Nonlinearity as Nonlinearity
    from steptrace.engine.rules import Option as Option
    from steptrace.engine.rules import Strategy as Strategy
    from steptrace.engine.rules import gradient_descent as gradient_descent
    from steptrace.plugins.hookspecs import hookimpl as hookimpl
    from steptrace.starter import new_plugin as new_plugin
    from steptrace.trace.events import Event as Event

#: Where each public name lives: the one list of them. ``__all__`` is made from it, and the
#: imports above, for type checkers alone, are held to it by tests/test_api.py.
_WHERE = {
    **dict.fromkeys(["Check", "Events", "Experiment", "Page", "Trace", "check_script", "experiment",
                     "experiments", "load", "playground", "record", "trace_script"], "steptrace.api"),
    **dict.fromkeys(["Array", "Batches", "Learned", "LearningStep", "Nonlinearity", "Option",
                     "Strategy", "gradient_descent"], "steptrace.engine.rules"),
    "ExperimentConfig": "steptrace.config",
    "Event": "steptrace.trace.events",
    "hookimpl": "steptrace.plugins.hookspecs",
    "new_plugin": "steptrace.starter",
}
#: What ``%load_ext steptrace`` finds (IPython looks it up here); not a name to import.
_IPYTHON = {"load_ipython_extension": "steptrace.learner.magic"}
__all__ = sorted([*_WHERE, "portable", "__version__"])


def __getattr__(name: str) -> Any:
    if name == "portable":  # a module of its own: steptrace.portable.tanh(x)
        return import_module("steptrace.portable")
    module = _WHERE.get(name) or _IPYTHON.get(name)
    if module is None:
        raise AttributeError(f"module 'steptrace' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE, *_IPYTHON, "portable"})
