"""The reading core: what is filled in (trace.state) is the bits the one-event-at-a-time
derivation gave, however it is worked out, and the fast check of event lines (trace.reader's
FastCheck) takes exactly the lines the full check takes, as the same events, and leaves the
rest to it (its messages unchanged)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from steptrace.engine.arithmetic import ARITHMETIC
from steptrace.engine.formulas import update, weight_delta
from steptrace.engine.network import frozen_masks, training_data
from steptrace.errors import TraceFormatError
from steptrace.trace import consistency
from steptrace.trace import state as state_module
from steptrace.trace.consistency import StepLine
from steptrace.trace.events import EVENT_CLASSES, Event, UpdateEvent, as_rows, to_json
from steptrace.trace.header import Header
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.trace.state import NetworkState, complete_events, walk
from tests.conftest import TRACES, RunCli

GOLDEN = sorted(TRACES.glob("*.jsonl"))


class ReferenceState:
    """The derivation as it was written before the fast path (model_copy, numpy arrays at
    every event): what the fast one is held to, bit for bit."""

    def __init__(self, header: Header) -> None:
        config = header.config
        self.inputs, self.goals = training_data(config)
        self.weights = [np.array(w, dtype=np.float64) for w in header.initial_weights]
        self.before = list(self.weights)
        self.layer: dict[int, Any] = {}
        self.delta: dict[int, Any] = {}
        self.dot = ARITHMETIC[config.arithmetic].dot
        self.ascent = config.ascent
        self.frozen = frozen_masks(config, [w.shape for w in self.weights])
        self.output = len(self.weights)

    def complete(self, event: Any) -> Any:
        rows = list(event.samples)
        if event.kind == "forward":
            k = event.layer
            if k == 1:
                self.layer[0] = (self.inputs[rows] if event.layer_in is None
                                 else np.array(event.layer_in, dtype=np.float64))
            self.layer[k] = np.array(event.layer_out, dtype=np.float64)
            if event.layer_in is None and k - 1 in self.layer:
                return event.model_copy(update={"layer_in": as_rows(self.layer[k - 1])})
        elif event.kind == "error":
            fields = {}
            if event.prediction is None and self.output in self.layer:
                fields["prediction"] = as_rows(self.layer[self.output])
            if event.goal is None and self.goals is not None:
                fields["goal"] = as_rows(self.goals[rows])
            return event.model_copy(update=fields) if fields else event
        elif event.kind == "delta":
            self.delta[event.layer] = np.array(event.delta, dtype=np.float64)
        elif event.kind == "update":
            k = event.layer
            self.before[k - 1] = self.weights[k - 1]
            if event.weights is not None:
                self.weights[k - 1] = np.array(event.weights, dtype=np.float64)
                return event
            with np.errstate(all="ignore"):
                if event.weight_delta is not None:
                    change = np.array(event.weight_delta, dtype=np.float64)
                elif k - 1 in self.layer and k in self.delta:
                    change = weight_delta(self.dot, self.layer[k - 1], self.delta[k])
                else:
                    return event
                self.weights[k - 1] = self.weights[k - 1].copy()
                update(self.weights[k - 1], change, event.alpha, self.ascent, self.frozen[k - 1])
            return event.model_copy(update={"weight_delta": as_rows(change),
                                            "weights": as_rows(self.weights[k - 1])})
        return event


def same(a: Any, b: Any) -> bool:
    """The same event: class, fields given, every number's bits (JSON keeps -0.0 and NaN)."""
    return (type(a) is type(b) and to_json(a) == to_json(b) and repr(a) == repr(b)
            and a.__pydantic_fields_set__ == b.__pydantic_fields_set__)


def bits(array: Any) -> bytes:
    return np.asarray(array, dtype=np.float64).tobytes()


