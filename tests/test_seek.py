"""Seekable traces (issue 28): a long run's trace holds a checkpoint (the weights) before
every K-th pass and its end line indexes them, so that ``show --epoch N`` reads from the
checkpoint before pass N, not the whole trace, and prints what a whole read prints; an index
that lies is caught (one line, exit 2), never followed into a wrong answer; a trace without
an index reads as before."""

from __future__ import annotations

import gzip
import json
import re
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from steptrace.cli import cli
from steptrace.trace import header
from steptrace.trace.header import checkpoint_every
from tests.conftest import TRACES, Result

BACKPROP = "ch06-streetlights-backprop"  # [3, 4, 1], 4 samples: 29 events a pass, K = 35
PASSES = 200


@pytest.fixture(autouse=True, scope="module")
def _checkpoints_in_short_runs() -> Any:
    """Checkpoints in runs of more than 1,000 events (not 100,000): these tests' runs are
    short, their K as a long run's (recorded in this process)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(header, "CHECKPOINT_ABOVE", 1000)
        yield


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], prog_name="steptrace",
                                env={"STEPTRACE_PLUGINS": ""})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def experiment(tmp: Path, name: str, **changes: Any) -> Path:
    config = json.loads(run("experiments", "--show", name, "--format", "json").stdout)
    config.update(name="long", **changes)
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 200-pass backprop run recorded plain and gzip-compressed, and a copy of the plain
    one without the end line's index (a whole read, as without seeking)."""
    tmp = tmp_path_factory.mktemp("seek")
    source = experiment(tmp, BACKPROP, iterations=PASSES)
    found = {"plain": tmp / "run.jsonl", "gz": tmp / "run.jsonl.gz"}
    for path in found.values():
        assert run("record", source, "-o", path).exit_code == 0
    lines = found["plain"].read_bytes().splitlines(keepends=True)
    end = json.loads(lines[-1])
    del end["index"]
    found["whole"] = tmp / "whole.jsonl"
    found["whole"].write_bytes(b"".join(lines[:-1]) + dumps(end))
    return found


def dumps(line: dict[str, Any]) -> bytes:
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def one_error_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# -- what the writer writes ----------------------------------------------------------------


def test_k_is_a_checkpoint_about_every_thousand_events_and_at_most_a_few_thousand() -> None:
    assert checkpoint_every(29, 35000) == 35  # the book's backprop: ceil(1000 / 29)
    assert checkpoint_every(29, 35) is None  # no pass 35: no checkpoint, written as before
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(header, "CHECKPOINT_ABOVE", 100_000)
        assert checkpoint_every(29, 3448) is None  # 99,992 events: read whole in no time
        assert checkpoint_every(29, 3449) == 35
    assert checkpoint_every(5000, 10) == 1
    assert checkpoint_every(1, 10**7) == 2500  # 4,000 checkpoints at most


def test_a_long_run_holds_a_checkpoint_before_every_kth_pass(traces: dict[str, Path]) -> None:
    lines = traces["plain"].read_bytes().splitlines(keepends=True)
    header, end = json.loads(lines[0]), json.loads(lines[-1])
    assert (header["schema_version"], header["checkpoint_every"]) == (6, 35)
    checkpoints = [(i, json.loads(line)) for i, line in enumerate(lines)
                   if line.startswith(b'{"kind":"checkpoint"')]
    assert [(c["epoch"], c["seq"]) for _, c in checkpoints] == [
        (35, 1015), (70, 2030), (105, 3045), (140, 4060), (175, 5075)]
    assert end["events"] == PASSES * 29  # (a checkpoint is not an event)
    assert "nonfinite" not in end
    first = len(lines[0])
    for (i, checkpoint), (epoch, seq, offset) in zip(checkpoints, end["index"], strict=True):
        assert (epoch, seq) == (checkpoint["epoch"], checkpoint["seq"])
        assert offset == sum(map(len, lines[:i])) - first  # (from the line after the header)
        assert json.loads(lines[i - 1])["kind"] == "epoch_end"
        assert json.loads(lines[i + 1])["seq"] == seq
    # the weights at the end of pass 34 are those after its last update
    weights = [line for line in run("show", traces["plain"], "--epoch", "34", "--kind", "update",
                                    "--exact").stdout.splitlines() if line.startswith("[")]
    assert str(checkpoints[0][1]["weights"][0][0][0]) in weights[-1]


