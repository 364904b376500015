"""The literate view of a repeating run, a window of steps at once.

``show`` narrates each step by its template (:class:`~steptrace.views.literate.Templates`):
a ``%`` format with a slot per number, filled in event by event. Where every step of a
window (``WINDOW`` events) is of a template worked out before (learned from a step it
narrated: :meth:`AtOnce.learn`), its fields left out as a ``step``-detail trace leaves
them, in an exact run of single-sample steps whose every number is finite,
:meth:`AtOnce.lines` writes the window's lines at once:

- the state after every event, from a :class:`~steptrace.trace.state.Timeline` (the
  weights after each update worked out as the state works them out, the same bits);
- each template's values as numpy columns, what its slots are read from its
  :data:`~steptrace.views.literate.Spec`;
- every distinct number of the window written once, all in one ``%`` format (the
  narration's ``%.4g``), a matrix of several rows aligned to its widest number as
  :class:`~steptrace.views.text.Numbers` aligns it;
- each template's lines in one ``%`` format, the passes' ends and the samples' banners
  as :class:`~steptrace.views.literate.Templates` writes them.

The same text, byte for byte, as narrating an event at a time: ``tests/test_literate.py``
holds the two together. Any other window is narrated an event at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from steptrace.engine.formulas import backs
from steptrace.trace.consistency import StepLine
from steptrace.trace.events import EpochEndEvent, Event
from steptrace.trace.state import LEFT_OUT, NetworkState, Timeline, stacked, step_key
from steptrace.views.text import maybe_nonfinite

if TYPE_CHECKING:
    from steptrace.views.literate import Templates

#: The events a window narrated at once holds.
WINDOW = 1024


class NotAtOnce(Exception):
    """A window is not narrated at once (its numbers are not all finite, a value is not of
    the shape its template was made for): an event at a time says what it is."""


class AtOnce:
    """Windows of a trace's steps narrated at once, by ``templates``' templates."""

    def __init__(self, templates: Templates) -> None:
        self.templates = templates
        self.state: NetworkState = templates.state
        self.last = templates.last
        self.cell = templates.numbers.cell
        #: a step's :func:`step_key`: its template's key, a getter of its left-out fields,
        #: what the getter gives when they are left out, and where it moves the state
        self.steps: dict[tuple[Any, ...], tuple[Any, Any, Any, tuple[str, int] | None]] = {}
        #: a step line's class: what ``steps`` holds of its :func:`step_key` (the class fixes it)
        self.of_line: dict[type, tuple[Any, Any, Any, tuple[str, int] | None]] = {}
        #: a template's key: its lines' one format (every number's slot a ``%s``), or None
        self.formats: dict[Any, str | None] = {}

    def learn(self, event: Event, key: Any) -> None:
        """``event``, a step narrated by the template of ``key``, with the state knowing
        every layer's output and delta: a later step of its :func:`step_key` may be
        narrated at once (its template is a rounded line of its event and the state)."""
        if key not in self.templates.specs or self._format(key) is None:
            return  # (not a template a window is narrated by: its steps, an event at a time)
        found = step_key(event)
        if found in self.steps or found[4] is not None:
            return
        names = LEFT_OUT[event.kind]
        getter = attrgetter(*names) if names else None
        place = (event.kind, event.layer) if event.kind in ("forward", "delta", "update") else None
        self.steps[found] = (key, getter, None if len(names) < 2 else (None,) * len(names), place)

    def lines(self, window: list[Event], finite: bool) -> list[str] | None:
        """The lines of ``window`` (its steps' and the samples' banners, in order), the
        state moved past it; None (the state as it was) where it is not narrated at once.
        ``finite``: every number before the window was (else it is not)."""
        if not finite or not self.steps:
            return None
        steps, of_line = self.steps, self.of_line
        ends: list[int] = []
        groups: dict[Any, list[int]] = {}
        places: dict[tuple[str, int], list[list[int]]] = {}
        for i, event in enumerate(window):
            cls = event.__class__
            known = of_line.get(cls)
            if known is None:
                if cls is EpochEndEvent:
                    ends.append(i)
                    continue
                known = steps.get(step_key(event))
                if known is None:
                    return None
                if cls.__base__ is StepLine:  # (the class fixes the step's key)
                    of_line[cls] = known
            key, left_out, none, place = known
            if left_out is not None and left_out(event) != none:
                return None  # (a field the trace gives: an event at a time)
            at = groups.get(key)
            if at is None:
                groups[key] = at = [i]
                if place is not None:
                    places.setdefault(place, []).append(at)
            else:
                at.append(i)
        where = {place: sorted(chain.from_iterable(lists)) for place, lists in places.items()}
        state = self.state
        saved = state.snapshot()
        timeline = state.timeline(window, where)
        if timeline is None:
            return None
        try:
            with np.errstate(all="ignore"):
                return self._written(window, ends, groups, where, timeline)
        except (NotAtOnce, TypeError, ValueError):  # (an event at a time says it as it is)
            state.restore(saved)
            return None

    def _written(self, window: list[Event], ends: list[int], groups: dict[Any, list[int]],
                 where: dict[tuple[str, int], list[int]], timeline: Timeline) -> list[str]:
        templates = self.templates
        # each template's values, as columns: (key, positions, [(plan kind, array)])
        made: list[tuple[Any, list[int], list[tuple[int, Any]]]] = []
        numbers: list[Any] = []  # (every array whose numbers are written)
        for key, at in groups.items():
            template = templates.known.get(key)
            spec = templates.specs.get(key)
            if template is None or spec is None or template[4] is None:
                raise NotAtOnce(key)
            kinds = template[4][1]
            events = [window[i] for i in at]
            spots = np.asarray(at, dtype=np.intp)
            values = []
            for (source, of), kind in zip(spec, kinds, strict=True):
                array = self._column(source, of, key, events, spots, where, timeline)
                if not np.isfinite(array).all():
                    raise NotAtOnce("not finite")
                values.append((kind, array))
                numbers.append(array)
            self._unshown(template[2], key, events)
            made.append((key, at, values))
        texts, lengths = self._texts(numbers)
        out: list[Any] = [None] * len(window)
        used = 0
        for key, at, values in made:
            form = self._format(key)
            if form is None:
                raise NotAtOnce("format")
            n = len(at)
            spec = templates.specs[key]
            slots: list[Any] = [[window[i].seq for i in at]]
            later: tuple[int, Any, Any, Any] | None = None  # (an update's weights before)
            written: dict[int, int] = {}  # (a matrix value's slot)
            for j, (kind, array) in enumerate(values):
                count = array.size // n
                cells = texts[used:used + array.size].reshape(n, count)
                widths = lengths[used:used + array.size].reshape(n, count)
                used += array.size
                if kind > 0:  # one row of `kind` numbers, a slot each
                    if array.shape[1:] != (1, kind):
                        raise NotAtOnce("shape")
                    slots += [cells[:, j].tolist() for j in range(kind)]  # (a slot a column)
                elif kind == 0:  # a number
                    if array.ndim != 1:
                        raise NotAtOnce("shape")
                    slots.append(cells[:, 0].tolist())
                elif spec[j][0] == "before" and ("own", "weights") in spec:
                    later = (len(slots), array, cells, widths)  # (written after the weights)
                    slots.append(None)
                else:  # a matrix, as text
                    written[j] = len(slots)
                    slots.append(_matrices(array.shape[1:], cells, widths))
            if later is not None:  # each update's weights before: the last one's after
                at_slot, array, cells, widths = later
                a = spec.index(("own", "weights"))
                if a in written and n > 1 and array[1:].tobytes() == values[a][1][:-1].tobytes():
                    slots[at_slot] = (_matrices(array.shape[1:], cells[:1], widths[:1])
                                      + slots[written[a]][:-1])
                else:
                    slots[at_slot] = _matrices(array.shape[1:], cells, widths)
            lines = _formatted(form, list(zip(*slots, strict=True)))
            for i, line in zip(at, lines, strict=True):
                out[i] = line
        return self._ordered(window, ends, groups, out)

    def _column(self, source: str, of: Any, key: Any, events: list[Event], spots: Any,
                where: dict[tuple[str, int], list[int]], timeline: Timeline) -> Any:
        """A template's slot's values for its ``events`` (at ``spots`` in the window)."""
        kind, k = key[0], key[1]
        if source == "back":  # layer_{k+1}_delta · weights_k_{k+1}ᵀ, in exact arithmetic
            return backs(self.templates.dot_each, timeline.at(("delta", of + 1), spots),
                         timeline.at(("weights", of), spots))
        if source == "before":
            return timeline.at(("before", of - 1), spots)
        # an event's own field, or the state's filling in of one the trace leaves out
        if kind == "error" and of == "prediction":
            return timeline.at(("layer", self.last), spots)
        if kind == "error" and of == "goal":
            goal = self.state.batch(events[0].samples)[2]
            if goal is None or any(event.samples != events[0].samples for event in events):
                raise NotAtOnce("goal")
            return np.repeat(np.asarray(goal, dtype=np.float64)[np.newaxis], len(events), axis=0)
        if kind == "update" and of == "weight_delta":
            return timeline.changes[k][np.searchsorted(where[("update", k)], spots)]
        if kind == "update" and of == "weights":
            return timeline.at(("weights", k - 1), spots)
        if of in LEFT_OUT[kind]:
            raise NotAtOnce(of)
        values = [getattr(event, of) for event in events]
        if type(values[0]) is tuple:
            return stacked(values, (len(values[0]), len(values[0][0])))
        return np.fromiter(values, dtype=np.float64, count=len(values))

    def _unshown(self, names: tuple[str, ...], key: Any, events: list[Event]) -> None:
        """The events' number fields their lines do not write are finite (a step's first
        number that is not finite is warned of, by an event at a time)."""
        for name in names:
            if name in LEFT_OUT[key[0]]:
                continue  # (filled in from numbers the lines write, or the header's)
            given = [getattr(event, name) for event in events]
            if all(value is None for value in given):
                continue
            if type(given[0]) is tuple and given[0] and type(given[0][0]) is tuple:
                array = stacked(given, (len(given[0]), len(given[0][0])))  # (ValueError: ragged)
                if np.isfinite(array).all():
                    continue
            if any(maybe_nonfinite(event, (name,)) for event in events):
                raise NotAtOnce("not finite")

    def _texts(self, numbers: list[Any]) -> tuple[Any, Any]:
        """Every number of ``numbers`` (arrays, in order) written (an object array of
        texts) and the texts' lengths, each distinct number (its bits: -0.0 apart) once."""
        if not numbers:
            return np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
        every = np.concatenate([array.ravel() for array in numbers])
        bits, inverse = np.unique(every.view(np.uint64), return_inverse=True)
        distinct = bits.view(np.float64).tolist()
        written = ("\0".join([self.cell] * len(distinct)) % tuple(distinct)).split("\0")
        texts = np.array(written, dtype=object)
        lengths = np.fromiter(map(len, written), dtype=np.intp, count=len(written))
        return texts[inverse.ravel()], lengths[inverse.ravel()]

    def _format(self, key: Any) -> str | None:
        """The template's line as one format, every number's slot a ``%s`` (its seq's
        ``%d``); None where its words hold a ``%`` or a NUL (the lines are split on it: a
        plugin's names may hold either)."""
        form = self.formats.get(key, "")
        if form == "":
            whole = self.templates.known[key][4][0]  # type: ignore[index]
            form = (None if "%%" in whole or "\0" in whole
                    else whole.replace(self.cell, "%s"))
            self.formats[key] = form
        return form

    def _ordered(self, window: list[Event], ends: list[int], groups: dict[Any, list[int]],
                 out: list[Any]) -> list[str]:
        """The window's lines in order (``out``: each step's, by its place): each pass's
        end narrated, a sample's banner before its first forward step."""
        templates, literate = self.templates, self.templates.literate
        for i in ends:  # a pass's end
            event = window[i]
            if maybe_nonfinite(event):
                raise NotAtOnce("not finite")
            out[i] = f"[{event.seq}] {literate.narrate(event)}"
        banners: list[tuple[int, str]] = []
        for key, at in groups.items():
            if key[0] != "forward" or key[1] != 1:
                continue
            by_samples: dict[tuple[int, ...], list[int]] = {}
            for i in at:
                by_samples.setdefault(window[i].samples, []).append(i)
            for samples, where in by_samples.items():
                form = templates.banners.get(samples)
                if form is None:
                    raise NotAtOnce("banner")
                text = templates.value(self.state.batch(samples)[1])
                banners += zip(where, _formatted(form, [(window[i].epoch, text) for i in where]),
                               strict=True)
        for i, banner in sorted(banners, reverse=True):  # (from the last: each before its step)
            out.insert(i, banner)
        return out