def events_of(path: Path) -> tuple[Header, list[Event]]:
    with open_trace(path) as trace:
        return trace.header, list(trace)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Traces the golden ones are not: blas arithmetic, all detail, a run gone to inf and NaN."""
    from click.testing import CliRunner

    from steptrace.cli import cli

    folder = tmp_path_factory.mktemp("traces")
    made = []
    for name, args in [("backprop-blas", ["ch06-streetlights-backprop", "--arithmetic", "blas"]),
                       ("minibatch-blas", ["streetlights-minibatch", "--arithmetic", "blas"]),
                       ("all-detail", ["ch06-streetlights-backprop", "--detail", "all"])]:
        path = folder / f"{name}.jsonl"
        result = CliRunner().invoke(cli, ["record", *args, "-o", str(path)],
                                    env={"STEPTRACE_PLUGINS": ""})
        assert result.exit_code == 0, result.output
        made.append(path)
    shown = CliRunner().invoke(cli, ["experiments", "--show", "ch04-breaking-gd-diverge"],
                               env={"STEPTRACE_PLUGINS": ""}).stdout
    experiment = folder / "diverging.toml"  # (1000 passes: its error reaches inf, its weights NaN)
    experiment.write_text(shown.replace("iterations = 20", "iterations = 1000"))
    path = folder / "diverging.jsonl"
    result = CliRunner().invoke(cli, ["record", str(experiment), "-o", str(path)],
                                env={"STEPTRACE_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    return [*made, path]


def test_the_golden_traces_are_there() -> None:
    assert len(GOLDEN) >= 30


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_complete_events_fills_in_the_bits_one_event_at_a_time_gave(path: Path) -> None:
    header, events = events_of(path)
    reference = ReferenceState(header)
    expected = [reference.complete(event) for event in events]
    found = list(complete_events(header, events))
    assert len(found) == len(expected) == len(events)
    assert all(same(a, b) for a, b in zip(found, expected, strict=True))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_walk_keeps_the_state_it_kept(path: Path) -> None:
    header, events = events_of(path)
    reference = ReferenceState(header)
    for (event, state), original in zip(walk(header, events), events, strict=True):
        assert same(event, reference.complete(original))
        assert [bits(w) for w in state.weights] == [bits(w) for w in reference.weights]
        assert [bits(w) for w in state.before] == [bits(w) for w in reference.before]
        assert sorted(state.layer) == sorted(reference.layer)
        assert all(bits(state.layer[k]) == bits(reference.layer[k]) for k in reference.layer)
        assert all(bits(state.delta[k]) == bits(reference.delta[k]) for k in reference.delta)


def _state_bits(state: Any) -> tuple[Any, ...]:
    return ([bits(w) for w in state.weights], [bits(w) for w in state.before],
            {k: bits(state.layer[k]) for k in state.layer},
            {k: bits(state.delta[k]) for k in state.delta})


@pytest.mark.parametrize("chunk", [1, 3, 512])
def test_stepped_keeps_the_state_complete_keeps_at_every_event(
        chunk: int, recorded: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's way (NetworkState.stepped: a chunk's updates worked out at once, each put
    in place as its event comes): every event complete as complete() makes it, and the
    state just past each event, when it comes, the bits complete() leaves, read as events
    and as the reader's step lines (filled in themselves); the lists of weights are the
    state's own (the page's recipes hold them)."""
    monkeypatch.setattr(state_module, "CHUNK", chunk)
    for path in [*recorded, *GOLDEN]:
        header, events = events_of(path)
        reference = ReferenceState(header)
        state = NetworkState(header)
        weights, before = state.weights, state.before
        for event, original in zip(state.stepped(events), events, strict=True):
            assert same(event, reference.complete(original)), path
            assert _state_bits(state) == _state_bits(reference), path
        assert state.weights is weights and state.before is before
        with open_trace(path) as reader:
            steps = NetworkState(reader.header, fresh=True)
            again = ReferenceState(header)
            for step, original in zip(steps.stepped(cast("Iterator[Event]",
                                                         reader.steps(("epoch_end",)))),
                                      events, strict=True):
                made = step.event() if isinstance(step, StepLine) else step
                assert to_json(made) == to_json(again.complete(original)), path
                assert _state_bits(steps) == _state_bits(again), path


