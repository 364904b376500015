"""What ``steptrace trace`` and ``steptrace check`` do, given the loaded rules: the one
place both the command line (:mod:`steptrace.cli`) and the Python API
(:func:`steptrace.api.trace_script`, :func:`steptrace.api.check_script`) go through.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import IO

from steptrace.config import ExperimentConfig
from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, TIMEOUT
from steptrace.errors import ConfigError
from steptrace.learner.against import compare
from steptrace.learner.as_trace import write
from steptrace.learner.causes import first_unlike_the_books, integer_weights, is_cast_error, is_shape_error
from steptrace.learner.check import check
from steptrace.learner.mapping import LearnerRun, trace_name, understand
from steptrace.learner.prelude import Prelude
from steptrace.learner.report import CheckReport
from steptrace.learner.runner import Script, ScriptError, capture
from steptrace.learner.timeline import build
from steptrace.plugins.registry import Registry


def trace_file(script: Path, output: Path | IO[bytes], registry: Registry,
               timeout: float) -> LearnerRun:
    """Run ``script`` and write its run to ``output`` (a path, or a binary stream) as a
    trace (ScriptError when it fails or cannot be followed, or its run is not one a trace
    can hold)."""
    check_limits(timeout=timeout)
    run = understand(capture(script, timeout), registry)
    write(run, trace_name(script.stem), registry, output)
    return run


def check_limits(**limits: float) -> None:
    """A tolerance or a timeout must be a finite number, not negative (a timeout above
    0): ``inf`` would let every departure pass, ``nan`` mean something else than it says.
    ConfigError otherwise."""
    for name, value in limits.items():
        if not (math.isfinite(value) and value >= 0 and (name != "timeout" or value > 0)):
            what = "above 0" if name == "timeout" else "at least 0"
            raise ConfigError(f"--{name} {value!r}: give a finite number {what}")


def check_file(script: Script | Path, registry: Registry, against: str | None = None, *,
               rtol: float = CHECK_RTOL, atol: float = CHECK_ATOL, timeout: float = TIMEOUT,
               label: str | None = None, prelude: Prelude | None = None) -> CheckReport:
    """Run ``script`` (a :class:`Script`, or a file's path) and check it step by step
    against the book's rules (and, with ``against``, an experiment's id or file, against
    that experiment); a script that fails or cannot be followed is a report whose status is
    ``failed``. A wrong ``against`` raises (ConfigError). ``label`` names a path's script
    (a Script has its own); ``prelude``: what a notebook cell takes from earlier cells."""
    experiment = _options(registry, against, rtol, atol, timeout)
    if isinstance(script, Script):
        label = script.label
    label = str(script) if label is None else label
    captured = None
    try:
        captured = capture(script, timeout, label=label, prelude=prelude)
        run = understand(captured, registry)
    except ScriptError as error:
        return _failed(error, registry, label, rtol, atol)
    lockstep = check(run, rtol, atol)
    comparison = None
    if experiment is not None:
        book = book_printout(experiment, registry)
        comparison = compare(run, experiment, captured.stdout, book, rtol, atol)
    return CheckReport(label, rtol, atol, run, lockstep, comparison,
                       from_earlier_cells=captured.from_earlier_cells)


def not_runnable(error: ScriptError, registry: Registry, against: str | None = None, *,
                 rtol: float = CHECK_RTOL, atol: float = CHECK_ATOL, timeout: float = TIMEOUT,
                 label: str) -> CheckReport:
    """The report :func:`check_file` gives a script that is not one steptrace runs (not
    Python, too large: ``error``, from :func:`~steptrace.learner.runner.script_of`), after
    the same look at the options (a wrong ``against`` raises first, as there)."""
    _options(registry, against, rtol, atol, timeout)
    return CheckReport(label, rtol, atol, error=str(error))


def _options(registry: Registry, against: str | None, rtol: float, atol: float,
             timeout: float) -> ExperimentConfig | None:
    """The tolerances and timeout checked, and the experiment ``against`` names (ConfigError
    if it names none)."""
    from steptrace.recording import resolve_experiment

    check_limits(rtol=rtol, atol=atol, timeout=timeout)
    return None if against is None else resolve_experiment(registry, against)[0]


def _failed(error: ScriptError, registry: Registry, label: str, rtol: float,
            atol: float) -> CheckReport:
    """The report of a script that failed or could not be followed. The steps before it
    failed are checked, and where one departs from the book, the report says so (an extra
    transpose makes numpy raise a line or two after the step that went wrong); else, where
    numpy raised on shapes, the first assignment whose shape is not the book's is named as
    the line to fix (a 1-D row, goals not transposed: often lines before the raise)."""
    captured = error.captured
    taken = captured.from_earlier_cells if captured is not None else error.from_earlier_cells
    if captured is None:
        return CheckReport(label, rtol, atol, error=str(error), from_earlier_cells=taken)
    try:
        run = understand(captured, registry)
        lockstep = check(run, rtol, atol, cut_short=True)
        if lockstep.divergence is not None:
            return CheckReport(label, rtol, atol, run, lockstep, error=str(error),
                               from_earlier_cells=taken)
    except ScriptError:
        pass
    if error.raised is not None:
        line, raised = error.raised
        cause = (first_unlike_the_books(build(captured)) if is_shape_error(raised)
                 else integer_weights(build(captured), line) if is_cast_error(raised) and line
                 else None)
        if cause is not None:
            where = f" at line {line}" if line is not None else ""
            return CheckReport(label, rtol, atol, error=(
                f"{captured.script.at(cause.line)}: {cause.detail} (numpy then raised{where}: "
                f"{raised})"), from_earlier_cells=taken)
    return CheckReport(label, rtol, atol, error=str(error), from_earlier_cells=taken)


def book_printout(config: ExperimentConfig, registry: Registry) -> str:
    """What the experiment's program printed (its book view), from a run of it, in memory."""
    from steptrace.recording import record
    from steptrace.trace.reader import TraceReader
    from steptrace.views.book import book_lines

    trace = io.BytesIO()
    record(config, registry, trace)
    trace.seek(0)
    with TraceReader(trace, f"the run of {config.name}") as reader:
        return "\n".join(book_lines(reader.header, reader))
