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

if TYPE_CHECKING:
    from steptrace.api import (
        Check,
        Events,
        Experiment,
        Page,
        Trace,
        check_script,
        experiment,
        experiments,
        load,
        playground,
        record,
        trace_script,
    )
    from steptrace.config import ExperimentConfig
    from steptrace.engine.rules import (
        Array,
        Batches,
        Learned,
        LearningStep,
        Nonlinearity,
        Option,
        Strategy,
        gradient_descent,
    )
    from steptrace.plugins.hookspecs import hookimpl
    from steptrace.starter import new_plugin
    from steptrace.trace.events import Event

_WHERE = {
    **dict.fromkeys(["Check", "Events", "Experiment", "Page", "Trace", "check_script", "experiment",
                     "experiments", "load", "playground", "record", "trace_script"], "steptrace.api"),
    "load_ipython_extension": "steptrace.learner.magic",
    **dict.fromkeys(["Array", "Batches", "Learned", "LearningStep", "Nonlinearity", "Option",
                     "Strategy", "gradient_descent"], "steptrace.engine.rules"),
    "ExperimentConfig": "steptrace.config",
    "Event": "steptrace.trace.events",
    "hookimpl": "steptrace.plugins.hookspecs",
    "new_plugin": "steptrace.starter",
}
__all__ = ["Array", "Batches", "Check", "Event", "Events", "Experiment", "ExperimentConfig", "Learned",
           "LearningStep", "Nonlinearity", "Option", "Page", "Strategy", "Trace", "__version__",
           "check_script", "experiment", "experiments", "gradient_descent", "hookimpl", "load",
           "new_plugin", "playground", "portable", "record",
           "trace_script"]


def __getattr__(name: str) -> Any:
    if name == "portable":  # a module of its own: steptrace.portable.tanh(x)
        return import_module("steptrace.portable")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'steptrace' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE, "portable"})