@pytest.mark.parametrize("chunk", [1, 7, 100, 2048])
def test_a_timeline_is_the_state_complete_leaves_after_every_event(
        chunk: int, recorded: list[Path]) -> None:
    """NetworkState.timeline (the page's writer's at-once way): once every layer's output
    and delta are known, each slot's value after every event of a chunk is the bits
    complete() leaves, each update's weight_delta the one it fills in, and the state after
    the chunk complete()'s; a chunk it cannot take (blas, a batch, a rule's update, a field
    given) is None and moves nothing."""
    taken = 0
    for path in [*recorded, *GOLDEN]:
        header, events = events_of(path)
        reference, state = ReferenceState(header), NetworkState(header)
        at = 0
        layers = len(state.weights)
        while at < len(events) and (len(state.layer.rows) != layers + 1
                                    or len(state.delta.rows) != layers):
            state.complete(events[at])
            reference.complete(events[at])
            at += 1
        while at < len(events):
            part = events[at:at + chunk]
            where: dict[tuple[str, int], list[int]] = {}
            for i, event in enumerate(part):
                if event.kind in ("forward", "delta", "update"):
                    where.setdefault((event.kind, event.layer), []).append(i)
            before = _state_bits(state)
            timeline = state.timeline(part, where)
            if timeline is None:
                assert _state_bits(state) == before, path
                for event in part:
                    state.complete(event)
                    reference.complete(event)
            else:
                taken += 1
                for i, event in enumerate(part):
                    done = reference.complete(event)
                    assert [bits(timeline.at(("weights", j), i)) for j in range(layers)] \
                        == [bits(w) for w in reference.weights], path
                    assert [bits(timeline.at(("before", j), i)) for j in range(layers)] \
                        == [bits(w) for w in reference.before], path
                    assert {k: bits(timeline.at(("layer", k), i)) for k in reference.layer} \
                        == {k: bits(reference.layer[k]) for k in reference.layer}, path
                    assert {k: bits(timeline.at(("delta", k), i)) for k in reference.delta} \
                        == {k: bits(reference.delta[k]) for k in reference.delta}, path
                    if isinstance(done, UpdateEvent):
                        m = where[("update", done.layer)].index(i)
                        assert bits(timeline.changes[done.layer][m]) == bits(done.weight_delta)
                assert _state_bits(state) == _state_bits(reference), path
            at += chunk
    assert taken >= (3 if chunk == 2048 else 20)


