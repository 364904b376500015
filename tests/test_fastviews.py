"""The text views at the speed of reading: ``show`` writes what it always wrote.

:meth:`Literate.lines` fills templates worked out once per way of narrating a step
(:class:`~steptrace.views.literate.Templates`), writes the numbers a row per ``%`` format
(:class:`~steptrace.views.text.Numbers`) and looks for a number that is not finite in the
text it wrote; the command writes its lines 64 KB at a time. Each is held here to the
plain way (:meth:`Literate.reference_lines`, :func:`number`, :func:`matrix`,
:func:`first_nonfinite`) over the experiments' traces: rounded, ``--exact``, filtered, a
batch run, a run that diverged to inf and NaN, held-out rows, a strategy's own rule
(hot and cold), a trace of ``all`` detail.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import steptrace
from steptrace.cli.reading import write_lines
from steptrace.plugins.loaded import registry
from steptrace.trace.events import ForwardEvent, UpdateEvent
from steptrace.trace.reader import open_trace
from steptrace.views import literate as literate_module
from steptrace.views.at_once import AtOnce
from steptrace.views.literate import Literate, Templates
from steptrace.views.text import Filters, Numbers, first_nonfinite, matrix, maybe_nonfinite, number
from tests.conftest import TRACES
from tests.test_reading_order import EDITS, LINE_EDITS, _edited

SPECIAL = [0.0, -0.0, 1.0, -1.0, 12.0, -3.0, 0.1, -0.25, 1e16, -1e16, 9999999999999998.0,
           2.0 ** 53, 1e-5, 1.5e-300, 5e-324, 1.7976931348623157e308, 123456.789, 0.30000000000000004,
           math.inf, -math.inf, math.nan]
DIGITS = [None, 1, 2, 4, 8, 17]


@pytest.mark.parametrize("digits", DIGITS)
def test_a_number_is_written_as_number_writes_it(digits: int | None) -> None:
    numbers = Numbers(digits)
    for x in SPECIAL:
        assert numbers.number(x) == number(x, digits), x
        assert numbers.value(x) == number(x, digits), x
    assert Numbers(4).number(-0.0) == "-0" and Numbers(None).number(-0.0) == "-0"
    assert Numbers(None).number(12.0) == "12" and Numbers(None).number(1e16) == "1e+16"


@pytest.mark.parametrize("digits", DIGITS)
def test_a_matrix_is_written_as_matrix_writes_it(digits: int | None) -> None:
    numbers = Numbers(digits)
    shapes: list[Any] = [
        ((1.0, -0.0, 0.1234567),),  # one row
        ((0.5,), (-0.0,), (math.inf,), (1e-7,)),  # a column, aligned
        ((1.0, 2.0), (3.5, -4.25), (math.nan, 0.0)),
        ((1.0,), (2.0, 3.0), ()),  # ragged
        (), ((),), ((), ()),
        tuple((x,) for x in SPECIAL), (tuple(SPECIAL),),
    ]
    for rows in shapes:
        assert numbers.value(rows) == matrix(rows, digits), rows
        assert numbers.value(np.array(rows, dtype=np.float64).reshape(len(rows), -1)
                             if rows and len({len(r) for r in rows}) == 1 else rows
                             ) == matrix(rows, digits), rows
    assert numbers.value(None) == "?"
    assert Numbers(4).value(((0.5,), (-0.0,), (1e-7,))) == "[[  0.5], [   -0], [1e-07]]"


@given(st.lists(st.lists(st.floats(width=64), min_size=1, max_size=4), min_size=1, max_size=4)
       .filter(lambda rows: len({len(row) for row in rows}) == 1),
       st.sampled_from(DIGITS))
def test_any_rows_are_written_alike(rows: list[list[float]], digits: int | None) -> None:
    matrix_rows = tuple(map(tuple, rows))
    numbers = Numbers(digits)
    assert numbers.value(matrix_rows) == matrix(matrix_rows, digits)
    assert numbers.value(np.array(rows, dtype=np.float64)) == matrix(matrix_rows, digits)


@given(st.lists(st.floats(width=64), min_size=1, max_size=6), st.floats(width=64))
def test_a_number_that_is_not_finite_is_never_missed(row: list[float], alpha: float) -> None:
    event = UpdateEvent(seq=0, epoch=0, samples=(0,), layer=1, alpha=alpha,
                        weight_delta=(tuple(row),), weights=(tuple(row),))
    if first_nonfinite(event) is not None:
        assert maybe_nonfinite(event)
    if all(map(math.isfinite, [*row, alpha])) and max(map(abs, [*row, alpha])) < 1e300:
        assert not maybe_nonfinite(event)  # (a sum that cannot overflow: sure)


def record(tmp_path: Path, name: str, changes: dict[str, Any], detail: str = "step") -> Path:
    config = steptrace.experiment(name).model_dump() | changes
    path = tmp_path / f"{name}-{detail}.jsonl"
    steptrace.record(steptrace.Experiment.model_validate(config), output=path,
                     detail=detail)  # type: ignore[arg-type]
    return path


def both(path: Path, digits: int | None, filters: Filters) -> tuple[list[str], list[str]]:
    """The lines of the literate view, fast and the plain way."""
    ways = []
    for way in ("lines", "reference_lines"):
        with open_trace(path) as reader:
            narrator = Literate(reader.header, registry(), digits)
            ways.append(list(getattr(narrator, way)(iter(reader), filters)))
    return ways[0], ways[1]


FILTERS = [Filters(), Filters(epochs={1}), Filters(samples={1}), Filters(kinds={"update"}),
           Filters(layers={1}), Filters(kinds={"forward", "error"}, samples={0, 2})]
RECORDED = {  # (experiment, changes, detail)
    "batch": ("streetlights-minibatch", {"iterations": 3}, "step"),
    "full": ("streetlights-full-gd", {"iterations": 3}, "step"),
    "held-out": ("streetlights-overfitting", {"iterations": 3}, "step"),
    "diverged": ("ch04-breaking-gd-diverge", {"iterations": 700}, "step"),
    "hot and cold": ("ch04-hot-and-cold-learning", {"iterations": 5}, "step"),
    "momentum": ("streetlights-momentum", {"iterations": 2}, "step"),
    "gelu": ("streetlights-gelu", {"iterations": 2}, "step"),
    "leaky relu": ("streetlights-leaky-relu", {"iterations": 2}, "step"),
    "linear hidden": ("streetlights-linear-hidden-layer", {"iterations": 2}, "step"),
    "ascent": ("ch06-streetlights-backprop-ascent-form", {"iterations": 3}, "step"),
    "all detail": ("ch06-streetlights-backprop", {"iterations": 3}, "all"),
    "all detail, one layer": ("ch05-freeze-one-weight", {"iterations": 3}, "all"),
    "epoch detail": ("ch06-streetlights-backprop", {"iterations": 3}, "epoch"),
}


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("*.jsonl")))
def test_every_trace_is_narrated_as_the_plain_way_narrates_it(name: str) -> None:
    for digits, filters in ((4, Filters()), (None, Filters()), (2, FILTERS[1]), (4, FILTERS[2]),
                            (None, FILTERS[3]), (4, FILTERS[4]), (4, FILTERS[5])):
        fast, plain = both(TRACES / name, digits, filters)
        assert fast == plain, (digits, filters)


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_each_kind_of_run_is_narrated_as_the_plain_way_narrates_it(
        tmp_path: Path, case: str) -> None:
    name, changes, detail = RECORDED[case]
    path = record(tmp_path, name, changes, detail)
    for digits, filters in ((4, Filters()), (None, Filters()), (8, FILTERS[3]), (4, FILTERS[2])):
        fast, plain = both(path, digits, filters)
        assert fast == plain, (digits, filters)
    if case == "diverged":
        fast, _ = both(path, 4, Filters())
        warned = [line for line in fast if line.startswith("⚠")]
        assert warned == [
            "⚠ [1626] the first number that is not finite: error = inf (error, epoch 325): the "
            "run has diverged; from here on the numbers overflow to inf and NaN"]
        assert any(line.endswith("= nan") or "nan" in line for line in fast[-20:])
        # filtered to passes after it diverged, the warning still comes first
        fast, plain = both(path, 4, Filters(epochs={400}))
        assert fast == plain and fast[0].startswith("⚠ [1626]")
    if case == "held-out":
        assert any("held-out error summed over" in line for line in both(path, 4, Filters())[0])


def test_an_update_starts_from_the_text_the_last_one_ended_with(tmp_path: Path) -> None:
    """The weights an update starts from are written as the previous update's (its text
    kept), and stay right when a trace's weights jump (an ``all``-detail trace whose
    weights were edited between two updates)."""
    path = record(tmp_path, "ch06-streetlights-backprop", {"iterations": 2}, "all")
    lines = path.read_text().splitlines()
    edited = []
    for text in lines:  # the second update of weights_0_1 ends elsewhere
        if '"seq":13,' in text:
            text = text.replace('[[-0.165955990594852', '[[-0.5', 1)
        edited.append(text)
    path.write_text("\n".join(edited) + "\n")
    with open_trace(path, check_order=False) as reader:
        events = list(reader)
    header = reader.header
    fast = list(Literate(header, registry(), 4).lines(iter(events), Filters()))
    plain = list(Literate(header, registry(), 4).reference_lines(iter(events), Filters()))
    assert fast == plain


def test_the_command_writes_the_view_in_chunks_and_the_lines_before_an_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    def lines() -> Any:
        for i in range(20000):
            yield f"line {i} " + "x" * 20
        raise RuntimeError("the trace breaks here")

    with pytest.raises(RuntimeError, match="breaks here"):
        write_lines(lines())
    out = capsys.readouterr().out
    assert out.count("\n") == 20000 and out.endswith("line 19999 " + "x" * 20 + "\n")


@pytest.mark.parametrize(("experiment", "passes", "ways"), [
    ("ch04-breaking-gd-diverge", 400, (([], 4), (["--exact"], None), (["--digits", "3"], 3))),
    # a long run: the command hands the view its reader (whose events it fills in themselves)
    ("ch06-streetlights-backprop", 30, (([], 4), (["--exact"], None))),
])
def test_show_writes_what_the_plain_way_writes(
        run_cli: Any, tmp_path: Path, experiment: str, passes: int,
        ways: tuple[tuple[list[str], int | None], ...]) -> None:
    path = record(tmp_path, experiment, {"iterations": passes})
    for options, digits in ways:
        result = run_cli("show", path, *options)
        with open_trace(path) as reader:
            plain = Literate(reader.header, registry(), digits).reference_lines(
                iter(reader), Filters())
            assert result.exit_code == 0
            assert result.stdout == "".join(line + "\n" for line in plain)


def test_past_the_templates_kept_a_step_is_narrated_the_plain_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Templates, "LIMIT", 3)
    for name in ("ch06-streetlights-full-dataset.jsonl", "ch06-streetlights-backprop.jsonl"):
        fast, plain = both(TRACES / name, 4, Filters())
        assert fast == plain


def test_a_forward_event_banner_is_the_plain_one() -> None:
    with open_trace(TRACES / "ch06-streetlights-full-dataset.jsonl") as reader:
        events = list(reader)
        header = reader.header
    banners = [line for line in Literate(header, registry(), 4).lines(iter(events), Filters())
               if line.startswith("──")]
    narrator = Literate(header, registry(), 4)
    plain = [narrator.banner(event) for event in map(narrator.state.complete, events)
             if isinstance(event, ForwardEvent) and event.layer == 1]
    assert banners == plain and len(plain) > 1


#: runs long enough that the literate view narrates chunks of events at once
#: (:meth:`Literate.quick_chunk`): (experiment, changes, detail, whether it may)
LONG: dict[str, tuple[str, dict[str, Any], str, bool]] = {
    "step": ("ch06-streetlights-backprop", {"iterations": 30}, "step", True),
    "all detail": ("ch06-streetlights-backprop", {"iterations": 30}, "all", True),
    "blas": ("ch06-streetlights-backprop", {"iterations": 30, "arithmetic": "blas"}, "step", True),
    "ascent": ("ch06-streetlights-backprop-ascent-form", {"iterations": 30}, "step", True),
    "mini-batch": ("streetlights-minibatch", {"iterations": 60}, "step", True),
    "full batch": ("streetlights-full-gd", {"iterations": 100}, "step", True),
    "gelu": ("streetlights-gelu", {"iterations": 30}, "step", True),
    "linear hidden": ("streetlights-linear-hidden-layer", {"iterations": 30}, "step", True),
    "a rule's update": ("streetlights-momentum", {"iterations": 30}, "step", False),
}


def spied(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each chunk :meth:`Literate.lines` tried to narrate at once was."""
    tried: list[bool] = []
    quick_chunk = Literate.quick_chunk

    def spy(self: Literate, *args: Any) -> Any:
        found = quick_chunk(self, *args)
        tried.append(found is not None)
        return found

    monkeypatch.setattr(Literate, "quick_chunk", spy)
    return tried


