"""TraceWriter: all or nothing at the final name; numbers round-trip bit for bit."""

from __future__ import annotations

import gzip
import json
import math
import struct
from pathlib import Path
from typing import NoReturn

import pytest

from steptrace.errors import CannotWrite
from steptrace.trace.events import EpochEndEvent, ErrorEvent, Event, UpdateEvent
from steptrace.trace.header import SCHEMA_VERSION, Header, fingerprint
from steptrace.trace.reader import open_trace
from steptrace.trace.writer import TraceWriter, incomplete_path
from tests.conftest import RunCli, builtin_registry, present

SMALL = "ch06-streetlight-single-sample"  # layers [3, 1], explicit weights

HARD = [
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    5e-324,  # the smallest subnormal
    -5e-324,
    2.2250738585072014e-308,  # the smallest normal
    0.1 + 0.2,  # 0.30000000000000004
    1e308,
    1.7976931348623157e308,  # the largest finite
    1 / 3,
]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@pytest.fixture
def header() -> Header:
    registry = builtin_registry()
    config = registry.experiment(SMALL)
    assert config.weights is not None
    return Header(config=config, initial_weights=config.weights,
                  fingerprint=fingerprint(registry.provenance(config)))


def events() -> list[Event]:
    """An event per hard number, and updates holding them all, three at a time, in the
    3 x 1 weights of the network [3, 1]."""
    out: list[Event] = [EpochEndEvent(seq=i, epoch=i, samples=(0,), layer=1, error=x)
                 for i, x in enumerate(HARD)]
    n = len(HARD)
    for k in range(0, n, 3):
        out.append(UpdateEvent(seq=len(out), epoch=n, samples=(0,), layer=1, alpha=0.1,
                               weight_delta=((-0.0,), (math.inf,), (0.0,)),
                               weights=tuple((x,) for x in HARD[k:k + 3])))
    out.append(ErrorEvent(seq=len(out), epoch=n, samples=(0,), layer=1, prediction=((math.nan,),),
                          goal=((-math.inf,),), error=-0.0))
    return out


def write(path: Path, header: Header, items: list[Event]) -> None:
    with TraceWriter(path, header) as writer:
        for event in items:
            writer.write(event.model_dump(exclude_none=True))
    assert writer.events == len(items)


def read(path: Path) -> tuple[Header, list[Event], int]:
    """The events as written: these tests write numbers, not runs (steptrace.trace.order is not
    checked)."""
    with open_trace(path, check_order=False) as reader:
        read_events = list(reader)
        assert reader.end is not None
        return reader.header, read_events, reader.end.events


def flat_bits(event: Event) -> list[bytes]:
    """Every float of an event, in field order, as its 8 bytes."""
    found: list[bytes] = []

    def walk(value: object) -> None:
        if isinstance(value, float):
            found.append(bits(value))
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(event.model_dump())
    return found


# -- all or nothing ------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new name", "existing trace"])
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()],
                         ids=["exception", "ctrl-c"])
@pytest.mark.parametrize("name", ["trace.jsonl", "trace.jsonl.gz"])
def test_an_exception_keeps_the_recorded_part_beside_the_target(
        tmp_path: Path, header: Header, existing: bool, error: BaseException, name: str) -> None:
    path = tmp_path / name
    if existing:
        path.write_text("keep me")
    with pytest.raises(type(error)), TraceWriter(path, header) as writer:
        for event in events():
            writer.write(event.model_dump(exclude_none=True))
        # half-way: the final name is still what it was; the events are in a hidden file
        if existing:
            assert path.read_text() == "keep me"
        else:
            assert not path.exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] != []
        raise error
    kept = incomplete_path(path)
    assert kept.name == name.replace("trace.", "trace.incomplete.", 1)
    assert writer.saved_incomplete == kept
    if existing:
        assert path.read_text() == "keep me"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, kept.name])
    else:
        assert not path.exists()
        assert [p.name for p in tmp_path.iterdir()] == [kept.name]
    with open_trace(kept, check_order=False) as reader:
        assert len(list(reader)) == len(events())
        expected = ("interrupted (Ctrl-C)" if isinstance(error, KeyboardInterrupt)
                    else "stopped by an error: RuntimeError: boom")
        assert reader.incomplete == expected
        assert reader.end is not None and reader.end.events == len(events())


