"""Diff: the first divergent event between two traces, with context.

Both traces are read as streams, in lockstep, each completed (the fields a step-detail
trace leaves out are derived back), so traces of different detail compare on everything
they determine. The report names the first event that differs (its index, kind, epoch,
samples, layer), the first field that differs and both values, and shows the events just
before it.

The headers are compared too: what ran (the config, every field, nested ones included,
and the initial weights) must be the same, or the traces differ even where their events
agree (``events_only`` compares the events alone). How and where each was recorded (its
detail, schema version, machine and versions) may differ; plugin versions that differ are
noted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from steptrace.compare import (
    Tolerance,
    difference,
    differences,
    keys_of_both,
    same_json,
    summary,
)
from steptrace.trace.events import Event
from steptrace.trace.header import Header, computed_elsewhere, holds_passes_only, plugin_of
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.trace.state import complete_events

CONTEXT = 2  # events shown before the divergent one


@dataclass
class DiffReport:
    a: Path | str  # what the lines call the two traces
    b: Path | str
    tolerance: Tolerance
    events_only: bool = False
    events: int = 0
    config_changes: list[str] = field(default_factory=list)  # one line per differing field
    notes: list[str] = field(default_factory=list)
    divergence: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """Every event agrees, and (unless ``events_only``) so do the configs."""
        return not self.divergence and (self.events_only or not self.config_changes)

    def lines(self) -> list[str]:
        out = [f"note: {note}" for note in self.notes]
        if self.config_changes:
            out.append("the headers differ in what ran"
                       + (" (ignored: --events-only)" if self.events_only else "") + ":")
            out += [f"  {change}" for change in self.config_changes]
        if not self.divergence:
            return [*out, f"{self.events} events agree ({self.tolerance.describe()})"]
        return out + self.divergence


def header_changes(a: Path | str, header_a: Header, b: Path | str, header_b: Header) -> list[str]:
    """One line per field of the config (and per initial weight matrix) that differs,
    naming its first differing value."""
    changes = []
    config_a, config_b = header_a.config.model_dump(), header_b.config.model_dump()
    for key in keys_of_both(config_a, config_b):
        found = differences({key: config_a.get(key)}, {key: config_b.get(key)}, Tolerance())
        if found is not None:
            changes.append(f"config {found.describe(str(a), str(b))}")
    for k, (w_a, w_b) in enumerate(zip(header_a.initial_weights, header_b.initial_weights,
                                       strict=False)):
        if w_a != w_b:
            changes.append(f"initial weights_{k}_{k + 1} differ")
    return changes


def version_notes(header_a: Header, header_b: Header) -> list[str]:
    """How the two runs' rules were provided: another plugin (whose revisions and the
    other's are not comparable), another release, another revision (its numbers changed)."""
    a, b = header_a.fingerprint, header_b.fingerprint
    shared = [rule for rule in a.rules if rule in b.rules]
    same_plugin = [rule for rule in shared if plugin_of(a.rules[rule]) == plugin_of(b.rules[rule])]
    notes = [f"{rule} was recorded with {a.rules[rule]} in one, {b.rules[rule]} in the other"
             + ("" if rule in same_plugin else ": another plugin's rule of the same name (their "
                "revisions are not comparable)")
             for rule in shared if a.rules[rule] != b.rules[rule]]
    return notes + [
        f"{rule} was recorded with revision {a.revisions.get(rule, 1)} in one, "
        f"{b.revisions.get(rule, 1)} in the other (its numbers changed)"
        for rule in same_plugin if not rule.startswith("experiment:")
        and a.revisions.get(rule, 1) != b.revisions.get(rule, 1)]


def _compared(header: Header, events: Iterable[Event], passes_only: bool) -> Iterator[Event]:
    """The events to compare: completed; only the passes' ends, numbered by pass as an
    epoch-detail trace numbers them, when ``passes_only``."""
    for event in complete_events(header, events):
        if not passes_only:
            yield event
        elif event.kind == "epoch_end":
            yield event if event.seq == event.epoch else event.model_copy(
                update={"seq": event.epoch})


