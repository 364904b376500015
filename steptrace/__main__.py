"""The ``steptrace`` command and ``python -m steptrace``: the command line, started so
that a Ctrl-C while it loads (click takes a moment; numpy, pydantic and the plugins load
later, when a command runs, where the command line handles it) is an ordinary
interruption, one line and exit 130, not a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

EXIT_INTERRUPTED = 130  # (steptrace.errors says so too; importing it here would be slower)


def main() -> NoReturn:
    try:
        from steptrace.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    command_line()


if __name__ == "__main__":
    main()
