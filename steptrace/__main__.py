"""The ``steptrace`` command and ``python -m steptrace``: the command line, started so
that a Ctrl-C while it loads (click takes a moment; numpy, pydantic and the plugins load
later, when a command runs, where the command line handles it) is an ordinary
interruption, one line and exit 130, not a traceback."""

from __future__ import annotations

import sys  # (built in: already loaded; the module imports nothing else until main() runs)
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NoReturn


def main() -> NoReturn:
    """The command line, in this process: exits by raising SystemExit, as click does.
    Everything of steptrace's is imported inside the ``try`` (even ``steptrace.errors``,
    whose patterns take a moment to compile: CI's Ctrl-C at 60 ms landed there)."""
    try:
        import gc

        # (a command makes millions of small objects and almost no cycles: the collector's
        # youngest generation is looked at every 100,000 allocations, not every 700, a
        # common tuning of batch programs; some 7% of a big trace's show. This process
        # only: not an API user's.)
        gc.set_threshold(100_000, 50, 100)
        from steptrace.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        from steptrace.defaults import EXIT_INTERRUPTED

        raise SystemExit(EXIT_INTERRUPTED) from None
    command_line()


def script() -> NoReturn:
    """The ``steptrace`` command: :func:`main`, then out of the process without tearing the
    interpreter down (numpy's and pydantic's modules take some 40 ms to unwind, a third of
    ``import numpy``; mypy ends the same way). What a normal exit does that matters is done
    first: the ``atexit`` handlers run and the standard streams are flushed. Every file
    steptrace writes is closed (and renamed into place) before the command returns."""
    try:
        main()
    except SystemExit as done:
        import signal  # (loaded by the command line already: no moment for a Ctrl-C here)

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command is done: its code stands
        code = done.code
    import atexit
    import contextlib
    import os

    if code is not None and not isinstance(code, int):  # SystemExit("message"): Python's way
        sys.stderr.write(f"{code}\n")
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # (the command line said so, if it mattered)
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":  # python -m steptrace: an ordinary exit (what follows it runs)
    main()
