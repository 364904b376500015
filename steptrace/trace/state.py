"""A trace's events replayed into the network's state: what every reader shares.

:class:`NetworkState` walks the events in order from the header's initial weights and
keeps what the run had at each event: the weights (and, at an update, the weights
before it), each layer's latest output, each layer's latest delta. With it, each event
is made complete: the fields a ``step``-detail trace leaves out (see
:mod:`steptrace.trace.emitter`) are derived back with the engine's own functions
(:mod:`steptrace.engine.formulas`: ``weight_delta``, ``update``, ``back``)
in the trace's arithmetic, so an exact trace's derived numbers are the bits the run had.
Events that already carry a field keep it. ``show`` (every view), ``diff``, ``plot`` and
``html`` read traces through it; none of them keeps weights of its own.

What is filled in is the numbers already at hand where it can be: a forward's
``layer_in`` is the previous forward's ``layer_out`` (the same floats), an error's
``prediction`` the last one's, its ``goal`` the header's rows (made once for each batch).
:func:`complete_events`, which gives no state between events, fills in the updates of
an exact stochastic run many passes at a time: every update's ``weight_delta`` (one product
each, the outer product of ``layer_{k-1}`` and ``layer_k_delta``) at once, and the
weights after each update as a running ``weights - alpha * weight_delta`` (numpy's
``accumulate``: one subtraction after another, as the run made them), the same bits as
one update at a time (``tests/test_state.py`` holds them to it). :meth:`NetworkState.stepped`
works a chunk's updates out so too, for a reader of the state at every event (the page's
writer): each event comes complete with the state just past it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np

from steptrace.engine.arithmetic import ARITHMETIC
from steptrace.engine.formulas import back, update, weight_delta
from steptrace.engine.network import frozen_masks, training_data
from steptrace.engine.rules import Array
from steptrace.trace.consistency import StepLine
from steptrace.trace.events import Event, UpdateEvent, as_rows
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader

_new, _set = object.__new__, object.__setattr__
#: a state's weights, weights before, layers' rows and deltas' rows (:meth:`NetworkState.snapshot`)
Snapshot = tuple[list[Any], list[Any], dict[int, Any], dict[int, Any]]
#: The fields of each kind of step a ``step``-detail trace leaves out, which the state fills
#: in (:mod:`steptrace.trace.emitter`): a window of steps is read at once (the page's writer,
#: the literate view) only where they are left out.
LEFT_OUT = {"forward": ("layer_in",), "error": ("prediction", "goal"),
            "update": ("weight_delta", "weights"), "delta": ()}


def step_key(event: Event | StepLine) -> tuple[Any, ...]:
    """What decides how a step is shown (the page's recipe, the view's template) once the
    state knows every layer's output and delta, its left-out fields left out or given
    alike: its kind, layer, samples, nonlinearity, learning rule and whether it has a
    rule's details (a step line's class fixes them all)."""
    return (event.kind, event.layer, event.samples, getattr(event, "nonlinearity", None),
            getattr(event, "rule", None), getattr(event, "details", None) is not None)
#: An exact stochastic run's updates are filled in this many events at a time: what
#: complete_events reads ahead of its consumer.
CHUNK = 512


def _filled(event: Event, fields: dict[str, Any]) -> Event:
    """``event`` with ``fields`` filled in: ``event.model_copy(update=fields)``, without
    its bookkeeping (a trace has a million events)."""
    copied = _new(type(event))
    values = event.__dict__.copy()
    values.update(fields)
    _set(copied, "__dict__", values)
    _set(copied, "__pydantic_fields_set__", event.__pydantic_fields_set__ | fields.keys())
    _set(copied, "__pydantic_extra__", None)
    _set(copied, "__pydantic_private__", None)
    return copied


def _filled_in_place(event: Event, fields: dict[str, Any]) -> Event:
    """``event`` itself with ``fields`` filled in: for an event nobody else holds (one a
    :class:`~steptrace.trace.reader.TraceReader` just made, or a step line its
    :meth:`~steptrace.trace.reader.TraceReader.steps` made: its fields set)."""
    if event.__class__.__base__ is StepLine:  # (a struct: no __dict__)
        for name, value in fields.items():
            setattr(event, name, value)
        return event
    event.__dict__.update(fields)
    event.__pydantic_fields_set__.update(fields)
    return event


class LatestRows(Mapping[int, Array]):
    """Layer k's latest rows (an output or a delta) as a float64 array: kept as the event
    had them (``rows``) and made an array when first asked for."""

    def __init__(self) -> None:
        #: k: the latest rows, as an event holds them (or an array)
        self.rows: dict[int, Any] = {}
        self._arrays: dict[int, tuple[Any, Array]] = {}

    def __getitem__(self, k: int) -> Array:
        rows = self.rows[k]
        made = self._arrays.get(k)
        if made is not None and made[0] is rows:
            return made[1]
        array = rows if isinstance(rows, np.ndarray) else np.array(rows, dtype=np.float64)
        self._arrays[k] = (rows, array)
        return array

    def __setitem__(self, k: int, rows: Any) -> None:
        self.rows[k] = rows

    def __contains__(self, k: object) -> bool:
        return k in self.rows

    def __iter__(self) -> Iterator[int]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class NetworkState:
    """The network as it was at the latest event given to :meth:`complete`."""

    def __init__(self, header: Header, *, fresh: bool = False) -> None:
        """``fresh``: the events given to :meth:`complete` are held by nobody else (a
        reader's, as :func:`complete_events` reads them), and are filled in themselves."""
        config = header.config
        self.fill = _filled_in_place if fresh else _filled
        self.inputs, self.goals = training_data(config)
        #: weights[k] is weights_k_{k+1} now (after the latest update of it)
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        #: before[k]: weights_k_{k+1} before its latest update (the initial weights at first)
        self.before = list(self.weights)
        #: layer[k]: layer_k's latest output, layer[0] the latest step's input rows
        self.layer = LatestRows()
        #: delta[k]: layer_k_delta, the latest
        self.delta = LatestRows()
        self.mode = config.arithmetic
        self.dot = ARITHMETIC[config.arithmetic].dot
        self.ascent = config.ascent
        self.frozen = frozen_masks(config, [w.shape for w in self.weights])
        self.output = len(self.weights)
        #: samples: (their input rows, as an array and as an event's rows; their goal rows)
        self._batches: dict[tuple[int, ...], tuple[Array, Any, Any]] = {}

    def batch(self, samples: tuple[int, ...]) -> tuple[Array, Any, Any]:
        """The input rows of ``samples`` as an array and as an event's rows, and their
        goal rows as an event's (None without goals): made once for each batch."""
        found = self._batches.get(samples)
        if found is None:
            rows = list(samples)
            inputs = self.inputs[rows]
            found = (inputs, as_rows(inputs), None if self.goals is None else as_rows(self.goals[rows]))
            if len(self._batches) < 4096:  # (the batches a run has, not every shuffle)
                self._batches[samples] = found
        return found

    def snapshot(self) -> Snapshot:
        """The state now, to :meth:`restore` after trying to move it at once."""
        return (list(self.weights), list(self.before), dict(self.layer.rows),
                dict(self.delta.rows))

    def restore(self, saved: Snapshot) -> None:
        """The state as ``saved`` (:meth:`snapshot`) had it, in the same lists and dicts
        (readers hold them)."""
        self.weights[:], self.before[:] = saved[0], saved[1]
        self.layer.rows.clear()
        self.layer.rows.update(saved[2])
        self.delta.rows.clear()
        self.delta.rows.update(saved[3])

    def _moved(self, layer: dict[int, Any], delta: dict[int, Any], event: Event) -> None:
        """``layer`` and ``delta`` (rows by layer) past ``event``, as :meth:`complete` moves
        the state's (an update moves the weights only)."""
        kind = event.kind
        if kind == "forward":
            k = event.layer
            if k == 1:
                given = event.layer_in  # type: ignore[union-attr]
                layer[0] = self.batch(event.samples)[0] if given is None else given
            layer[k] = event.layer_out  # type: ignore[union-attr]
        elif kind == "delta":
            delta[event.layer] = event.delta  # type: ignore[union-attr]

    def back(self, k: int) -> Array:
        """What layer k's delta comes back through: ``layer_{k+1}_delta · weights_k_{k+1}ᵀ``
        (before the derivative), with the weights the step had (its updates come later)."""
        with np.errstate(all="ignore"):  # (inf and NaN as the run had them, without a warning)
            return back(self.dot, self.delta[k + 1], self.weights[k])

    def complete(self, event: Event) -> Event:
        """``event`` with every derivable field filled in; the state moves past it."""
        kind = event.kind
        if kind == "forward":
            k, given = event.layer, event.layer_in  # type: ignore[union-attr]
            layer = self.layer.rows
            if k == 1:
                layer[0] = self.batch(event.samples)[0] if given is None else given
            layer[k] = event.layer_out  # type: ignore[union-attr]
            if given is None and k - 1 in layer:
                previous = layer[k - 1]
                return self.fill(event, {"layer_in": self.batch(event.samples)[1] if k == 1
                                       else previous})
        elif kind == "error":
            fields = {}
            if event.prediction is None and self.output in self.layer.rows:  # type: ignore[union-attr]
                fields["prediction"] = self.layer.rows[self.output]
                if isinstance(fields["prediction"], np.ndarray):
                    fields["prediction"] = as_rows(fields["prediction"])
            if event.goal is None and self.goals is not None:  # type: ignore[union-attr]
                fields["goal"] = self.batch(event.samples)[2]
            return self.fill(event, fields) if fields else event
        elif kind == "delta":
            self.delta.rows[event.layer] = event.delta  # type: ignore[union-attr]
        elif kind == "update":
            return self._update(event)  # type: ignore[arg-type]
        return event

    def _update(self, event: UpdateEvent) -> Event:
        k = event.layer
        self.before[k - 1] = self.weights[k - 1]
        if event.weights is not None:  # an `all`-detail trace: take its numbers as they are
            self.weights[k - 1] = np.array(event.weights, dtype=np.float64)
            return event
        # (a run that diverged overflowed here too, as the run did, without a warning)
        with np.errstate(all="ignore"):
            if event.weight_delta is not None:
                change = np.array(event.weight_delta, dtype=np.float64)
            elif k - 1 in self.layer and k in self.delta:
                change = weight_delta(self.dot, self.layer[k - 1], self.delta[k])
            else:  # nothing to derive it from (a damaged or partial trace): leave it out
                return event
            self.weights[k - 1] = self.weights[k - 1].copy()  # (``before`` keeps the old one)
            update(self.weights[k - 1], change, event.alpha, self.ascent, self.frozen[k - 1])
        return self.fill(event, {"weight_delta": as_rows(change),
                               "weights": as_rows(self.weights[k - 1])})

    # -- a pass at a time (complete_events, stepped) -------------------------------------

    def stepped(self, events: Iterable[Event]) -> Iterator[Event]:
        """Each of ``events`` complete, the state just past it when it comes (as
        :meth:`complete` leaves it: a reader of the state at every event, as the page's
        writer is), read ``CHUNK`` events ahead: where every update of a chunk is an exact
        run's single-sample gradient-descent step, their weights are worked out at once
        (as :meth:`complete_all` works them out), and each update then only puts its
        weights in place. The events before a damaged line come before its error."""
        chunk: list[Event] = []
        try:
            for event in events:
                chunk.append(event)
                if len(chunk) >= CHUNK:
                    ready, chunk = chunk, []
                    yield from self._stepped(ready)
        except BaseException as error:  # (the reader's: the events read before it come first)
            if isinstance(error, GeneratorExit):
                raise
            yield from map(self.complete, chunk)
            raise
        yield from self._stepped(chunk)

    def _stepped(self, events: list[Event]) -> Iterator[Event]:
        worked = self._worked_out(events)
        if worked is None:
            yield from map(self.complete, events)
            return
        complete, fill, weights, before = self.complete, self.fill, self.weights, self.before
        for i, event in enumerate(events):
            found = worked.get(i)
            if found is None:
                yield complete(event)
                continue
            k, after, rows_change, rows_after = found
            before[k - 1] = weights[k - 1]
            weights[k - 1] = after
            yield fill(event, {"weight_delta": rows_change, "weights": rows_after})

    def timeline(self, events: Sequence[Event], where: Mapping[tuple[str, int], Sequence[int]]
                 ) -> Timeline | None:
        """The state after each of ``events``, in bulk (:class:`Timeline`), the state moved
        past them (as :meth:`complete` of each would move it: the same bits); ``where``:
        the indices of each kind of step that moves the state, in order, by ``(kind,
        layer)`` (``forward``, ``delta``, ``update``; the other kinds move nothing). For an
        exact run's chunk whose every step is of one sample and whose updates are gradient
        descent's with their fields left out (as a ``step``-detail trace has them), once
        every layer's output and delta are known; None for any other, the state not moved
        (an event at a time does it)."""
        layers = len(self.weights)
        if (self.mode != "exact" or len(self.layer.rows) != layers + 1
                or len(self.delta.rows) != layers):
            return None
        sizes = [w.shape[0] for w in self.weights] + [self.weights[-1].shape[1]]
        found = Timeline()
        firsts = [events[i] for i in where.get(("forward", 1), ())]
        try:
            found.slots[("layer", 0)] = _slot(where.get(("forward", 1), ()), [
                event.layer_in if event.layer_in is not None  # type: ignore[union-attr]
                else self.batch(event.samples)[1] for event in firsts], self.layer[0], sizes[0])
            for k in range(1, layers + 1):
                at = where.get(("forward", k), ())
                found.slots[("layer", k)] = _slot(
                    at, [events[i].layer_out for i in at], self.layer[k], sizes[k])  # type: ignore[union-attr]
                at = where.get(("delta", k), ())
                found.slots[("delta", k)] = _slot(
                    at, [events[i].delta for i in at], self.delta[k], sizes[k])  # type: ignore[union-attr]
        except ValueError:  # (a step of several samples, a ragged matrix: an event at a time)
            return None
        updates = {k: [events[i] for i in where[("update", k)]] for k in range(1, layers + 1)
                   if where.get(("update", k))}
        if any(event.weights is not None or event.weight_delta is not None  # type: ignore[union-attr]
               or event.rule is not None for made in updates.values() for event in made):  # type: ignore[union-attr]
            return None
        with np.errstate(all="ignore"):  # (a run that diverged overflowed here too)
            for j in range(layers):
                spots = np.asarray(where.get(("update", j + 1), ()), dtype=np.intp)
                before = self.before[j]
                if not len(spots):
                    found.slots[("weights", j)] = (spots, self.weights[j][np.newaxis])
                    found.slots[("before", j)] = (spots, np.asarray(before)[np.newaxis])
                    continue
                ins = found.at(("layer", j), spots)[:, 0]  # (each update's one row of layer_j and
                deltas = found.at(("delta", j + 1), spots)[:, 0]  # of its delta, as the step had)
                changes, weights = self._updated(j + 1, ins, deltas, np.array(
                    [event.alpha for event in updates[j + 1]], dtype=np.float64))  # type: ignore[union-attr]
                found.slots[("weights", j)] = (spots, weights)
                found.slots[("before", j)] = (spots, np.concatenate(
                    [np.asarray(before)[np.newaxis], weights[:-1]]))
                found.changes[j + 1] = changes
        # the state past the chunk: each layer's and delta's last rows, as the events hold them
        for k in range(1, layers + 1):
            if at := where.get(("forward", k), ()):
                self.layer.rows[k] = events[at[-1]].layer_out  # type: ignore[union-attr]
            if at := where.get(("delta", k), ()):
                self.delta.rows[k] = events[at[-1]].delta  # type: ignore[union-attr]
        if firsts:
            last = firsts[-1]
            self.layer.rows[0] = (last.layer_in if last.layer_in is not None  # type: ignore[union-attr]
                                  else self.batch(last.samples)[0])
        return found

    def _worked_out(self, events: list[Event]) -> dict[int, tuple[int, Any, Any, Any]] | None:
        """Where each update of ``events`` is (its index): its layer, the weights after it
        (an array), its weight_delta and those weights as an event's rows, worked out at once from the
        state now; None where one is not an exact run's single-sample gradient-descent
        step whose fields the trace left out (that chunk is completed event by event)."""
        if self.mode != "exact":
            return None
        layer, delta = dict(self.layer.rows), dict(self.delta.rows)  # (the state is not moved)
        found: dict[int, list[tuple[int, Any, Any]]] = {}  # k: (where, layer_{k-1}, delta)
        for i, event in enumerate(events):
            if event.kind != "update":
                self._moved(layer, delta, event)
            else:
                k = event.layer
                rows_in, rows_delta = layer.get(k - 1), delta.get(k)
                if (rows_in is None or rows_delta is None or len(rows_in) != 1 or len(rows_delta) != 1
                        or event.weights is not None
                        or event.weight_delta is not None
                        or event.rule is not None):
                    return None
                found.setdefault(k, []).append((i, rows_in[0], rows_delta[0]))
        worked: dict[int, tuple[int, Any, Any, Any]] = {}
        weights, before = list(self.weights), list(self.before)  # (put back: the events
        # put each update's in place as they come)
        try:
            with np.errstate(all="ignore"):  # (a run that diverged overflowed here too)
                for k, updates in found.items():
                    changes, after = self._updates(k, updates, events)
                    rows_changes, rows_after = changes.tolist(), after.tolist()
                    for m, (i, _, _) in enumerate(updates):
                        worked[i] = (k, after[m + 1],
                                     tuple(map(tuple, rows_changes[m])),
                                     tuple(map(tuple, rows_after[m + 1])))
        finally:
            self.weights[:], self.before[:] = weights, before  # (the same lists: readers hold them)
        return worked

    # -- a pass at a time (complete_events) ----------------------------------------------

    def complete_all(self, events: list[Event]) -> list[Event]:
        """``[self.complete(e) for e in events]``, the same events and the same state
        after them; an exact run's gradient-descent updates of single-sample steps
        filled in at once, each weight matrix's in turn."""
        return self._through(events, None)

    def weights_after(self, events: Sequence[Event | StepLine]) -> dict[int, Array]:
        """Move the state past ``events`` (as :meth:`complete_all` does) and say, for each
        layer k updated among them, ``weights_{k-1}_k`` after each of its updates, in order
        (an array of them); the events' own fields are not filled in (``plot``'s way). The
        steps may be a reader's :class:`StepLine` s (:meth:`TraceReader.steps`): their
        fields are read as the events' are."""
        after: dict[int, list[Array]] = {}
        self._through(events, after)
        return {k: np.concatenate(stacks) for k, stacks in after.items()}

    def _through(self, events: Sequence[Event | StepLine],
                 after: dict[int, list[Array]] | None) -> list[Event]:
        """The events complete (``after`` None) or, into ``after``, the weights after each
        update (k: arrays of them, in order; nothing is returned); the state past them
        either way. (Step lines, from :meth:`weights_after`, are made events where one is
        completed.)"""
        def made(event: Event | StepLine) -> Event:
            return self.complete(event.event() if isinstance(event, StepLine) else event)

        complete: Callable[[Event | StepLine], Event] = (  # (complete_all's are events)
            made if after is not None else self.complete)  # type: ignore[assignment]

        if self.mode != "exact":
            if after is None:
                return [complete(event) for event in events]
            for event in events:
                complete(event)
                if event.kind == "update":
                    after.setdefault(event.layer, []).append(self.weights[event.layer - 1][np.newaxis])
            return []
        done: list[Any] = []
        updates: dict[int, list[tuple[int, Any, Any]]] = {}  # k: (where, layer_{k-1}, delta)
        layer, delta = self.layer.rows, self.delta.rows
        for event in events:
            kind = event.kind
            if kind != "update":
                if after is None:
                    done.append(complete(event))
                    continue
                done.append(event)  # (the state alone moves, as complete() moves it)
                self._moved(layer, delta, event)  # type: ignore[arg-type]
                continue
            k = event.layer
            rows_in, rows_delta = layer.get(k - 1), delta.get(k)
            if (rows_in is None or rows_delta is None or len(rows_in) != 1 or len(rows_delta) != 1
                    or event.weights is not None  # type: ignore[union-attr]
                    or event.weight_delta is not None):  # type: ignore[union-attr]
                self._flush(updates, done, after)  # (the updates before it first, in order)
                updates = {}
                done.append(complete(event))
                if after is not None:
                    after.setdefault(k, []).append(self.weights[k - 1][np.newaxis])
            else:
                updates.setdefault(k, []).append((len(done), rows_in[0], rows_delta[0]))
                done.append(event)
        self._flush(updates, done, after)
        return done

    def _flush(self, updates: dict[int, list[tuple[int, Any, Any]]], done: list[Any],
               after: dict[int, list[Array]] | None) -> None:
        with np.errstate(all="ignore"):  # (a run that diverged overflowed here too)
            for k, found in updates.items():
                changes, weights = self._updates(k, found, done)
                if after is not None:
                    after.setdefault(k, []).append(weights[1:])
                    continue
                deltas_rows, weights_rows = changes.tolist(), weights.tolist()
                for i, (where, _, _) in enumerate(found):
                    done[where] = self.fill(done[where], {
                        "weight_delta": tuple(map(tuple, deltas_rows[i])),
                        "weights": tuple(map(tuple, weights_rows[i + 1]))})

    def _updates(self, k: int, found: list[tuple[int, Any, Any]], done: list[Any]) -> tuple[Array, Array]:
        """The updates of ``weights_{k-1}_k`` at ``found`` (where each is in ``done``, its
        layer_{k-1} row and its delta row), in order: each one's weight_delta, and the
        weights before the first and after each; the state moved on past them."""
        ins = np.array([row[1] for row in found], dtype=np.float64)
        deltas = np.array([row[2] for row in found], dtype=np.float64)
        alphas = np.array([done[where].alpha for where, _, _ in found], dtype=np.float64)
        return self._updated(k, ins, deltas, alphas)

    def _updated(self, k: int, ins: Array, deltas: Array, alphas: Array) -> tuple[Array, Array]:
        """:meth:`_updates` of the updates' rows of layer_{k-1} and deltas (one an update,
        in order) and alphas, as arrays."""
        # weight_delta = layer_{k-1}ᵀ · layer_k_delta of one row each: an outer product,
        # one multiplication a number (exact_dot's own way for it), for every update at once
        changes = ins[:, :, np.newaxis] * deltas[:, np.newaxis, :]
        frozen = self.frozen[k - 1]
        if frozen is not None:
            changes[:, frozen] = 0.0
        steps = alphas[:, np.newaxis, np.newaxis] * changes  # (alpha times each product, as update())
        steps = np.concatenate([self.weights[k - 1][np.newaxis], steps])
        # one update after another: weights - step (+ in the ascent form), each in turn
        weights = (np.add if self.ascent else np.subtract).accumulate(steps, axis=0)
        self.before[k - 1] = weights[-2]
        self.weights[k - 1] = weights[-1]
        return changes, weights


def stacked(rows: Sequence[Any], shape: tuple[int, int]) -> Array:
    """Matrices of one ``shape`` (rows of numbers, as events hold them, or arrays) as one
    float64 array, (len(rows), *shape): rows of numbers through one ``np.fromiter``, some
    3× sooner than ``np.array``. ValueError when one is of another shape."""
    count = len(rows) * shape[0] * shape[1]
    if rows and type(rows[0]) is tuple:
        try:
            return np.fromiter(chain.from_iterable(chain.from_iterable(rows)), dtype=np.float64,
                               count=count).reshape(len(rows), *shape)
        except ValueError:  # (more or fewer numbers than that: said below)
            pass
    array = np.array(rows, dtype=np.float64) if rows else np.empty((0, *shape))
    if array.shape != (len(rows), *shape):
        raise ValueError(f"matrices not all of shape {shape}")
    return array


def _slot(at: Sequence[int], rows: list[Any], start: Array, size: int) -> tuple[Any, Array]:
    """A slot of a :class:`Timeline`: where it is set, and its value before the chunk
    (``start``: an array of one row) and then (``rows``: each one row of ``size``)."""
    if start.shape != (1, size):
        raise ValueError("not one row")
    return (np.asarray(at, dtype=np.intp),
            np.concatenate([start[np.newaxis], stacked(rows, (1, size))]))


class Timeline:
    """The state after each event of a chunk, in bulk (:meth:`NetworkState.timeline`): for
    each slot, ``("layer", k)`` (layer k's latest output; layer 0's, the latest step's
    input rows), ``("delta", k)``, ``("weights", j)`` (``weights_j_{j+1}``) and
    ``("before", j)`` (those weights before their latest update), where in the chunk it
    was set (the events' indices, in order) and its value then, its value before the chunk
    first; and each update's weight_delta (``changes[k]``, those of ``weights_{k-1}_k`` in
    order)."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, int], tuple[Any, Array]] = {}  # (indices: intp)
        self.changes: dict[int, Array] = {}

    def at(self, slot: tuple[str, int], where: Any) -> Array:
        """The slot's values just after the events at ``where`` (indices into the chunk,
        ascending or not; -1: before the chunk), one a row of the array."""
        positions, values = self.slots[slot]
        return values[np.searchsorted(positions, where, side="right")]  # type: ignore[no-any-return]


def complete_events(header: Header, events: Iterable[Event]) -> Iterator[Event]:
    """The events with every derivable field filled in, in order (read ``CHUNK`` events
    ahead; the events before a damaged line come before its error)."""
    state = NetworkState(header, fresh=isinstance(events, TraceReader))  # (its events: ours)
    chunk: list[Event] = []
    reading = True
    try:
        for event in events:
            chunk.append(event)
            if len(chunk) >= CHUNK:
                reading = False
                yield from state.complete_all(chunk)
                chunk, reading = [], True
    except BaseException as error:  # (the reader's: the events read before it come first)
        if not reading or isinstance(error, GeneratorExit):
            raise
        yield from map(state.complete, chunk)
        raise
    yield from state.complete_all(chunk)


def walk(header: Header, events: Iterable[Event]) -> Iterator[tuple[Event, NetworkState]]:
    """Each event, complete, with the network's state just after it (the same object,
    moved on at each step: read it before asking for the next)."""
    state = NetworkState(header)
    for event in events:
        yield state.complete(event), state
