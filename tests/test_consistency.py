"""The step check (FastCheck.step_check) vouches only for lines the fast check takes, as the
same step: on the golden trace's lines, mutated. A few hundred cases run in CI; for a long
run:

    STEPTRACE_FUZZ_EXAMPLES=10000 python -m pytest tests/test_consistency.py
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steptrace.trace.consistency import FastCheck, NotVouched
from steptrace.trace.events import EVENT_CLASSES
from steptrace.trace.reader import TraceReader
from tests.conftest import TRACES

EXAMPLES = int(os.environ.get("STEPTRACE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_TRACE = TRACES / "ch06-streetlights-backprop.jsonl"
with _TRACE.open("rb") as _file:
    _HEADER = TraceReader(_file).header
#: pass 10's steps (not its end): (line, kind, layer, samples, seq, epoch)
STEPS = [(line, event["kind"], event["layer"], tuple(event["samples"]), event["seq"], event["epoch"])
         for line in _TRACE.read_bytes().splitlines(keepends=True)[1 + 10 * 29:1 + 10 * 29 + 28]
         for event in [json.loads(line)]]
FIELDS = ["seq", "epoch", "samples", "layer", "kind", "nonlinearity", "layer_in", "weighted_sum",
          "layer_out", "prediction", "goal", "error", "derivative", "delta", "alpha",
          "weight_delta", "weights", "rule", "details", "test_error", "note"]

numbers = (st.integers(-2**70, 2**70) | st.floats() | st.sampled_from(
    [0.2, 1e400, -1e400, 2e-1, 0.19999999999999998, -0.0]).map(lambda x: x))
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=6)
    | st.sampled_from(["NaN", "Infinity", "relu", "linear", "forward", "update", "delta"]),
    lambda inner: st.lists(inner, max_size=5), max_leaves=12)


def _dumps(value: Any) -> str:
    return json.dumps(value).replace("Infinity", "1e400").replace("NaN", "0")


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str, int, tuple[int, ...], int, int]:
    line, kind, layer, samples, seq, epoch = draw(st.sampled_from(STEPS))
    if draw(st.booleans()):  # a field's value, a field left out, a field more
        event = json.loads(line)
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.sampled_from(FIELDS))
            if draw(st.integers(0, 3)) == 0:
                event.pop(name, None)
            else:
                event[name] = draw(json_values)
        text = "{" + ",".join(f"{json.dumps(k)}:{_dumps(v)}" for k, v in event.items()) + "}\n"
        return text.encode(), kind, layer, samples, seq, epoch
    data = bytearray(line)  # bytes changed, put in or taken out
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from(b'0123456789.-eE,[]{}":ntfu \\'))
        how = draw(st.integers(0, 2))
        if how == 0:
            data[at] = byte
        elif how == 1:
            data.insert(at, byte)
        elif len(data) > 1:
            del data[at]
    return bytes(data), kind, layer, samples, seq, epoch


def _fast_takes(fast: FastCheck, raw: bytes, kind: str, layer: int, samples: tuple[int, ...],
                seq: int, epoch: int) -> bool:
    try:
        event = fast.validator(len(samples))(raw)
    except ValueError:
        return False
    return (event.__class__ is EVENT_CLASSES[kind] and event.layer == layer
            and event.samples == samples and event.seq == seq and event.epoch == epoch)


@pytest.mark.parametrize("step", range(len(STEPS)))
def test_each_step_check_takes_its_own_line_and_no_other_step(step: int) -> None:
    fast = FastCheck(_HEADER.config)
    line, kind, layer, samples, seq, epoch = STEPS[step]
    taken = fast.step_check(kind, layer, samples)(line)
    assert (taken.seq, taken.epoch) == (seq, epoch) == (10 * 29 + step, 10)
    assert _fast_takes(fast, line, kind, layer, samples, seq, epoch)
    for other, *shape, _, _ in STEPS:  # (a step of another kind, layer or sample: refused)
        if tuple(shape) != (kind, layer, samples):
            with pytest.raises(NotVouched):
                fast.step_check(kind, layer, samples)(other)


@FUZZ
@given(mutated())
def test_what_the_step_check_takes_the_fast_check_takes_as_the_same_step(
        case: tuple[bytes, str, int, tuple[int, ...], int, int]) -> None:
    raw, kind, layer, samples, seq, epoch = case
    fast = FastCheck(_HEADER.config)
    try:
        taken = fast.step_check(kind, layer, samples)(raw)
    except NotVouched:
        return
    if (taken.seq, taken.epoch) == (seq, epoch):  # (the reader compares these two)
        assert _fast_takes(fast, raw, kind, layer, samples, seq, epoch), raw
