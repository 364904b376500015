"""The errors steptrace reports to a user, each with its documented exit code.

0 ok · 1 mismatch, divergence or an incomplete trace · 2 bad input, or an output that
cannot be written · 3 internal error ·
130 interrupted (Ctrl-C) · 143 terminated (SIGTERM).
The CLI turns a :class:`SteptraceError` into one line on stderr and its exit code;
anything else escaping is a bug in steptrace (exit 3).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class SteptraceError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = EXIT_BAD_INPUT


class BadInput(SteptraceError):
    """Something steptrace was given is wrong: a file, a config, a name, an option."""


class ConfigError(BadInput):
    """An experiment config is inconsistent (shapes, values, unknown rules)."""


class TraceFormatError(BadInput):
    """A file is not a readable, complete steptrace trace."""


class PluginError(BadInput):
    """A plugin registered something invalid or conflicting."""


class CannotWrite(SteptraceError):
    """An output cannot be written: no space left, no permission; nothing was left behind."""


class Mismatch(SteptraceError):
    """A replay or a diff found a divergent event (or could check only part of a run)."""

    exit_code = EXIT_MISMATCH


class Stopped(SteptraceError):
    """A recording stopped early (Ctrl-C, SIGTERM); what it recorded was kept."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
