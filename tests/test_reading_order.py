"""The reader holds a pass to the last pass checked whole (TraceReader.__iter__): the
same events, the same errors, as checking every event's order one by one."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from steptrace.errors import TraceFormatError
from steptrace.trace import consistency
from steptrace.trace import reader as reader_module
from steptrace.trace.order import EventOrder
from steptrace.trace.reader import TraceReader
from tests.conftest import TRACES

PASS = 29  # events of a pass of the ch. 6 backprop (4 steps of 7, then its end)
AT = 1 + 10 * PASS  # the first event line of pass 10


def _lines() -> list[Any]:
    lines = (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes().splitlines()
    return [lines[0], *map(json.loads, lines[1:])]


def _edited(edit: Callable[[list[Any]], None]) -> bytes:
    """The golden trace with ``edit`` made to its lines, the seqs and the end's count made
    right again (so that what is wrong is the order alone)."""
    lines = _lines()
    edit(lines)
    events = [line for line in lines[1:] if line["kind"] != "end"]
    for seq, event in enumerate(events):
        event["seq"] = seq
    end = next((line for line in lines[1:] if line["kind"] == "end"), None)
    if end is not None:
        end["events"] = sum(1 for line in lines[1:lines.index(end)] if line["kind"] != "end")
    return b"\n".join([lines[0], *(json.dumps(line).encode() for line in lines[1:])]) + b"\n"


def _outcome(trace: bytes, monkeypatch: pytest.MonkeyPatch, held: bool) -> list[Any]:
    with monkeypatch.context() as patch:
        if not held:
            patch.setattr(reader_module, "_TEMPLATE", 0)  # (no pass is held to another)
        found: list[Any] = []
        try:
            for event in TraceReader(io.BytesIO(trace), "t.jsonl"):
                found.append((event.seq, event.kind, event.layer, event.samples, event.epoch))
        except TraceFormatError as error:
            found.append(str(error))
    return found


def _swap(i: int) -> Callable[[list[Any]], None]:
    def edit(lines: list[Any]) -> None:
        lines[AT + i], lines[AT + i + 1] = lines[AT + i + 1], lines[AT + i]
    return edit


def _drop(i: int) -> Callable[[list[Any]], None]:
    def edit(lines: list[Any]) -> None:
        del lines[AT + i]
    return edit


def _set(i: int, field: str, value: Any) -> Callable[[list[Any]], None]:
    def edit(lines: list[Any]) -> None:
        lines[AT + i][field] = value
    return edit


def _again(i: int, n: int) -> Callable[[list[Any]], None]:
    """Lines ``i`` to ``i + n`` of the pass once more, after themselves."""
    def edit(lines: list[Any]) -> None:
        lines[AT + i + n:AT + i + n] = [dict(line) for line in lines[AT + i:AT + i + n]]
    return edit


def _cut(i: int) -> Callable[[list[Any]], None]:
    """The trace ends (an incomplete trace's end line) before line ``i`` of the pass."""
    def edit(lines: list[Any]) -> None:
        lines[AT + i:] = [{"kind": "end", "events": 0, "complete": False, "reason": "cut"}]
    return edit


EDITS: dict[str, Callable[[list[Any]], None]] = {
    **{f"swap {i}": _swap(i) for i in (0, 1, 3, 5, 6, 7, 20, 27)},
    **{f"drop {i}": _drop(i) for i in (0, 2, 6, 7, 27, 28)},
    **{f"samples {i}": _set(i, "samples", [2]) for i in (0, 1, 4, 6, 7)},
    "end of pass's samples": _set(28, "samples", [0, 1, 2]),
    "end's samples in another order": _set(28, "samples", [0, 1, 3, 2]),
    **{f"epoch {i}": _set(i, "epoch", 11) for i in (0, 3, 28)},
    "epoch 9": _set(5, "epoch", 9),
    "deltas again": _again(3, 2),  # (a rule may ask again; gradient descent, once seen, not)
    "a step again": _again(0, 7),
    "a pass's end twice": _again(28, 1),
    **{f"cut at {i}": _cut(i) for i in (0, 1, 7, 28)},
    "untouched": lambda lines: None,
}


@pytest.mark.parametrize("name", EDITS)
def test_a_pass_held_to_the_last_is_checked_as_each_event_is(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _edited(EDITS[name])
    each = _outcome(trace, monkeypatch, held=False)
    assert _outcome(trace, monkeypatch, held=True) == each
    if name == "untouched":
        assert len(each) == 1740 and each[-1][0] == 1739
    elif name.startswith("cut at"):
        assert len(each) == 10 * PASS + int(name.split()[-1])  # (all read: it may end anywhere)
    else:  # (the edit is found in pass 10, at the line it is in)
        assert isinstance(each[-1], str) and "t.jsonl:" in each[-1], each[-1]
        assert 1 + AT <= int(each[-1].split(":")[1]) <= 1 + AT + PASS + 7


def test_the_passes_after_the_second_are_held_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The order's own check reads the first two passes (the first gradient-descent update
    changes what may follow, so the second pass is the first of the rest) and the ends of
    the others, no other event."""
    checked: list[int] = []
    problem = EventOrder.problem

    def counted(self: Any, event: Any) -> str | None:
        checked.append(event.seq)
        return problem(self, event)

    monkeypatch.setattr(EventOrder, "problem", counted)
    events = list(TraceReader(io.BytesIO(_edited(lambda lines: None)), "t.jsonl"))
    assert len(events) == 1740
    assert checked == [*range(2 * PASS), *range(3 * PASS - 1, 1740, PASS)]


def test_replay_compares_bytes_without_making_the_fast_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validator is made when a line is first parsed; replay compares the golden
    trace's lines as bytes, and so never needs one."""
    import steptrace

    made: list[object] = []
    real = consistency.FastCheck.__init__

    def counted(self: consistency.FastCheck, config: Any) -> None:
        made.append(config)
        real(self, config)

    monkeypatch.setattr(consistency.FastCheck, "__init__", counted)
    trace = steptrace.load(TRACES / "ch06-streetlights-backprop.jsonl")  # (its events read: one)
    assert len(made) == 1
    made.clear()
    check = trace.replay()
    assert check and "all 1740 events match" in str(check) and made == []
    list(TraceReader(io.BytesIO((TRACES / "ch06-streetlights-backprop.jsonl").read_bytes())))
    assert len(made) == 1