@pytest.mark.parametrize("case", sorted(LONG))
def test_a_long_run_is_narrated_a_chunk_at_once_as_the_plain_way_narrates_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    name, changes, detail, quick = LONG[case]
    path = record(tmp_path, name, changes, detail)
    tried = spied(monkeypatch)
    for digits, filters in ((4, Filters()), (None, Filters()), (3, Filters(epochs={7, 20})),
                            (4, Filters(samples={1})), (None, Filters(kinds={"delta"}))):
        tried.clear()
        fast, plain = both(path, digits, filters)
        assert fast == plain, (digits, filters)
        if quick:  # every chunk but the first (where each way is worked out) at once
            assert tried[0] is False and all(tried[1:]) and len(tried) >= 3, tried
        elif filters == Filters():  # a rule's update in each: an event at a time
            assert not any(tried) and len(tried) >= 3, tried
    if case == "step":
        fast, _ = both(path, 4, Filters())
        assert fast[1] == ("[0] layer_1 = relu(layer_0 · weights_0_1) = relu([-0.3724, 0.5183, "
                           "-1.161, -0.0249]) = [-0, 0.5183, -0, -0]")
        assert fast[-1] == "[869] end of epoch 29: error summed over 4 sample(s) = 0.08302"


def edited(tmp_path: Path, detail: str, seq: int, field: str, value: str) -> Path:
    """The ch. 6 backprop of 30 passes, event ``seq``'s ``field`` made ``[[value]]``."""
    path = record(tmp_path, "ch06-streetlights-backprop", {"iterations": 30}, detail)
    lines = []
    for text in path.read_text().splitlines():
        if text.startswith(f'{{"seq":{seq},'):
            start = text.index(f'"{field}":') + len(field) + 3
            text = text[:start] + f'[["{value}"]]' + text[text.index("]]", start) + 2:]
        lines.append(text)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("detail", ["step", "all"])
