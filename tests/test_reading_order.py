"""The reader holds a pass to the last pass checked whole (TraceReader.__iter__): the
same events, the same errors, as checking every event's order one by one."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from steptrace.errors import TraceFormatError
from steptrace.trace import consistency
from steptrace.trace import reader as reader_module
from steptrace.trace.order import EventOrder
from steptrace.trace.reader import TraceReader, open_trace
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
    events = [line for line in lines[1:] if line.get("kind") != "end"]
    for seq, event in enumerate(events):
        event["seq"] = seq
    end = next((line for line in lines[1:] if line.get("kind") == "end"), None)
    if end is not None:
        end["events"] = sum(1 for line in lines[1:lines.index(end)] if line.get("kind") != "end")
    return b"\n".join([lines[0], *(json.dumps(line).encode() for line in lines[1:])]) + b"\n"


def _outcome(trace: bytes, monkeypatch: pytest.MonkeyPatch, held: bool,
             kinds: tuple[str, ...] | None = None, steps: bool = False) -> list[Any]:
    """The events read (each as a tuple), then the error, if any; ``kinds``: those the
    reader was asked ``only`` for (or, ``steps``, as events among the steps)."""
    with monkeypatch.context() as patch:
        if not held:
            patch.setattr(reader_module, "_TEMPLATE", 0)  # (no pass is held to another)
        found: list[Any] = []
        try:
            reader = TraceReader(io.BytesIO(trace), "t.jsonl")
            read = reader if kinds is None else reader.steps(kinds) if steps else reader.only(kinds)
            for event in read:
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


def _del(i: int, field: str) -> Callable[[list[Any]], None]:
    def edit(lines: list[Any]) -> None:
        del lines[AT + i][field]
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
#: Edits of what a line holds, not of the order: each is read as reading every event reads
#: it (an error, at its line, or the same events) by ``only``, whose step check reads the
#: lines it is not asked for (the full check takes a ``null`` left-out matrix, a NaN,
#: where the step check leaves each to it).
LINE_EDITS: dict[str, Callable[[list[Any]], None]] = {
    "a row short": _set(0, "weighted_sum", [[0.5, 0.5, 0.5]]),
    "a row more": _set(3, "delta", [[0.5], [0.5]]),
    "a number as a string": _set(2, "error", "0.5"),
    "a number as true": _set(4, "delta", [[True, 0.0, 0.0, 0.0]]),
    "NaN": _set(4, "delta", [["NaN", 0.0, 0.0, 0.0]]),
    "another alpha": _set(5, "alpha", 0.3),
    "another nonlinearity": _set(1, "nonlinearity", "relu"),
    "a left-out matrix null": _set(0, "layer_in", None),
    "a left-out matrix given": _set(0, "layer_in", [[1.0, 0.0, 1.0]]),
    "a left-out matrix of another shape": _set(0, "layer_in", [[1.0, 0.0]]),
    "another field": _set(3, "note", 1),
    "no kind": _del(2, "kind"),
    "another kind": _set(5, "kind", "delta"),
    "layer 1.0": _set(6, "layer", 1.0),
    "epoch as a float": _set(7, "epoch", 10.0),
    "a rule named": _set(6, "rule", "momentum"),
    "a rule null": _set(6, "rule", None),
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


def _every_path(trace: bytes, monkeypatch: pytest.MonkeyPatch,
                kinds_asked: tuple[tuple[str, ...], ...] = (("epoch_end",), ())) -> list[Any]:
    """The outcome of reading every event; ``only`` and ``steps`` of each of ``kinds_asked``
    are held to it: the events of those kinds, and every step, with the same error."""
    each = _outcome(trace, monkeypatch, held=True)
    for kinds in kinds_asked:
        assert _outcome(trace, monkeypatch, held=True, kinds=kinds) == [
            found for found in each if isinstance(found, str) or found[1] in kinds]
        assert _outcome(trace, monkeypatch, held=True, kinds=kinds, steps=True) == each
    return each


@pytest.mark.parametrize("kinds", [("epoch_end",), (), ("error", "update")])
@pytest.mark.parametrize("name", [*EDITS, *LINE_EDITS])
def test_only_some_kinds_is_checked_as_every_event_is(
        name: str, kinds: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """``only``: the events of those kinds that reading every event yields, and the same
    error at the same line, the lines of other kinds checked by their step check; ``steps``:
    every step (those lines as step lines), and the same error."""
    each = _every_path(_edited({**EDITS, **LINE_EDITS}[name]), monkeypatch, (kinds,))
    if name in ("untouched", "a left-out matrix null", "a left-out matrix given", "a rule null",
                "NaN"):  # (the full check takes them)
        assert not isinstance(each[-1], str) and len(each) == 1740
    elif not name.startswith("cut at"):
        assert isinstance(each[-1], str) and "t.jsonl:" in each[-1], each[-1]


def test_only_makes_the_events_asked_for_once_a_pass_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """``only("epoch_end")`` of the golden trace (60 passes): the first two passes' events
    are made (checked event by event), then the ends of the others alone."""
    made: list[int] = []
    validator = consistency.FastCheck.validator

    def counted(self: consistency.FastCheck, rows: int) -> Any:
        validate = validator(self, rows)

        def counting(raw: bytes) -> Any:
            event = validate(raw)
            made.append(event.seq)
            return event
        return counting

    monkeypatch.setattr(consistency.FastCheck, "validator", counted)
    reader = TraceReader(io.BytesIO(_edited(lambda lines: None)), "t.jsonl")
    ends = list(reader.only(["epoch_end"]))
    assert [end.epoch for end in ends] == list(range(60)) and reader.end is not None
    assert made == [*range(2 * PASS), *range(3 * PASS - 1, 1740, PASS)]


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


# What an attacker of the step check found (each read the same by every path now).

def _recorded(name: str, **changes: Any) -> bytes:
    """The trace of built-in experiment ``name`` with ``changes`` to its config, in memory."""
    from steptrace.config import ExperimentConfig
    from steptrace.recording import record
    from tests.conftest import builtin_registry

    registry = builtin_registry()
    config = ExperimentConfig.model_validate({**registry.experiment(name).model_dump(), **changes})
    out = io.BytesIO()
    record(config, registry, out)
    return out.getvalue()


def test_a_pass_past_the_configs_iterations_is_refused_by_every_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The last pass again, as one more (its epoch the config's iterations): the step check
    holds the epoch below them, as the fast check does (it had crashed ``only``, pydantic's
    ValidationError, when the end made the held lines events)."""
    def edit(lines: list[Any]) -> None:  # (pass 59's events again before the end line)
        lines[-1:-1] = [dict(line, epoch=60) for line in lines[-1 - PASS:-1]]

    each = _every_path(_edited(edit), monkeypatch)
    assert each[-1] == ("t.jsonl:1742: bad event: epoch 60, but the config runs 60 epoch(s); "
                        "re-record the trace")


