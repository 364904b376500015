"""The engine: the book's maths, and nothing else.

- :mod:`~steptrace.engine.network`: one step of the book's algorithm on one batch
  (forward, error, deltas, updates), returned as a :class:`~steptrace.engine.network.Step`,
  and the loop over passes and batches that hands each step on;
- :mod:`~steptrace.engine.rules`: what a plugin contributes to it (nonlinearities,
  strategies, learning rules), gradient descent being the default learning rule;
- :mod:`~steptrace.engine.plan`: a config's rules looked up, and whose code raised;
- :mod:`~steptrace.engine.arithmetic`: the definition of exact and blas sums;
- :mod:`~steptrace.engine.compiled`: the same exact sums as compiled code (speed only).

Nothing here knows about events, traces or how a run is reported.
"""
