"""A text view of a trace by its name (:data:`~steptrace.views.VIEWS`), with the filters
and rounding it takes: what ``Trace.show`` and ``steptrace show`` print."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from steptrace.defaults import DIGITS
from steptrace.errors import BadInput
from steptrace.plugins.registry import Registry
from steptrace.trace.events import Event
from steptrace.trace.header import Header
from steptrace.views import VIEWS

#: The views that show a pass from its own events and the weights it started with, so that
#: ``--epoch`` may read a trace from the checkpoint before the pass (the pressure view reads
#: the whole run; the book view takes no filters).
SEEKING_VIEWS = ("literate", "moves")


def view_lines(header: Header, events: Iterable[Event], view: str, filters: Any,
               digits: int | None = None, rules: Registry | None = None, *,
               exact: bool = False) -> Iterator[str]:
    """The lines of a view of a trace's events (one of :data:`VIEWS`). The
    literate view rounds to ``digits`` significant digits (default
    :data:`~steptrace.views.text.DIGITS`), or prints every digit when ``exact``. Filters that
    match no event raise :class:`~steptrace.errors.BadInput` saying what the trace holds.
    The book view of a traced script whose trace could not keep all it printed ends with a
    Python warning saying how many lines it left out (on the command line, a ``warning:``
    line on stderr)."""
    from steptrace.views.book import book_lines
    from steptrace.views.literate import Literate
    from steptrace.views.moves import MovesView
    from steptrace.views.pressure import PressureView

    check_view(view, filters, digits, exact)
    if view == "book":
        yield from book_lines(header, events)
        if header.printed is not None and (cut := header.printed.cut()) is not None:
            warnings.warn(f"the book view stops early: {cut}", stacklevel=2)
        return
    filtered = bool(filters.epochs or filters.samples or filters.kinds or filters.layers)
    held = Held()
    if filtered:  # (what the trace holds is noted only where a filter may match nothing)
        events = held.watch(events, filters)
    if view == "pressure":  # (the whole run is read first: a filter's mistake comes first)
        lines = list(PressureView(header).lines(events, filters.epochs))
        if filtered and not held.kept:
            raise BadInput(f"no event matches {filters.describe()}: "
                           f"{held.describe(filters.option('epoch'))}")
        yield from lines
        return
    if view == "moves":
        yield from MovesView(header).lines(events, filters.epochs)
    else:
        rounding = None if exact else (digits or DIGITS)
        yield from Literate(header, rules, rounding).lines(events, filters)
    if filtered and not held.kept:
        raise BadInput(f"no event matches {filters.describe()}: "
                       f"{held.describe(filters.option('epoch'))}")


def check_view(view: str, filters: Any, digits: int | None, exact: bool) -> None:
    """BadInput when the filters or the rounding do not go with ``view``: the book view
    prints the whole run, the pressure view takes passes only, and digits or exact."""
    o = filters.option
    if view == "book" and (filters.epochs or filters.samples or filters.kinds or filters.layers
                           or digits or exact):
        raise BadInput(f"{o('view', 'book')} prints the whole run as the book did: the filters "
                       f"and digits apply to the literate view ({o('digits')}, {o('exact')})")
    if view == "pressure" and (filters.samples or filters.kinds or filters.layers or digits or exact):
        raise BadInput(f"{o('view', 'pressure')} takes {o('epoch')} only (the weights after "
                       "that pass)")
    if view == "moves" and (filters.samples or filters.kinds or filters.layers or digits or exact):
        raise BadInput(f"{o('view', 'moves')} takes {o('epoch')} only (one table per pass)")
    if view not in VIEWS:
        raise BadInput(f"view {view!r}: give {', '.join(map(repr, VIEWS))}")
    if digits is not None and exact:
        raise BadInput(f"give {o('digits')} or {o('exact')}, not both")


class Held:
    """What a trace's events covered (passes, samples, layers), and how many a filter kept."""

    def __init__(self) -> None:
        self.kept = 0
        self.passes: tuple[int, int] | None = None
        self.samples: set[int] = set()
        self.layers: set[int] = set()

    def watch(self, events: Iterable[Event], filters: Any) -> Iterator[Event]:
        keep, samples, layers = filters.keep, self.samples, self.layers
        last: tuple[int, ...] | None = None
        for event in events:
            if keep(event):
                self.kept += 1
            epoch, passes = event.epoch, self.passes
            if passes is None:
                self.passes = (epoch, epoch)
            elif not passes[0] <= epoch <= passes[1]:
                self.passes = (min(passes[0], epoch), max(passes[1], epoch))
            if event.samples is not last:  # (a run's events share their samples' tuples)
                last = event.samples
                samples.update(last)
            layers.add(event.layer)
            yield event

    def describe(self, epoch: str = "--epoch") -> str:
        if self.passes is None:
            return "the trace holds no events"
        def span(values: Iterable[int]) -> str:
            found = sorted(values)
            return (f"{found[0]}" if len(found) == 1 else
                    f"{found[0]}–{found[-1]}" if found == list(range(found[0], found[-1] + 1))
                    else ", ".join(map(str, found)))
        low, high = self.passes
        return (f"the trace holds passes ({epoch}) {low}–{high}, samples {span(self.samples)}, "
                f"layers {span(self.layers)}")
