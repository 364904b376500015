"""steptrace: the networks of *Grokking Deep Learning*, chapters 3-6, traced step by step.

The public API for plugin authors is :mod:`steptrace.plugins.hookspecs` (``hookimpl``) and
:mod:`steptrace.engine.rules` (``Nonlinearity``, ``Strategy``); events live in :mod:`steptrace.trace.events`.
"""

__version__ = "0.1.0"