def _cause(report: DiffReport, header_a: Header, header_b: Header) -> str:
    """What the divergence likely comes from: what ran differs, a rule was provided
    otherwise (the notes above), or neither; and where a blas run was recorded."""
    rules = [note for note in report.notes if note.startswith(("nonlinearity:", "strategy:"))]
    causes = (["the headers differ in what ran (above)"] if report.config_changes else []) + (
        ["a rule was provided otherwise (the notes above)"] if rules else [])
    where = [f"{what} {a} in one, {b} in the other"
             for what, a, b in computed_elsewhere(header_a.fingerprint, header_b.fingerprint)]
    if "blas" in (header_a.config.arithmetic, header_b.config.arithmetic) and where:
        causes.append("blas arithmetic, recorded with " + ", ".join(where))
    if not causes:
        return ("likely cause: nothing in the headers (the same config, every rule from the "
                "same plugin, release and revision): a rule's code changed without a new "
                "revision, or a trace was edited")
    return "likely cause: " + "; ".join(causes)


def _why(trace: TraceReader) -> str:
    return f" (incomplete: {trace.incomplete})" if trace.incomplete else ""


def diff(
    a: Path | TraceReader,
    b: Path | TraceReader,
    tolerance: Tolerance,
    fields: Mapping[str, Tolerance] | None = None,
    events_only: bool = False,
    names: tuple[str, str] | None = None,
) -> DiffReport:
    """Compare two traces (each a path, or a reader not yet read past its header: a trace
    in memory), their headers' configs and then event by event; ``fields`` gives some
    fields their own tolerance; ``events_only``: configs that differ do not count.
    ``names``: what the report calls the two (default: what their readers are named, a
    path as given), e.g. a fresh recording where it is kept."""
    reader_a = open_trace(a) if isinstance(a, Path) else a
    try:
        reader_b = open_trace(b) if isinstance(b, Path) else b
    except BaseException:
        reader_a.close()
        raise
    with reader_a as trace_a, reader_b as trace_b:
        name_a, name_b = ((Path(names[0]), Path(names[1])) if names
                          else (trace_a.name, trace_b.name))
        report = DiffReport(name_a, name_b, tolerance, events_only)
        report.config_changes = header_changes(name_a, trace_a.header, name_b, trace_b.header)
        report.notes = version_notes(trace_a.header, trace_b.header)
        before: deque[Event] = deque(maxlen=CONTEXT)
        # Completed events: traces of any detail compare on everything they determine; when
        # one holds the passes alone (epoch detail), the passes are what both determine.
        only_passes = holds_passes_only(trace_a.header.detail) or holds_passes_only(trace_b.header.detail)
        if only_passes and trace_a.header.detail != trace_b.header.detail:
            report.notes.append("one trace holds the passes alone (epoch detail): the passes "
                                "are compared")
        events_b = _compared(trace_b.header, trace_b, only_passes)
        for event_a in _compared(trace_a.header, trace_a, only_passes):
            event_b = next(events_b, None)
            if event_b is None:
                report.divergence = [f"{name_b} ends after {report.events} events{_why(trace_b)}; "
                                     f"{name_a} goes on with {summary(event_a)}"]
                return report
            if not same_json(event_a, event_b):
                found = difference(event_a, event_b, tolerance, fields)
                if found is not None:
                    report.divergence = [
                        f"first divergence at {summary(event_a)}:",
                        "  " + found.describe(str(name_a), str(name_b)),
                        *(f"  after {summary(e)} (agrees)" for e in before),
                    ]
                    if event_b.kind != event_a.kind or event_b.seq != event_a.seq:
                        report.divergence.insert(1, f"  in {name_b}: {summary(event_b)}")
                    report.divergence.append("  " + _cause(report, trace_a.header,
                                                           trace_b.header))
                    return report
            before.append(event_a)
            report.events += 1
        extra = next(events_b, None)
        if extra is not None:
            report.divergence = [f"{name_a} ends after {report.events} events{_why(trace_a)}; "
                                 f"{name_b} goes on with {summary(extra)}"]
        for path, trace in ((name_a, trace_a), (name_b, trace_b)):
            if trace.incomplete and not report.divergence:
                report.divergence = [f"{path} is incomplete ({trace.incomplete}): the "
                                     f"{report.events} events both hold agree "
                                     f"({tolerance.describe()}); the rest was never recorded"]
    return report