def test_a_number_that_is_not_finite_in_a_later_chunk_is_warned_of_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detail: str) -> None:
    """An output delta of inf at event 597 (in a chunk narrated at once): the warning
    before it, once; in a step trace it flows on into the weights derived from it (inf,
    NaN), in an ``all``-detail trace the later lines keep what they hold."""
    path = edited(tmp_path, detail, 597, "delta", "Infinity")
    tried = spied(monkeypatch)
    for digits, filters in ((4, Filters()), (None, Filters()), (4, Filters(epochs={25}))):
        fast, plain = both(path, digits, filters)
        assert fast == plain, (digits, filters)
        warned = [line for line in fast if line.startswith("⚠")]
        assert warned == ["⚠ [597] the first number that is not finite: delta[0][0] = inf "
                          "(delta, epoch 20): the run has diverged; from here on the numbers "
                          "overflow to inf and NaN"], (digits, filters)
    assert any(tried[1:])
    fast, _ = both(path, 4, Filters())
    assert fast[fast.index(warned[0]) + 1].startswith("[597] layer_2_delta = ")
    assert fast[fast.index(warned[0]) + 1].endswith(" = [inf]")
    if detail == "step":  # (weights_1_2 derived from it; the recorded lines keep theirs)
        last = [line for line in fast[-30:] if "weights_1_2 -=" in line]
        assert last and all("inf" in line or "nan" in line for line in last)


