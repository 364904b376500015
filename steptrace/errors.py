"""The errors steptrace reports to a user, each with its documented exit code.

0 ok · 1 mismatch, divergence or an incomplete trace · 2 bad input, or an output that
cannot be written · 3 internal error ·
130 interrupted (Ctrl-C) · 143 terminated (SIGTERM).
The CLI turns a :class:`SteptraceError` into one line on stderr and its exit code;
anything else escaping is a bug in steptrace (exit 3).
"""

from __future__ import annotations

import re

from steptrace.defaults import (
    EXIT_BAD_INPUT,
    EXIT_MISMATCH,
)


class SteptraceWarning(UserWarning):
    """What the command line prints as a ``warning:`` line, from Python: a plugin that failed
    to load, a misspelled or unmarked hook, a name already taken (outside strict mode).
    The API (:func:`steptrace.record`, ...) and the test kit (its checks, ``golden_trace``,
    and ``steptrace_cli``, which also leaves the lines in its stderr) warn with it, so a
    test of a broken plugin shows why; ``-W error::steptrace.errors.SteptraceWarning``
    makes each an error."""


class SteptraceError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = EXIT_BAD_INPUT


class BadInput(SteptraceError):
    """Something steptrace was given is wrong: a file, a config, a name, an option."""


class ConfigError(BadInput):
    """An experiment config is inconsistent (shapes, values, unknown rules)."""


class TraceFormatError(BadInput):
    """A file is not a readable, complete steptrace trace."""


class DataFileError(BadInput):
    """A dataset given by reference (``{file, sha256}``) cannot be used: the file is
    missing, has another sha256 than the reference gives (it changed), is not a regular
    file, is too large, or does not hold a matrix of numbers. Exit 2, like all bad input."""


class PluginError(BadInput):
    """A plugin registered something invalid or conflicting."""


class CannotWrite(SteptraceError):
    """An output cannot be written: no space left, no permission; nothing was left behind."""


class Mismatch(SteptraceError):
    """A replay or a diff found a divergent event (or could check only part of a run)."""

    exit_code = EXIT_MISMATCH


class Terminated(BaseException):
    """SIGTERM (``kill PID``), raised where steptrace stops on it the way Ctrl-C stops: a
    recording keeps what it recorded, a file being written is removed."""


class Stopped(SteptraceError):
    """A recording stopped early (Ctrl-C, SIGTERM); what it recorded was kept."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


#: The longest message steptrace prints: a file may hold a string of any length.
MAX_MESSAGE = 1000
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def one_line(message: str) -> str:
    """A message as one line of bounded length, with no control character left to act on
    the terminal: line breaks, ESC and the like are shown escaped (``\\x1b``), and a
    message longer than ``MAX_MESSAGE`` characters is cut, saying by how much."""
    text = _UNPRINTABLE.sub(lambda found: repr(found.group())[1:-1], message[:MAX_MESSAGE])
    if len(message) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}… ({len(message) - MAX_MESSAGE} more characters)"
    return text


#: Characters no text from a file may hold (a config's texts, an end line's reason, a
#: rule's details): terminal control codes (ESC, ...) that would act on the terminal of
#: whoever prints them, and bidirectional overrides, which reorder what it shows.
#: (Templates may break lines: \n and \t are allowed.)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str | None) -> str | None:
    """``text``, if it holds no control character (nor a bidirectional override);
    ValueError naming the first one if it does."""
    if text is not None and (found := control_character(text)) is not None:
        raise ValueError(f"holds the control character {found!r}: only printable "
                         "text (and line breaks) may be printed")
    return text


def control_character(text: str) -> str | None:
    """The first character of ``text`` that :func:`printable` refuses, if any."""
    found = _CONTROL.search(text)
    return None if found is None else found.group()


def escaped(text: str) -> str:
    """``text`` with each character :func:`printable` refuses shown escaped (ESC as
    ``\\x1b``, a carriage return as ``\\r``): what it holds, made safe to keep and print."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)