def test_a_gz_trace_starts_a_gzip_member_at_each_checkpoint(traces: dict[str, Path]) -> None:
    data = traces["gz"].read_bytes()
    plain = traces["plain"].read_bytes()
    whole = gzip.decompress(data)
    assert whole.splitlines()[:-1] == plain.splitlines()[:-1]  # the same lines
    index = json.loads(whole.splitlines()[-1])["index"]
    for epoch, seq, offset in index:  # a gzip member starts there, with the checkpoint
        member = zlib.decompressobj(wbits=31).decompress(data[offset:], 4096)
        assert member.startswith(f'{{"kind":"checkpoint","epoch":{epoch},"seq":{seq},'.encode())
    # the end line is a member of its own, the last
    last = data.rindex(b"\x1f\x8b\x08\x00\x00\x00\x00\x00")
    assert gzip.decompress(data[last:]).startswith(b'{"kind":"end"')


def test_a_short_run_is_written_as_before(tmp_path: Path) -> None:
    """A run of fewer than K passes holds no checkpoint: its trace is what steptrace wrote
    before checkpoints (its golden trace, byte for byte)."""
    golden = TRACES / "ch06-streetlight-single-sample.jsonl"
    fresh = tmp_path / "fresh.jsonl"
    assert run("record", "ch06-streetlight-single-sample", "-o", fresh).exit_code == 0
    header, end = json.loads(fresh.read_bytes().splitlines()[0]), json.loads(
        fresh.read_bytes().splitlines()[-1])
    assert "checkpoint_every" not in header and header["schema_version"] == 1
    assert end == {"kind": "end", "events": 100, "complete": True}
    assert fresh.read_bytes().splitlines()[1:] == golden.read_bytes().splitlines()[1:]


# -- show --epoch: the same lines, read from the checkpoint --------------------------------

SHOWN = [
    ("--epoch", "0"), ("--epoch", "34"), ("--epoch", "35"), ("--epoch", "36"), ("--epoch", "199"),
    ("--epoch", "40", "--epoch", "120", "--kind", "error"),
    ("--epoch", "71", "--sample", "2", "--exact"),
    ("--epoch", "140", "--kind", "update", "--layer", "1"),
    ("--epoch", "140", "--view", "moves"),
    ("--epoch", "140", "--view", "pressure"),  # (reads the whole run: not sought)
    ("--epoch", "200"),  # no such pass: what the trace holds, from a whole read
    ("--epoch", "71", "--sample", "9"),  # nothing matches: the same
]


@pytest.mark.parametrize("args", SHOWN, ids=" ".join)
def test_show_epoch_prints_what_a_whole_read_prints(traces: dict[str, Path],
                                                    args: tuple[str, ...]) -> None:
    whole = run("show", traces["whole"], *args)
    for kind in ("plain", "gz"):
        sought = run("show", traces[kind], *args)
        assert (sought.exit_code, sought.stdout) == (whole.exit_code, whole.stdout)
        assert sought.stderr.replace(str(traces[kind]), "T") == \
            whole.stderr.replace(str(traces["whole"]), "T")
    assert whole.stdout or "no event matches" in whole.stderr


def test_show_epoch_reads_from_the_checkpoint_only(traces: dict[str, Path], tmp_path: Path) -> None:
    """A damaged line before the checkpoint is not read by a seek to a later pass (the seek
    reads only from the checkpoint on), and is by a read of the whole trace."""
    lines = traces["plain"].read_bytes().splitlines(keepends=True)
    # line 101 (seq 99, in pass 3) damaged, its length kept (the index stays true)
    lines[100] = lines[100].replace(b'"kind":"', b'"kynd":"', 1)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"".join(lines))
    assert run("show", damaged, "--epoch", "100").stdout == \
        run("show", traces["plain"], "--epoch", "100").stdout
    assert ":101: bad event" in one_error_line(run("show", damaged, "--epoch", "20"))
    assert ":101: bad event" in one_error_line(run("show", damaged, "--kind", "error"))


