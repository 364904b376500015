"""The defaults every way into steptrace shares — the command line, the Python API, the
notebook magic, the test kit and the views — each defined once, here. It imports nothing,
so the command line reads them without loading numpy or pydantic.

The replay's and diff's tolerances by arithmetic are
:data:`steptrace.compare.DEFAULT_TOLERANCE` (a blas trace's from here); the errors that
exit with each code are in :mod:`steptrace.errors`.
"""

from __future__ import annotations

#: The learner check's tolerance (``check``'s ``--rtol``/``--atol``): a learner's number
#: agrees with the book's rule when ``|a - b| <= CHECK_ATOL + CHECK_RTOL * |b|`` (a
#: learner's ``np.dot`` and steptrace's may round differently in the last bits).
CHECK_RTOL = 1e-9
CHECK_ATOL = 1e-12

#: The tolerance that decides which nonlinearity and which delta form a learner's run
#: uses (:mod:`steptrace.learner.mapping`): the check's default, held fixed (``--rtol``
#: and ``--atol`` judge the steps, not what the run is).
INFER_RTOL, INFER_ATOL = CHECK_RTOL, CHECK_ATOL

#: What ``replay`` and ``diff`` allow a blas trace (BLAS sums in an order of its CPU's
#: choosing, so its last digits may differ between machines) unless told otherwise; an
#: exact trace must match bit for bit.
BLAS_RTOL = 1e-12
BLAS_ATOL = 1e-15

#: The exit codes (:mod:`steptrace.errors` says which error exits with which).
EXIT_OK = 0
EXIT_MISMATCH = 1  # a mismatch, a divergence, an incomplete trace
EXIT_BAD_INPUT = 2  # bad input, an output that cannot be written, a plugin that failed
EXIT_INTERNAL = 3  # a bug in steptrace
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)
EXIT_TERMINATED = 143  # SIGTERM

#: Seconds a learner's script may run (``--timeout``) before it is stopped.
TIMEOUT = 60.0

#: The significant digits the literate view, the learner's report and the page round to
#: unless told otherwise (``--exact``: every digit).
DIGITS = 4

#: The kinds of event, in the order a step emits them (``show --kind``); the event models
#: in :mod:`steptrace.trace.events` are keyed by them.
EVENT_KINDS = ("forward", "error", "delta", "update", "epoch_end")