def test_a_normal_exit_writes_the_end_line(tmp_path: Path, header: Header) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text("an older trace")
    items = events()
    write(path, header, items)

    lines = path.read_text().splitlines()
    assert len(lines) == len(items) + 2
    assert json.loads(lines[0])["kind"] == "header"
    assert json.loads(lines[0])["schema_version"] == SCHEMA_VERSION
    assert lines[-1] == f'{{"kind":"end","events":{len(items)},"complete":true}}'
    assert [p.name for p in tmp_path.iterdir()] == ["trace.jsonl"]  # the temporary file is gone

    read_header, read_events, count = read(path)
    assert read_header == header
    assert count == len(items)
    assert [e.seq for e in read_events] == list(range(len(items)))


def test_an_empty_run_is_a_complete_trace(tmp_path: Path, header: Header) -> None:
    path = tmp_path / "empty-run.jsonl"
    write(path, header, [])
    assert path.read_text().splitlines()[-1] == '{"kind":"end","events":0,"complete":true}'
    assert read(path)[1:] == ([], 0)


def test_cannot_write_into_a_missing_directory(tmp_path: Path, header: Header) -> None:
    path = tmp_path / "missing" / "trace.jsonl"
    with pytest.raises(CannotWrite, match=r"trace\.jsonl: cannot write: No such file"), \
            TraceWriter(path, header):
        pass


# -- numbers, bit for bit ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trace.jsonl", "trace.jsonl.gz"])
def test_hard_numbers_round_trip_bit_for_bit(tmp_path: Path, header: Header, name: str) -> None:
    path = tmp_path / name
    items = events()
    write(path, header, items)
    _, read_events, _ = read(path)

    assert len(read_events) == len(items)
    for written, got in zip(items, read_events, strict=True):
        assert type(got) is type(written)
        assert flat_bits(got) == flat_bits(written), written.kind
    for x, event in zip(HARD, read_events, strict=False):
        assert isinstance(event, EpochEndEvent) and event.error is not None
        assert bits(event.error) == bits(x), x
    updates = [u for u in read_events[len(HARD):len(HARD) + 4] if isinstance(u, UpdateEvent)]
    assert len(updates) == 4
    assert [bits(row[0]) for u in updates for row in present(u.weights)] == [bits(x) for x in HARD]


def test_non_finite_numbers_are_json_strings(tmp_path: Path, header: Header) -> None:
    path = tmp_path / "trace.jsonl"
    items = events()
    write(path, header, items)
    lines = path.read_text().splitlines()
    by_seq = {json.loads(line)["seq"]: line for line in lines[1:-1]}

    assert by_seq[0] == '{"seq":0,"epoch":0,"samples":[0],"layer":1,"kind":"epoch_end","error":"NaN"}'
    assert '"error":"Infinity"}' in by_seq[1]
    assert '"error":"-Infinity"}' in by_seq[2]
    assert '"error":-0.0}' in by_seq[3]
    assert '"error":5e-324}' in by_seq[5]
    assert '"error":0.30000000000000004}' in by_seq[8]
    update = json.loads(by_seq[len(HARD)])
    assert update["weight_delta"] == [[-0.0], ["Infinity"], [0.0]]
    assert update["weights"] == [["NaN"], ["Infinity"], ["-Infinity"]]
    for line in lines:  # standard JSON: no bare NaN / Infinity anywhere
        def bare(name: str, line: str = line) -> NoReturn:
            pytest.fail(f"bare {name} in {line}")

        json.loads(line, parse_constant=bare)


def test_gzip_traces_are_gzip_and_hold_the_same_text(tmp_path: Path, header: Header) -> None:
    plain, packed = tmp_path / "trace.jsonl", tmp_path / "trace.jsonl.gz"
    items = events()
    write(plain, header, items)
    write(packed, header, items)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert read(packed)[0] == read(plain)[0]