def test_a_run_that_diverged_before_the_checkpoint_still_says_where(tmp_path: Path) -> None:
    """The first number that is not finite is warned of whatever the filters: the end line
    says which event it was, and a seek starts at a checkpoint before it."""
    source = experiment(tmp_path, "ch04-breaking-gd-diverge", iterations=3000)
    trace = tmp_path / "div.jsonl"
    assert run("record", source, "-o", trace).exit_code == 0
    lines = trace.read_bytes().splitlines(keepends=True)
    end = json.loads(lines[-1])
    assert end["nonfinite"] == 1626 and b'"seq":1626,' in lines[1626 + 2]  # (1 checkpoint before)
    assert b'"Infinity"' in lines[1626 + 2] and b"Infinity" not in b"".join(lines[:1626 + 2])
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(lines[:-1]) + dumps({k: v for k, v in end.items()
                                                    if k not in ("index", "nonfinite")}))
    shown = run("show", trace, "--epoch", "2900")
    assert shown.stdout.startswith("⚠ [1626] the first number that is not finite: error = inf")
    assert shown.stdout == run("show", whole, "--epoch", "2900").stdout


# -- an index that lies is caught ----------------------------------------------------------


def _with_index(source: Path, target: Path, change: Any) -> Path:
    lines = source.read_bytes().splitlines(keepends=True)
    end = json.loads(lines[-1])
    change(end["index"], lines)
    target.write_bytes(b"".join(lines[:-1]) + dumps(end))
    return target


def _offset_of(lines: list[bytes], number: int) -> int:
    """Where line ``number`` (0: the header) starts, counted from the line after the header."""
    return sum(map(len, lines[1:number]))


LIES = {
    # an offset moved onto an event's line
    "an offset to an event": (lambda index, lines: index[2].__setitem__(2, index[2][2] + 134),
                              "the line there is not a checkpoint"),
    "an offset past the end": (lambda index, lines: index[4].__setitem__(2, 10**9),
                               "entry 4 (pass 175) says byte 1000000000, not after the entry "
                               "before and between the header and the end line"),
    "offsets not increasing": (lambda index, lines: index[3].__setitem__(2, index[1][2]),
                               "entry 3 (pass 140) says byte"),
    "a wrong epoch": (lambda index, lines: index[1].__setitem__(0, 71),
                      "entry 1 is of pass 71; the checkpoints are of passes 35, 70, ..."),
    "a seq past the events": (lambda index, lines: index[4].__setitem__(1, 10**6),
                              "entry 4 (pass 175) says seq 1000000"),
    # entry 2 (pass 105) pointed at pass 140's checkpoint, entry 3 at pass 175's
    "a pass not where it says": (
        lambda index, lines: (index[2].__setitem__(2, index[3][2]),
                              index[3].__setitem__(2, index[4][2]),
                              index[4].__setitem__(2, index[4][2] + 1)),
        "entry 2 says pass 105 (seq 3045) starts at byte"),
}


@pytest.mark.parametrize("lie", list(LIES))
def test_an_index_that_lies_is_one_line_never_a_wrong_answer(
        traces: dict[str, Path], tmp_path: Path, lie: str) -> None:
    change, said = LIES[lie]
    trace = _with_index(traces["plain"], tmp_path / "lies.jsonl", change)
    line = one_error_line(run("show", trace, "--epoch", "120"))
    assert line.startswith(f"Error: {trace}: its index (the end line's) is damaged: ")
    assert said in line
    assert line.endswith(f"; read it whole (steptrace show {trace} without --epoch checks every "
                         "line) or re-record it")
    # read whole, every line is checked and right; the index's lie is said once
    whole = run("show", trace, "--kind", "epoch_end")
    assert whole.exit_code == 0
    assert whole.stdout == run("show", traces["plain"], "--kind", "epoch_end").stdout
    warning, = whole.stderr.splitlines()
    assert warning.startswith(f"warning: {trace}: its end line's index does not match its "
                              "checkpoints (")
    # loaded: an index that cannot be right is not followed (the trace is read whole, in
    # memory, the lie said once); one whose lie shows only at the line it points to is
    # caught when a pass is read from there
    import steptrace
    from steptrace.errors import TraceFormatError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = steptrace.load(trace)
    if lie in ("an offset to an event", "a pass not where it says"):
        assert not caught and type(loaded.events).__name__ == "_SoughtEvents"
        with pytest.raises(TraceFormatError, match=r"its index \(the end line's\) is damaged"):
            loaded.events.filter(epoch=120)
    else:
        assert [str(w.message) for w in caught if "index does not match" in str(w.message)]
        assert type(loaded.events).__name__ == "Events"
        assert len(loaded.events.filter(epoch=120)) == 29
    # and replay says the trace was edited (exit 1)
    replayed = one_error_line(run("replay", trace), code=1)
    assert "but its end line's index does not match its checkpoints" in replayed


