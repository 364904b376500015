"""Diff: the first divergent event between two traces, with context.

Both traces are read as streams, in lockstep, each completed (the fields a step-detail
trace leaves out are derived back), so traces of different detail compare on everything
they determine. The report names the first event that differs (its index, kind, epoch,
samples, layer), the first field that differs and both values, and shows the events just
before it. Configs that differ are listed too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from steptrace.compare import Tolerance, difference, same_json, summary
from steptrace.derive import complete_events
from steptrace.events import Event
from steptrace.tracefile import TraceReader, open_trace

CONTEXT = 2  # events shown before the divergent one


@dataclass
class DiffReport:
    a: Path
    b: Path
    tolerance: Tolerance
    events: int = 0
    config_changes: list[str] = field(default_factory=list)
    divergence: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.divergence

    def lines(self) -> list[str]:
        out = [f"configs differ in: {', '.join(self.config_changes)}"] if self.config_changes else []
        if self.same:
            return [*out, f"{self.events} events agree ({self.tolerance.describe()})"]
        return out + self.divergence


def _why(trace: TraceReader) -> str:
    return f" (incomplete: {trace.incomplete})" if trace.incomplete else ""


def diff(
    a: Path,
    b: Path,
    tolerance: Tolerance,
    fields: Mapping[str, Tolerance] | None = None,
) -> DiffReport:
    """Compare two traces event by event; ``fields`` gives some fields their own tolerance."""
    report = DiffReport(a, b, tolerance)
    with open_trace(a) as trace_a, open_trace(b) as trace_b:
        config_a = trace_a.header.config.model_dump()
        config_b = trace_b.header.config.model_dump()
        report.config_changes = [k for k in config_a if config_a[k] != config_b.get(k)]
        before: deque[Event] = deque(maxlen=CONTEXT)
        # Completed events: traces of any detail compare on everything they determine.
        events_b = complete_events(trace_b.header, trace_b)
        for event_a in complete_events(trace_a.header, trace_a):
            event_b = next(events_b, None)
            if event_b is None:
                report.divergence = [f"{b} ends after {report.events} events{_why(trace_b)}; "
                                     f"{a} goes on with {summary(event_a)}"]
                return report
            if not same_json(event_a, event_b):
                found = difference(event_a, event_b, tolerance, fields)
                if found is not None:
                    report.divergence = [
                        f"first divergence at {summary(event_a)}:",
                        "  " + found.describe(str(a), str(b)),
                        *(f"  after {summary(e)} (agrees)" for e in before),
                    ]
                    if event_b.kind != event_a.kind or event_b.seq != event_a.seq:
                        report.divergence.insert(1, f"  in {b}: {summary(event_b)}")
                    return report
            before.append(event_a)
            report.events += 1
        extra = next(events_b, None)
        if extra is not None:
            report.divergence = [f"{a} ends after {report.events} events{_why(trace_a)}; "
                                 f"{b} goes on with {summary(extra)}"]
        for path, trace in ((a, trace_a), (b, trace_b)):
            if trace.incomplete and not report.divergence:
                report.divergence = [f"{path} is incomplete ({trace.incomplete}): the "
                                     f"{report.events} events both hold agree "
                                     f"({tolerance.describe()}); the rest was never recorded"]
    return report