def test_recorded_gzip_trace_replays(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl.gz"
    recorded = run_cli("record", SMALL, "-o", path)
    assert recorded.exit_code == 0, recorded.stderr
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.jsonl.gz"]
    result = run_cli("replay", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{path}: all 100 events match (bit for bit)"


# -- the schema ------------------------------------------------------------------------------------


def test_schema_is_json_naming_every_line_kind(run_cli: RunCli) -> None:
    result = run_cli("schema")
    assert result.exit_code == 0, result.stderr
    schema = json.loads(result.stdout)
    assert isinstance(schema, dict)
    assert schema["title"] == f"steptrace-trace line, schema version {SCHEMA_VERSION}"
    text = result.stdout
    for word in ("forward", "update", "header", "error", "delta", "epoch_end", "end"):
        assert f'"{word}"' in text, word
    assert '"NaN"' in schema["description"]


def test_a_file_that_replaces_another_goes_to_the_disk_first_and_a_new_one_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """outputs.finish fsyncs only when the file replaces one (the old one is never lost for
    a new one still in the cache); a new file is renamed into place without waiting for the
    disk (a power failure may cut it, and a cut trace is refused as truncated)."""
    import os

    from steptrace.outputs import atomic_write

    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    target = tmp_path / "page.html"
    with atomic_write(target) as out:
        out.write(b"first")
    assert synced == [] and target.read_bytes() == b"first"
    with atomic_write(target) as out:
        out.write(b"second")
    assert len(synced) == 1 and target.read_bytes() == b"second"


def test_a_line_not_all_finite_is_told_whatever_it_holds() -> None:
    """line_nonfinite (run for every line of a trace with checkpoints, and in replay) looks
    no further than a capital N or I and the line's length for the common, finite line,
    and finds NaN and ±Infinity in numbers, in rows and in a packed matrix alike; a name
    with capitals in it is not a number."""
    import numpy as np

    from steptrace.matrices import json_rows
    from steptrace.trace.emitter import record_json
    from steptrace.trace.writer import PACKED_LINE, line_nonfinite

    def told(record: dict[str, object]) -> bool:
        return line_nonfinite(record_json(record) + b"\n", record)

    base: dict[str, object] = {"seq": 0, "epoch": 0, "samples": [0], "layer": 1, "kind": "update",
                               "alpha": 0.1}
    assert not told({**base, "weight_delta": [[1e308, -5e-324]]})
    assert told({**base, "weight_delta": [[1.0, math.nan]]})
    assert told({**base, "weight_delta": [[-math.inf]]})
    assert told({**base, "error": math.inf})
    assert not told({**base, "rule": "Nesterov-Inertia", "details": {"Nu": 1.0, "I": 2.0}})
    assert told({**base, "rule": "Nesterov", "details": {"momentum": math.nan}})
    big = np.full((30, 40), 0.5)
    assert not told({**base, "weight_delta": json_rows(big)})
    assert len(record_json({**base, "weight_delta": json_rows(big)})) > PACKED_LINE
    for bad in (math.nan, math.inf, -math.inf):
        big[29, 39] = bad
        packed = json_rows(big)
        assert isinstance(packed, dict) and b"N" not in record_json(packed)  # (hex: no capitals)
        assert told({**base, "weight_delta": packed})


def test_only_a_trace_with_an_index_looks_for_its_first_number_not_finite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The end line names the first event not all finite only beside an index (a run long
    enough for checkpoints): a shorter run's writer does not look at its lines for one, and
    a longer one's stops looking once it has found it."""
    from steptrace.recording import record
    from steptrace.trace import header as header_module
    from steptrace.trace import writer

    looked: list[bytes] = []
    found = writer.line_nonfinite

    def counted(line: bytes, record: dict[str, object]) -> bool:
        looked.append(line)
        return found(line, record)

    monkeypatch.setattr(writer, "line_nonfinite", counted)
    registry = builtin_registry()
    config = registry.experiment("ch04-breaking-gd-diverge")
    record(config, registry, tmp_path / "short.jsonl")
    assert looked == [] and "nonfinite" not in (tmp_path / "short.jsonl").read_text()
    monkeypatch.setattr(header_module, "CHECKPOINT_ABOVE", 1000)
    long = config.model_copy(update={"iterations": 3000})
    record(long, registry, tmp_path / "long.jsonl")
    end = json.loads((tmp_path / "long.jsonl").read_bytes().splitlines()[-1])
    assert end["nonfinite"] == 1626 and len(looked) == 1627
    assert b"Infinity" in looked[-1] and b"Infinity" not in b"".join(looked[:-1])


def test_signals_handled_in_a_block_get_their_handlers_back() -> None:
    """outputs.handling (every file written, every recording): its handler in the block,
    the one before after it (a Python function, the default, or Python's own Ctrl-C
    handler), and an ignored signal stays ignored throughout."""
    import signal

    from steptrace.outputs import STOPPING, handling, signals_deferred

    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    def theirs(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    before = [signal.getsignal(number) for number in STOPPING]
    try:
        signal.signal(signal.SIGINT, theirs)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with handling(STOPPING, mine):
            assert signal.getsignal(signal.SIGINT) is mine
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is theirs
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with signals_deferred(), handling(STOPPING, mine):
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        with pytest.raises(KeyboardInterrupt), signals_deferred():
            signal.raise_signal(signal.SIGINT)
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        for number, handler in zip(STOPPING, before, strict=True):
            signal.signal(number, handler)