def test_a_gz_index_that_points_inside_a_member_is_caught(traces: dict[str, Path],
                                                          tmp_path: Path) -> None:
    data = traces["gz"].read_bytes()
    last = data.rindex(b"\x1f\x8b\x08\x00\x00\x00\x00\x00")
    end = json.loads(gzip.decompress(data[last:]))
    end["index"][2][2] += 7
    lying = tmp_path / "lies.jsonl.gz"
    lying.write_bytes(data[:last] + gzip.compress(dumps(end), mtime=0))
    line = one_error_line(run("show", lying, "--epoch", "120"))
    assert "its index (the end line's) is damaged: entry 2 says pass 105's checkpoint is at " \
        f"byte {end['index'][2][2]}, but what is there cannot be read" in line \
        or "the line there is not a checkpoint" in line


def test_a_checkpoint_at_a_wrong_place_is_refused(traces: dict[str, Path], tmp_path: Path) -> None:
    lines = traces["plain"].read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"checkpoint"'))
    checkpoint = json.loads(lines[at])
    moved = lines[:at] + lines[at + 1:at + 3] + [lines[at]] + lines[at + 3:]
    trace = tmp_path / "moved.jsonl"
    trace.write_bytes(b"".join(moved))
    line = one_error_line(run("show", trace))
    assert line == (f"Error: {trace}:{at + 3}: a checkpoint of pass 35 (seq 1015) after 1017 "
                    "event(s), where pass 35's comes next (checkpoint_every 35, before a pass's "
                    "first event); the trace is damaged: re-record it")
    # a seek to the moved checkpoint finds an event where the index says it is
    assert "the line there is not a checkpoint" in one_error_line(run("show", trace, "--epoch", "40"))
    # one of the wrong seq
    checkpoint["seq"] += 1
    trace.write_bytes(b"".join([*lines[:at], dumps(checkpoint), *lines[at + 1:]]))
    assert "a checkpoint of pass 35 (seq 1016) after 1015 event(s)" in one_error_line(
        run("show", trace))
    assert "entry 0 says pass 35 (seq 1015) starts at byte" in one_error_line(
        run("show", trace, "--epoch", "40"))


def test_a_forged_checkpoint_fails_replay(traces: dict[str, Path], tmp_path: Path) -> None:
    lines = traces["plain"].read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"checkpoint"'))
    forged = lines[at].replace(b"[[[-0.1", b"[[[-0.2", 1)
    assert forged != lines[at]
    trace = tmp_path / "forged.jsonl"
    trace.write_bytes(b"".join([*lines[:at], forged, *lines[at + 1:]]))
    line = one_error_line(run("replay", trace), code=1)
    assert line.startswith(f"Error: {trace}: replay diverges at the checkpoint before pass 35: "
                           "field weights_0_1[0][0]: recorded -0.265955990594852, recomputed "
                           "-0.165955990594852")
    assert line.endswith("the checkpoint does not hold the run's weights: the trace was edited "
                         "or damaged; re-record it")
    assert run("replay", traces["plain"]).exit_code == 0
    assert run("replay", traces["gz"]).exit_code == 0


def test_a_checkpoint_in_a_trace_without_checkpoints_is_refused(tmp_path: Path) -> None:
    lines = (TRACES / "ch06-streetlight-single-sample.jsonl").read_bytes().splitlines(keepends=True)
    planted = dumps({"kind": "checkpoint", "epoch": 1, "seq": 5, "weights": [[[0.5], [0.5], [0.5]]]})
    trace = tmp_path / "planted.jsonl"
    trace.write_bytes(b"".join([*lines[:6], planted, *lines[6:]]))
    assert one_error_line(run("show", trace, "--epoch", "3")) == (
        f"Error: {trace}:7: a checkpoint line in a trace whose header states none (schema 1, no "
        "checkpoint_every); the trace is damaged: re-record it")


def test_a_cut_end_line_or_a_huge_index_reads_as_without_an_index(
        traces: dict[str, Path], tmp_path: Path) -> None:
    data = traces["plain"].read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[:-40])
    assert "truncated in the middle of a line" in one_error_line(run("show", cut, "--epoch", "150"))
    lines = data.splitlines(keepends=True)
    end = json.loads(lines[-1])
    end["index"] = [[35 * (i + 1), 1015 * (i + 1), 1000 + i] for i in range(5000)]
    huge = tmp_path / "huge.jsonl"
    huge.write_bytes(b"".join(lines[:-1]) + dumps(end))
    line = one_error_line(run("show", huge, "--epoch", "150"))
    assert "bad event: end.index: Tuple should have at most 4000 items" in line


