"""The defaults every way into steptrace shares — the command line, the Python API, the
notebook magic, the test kit and the views — each defined once, here. It imports nothing,
so the command line reads them without loading numpy or pydantic.

The replay's and diff's tolerances for a blas trace are
:data:`steptrace.compare.DEFAULT_TOLERANCE`; the exit codes are in :mod:`steptrace.errors`.
"""

from __future__ import annotations

#: The learner check's tolerance (``check``'s ``--rtol``/``--atol``): a learner's number
#: agrees with the book's rule when ``|a - b| <= CHECK_ATOL + CHECK_RTOL * |b|`` (a
#: learner's ``np.dot`` and steptrace's may round differently in the last bits).
CHECK_RTOL = 1e-9
CHECK_ATOL = 1e-12

#: Seconds a learner's script may run (``--timeout``) before it is stopped.
TIMEOUT = 60.0

#: The significant digits the literate view, the learner's report and the page round to
#: unless told otherwise (``--exact``: every digit).
DIGITS = 4

#: The kinds of event, in the order a step emits them (``show --kind``); the event models
#: in :mod:`steptrace.trace.events` are keyed by them.
EVENT_KINDS = ("forward", "error", "delta", "update", "epoch_end")