def _matrices(shape: tuple[int, ...], cells: Any, widths: Any) -> list[str]:
    """Matrices of ``shape`` (rows, columns), one a row of ``cells`` (their numbers
    written), as :class:`~steptrace.views.text.Numbers` writes them: one row as
    ``[a, b]``; several aligned to the widest number of each."""
    rows, columns = shape
    if rows == 1:
        return _formatted("[" + ", ".join(["%s"] * columns) + "]", [tuple(row) for row in cells])
    form = "[" + ", ".join(["[" + ", ".join(["%*s"] * columns) + "]"] * rows) + "]"
    paired = np.empty((len(cells), 2 * rows * columns), dtype=object)
    paired[:, 0::2] = widths.max(axis=1)[:, np.newaxis]
    paired[:, 1::2] = cells
    return _formatted(form, paired.tolist())


def _formatted(form: str, args: list[Any]) -> list[str]:
    """``form % each`` of ``args``, all in one ``%`` (the lines split on NULs)."""
    if not args:
        return []
    return ("\0".join([form] * len(args)) % tuple(chain.from_iterable(args))).split("\0")


def windows(events: Iterator[Event], size: int = WINDOW
            ) -> Iterator[tuple[list[Event], BaseException | None]]:
    """``events`` in windows of ``size``, each with the error that cut it short (the
    reader's: the events read before it come first), if any."""
    while True:
        window: list[Event] = []
        try:
            for event in events:
                window.append(event)
                if len(window) == size:
                    break
        except BaseException as error:  # (the events before it first)
            yield window, error
            return
        if not window:
            return
        yield window, None
        if len(window) < size:
            return