def test_blas_all_detail_and_small_chunks(recorded: list[Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "CHUNK", 3)  # (a pass cut into pieces)
    for path in [*recorded, TRACES / "ch06-streetlights-backprop.jsonl"]:
        header, events = events_of(path)
        reference = ReferenceState(header)
        expected = [reference.complete(event) for event in events]
        assert all(same(a, b) for a, b in zip(complete_events(header, events), expected,
                                              strict=True)), path


def test_the_diverging_run_keeps_its_infinities_and_nans(recorded: list[Path]) -> None:
    header, events = events_of(recorded[-1])
    found = list(complete_events(header, events))
    weights = [np.array(event.weights) for event in found if isinstance(event, UpdateEvent)]
    assert np.isfinite(weights[0]).all() and np.isnan(weights[-1]).all()
    assert any(event.kind == "error" and np.isinf(event.error) for event in found)
    reference = ReferenceState(header)
    assert all(same(a, reference.complete(b)) for a, b in zip(found, events, strict=True))


def test_a_pass_filled_at_once_matches_every_update_of_the_backprop_run() -> None:
    """The ch. 6 run's 60 passes: the last weights are the run's, to the bit."""
    header, events = events_of(TRACES / "ch06-streetlights-backprop.jsonl")
    state = NetworkState(header)
    for chunk in _passes(events):
        state.complete_all(chunk)
    reference = ReferenceState(header)
    for event in events:
        reference.complete(event)
    assert [bits(w) for w in state.weights] == [bits(w) for w in reference.weights]
    assert [bits(w) for w in state.before] == [bits(w) for w in reference.before]
    assert state.weights[1][0, 0] == reference.weights[1][0, 0]


def _weights_after_each_update(header: Header, events: list[Event] | list[Event | StepLine],
                               chunk: int) -> tuple[dict[int, list[bytes]], NetworkState]:
    state, found = NetworkState(header), dict[int, list[bytes]]()
    for at in range(0, len(events), chunk):
        for k, after in state.weights_after(events[at:at + chunk]).items():
            found.setdefault(k, []).extend(bits(w) for w in after)
    return found, state


@pytest.mark.parametrize("chunk", [1, 3, 512])
def test_the_weights_after_each_update_are_those_complete_fills_in(
        chunk: int, recorded: list[Path]) -> None:
    """plot's way (the weights alone, a chunk at a time): the bits of every update's
    weights, in order, as the events filled in one at a time have them, and the state after."""
    for path in [*recorded, *GOLDEN]:
        header, events = events_of(path)
        reference = ReferenceState(header)
        expected: dict[int, list[bytes]] = {}
        for event in events:
            event = reference.complete(event)
            if isinstance(event, UpdateEvent) and event.weights is not None:
                expected.setdefault(event.layer, []).append(bits(np.array(event.weights)))
        found, state = _weights_after_each_update(header, events, chunk)
        assert found == expected, path
        assert [bits(w) for w in state.weights] == [bits(w) for w in reference.weights], path
        with open_trace(path) as reader:  # (plot's reading: the steps, most as step lines)
            steps = list(reader.steps(("epoch_end",)))
        found, state = _weights_after_each_update(header, steps, chunk)
        assert found == expected, path
        assert [bits(w) for w in state.weights] == [bits(w) for w in reference.weights], path
    header, events = events_of(TRACES / "ch06-streetlights-backprop.jsonl")
    found, _ = _weights_after_each_update(header, events, chunk)
    assert {k: len(after) for k, after in found.items()} == {1: 240, 2: 240}  # (60 passes of 4)


def test_a_step_line_is_its_event(recorded: list[Path]) -> None:
    """TraceReader.steps: every step in order, those the step check took as step lines,
    each of which is, made an event, the event reading every event makes, byte for byte."""
    for path in [*recorded, *GOLDEN]:
        with open_trace(path) as reader, open_trace(path) as again:
            events, steps = list(reader), list(again.steps(("epoch_end",)))
        assert len(steps) == len(events), path
        lines = [step for step in steps if isinstance(step, StepLine)]
        # (of each pass that repeats the last one's steps; a NaN, a string in JSON, is left
        # to the fast check: the diverging run's later passes)
        if path.name == "ch06-streetlights-backprop.jsonl":
            assert len(lines) == len(events) - 2 * 29 - 58, path  # (all but passes 0-1 and the ends)
        assert all(step.kind != "epoch_end" for step in lines)
        assert [to_json(step.event() if isinstance(step, StepLine) else step) for step in steps] \
            == [to_json(event) for event in events], path


def _passes(events: list[Event]) -> Iterator[list[Event]]:
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if event.kind == "epoch_end":
            yield chunk
            chunk = []


@pytest.mark.parametrize("way", ["complete_events", "stepped"])
def test_the_events_before_a_damaged_line_come_before_its_error(way: str, tmp_path: Path) -> None:
    lines = (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes().splitlines(keepends=True)
    lines[12] = b'{"seq": 11, "kind": "nonsense"}\n'  # (in the middle of the first pass)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    seen = []
    with open_trace(bad) as trace, pytest.raises(TraceFormatError, match=r"bad\.jsonl:13: bad event"):
        completed = (complete_events(trace.header, trace) if way == "complete_events"
                     else NetworkState(trace.header, fresh=True).stepped(trace))
        for event in completed:
            seen.append(event)
    assert [event.seq for event in seen] == list(range(11))
    assert isinstance(seen[5], UpdateEvent) and seen[5].weights is not None  # (filled in)


# -- the fast check of event lines -------------------------------------------------------------


def _refused(raw: bytes) -> Any:
    raise ValueError("the fast check is off")


def _outcome(lines: list[bytes], fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each event read (as JSON, its class and fields given) and the error, if any."""
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(consistency.FastCheck, "validator", lambda self, rows: _refused)
        reader = TraceReader(io.BytesIO(b"".join(lines)), "t.jsonl")
        found: list[Any] = []
        try:
            for event in reader:
                found.append((type(event).__name__, to_json(event), sorted(event.__pydantic_fields_set__)))
            found.append(("end", reader.end))
            # parse() too, as replay reads lines
            reader = TraceReader(io.BytesIO(b"".join(lines)), "t.jsonl")
            for _ in range(len(lines) - 2):
                line = reader.parse(reader.next_raw())
                found.append((type(line).__name__, to_json(line)))
        except TraceFormatError as error:
            found.append(str(error))
    return found


def _edits() -> list[tuple[str, int, Any]]:
    """(field, line, new value) — each one line changed; None removes the field."""
    return [
        ("nonlinearity", 1, "linear"), ("nonlinearity", 1, "\x1b[2J" + "A" * 100),
        ("nonlinearity", 4, 1), ("layer", 1, True), ("layer", 1, 1.0), ("layer", 1, 3),
        ("layer", 1, 0), ("layer", 3, 1), ("seq", 1, 0.0), ("seq", 1, True), ("seq", 1, 5),
        ("seq", 1, -1), ("epoch", 1, 1e3), ("epoch", 1, 60), ("epoch", 1, -1), ("epoch", 1, "0"),
        ("samples", 1, []), ("samples", 1, [4]), ("samples", 1, [True]), ("samples", 1, [0.0]),
        ("samples", 1, [0, 1]), ("samples", 1, 0), ("weighted_sum", 1, [[1, 2, 3, 4]]),
        ("weighted_sum", 1, [[1.0, 2.0, 3.0]]), ("weighted_sum", 1, [[1.0, 2.0, 3.0, 4.0]] * 2),
        ("weighted_sum", 1, [[1.0, 2.0, 3.0, "NaN"]]), ("weighted_sum", 1, [[1.0, 2.0, 3.0, "1"]]),
        ("weighted_sum", 1, [[1.0, 2.0, 3.0, True]]), ("weighted_sum", 1, [[1.0, 2.0, 3.0, None]]),
        ("weighted_sum", 1, [[1e400, -1e400, 3.0, 0.0]]), ("weighted_sum", 1, {"shape": [1, 4]}),
        ("weighted_sum", 1, [1.0, 2.0, 3.0, 4.0]), ("weighted_sum", 1, None),
        ("layer_in", 1, [[1.0, 0.0, 1.0]]), ("layer_in", 1, [[1.0, 0.0]]), ("layer_in", 1, None),
        ("extra", 1, 1), ("kind", 1, "end"), ("kind", 1, None), ("kind", 1, "checkpoint"),
        ("error", 3, "NaN"), ("error", 3, 1), ("error", 3, True), ("error", 3, None),
        ("prediction", 3, [[0.5]]), ("goal", 3, [[1.0], [0.0]]), ("layer", 3, 2),
        ("alpha", 6, 0.2), ("alpha", 6, 0.3), ("alpha", 6, 0.2000000000000001), ("alpha", 6, "0.2"),
        ("rule", 6, None), ("rule", 6, "momentum"), ("details", 6, {"x": 1.0}),
        ("weights", 6, [[0.0], [0.0], [0.0], [0.0]]), ("weights", 6, [[0.0]]),
        ("weight_delta", 7, [[0.0] * 4] * 3), ("derivative", 4, [[1.0, 0.0]]),
        ("delta", 5, [[0.0, 0.0, 0.0, 0.0]]), ("delta", 5, [[0.0, 0.0, 0.0, 0]]),
        ("test_error", 29, 1.0), ("test_error", 29, None), ("error", 29, None), ("error", 29, "x"),
        ("samples", 29, [0, 1, 2, 3]), ("samples", 29, [3, 2, 1, 0]), ("layer", 29, 1),
    ]


@pytest.mark.parametrize(("field", "line", "value"), _edits(), ids=lambda v: repr(v)[:30])
def test_the_fast_check_takes_what_the_full_check_takes(
        field: str, line: int, value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes().splitlines(keepends=True)
    lines = [*lines[:30], b'{"kind":"end","events":29,"complete":false,"reason":"cut"}\n']
    data = json.loads(lines[line])
    if value is None and field != "kind":
        data.pop(field, None)
    else:
        data[field] = value
    lines[line] = json.dumps(data).encode() + b"\n"
    # (the models built first: pydantic-core would take a built model's own validator)
    EVENT_CLASSES["forward"].model_validate_json(lines[1] if line != 1 else lines[8])
    assert _outcome(lines, True, monkeypatch) == _outcome(lines, False, monkeypatch)


def _read_counting_full_checks(path: Path, monkeypatch: pytest.MonkeyPatch
                               ) -> tuple[list[Event], list[bytes]]:
    """The trace's events, and the lines the full check read (the fast check did not)."""
    calls: list[bytes] = []
    full = TraceReader._parse_fully

    def counted(self: TraceReader, raw: bytes) -> Any:
        calls.append(raw)
        return full(self, raw)

    monkeypatch.setattr(TraceReader, "_parse_fully", counted)
    with open_trace(path) as trace:
        return list(trace), calls


def test_the_fast_check_reads_the_backprop_run_without_the_full_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    events, calls = _read_counting_full_checks(TRACES / "ch06-streetlights-backprop.jsonl",
                                               monkeypatch)
    assert len(events) == 1740 and len(calls) == 1  # (the end line alone)
    assert json.loads(calls[0])["kind"] == "end"


def test_a_minibatch_run_learns_its_batch_size_once(monkeypatch: pytest.MonkeyPatch) -> None:
    events, calls = _read_counting_full_checks(TRACES / "streetlights-minibatch.jsonl",
                                               monkeypatch)
    assert {len(event.samples) for event in events if event.kind != "epoch_end"} == {2}
    assert len(calls) == 2  # the first event (batches of 2, not 1) and the end line


def test_a_rules_updates_go_the_full_checks_way(monkeypatch: pytest.MonkeyPatch) -> None:
    with open_trace(TRACES / "ch04-hot-and-cold-learning.jsonl") as trace:
        events = list(trace)
    updates = [event for event in events if event.kind == "update"]
    assert updates and all(isinstance(event, UpdateEvent) and event.rule == "hot_and_cold"
                           and event.details for event in updates)


def test_show_book_prints_the_same_lines(run_cli: RunCli) -> None:
    path = TRACES / "ch06-streetlights-backprop.jsonl"
    result = run_cli("show", path, "--view", "book")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == ["Error:0.6342311598444467", "Error:0.35838407676317513"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_the_book_view_reads_the_state_only_where_its_templates_need_it(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from steptrace.views import book

    header, events = events_of(path)
    found = list(book.book_lines(header, events))
    monkeypatch.setattr(book, "_named", lambda template: set(book._FILLED_IN))  # (always walk)
    assert found == list(book.book_lines(header, events))
    if header.config.book_view.step is not None and header.printed is None:
        assert found  # (a step template prints a line a step)


def test_what_a_book_template_names() -> None:
    from steptrace.views.book import _named

    assert _named("{error} {weights[0]:.3f} {new_weights.T} {{goal}}") == {"error", "weights",
                                                                           "new_weights"}


def test_a_readers_events_are_filled_in_themselves_and_anyone_elses_copied() -> None:
    path = TRACES / "ch06-streetlights-backprop.jsonl"
    header, events = events_of(path)
    found = list(complete_events(header, events))
    assert events[5].weights is None and found[5].weights is not None  # type: ignore[union-attr]
    with open_trace(path) as trace:
        read = list(complete_events(trace.header, trace))
    assert all(same(a, b) for a, b in zip(read, found, strict=True))
