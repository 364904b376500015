"""steptrace: the networks of *Grokking Deep Learning*, chapters 3-6, traced step by step.

From Python (:mod:`steptrace.api`)::

    import steptrace
    trace = steptrace.record("ch06-streetlights-backprop")
    print(trace.show(epoch=0))

``record``, ``load``, ``experiments``, ``experiment``, ``Trace``, ``Experiment``, ``Check``
and ``Events`` are imported when first used, so that ``import steptrace`` (and the
command line's ``--help``) stays quick. Plugin authors: :mod:`steptrace.plugins.hookspecs`
(``hookimpl``) and :mod:`steptrace.engine.rules` (``Nonlinearity``, ``Strategy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from steptrace.api import Check, Events, Experiment, Trace, experiment, experiments, load, record

__all__ = ["Check", "Events", "Experiment", "Trace", "__version__", "experiment", "experiments",
           "load", "record"]
_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from steptrace import api

        return getattr(api, name)
    raise AttributeError(f"module 'steptrace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