def test_events_filled_in_before_are_narrated_as_they_are(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Events a reader filled in already (``complete_events``, as the API and the benchmark
    hand them over) need no state to narrate: the same lines, no chunk filled in again."""
    from steptrace.trace.state import NetworkState, complete_events

    path = record(tmp_path, "ch06-streetlights-backprop", {"iterations": 30})
    with open_trace(path) as reader:
        header = reader.header
        events = list(complete_events(header, reader))
    filled: list[int] = []
    complete_all = NetworkState.complete_all

    def spy(self: NetworkState, chunk: list[Any]) -> list[Any]:
        filled.append(len(chunk))
        return complete_all(self, chunk)

    monkeypatch.setattr(NetworkState, "complete_all", spy)
    fast = list(Literate(header, registry(), 4).lines(iter(events), Filters()))
    assert filled == []
    plain = list(Literate(header, registry(), 4).reference_lines(iter(events), Filters()))
    assert fast == plain and len(fast) == 990


def test_a_damaged_line_in_a_later_chunk_comes_after_the_lines_before_it(
        run_cli: Any, tmp_path: Path) -> None:
    path = record(tmp_path, "ch06-streetlights-backprop", {"iterations": 30})
    lines = path.read_text().splitlines()
    lines[601] = lines[601][:40]  # event 600, cut short
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("show", path)
    plain: list[str] = []
    with open_trace(path) as reader, pytest.raises(Exception, match=":602: bad event"):
        for line in Literate(reader.header, registry(), 4).reference_lines(iter(reader), Filters()):
            plain.append(line)
    assert result.exit_code != 0 and len(plain) > 600
    assert result.stdout == "".join(line + "\n" for line in plain)
    assert result.stderr.count("\n") == 1 and ":602: bad event" in result.stderr


def test_a_dataset_of_many_samples_is_narrated_at_once_after_its_first_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sample's error and output delta have words of their own: the first pass of 400
    samples works out new ways chunk after chunk (more than the 8 misses in a row that stop
    the trying), the second is narrated at once."""
    config = steptrace.experiment("ch06-streetlights-backprop").model_dump()
    config |= {"inputs": config["inputs"] * 100, "goals": config["goals"] * 100, "iterations": 2}
    path = tmp_path / "many.jsonl"
    steptrace.record(steptrace.Experiment.model_validate(config), output=path)
    tried = spied(monkeypatch)
    fast, plain = both(path, 4, Filters())
    assert fast == plain and len(fast) == 2 * (400 * 8 + 1)
    first = 400 * 7 // 256  # chunks of the first pass
    assert not any(tried[:first]) and all(tried[first + 1:]) and len(tried) > 2 * first, tried


# -- a window of steps narrated at once (steptrace.views.at_once) ------------------------------

_AT_ONCE = AtOnce.lines


def windowed(path: Path, digits: int | None, filters: Filters, monkeypatch: pytest.MonkeyPatch,
             at_once: bool, rules: Any = None) -> tuple[list[str], list[bool]]:
    """The literate view's lines of the trace at ``path`` read from its reader (windows of 256
    steps, narrated at once where they can be; ``at_once`` False: never), the error that
    stopped it last; and whether each window tried at once was."""
    monkeypatch.setattr(literate_module, "WINDOW", 256)
    real = _AT_ONCE  # (not a lines a patch of an earlier call put there)
    taken: list[bool] = []

    def watched(self: AtOnce, window: list[Any], finite: bool) -> list[str] | None:
        found = real(self, window, finite) if at_once else None
        taken.append(found is not None)
        return found

    monkeypatch.setattr(AtOnce, "lines", watched)
    lines: list[str] = []
    try:
        with open_trace(path) as reader:
            for line in Literate(reader.header, rules or registry(), digits).lines(reader, filters):
                lines.append(line)
    except Exception as error:  # (a damaged trace: the lines before it, then the error)
        lines.append(f"{type(error).__name__}: {error}")
    return lines, taken


@pytest.mark.parametrize("case", sorted(LONG))
def test_a_window_narrated_at_once_is_what_an_event_at_a_time_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """A long run read from its trace (its steps as the reader's step lines): the windows
    narrated at once (the state after each event worked out for the window, each template's
    numbers written a column at a time, each distinct number once) write the plain way's
    lines, byte for byte, rounded to any digits; the ch. 6 run's windows after its first
    two passes are narrated at once; blas, every digit (--exact), a rule's update, a filter:
    an event at a time."""
    name, changes, detail, _ = LONG[case]
    path = record(tmp_path, name, changes, detail)
    for digits, filters in ((4, Filters()), (2, Filters()), (8, Filters()), (None, Filters()),
                            (4, Filters(epochs={7}))):
        with open_trace(path) as reader:
            plain = list(Literate(reader.header, registry(), digits).reference_lines(
                iter(reader), filters))
        fast, taken = windowed(path, digits, filters, monkeypatch, at_once=True)
        assert fast == plain, (digits, filters)
        slow, _ = windowed(path, digits, filters, monkeypatch, at_once=False)
        assert slow == plain, (digits, filters)
        never = (digits is None or filters != Filters() or case in ("blas", "a rule's update",
                                                                     "all detail", "mini-batch",
                                                                     "full batch"))
        if never:
            assert not any(taken), (digits, filters, taken)
        else:  # (870 events: 4 windows, the first narrated a chunk at a time)
            assert taken[1:] == [True, True, True], (digits, filters, taken)


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("*.jsonl")))
def test_every_trace_read_in_windows_is_narrated_as_the_plain_way_narrates_it(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = TRACES / name
    with open_trace(path) as reader:
        plain = list(Literate(reader.header, registry(), 4).reference_lines(iter(reader), Filters()))
    fast, taken = windowed(path, 4, Filters(), monkeypatch, at_once=True)
    assert fast == plain
    if name == "ch06-streetlights-backprop.jsonl":  # (1,740 events: 7 windows)
        assert taken.count(True) >= 5, taken


@pytest.mark.parametrize("name", ["diverging", "inf at 597", "nan at 699", "a line giving layer_in"])
def test_a_window_that_is_not_all_finite_or_gives_a_left_out_field_is_narrated_as_before(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A number that is not finite in a window (warned of once, as ever), or a line that
    gives a field the state fills in: that window an event at a time, the rest at once."""
    if name == "diverging":
        path = record(tmp_path, "ch04-breaking-gd-diverge", {"iterations": 700})
    elif name == "a line giving layer_in":
        path = record(tmp_path, "ch06-streetlights-backprop", {"iterations": 30})
        text = path.read_text()  # (event 609: pass 21's first step, of streetlights[0])
        assert '{"seq":609,"epoch":21,"samples":[0],"layer":1,"kind":"forward"' in text
        path.write_text(text.replace('{"seq":609,', '{"seq":609,"layer_in":[[1.0,0.0,1.0]],', 1))
    else:
        seq, value = (597, "Infinity") if name == "inf at 597" else (699, "NaN")
        path = edited(tmp_path, "step", seq, "delta", value)
    with open_trace(path) as reader:
        plain = list(Literate(reader.header, registry(), 4).reference_lines(iter(reader), Filters()))
    fast, taken = windowed(path, 4, Filters(), monkeypatch, at_once=True)
    assert fast == plain
    if name != "diverging":
        assert False in taken[1:] and True in taken, taken


@pytest.mark.parametrize("name", [*EDITS, *LINE_EDITS])
def test_an_edited_trace_is_narrated_at_once_as_an_event_at_a_time(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each edit of the ch. 6 trace the reader's tests make (of its order, of a line's
    content): the lines, and the error after them, windows narrated at once or not."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(_edited({**EDITS, **LINE_EDITS}[name]))
    fast, taken = windowed(path, 4, Filters(), monkeypatch, at_once=True)
    slow, _ = windowed(path, 4, Filters(), monkeypatch, at_once=False)
    assert fast == slow
    if name == "untouched":
        assert len(fast) == 1740 + 240 and taken.count(True) >= 5


def test_a_template_whose_words_hold_a_percent_sign_is_never_narrated_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin's names may hold a ``%`` (the window's one format could not take them): its
    steps are narrated an event at a time, as the plain way writes them, and no window is
    even tried at once (an attacker's finding: each was, then refused, at some 10% cost)."""
    import copy
    import dataclasses

    path = record(tmp_path, "ch06-streetlights-backprop", {"iterations": 60})
    rules = copy.copy(registry())
    rules.nonlinearities = dict(rules.nonlinearities)
    relu = rules.nonlinearities["relu"]
    rules.nonlinearities["relu"] = dataclasses.replace(
        relu, rule=dataclasses.replace(relu.rule, derivative_name="re%lu2deriv"))
    with open_trace(path) as reader:
        plain = list(Literate(reader.header, rules, 4).reference_lines(iter(reader), Filters()))
    assert any("re%lu2deriv" in line for line in plain)
    from steptrace.trace.state import NetworkState

    tried: list[int] = []
    timeline = NetworkState.timeline

    def spy(self: NetworkState, *args: Any) -> Any:
        tried.append(1)
        return timeline(self, *args)

    monkeypatch.setattr(NetworkState, "timeline", spy)
    fast, taken = windowed(path, 4, Filters(), monkeypatch, at_once=True, rules=rules)
    assert fast == plain and not any(taken) and len(taken) == 7  # (1,740 events: 7 windows)
    assert tried == []  # (no window's state worked out: none of its steps' templates kept)