def test_an_older_trace_reads_as_before(tmp_path: Path) -> None:
    golden = TRACES / "ch04-hot-and-cold-learning.jsonl"
    assert b'"checkpoint_every"' not in golden.read_bytes().splitlines()[0]
    shown = run("show", golden, "--epoch", "90")
    assert shown.exit_code == 0 and shown.stdout.startswith("── epoch 90")


def test_a_trace_compressed_or_decompressed_since_reads_whole(
        traces: dict[str, Path], tmp_path: Path) -> None:
    """gzip run.jsonl (gunzip run.jsonl.gz): the index's offsets are of the other file, so
    it is read whole, without a word; what it shows is the same."""
    zipped, unzipped = tmp_path / "run.jsonl.gz", tmp_path / "run.jsonl"
    zipped.write_bytes(gzip.compress(traces["plain"].read_bytes()))
    unzipped.write_bytes(gzip.decompress(traces["gz"].read_bytes()))
    expected = run("show", traces["plain"], "--epoch", "150")
    for trace in (zipped, unzipped):
        shown = run("show", trace, "--epoch", "150")
        assert (shown.exit_code, shown.stdout, shown.stderr) == (0, expected.stdout, "")
        assert run("show", trace, "--kind", "epoch_end").stderr == ""


# -- the API: a loaded trace's events read from its file, a pass at a time ------------------


def test_a_loaded_trace_reads_its_events_from_the_file_as_asked(
        traces: dict[str, Path], tmp_path: Path) -> None:
    import steptrace
    from steptrace.errors import BadInput, TraceFormatError

    whole = steptrace.load(traces["whole"])  # (no index: in memory, as before)
    for kind in ("plain", "gz"):
        trace = steptrace.load(traces[kind])
        assert type(trace.events).__name__ == "_SoughtEvents"
        assert len(trace.events) == len(whole.events) == PASSES * 29
        for epoch in (0, 34, 35, 120, [3, 150], [40, 41, 199], 250):
            assert list(trace.events.filter(epoch=epoch)) == list(whole.events.filter(epoch=epoch))
        assert list(trace.events.filter(epoch=[60, 150], kind="update", sample=2)) == \
            list(whole.events.filter(epoch=[60, 150], kind="update", sample=2))
        for seq in (0, 1014, 1015, 1016, 5799, -1, -5800):
            assert trace.events[seq] == whole.events[seq]
        assert list(trace.events[1000:1100:7]) == list(whole.events[1000:1100:7])
        assert list(trace.events[::-500]) == list(whole.events[::-500])
        with pytest.raises(IndexError):
            trace.events[5800]
        assert [w.tolist() for w in trace.weights] == [w.tolist() for w in whole.weights]
        assert trace.errors == whole.errors
        for shown in ({"epoch": 150}, {"epoch": [3, 140], "kind": "error"}, {"epoch": 140,
                      "view": "moves"}, {"epoch": 140, "view": "pressure"}):
            assert trace.show(**shown) == whole.show(**shown)
        for nothing in ({"epoch": 150, "sample": 9}, {"epoch": 250}):
            with pytest.raises(BadInput) as read:
                whole.show(**nothing)  # type: ignore[arg-type]
            assert "the trace holds passes (epoch=) 0–199" in str(read.value)
            with pytest.raises(BadInput, match=f"^{re.escape(str(read.value))}$"):
                trace.show(**nothing)  # type: ignore[arg-type]
        assert repr(trace.events) == repr(whole.events)
        assert trace.replay()
    # the passes before the checkpoint are not read: a damaged line there goes unnoticed
    lines = traces["plain"].read_bytes().splitlines(keepends=True)
    lines[100] = lines[100].replace(b'"kind":"', b'"kynd":"', 1)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"".join(lines))
    trace = steptrace.load(damaged)
    assert list(trace.events.filter(epoch=150)) == list(whole.events.filter(epoch=150))
    with pytest.raises(TraceFormatError, match=":101: bad event"):
        trace.events.filter(epoch=3)
    # saved, it is the file as it was; changed since it was loaded, it says so
    assert trace.save(tmp_path / "copy.jsonl").read_bytes() == damaged.read_bytes()
    damaged.write_bytes(damaged.read_bytes() + b"\n")
    with pytest.raises(BadInput, match="changed since it was loaded: load it again"):
        trace.events.filter(epoch=150)
