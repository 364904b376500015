"""Golden traces: a fresh run judged against the trace a project keeps, in words that say
what was compared, what changed and how to look.

:func:`judge` compares a golden trace with a fresh recording of the same experiment and
returns a :class:`Verdict`: the goldens agree, or are missing, damaged (the reader refuses
them), hold less than the test asks (the passes alone), or differ (in what ran, or at an
event). Nothing here writes or knows about pytest: the ``golden_trace`` fixture
(:mod:`steptrace.testing`) decides what to write and when to fail.

The default comparison is replay's (:data:`~steptrace.compare.DEFAULT_TOLERANCE`): bit for
bit for an exact experiment, within rtol 1e-12, atol 1e-15 for a blas one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from steptrace.compare import DEFAULT_TOLERANCE, Tolerance
from steptrace.config import ExperimentConfig
from steptrace.diff import DiffReport, diff
from steptrace.errors import BadInput
from steptrace.trace.header import Detail, holds_passes_only
from steptrace.trace.reader import open_trace

#: What a golden trace was found to be. ``agree``: it passes; the rest fail.
Status = Literal["agree", "missing", "damaged", "detail", "differ"]

#: The file names a golden trace may have (what the unused-golden search looks for).
TRACE_SUFFIXES = (".jsonl", ".jsonl.gz")
#: A fresh trace kept beside its golden: ``NAME.new.jsonl`` (``NAME.new.jsonl.gz``).
KEPT_MARK = ".new"


@dataclass(frozen=True)
class Comparison:
    """How a golden is compared: the tolerance, the fields' own ones, and why."""

    tolerance: Tolerance
    fields: Mapping[str, Tolerance]
    why: str  # "the default for exact arithmetic", "the test's tolerance", ...

    def describe(self) -> str:
        text = f"{self.tolerance.describe()} ({self.why})"
        own = ", ".join(f"{name} {tol.describe()}" for name, tol in self.fields.items())
        return f"{text}; {own}" if own else text


def comparison(config: ExperimentConfig, tolerance: Tolerance | None = None,
               fields: Mapping[str, Tolerance] | None = None) -> Comparison:
    """The comparison for a golden of ``config``: the test's ``tolerance``, or replay's
    default for the config's arithmetic."""
    if tolerance is not None:
        return Comparison(tolerance, dict(fields or {}), "the test's tolerance")
    default = DEFAULT_TOLERANCE[config.arithmetic]
    why = f"the default for {config.arithmetic} arithmetic, as steptrace replay's"
    return Comparison(default, dict(fields or {}), why)


@dataclass(frozen=True)
class Verdict:
    """What a golden trace was found to be, and the lines that explain it."""

    status: Status
    lines: tuple[str, ...]
    first: str = ""  # one line: the first thing that changed (for an update's summary)
    report: DiffReport | None = None

    @property
    def agrees(self) -> bool:
        return self.status == "agree"


def kept_name(golden: Path) -> str:
    """The name of the fresh trace kept beside ``golden``: ``NAME.new.jsonl`` for
    ``NAME.jsonl`` (a reader still knows it by its suffix), ``NAME.new.jsonl.gz`` for
    ``NAME.jsonl.gz``."""
    name = golden.name
    for suffix in sorted(TRACE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + KEPT_MARK + suffix
    return name + KEPT_MARK + (".jsonl.gz" if name.endswith(".gz") else ".jsonl")


def is_golden_name(name: str) -> bool:
    """Whether a file in a golden traces' directory is a golden trace by its name (a kept
    fresh trace, ``*.new.jsonl``, is not)."""
    return any(name.endswith(suffix) and not name[: -len(suffix)].endswith(KEPT_MARK)
               and len(name) > len(suffix) for suffix in TRACE_SUFFIXES)


def judge(golden: Path, fresh: Path, how: Comparison, *, detail: Detail | None = None,
          names: tuple[str, str] | None = None) -> Verdict:
    """Compare the golden trace ``golden`` with ``fresh``, a recording of the same
    experiment, as ``how`` says. ``detail``: what the test asked to compare (None: every
    event; ``epoch``: the passes' ends alone). ``names``: what to call the two in the
    lines (the golden as the project knows it; the fresh trace where it is kept)."""
    names = names or (str(golden), str(fresh))
    if not os.path.lexists(golden):
        return Verdict("missing", (f"golden trace {names[0]} is missing",), "was missing")
    try:
        with open_trace(golden) as kept:
            held = kept.header.detail
        if holds_passes_only(held) and detail != "epoch":
            line = (f"{names[0]}: the golden trace holds the passes' ends alone (recorded with "
                    "--detail epoch), and this test compares every event: rewrite it with "
                    "--steptrace-update (it records every event), or give golden_trace "
                    "detail=\"epoch\" to compare the passes alone")
            return Verdict("detail", (line,), "held the passes alone (detail epoch)")
        report = diff(golden, fresh, how.tolerance, how.fields or None, names=names)
    except BadInput as error:  # the reader refused it: empty, truncated, not a trace...
        reason = str(error)
        return Verdict("damaged", (f"the golden trace cannot be read: {reason}",),
                       f"could not be read: {reason}")
    if report.same:
        return Verdict("agree", (), report=report)
    changes = report.config_changes
    first = (f"{changes[0]}" + (f" (and {len(changes) - 1} more)" if len(changes) > 1 else "")
             if changes else next((line.rstrip(":") for line in report.divergence), ""))
    lines = (f"{names[0]}: the run differs from its golden trace, compared {how.describe()}",
             *report.lines())
    return Verdict("differ", lines, first, report)
