"""The shape of a run: which events, how many, in which order, carrying what."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from steptrace.recording import run
from steptrace.trace.events import Event, ForwardEvent, UpdateEvent, event_adapter
from tests.conftest import builtin_registry

REGISTRY = builtin_registry()


def events_of(name: str, **changes: Any) -> list[Event]:
    config = REGISTRY.experiment(name).model_copy(update=changes)
    events: list[Event] = []
    run(config, REGISTRY.resolve(config), events.append)
    return events


def test_backprop_event_counts() -> None:
    counts = Counter(e.kind for e in events_of("ch06-streetlights-backprop"))
    assert counts == {"forward": 480, "error": 240, "delta": 480, "update": 480, "epoch_end": 60}


def test_stochastic_two_layer_step_is_in_the_books_order() -> None:
    events = events_of("ch06-streetlights-backprop")
    step = [(e.kind, e.layer, e.samples) for e in events[:7]]
    assert step == [
        ("forward", 1, (0,)), ("forward", 2, (0,)), ("error", 2, (0,)),
        ("delta", 2, (0,)), ("delta", 1, (0,)), ("update", 2, (0,)), ("update", 1, (0,)),
    ]
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[28].kind == "epoch_end" and events[28].samples == (0, 1, 2, 3)


def test_full_and_minibatch_update_once_per_batch() -> None:
    full = events_of("streetlights-full-gd", iterations=2)
    assert [e.kind for e in full] == ["forward", "forward", "error", "delta", "delta",
                                      "update", "update", "epoch_end"] * 2
    assert {e.samples for e in full if e.kind == "update"} == {(0, 1, 2, 3)}
    mini = events_of("streetlights-minibatch", iterations=1)
    assert [e.samples for e in mini if e.kind == "update"] == [(0, 1), (0, 1), (2, 3), (2, 3)]
    forward = next(e for e in mini if isinstance(e, ForwardEvent))
    assert np.array(forward.layer_in).shape == (2, 3)


def test_events_carry_their_operands() -> None:
    """Each forward's output is its nonlinearity of its weighted sum; each update's
    weights are the previous weights minus alpha times its weight_delta."""
    events = events_of("ch06-streetlights-backprop", iterations=3)
    relu = REGISTRY.nonlinearity("relu").function
    weights: dict[int, NDArray[np.float64]] = {}
    for event in events:
        if isinstance(event, ForwardEvent) and event.layer == 1:
            assert np.array_equal(relu(np.array(event.weighted_sum)), np.array(event.layer_out))
        if isinstance(event, UpdateEvent):
            after = np.array(event.weights)
            if event.layer in weights:
                expected = weights[event.layer] - event.alpha * np.array(event.weight_delta)
                assert np.array_equal(after, expected)
            weights[event.layer] = after


def test_relu_keeps_the_books_negative_zero() -> None:
    first = events_of("ch06-streetlights-backprop", iterations=1)[0]
    assert isinstance(first, ForwardEvent)
    assert first.weighted_sum[0][0] < 0
    assert str(first.layer_out[0][0]) == "-0.0"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -0.0, 5e-324,
                                   0.1 + 0.2, 1.7976931348623157e308])
def test_event_json_round_trip_is_bit_exact(value: float) -> None:
    event = events_of("ch06-streetlight-single-sample", iterations=1)[3]
    changed = event.model_copy(update={"weights": ((value,), (1.0,), (2.0,))})
    text = changed.model_dump_json()
    from steptrace.trace.reader import _decode_line

    back = _decode_line(text.encode())
    assert str(back.weights[0][0]) == str(value)
    assert np.float64(back.weights[0][0]).tobytes() == np.float64(value).tobytes()
    assert event_adapter.validate_json(event.model_dump_json()) == event


def records_of(name: str, lean: bool, **changes: Any) -> list[dict[str, Any]]:
    """The records of an experiment's events, as the emitter hands them to the writer."""
    from steptrace.engine.network import Network
    from steptrace.recording import train_at_detail

    config = REGISTRY.experiment(name).model_copy(update=changes)
    network = Network.from_config(config, REGISTRY.resolve(config))
    records: list[dict[str, Any]] = []
    train_at_detail(network, config, "step" if lean else "all", records.append)
    return records


@pytest.mark.parametrize("lean", [True, False], ids=["step detail", "all detail"])
@pytest.mark.parametrize("name", [
    "ch06-streetlights-backprop",  # relu and linear, stochastic
    "streetlights-minibatch",  # batches of rows
    "ch04-hot-and-cold-learning",  # a rule's own updates, with details
    "ch04-breaking-gd-diverge",  # overflow to inf and NaN
    "ch05-freeze-one-weight",
    "ch03-stacked-hidden-layer",  # forward only: no goals
])
def test_a_record_is_its_events_line_byte_for_byte(name: str, lean: bool) -> None:
    """The writer writes records without building events; replay compares those bytes with
    the recorded line. So a record's JSON must be exactly its typed event's, in the model's
    field order, without its absent fields, NaN and infinities included."""
    from steptrace.trace.emitter import record_json, typed
    from steptrace.trace.events import to_json

    changes = {"iterations": 800} if name == "ch04-breaking-gd-diverge" else {}  # on to NaN
    records = records_of(name, lean, **changes)
    assert records
    kinds = set()
    for record in records:
        event = typed(record)
        kinds.add(event.kind)
        assert record_json(record) == to_json(event)
        if b'"NaN"' not in record_json(record) and b"Infinity" not in record_json(record):
            assert event_adapter.validate_json(record_json(record)) == event  # strict types
    if name == "ch04-breaking-gd-diverge":
        lines = b"".join(record_json(r) for r in records)
        assert b"Infinity" in lines and b"NaN" in lines
    assert "epoch_end" in kinds