def test_an_integer_past_a_floats_range_is_the_full_checks_to_refuse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 400-digit integer in a matrix: the fast check had taken it as inf (the models
    refuse it), and, in a run of batches of 2, 2 and 1, which of the two read a line
    depended on the batch size the fast check last learnt; now every path refuses it, at
    its line."""
    trace = _recorded("streetlights-minibatch", iterations=6,
                      inputs=[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0],
                              [1.0, 1.0, 0.0]], goals=[[1.0], [1.0], [0.0], [0.0], [1.0]])
    lines = trace.splitlines(keepends=True)
    for at in (1 + 4 * 22, 1 + 4 * 22 + 14):  # (pass 4's first step, of 2 samples; its last, of 1)
        event = json.loads(lines[at])
        assert event["kind"] == "forward"
        rows = event["weighted_sum"]
        edited = [*lines[:at], json.dumps({**event, "weighted_sum": [
            [int("1" * 400), *rows[0][1:]], *rows[1:]]}).encode() + b"\n", *lines[at + 1:]]
        each = _every_path(b"".join(edited), monkeypatch)
        assert each[-1].startswith(f"t.jsonl:{at + 1}: bad event: forward.weighted_sum.0.0: Input "
                                   "should be a valid number"), each[-1]
        assert consistency.FastCheck(TraceReader(io.BytesIO(trace)).header.config).event(
            edited[at], event["seq"]) is None


def test_an_update_without_its_rule_in_a_run_of_a_learning_rule_is_out_of_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hot and cold learning updates by its own rule: an update of a later pass without
    ``rule`` (and its ``details``) had matched the last pass's steps, whose order check
    skipped the rule. A pass of a rule's updates makes no template: every path refuses it."""
    trace = _recorded("ch04-hot-and-cold-learning", iterations=12)
    lines = trace.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"epoch":9,' in line and b'"update"' in line)
    event = json.loads(lines[at])
    assert event["rule"] == "hot_and_cold"
    del event["rule"], event["details"]
    edited = [*lines[:at], json.dumps(event).encode() + b"\n", *lines[at + 1:]]
    each = _every_path(b"".join(edited), monkeypatch)
    assert each[-1] == (f"t.jsonl:{at + 1}: event {event['seq']} is out of order: an update by rule "
                        "None in a run whose updates were by 'hot_and_cold'; re-record the trace")


def test_the_lines_held_of_a_pass_are_bounded(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """A pass's lines padded out with spaces (valid JSON, the same events): ``only`` holds
    the lines its step check took until the pass ends, at most _HELD_BYTES of them; the
    rest go the fast check's way. The same events, and memory of the held lines' bound."""
    import tracemalloc

    lines = (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes().splitlines(keepends=True)
    pad = b" " * (1 << 19)  # (half a MiB a line: the pass's 28 steps would hold 14 MiB)
    padded = [line[:-2] + pad + line[-2:] if AT <= i < AT + PASS - 1 else line
              for i, line in enumerate(lines)]
    trace = b"".join(padded)
    assert _outcome(trace, monkeypatch, held=True, kinds=("epoch_end",)) == [
        found for found in _outcome(trace, monkeypatch, held=True) if found[1] == "epoch_end"]
    path = tmp_path / "padded.jsonl"
    path.write_bytes(trace)
    tracemalloc.start()
    try:
        with open_trace(path) as reader:
            assert len(list(reader.only(["epoch_end"]))) == 60
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 1 << 22 == reader_module._HELD_BYTES < peak < reader_module._HELD_BYTES + 4 * len(pad), peak
