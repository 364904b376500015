"""Bad input: exit code 2 and one line on stderr that names the file (and the line) and
says what to do, never a traceback, nothing on stdout.

Bad traces are made by recording a small real trace and damaging a copy; bad experiment
files by editing what ``steptrace experiments --show`` prints.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from steptrace.matrices import PACKED_KEY, Matrix
from tests.conftest import Result, RunCli

SMALL = "ch06-streetlight-single-sample"  # 100 events: header, lines 2-101, end line 102
SMALL_EVENTS = 100
SOME_LINE = -1  # the message names a line, whichever it is (where zlib's stream was cut)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit 2, nothing on stdout, exactly one ``Error: ...`` line on stderr with every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: "), line
    assert "internal error" not in line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


# -- bad traces ------------------------------------------------------------------------------


@pytest.fixture
def good(run_cli: RunCli, tmp_path: Path) -> Path:
    path = tmp_path / "good.jsonl"
    result = run_cli("record", SMALL, "-o", path)
    assert result.exit_code == 0, result.stderr
    assert len(path.read_bytes().splitlines()) == SMALL_EVENTS + 2
    return path


Builder = Callable[[Path, Path], Path]  # (good trace, directory) -> bad trace


def _write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def _lines(good: Path) -> list[bytes]:
    return good.read_bytes().splitlines(keepends=True)


def _edit_line(index: int, edit: Callable[[dict[str, Any]], object]) -> Builder:
    """Parse line ``index`` (0 = header), edit it, write it back compactly."""

    def build(good: Path, directory: Path) -> Path:
        lines = _lines(good)
        data = json.loads(lines[index])
        edit(data)
        lines[index] = json.dumps(data, separators=(",", ":")).encode() + b"\n"
        return _write(directory, "bad.jsonl", b"".join(lines))

    return build


def _raw(name: str, make: Callable[[bytes], bytes]) -> Builder:
    return lambda good, directory: _write(directory, name, make(good.read_bytes()))


def _swap_lines(i: int, j: int) -> Builder:
    def build(good: Path, directory: Path) -> Path:
        lines = _lines(good)
        lines[i], lines[j] = lines[j], lines[i]
        return _write(directory, "bad.jsonl", b"".join(lines))

    return build


def _drop_line(index: int) -> Builder:
    def build(good: Path, directory: Path) -> Path:
        lines = _lines(good)
        del lines[index]
        return _write(directory, "bad.jsonl", b"".join(lines))

    return build


def _missing(good: Path, directory: Path) -> Path:
    return directory / "missing.jsonl"


def _directory(good: Path, directory: Path) -> Path:
    path = directory / "a-directory.jsonl"
    path.mkdir()
    return path


@dataclass(frozen=True)
class BadTrace:
    build: Builder
    fragments: tuple[str, ...]
    line: int | None  # the line the message must name, as "FILE:LINE:" (None: just "FILE:")
    in_header: bool = True  # found before any event is read (show prints nothing first)
    #: replay compares each event with the one it recomputes instead of checking the order:
    #: an event out of place is a divergence there (exit 1), naming the field
    replay_diverges: str | None = None


def _set(**fields: object) -> Callable[[dict[str, Any]], object]:
    return lambda data: data.update(fields)


def _reorder(i: int, j: int) -> Builder:
    """Swap events i and j (line numbers) and renumber every seq: only the order is wrong."""

    def build(good: Path, directory: Path) -> Path:
        lines = [json.loads(line) for line in _lines(good)]
        lines[i], lines[j] = lines[j], lines[i]
        for seq, line in enumerate(lines[1:-1]):
            line["seq"] = seq
        return _write(directory, "bad.jsonl", b"".join(
            json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines))

    return build


def _two_rows(event: dict[str, Any]) -> None:
    """A batch of two samples in a run of one-sample steps (each matrix with its two rows)."""
    event["samples"] = [0, 0]
    for name in ("derivative", "delta", "weighted_sum", "layer_out"):
        if name in event:
            event[name] = event[name] * 2


def _bad_crc(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    packed[-8] ^= 0xFF  # the trailer's CRC-32
    return bytes(packed)


def _line_replaced(index: int, raw: bytes) -> Callable[[bytes], bytes]:
    def make(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        lines[index] = raw
        return b"".join(lines)

    return make


DEEP = b"[" * 100_000 + b"]" * 100_000 + b"\n"


#: Damaged values of the header's ``printed`` (what a traced script printed: its book view,
#: trace schema 4), each with what its one line must say: wrong types, terminal control
#: characters, more characters than a trace keeps (1 MiB), more lines than that.
HOSTILE_PRINTED: dict[str, tuple[object, tuple[str, ...]]] = {
    "a string": ("Error:0.63", ("printed: Input should be a valid dictionary or instance of "
                                "Printed", "'Error:0.63'")),
    "null lines": ({"lines": None}, ("printed.lines: Input should be a valid tuple",)),
    "lines a number": ({"lines": 5, "left_out": 0}, ("printed.lines: Input should be a valid "
                                                     "tuple", "(got 5)")),
    "a line a number": ({"lines": ["ok", 1.5]}, ("printed.lines.1: Input should be a valid string",)),
    "an escape sequence": ({"lines": ["ok", "\x1b[2J\x1b]0;owned\x07"]},
                           ("printed.lines: line 1 holds the control character '\\x1b'",)),
    "a carriage return": ({"lines": ["100%\rdone"]},
                          ("printed.lines: line 0 holds the control character '\\r'",)),
    "a bidirectional override": ({"lines": ["\u202eError:0.63"]},
                                 ("printed.lines: line 0 holds the control character '\\u202e'",)),
    "a line break in a line": ({"lines": ["Error:1\nError:2"]},
                               ("printed.lines: line 0 holds a line break",)),
    "too long": ({"lines": ["x" * (1 << 20), "y" * 9]},
                 ("printed.lines: more than 1,048,576 characters",)),
    "too many lines": ({"lines": [""] * ((1 << 20) + 1)},
                       ("printed.lines: Tuple should have at most 1048576 items",)),
    "left_out negative": ({"lines": [], "left_out": -1},
                          ("printed.left_out: Input should be greater than or equal to 0",)),
    "left_out a string": ({"lines": [], "left_out": "7"},
                          ("printed.left_out: Input should be a valid integer", "'7'")),
    "left_out huge": ({"lines": [], "left_out": 10**30},
                      ("printed.left_out: Input should be less than or equal to",)),
    "an unknown key": ({"lines": [], "stderr": ["boom"]},
                       ("printed.stderr: Extra inputs are not permitted",)),
}


def _printed(value: object, schema_version: int = 4) -> Callable[[dict[str, Any]], object]:
    return _set(printed=value, schema_version=schema_version)


BAD_TRACES = {
    **{f"header printed, {name}": BadTrace(_edit_line(0, _printed(value)),
                                           ("bad header", *fragments, "re-record"), 1)
       for name, (value, fragments) in HOSTILE_PRINTED.items()},
    "header printed under schema 3": BadTrace(
        _edit_line(0, _printed({"lines": ["Error:0.63"]}, schema_version=3)),
        ("bad header", "printed belongs to trace schema 4 and later; this header says schema 3"), 1),
    "missing file": BadTrace(_missing, ("no such file",), None),
    "a directory": BadTrace(_directory, ("is a directory, not a trace",), None),
    "empty file": BadTrace(_raw("empty.jsonl", lambda _: b""),
                           ("empty file", "not a steptrace trace", "steptrace record"), 1),
    "binary garbage": BadTrace(_raw("garbage.jsonl", lambda _: bytes(range(256)) * 8),
                               ("not a steptrace trace", "not JSON", "steptrace record"), 1),
    "json object, not a trace": BadTrace(_raw("object.jsonl", lambda _: b'{"a": 1}\n'),
                                         ('no "format": "steptrace-trace"', "steptrace record"), 1),
    "json array, not a trace": BadTrace(_raw("array.jsonl", lambda _: b"[1,2]\n"),
                                        ('no "format": "steptrace-trace"',), 1),
    "future schema_version": BadTrace(_edit_line(0, _set(schema_version=99)),
                                      ("trace schema 99", "reads schemas 1 to 6", "upgrade steptrace"), 1),
    "older schema_version": BadTrace(_edit_line(0, _set(schema_version=0)),
                                     ("trace schema 0 is not supported", "re-record"), 1),
    "schema_version a string": BadTrace(_edit_line(0, _set(schema_version="1")),
                                        ("schema_version '1' is not a number", "re-record"), 1),
    "schema_version a boolean": BadTrace(_edit_line(0, _set(schema_version=True)),
                                         ("schema_version True is not a number",), 1),
    "header missing a field": BadTrace(_edit_line(0, lambda h: h.pop("fingerprint")),
                                       ("bad header", "fingerprint: Field required", "re-record"), 1),
    "header config mistyped": BadTrace(
        _edit_line(0, lambda h: h["config"].update(alpha="x")),
        ("bad header", "config.alpha: Input should be a valid number", "'x'"), 1),
    "header initial_weights missing a matrix": BadTrace(
        _edit_line(0, lambda h: h["initial_weights"].pop()),
        ("bad header", "initial_weights has 0 matri(ces)", "[3, 1] need 1"), 1),
    "header initial_weights missing a row": BadTrace(
        _edit_line(0, lambda h: h["initial_weights"][0].pop()),
        ("bad header", "initial weights_0_1 has 2 row(s), expected 3"), 1),
    "header initial_weights packed, damaged": BadTrace(
        _edit_line(0, lambda h: h["initial_weights"].__setitem__(
            0, _packed(h["initial_weights"][0], data="00ff00"))),
        ("bad header", "initial_weights.0: a packed 3×1 matrix holds 24 bytes; this one holds 3"), 1),
    "header seed beyond numpy's range": BadTrace(
        _edit_line(0, lambda h: h["config"].update(weights=None, seed=2**32)),
        ("bad header", "config.seed", "4294967295"), 1),
    "header book_view with a format spec": BadTrace(
        _edit_line(0, lambda h: h["config"]["book_view"].update(step="Error:{error:.3f}")),
        ("bad header", "book_view.step", "{error:.3f} must be a plain name"), 1),
    "truncated in the middle of a line": BadTrace(
        _raw("cut.jsonl", lambda data: data[:-10]),
        ("truncated in the middle of a line", "re-record"), SMALL_EVENTS + 2, in_header=False),
    "truncated before the end line": BadTrace(
        _drop_line(-1),
        ("truncated", f"ends after {SMALL_EVENTS} event(s) without its end line", "re-record"),
        SMALL_EVENTS + 2, in_header=False),
    "only a header": BadTrace(
        _raw("header-only.jsonl", lambda data: data.splitlines(keepends=True)[0]),
        ("truncated", "ends after 0 event(s) without its end line"), 2),
    "unknown event kind": BadTrace(_edit_line(5, _set(kind="bogus")),
                                   ("bad event", "'bogus'", "'forward'", "re-record"), 6,
                                   in_header=False),
    "event missing a field": BadTrace(_edit_line(5, lambda e: e.pop("epoch")),
                                      ("bad event", "epoch_end.epoch: Field required"), 6,
                                      in_header=False),
    "event with an extra field": BadTrace(_edit_line(5, _set(bonus=1)),
                                          ("bad event", "bonus: Extra inputs are not permitted"), 6,
                                          in_header=False),
    "error a string": BadTrace(_edit_line(2, _set(error="abc")),
                               ("bad event", "error.error: Input should be a valid number", "'abc'"),
                               3, in_header=False),
    "seq a string": BadTrace(_edit_line(4, _set(seq="3")),
                             ("bad event", "update.seq: Input should be a valid integer", "'3'"), 5,
                             in_header=False),
    "seq a boolean": BadTrace(_edit_line(2, _set(seq=True)),
                              ("bad event", "error.seq: Input should be a valid integer", "True"), 3,
                              in_header=False),
    "event line not an object": BadTrace(
        _raw("array-line.jsonl", lambda data: b"".join(
            [*data.splitlines(keepends=True)[:3], b"[1,2]\n", *data.splitlines(keepends=True)[3:]])),
        ("bad event", "Input should be an object"), 4, in_header=False),
    "events out of order": BadTrace(_swap_lines(3, 4),
                                    ("event seq 3 where seq 2 was expected", "out of order",
                                     "re-record"), 4, in_header=False),
    "a gap in seq": BadTrace(_drop_line(5),
                             ("event seq 5 where seq 4 was expected", "missing"), 6,
                             in_header=False),
    "end line count disagrees": BadTrace(
        _edit_line(-1, _set(events=99)),
        ("end line counts 99 events; the trace holds 100", "re-record"), SMALL_EVENTS + 2,
        in_header=False),
    "a line after the end line": BadTrace(
        _raw("after-end.jsonl", lambda data: data + data.splitlines(keepends=True)[1]),
        ("unexpected line after the end line", "re-record"), SMALL_EVENTS + 3, in_header=False),
    ".gz name, not gzip": BadTrace(_raw("plain.jsonl.gz", lambda data: data),
                                   ("named .gz but not gzip-compressed", "rename it without .gz"),
                                   None),
    "gzip cut short": BadTrace(
        _raw("cut.jsonl.gz", lambda data: gzip.compress(data)[: len(gzip.compress(data)) // 2]),
        ("cannot read", "compressed stream is truncated", "re-record"), SOME_LINE, in_header=False),
    "events reordered, seq renumbered": BadTrace(
        _reorder(1, 2), ("event 0 is out of order", "error of layer 1 where forward of layer 1 "
                         "comes next", "re-record"), 2, in_header=False,
        replay_diverges="field kind: recorded 'error', recomputed 'forward'"),
    "an update before its delta, seq renumbered": BadTrace(
        _reorder(3, 4), ("event 2 is out of order", "a gradient-descent update without its "
                         "deltas"), 4, in_header=False,
        replay_diverges="field kind: recorded 'update', recomputed 'delta'"),
    "a batch's events disagree on its samples": BadTrace(
        _edit_line(3, _two_rows), ("event 2 is out of order", "delta of samples [0, 0] in the "
                                   "step of samples [0]"), 4, in_header=False,
        replay_diverges="field samples (length): recorded 2, recomputed 1"),
    "a nonlinearity not the config's": BadTrace(
        _edit_line(1, _set(nonlinearity="relu")),
        ("bad event", "forward of layer 1 by nonlinearity 'relu'; the config's is 'linear'"), 2,
        in_header=False),
    "an alpha not the config's": BadTrace(
        _edit_line(4, _set(alpha=0.5)), ("bad event", "update with alpha 0.5; the config's is 0.1"),
        5, in_header=False),
    "an event line nested 100,000 deep": BadTrace(
        _raw("deep-event.jsonl", _line_replaced(3, DEEP)), ("bad event",), 4, in_header=False),
    "a header line nested 100,000 deep": BadTrace(
        _raw("deep-header.jsonl", _line_replaced(0, DEEP)), ("not a steptrace trace",), 1),
    "gzip with a bad CRC": BadTrace(
        _raw("bad-crc.jsonl.gz", _bad_crc),
        ("cannot read", "the compressed data is damaged (CRC check failed"), SOME_LINE,
        in_header=False),
    "gzip cut inside the header": BadTrace(
        _raw("cut-header.jsonl.gz", lambda data: gzip.compress(data)[:200]),
        ("compressed stream is truncated",), None),
}

COMMANDS = ["replay", "show", "diff good BAD", "diff BAD good"]


def _run_on(run_cli: RunCli, command: str, good: Path, bad: Path) -> Result:
    if command == "diff good BAD":
        return run_cli("diff", good, bad)
    if command == "diff BAD good":
        return run_cli("diff", bad, good)
    return run_cli(command, bad)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", BAD_TRACES.values(), ids=BAD_TRACES.keys())
def test_bad_trace(run_cli: RunCli, good: Path, tmp_path: Path, case: BadTrace, command: str) -> None:
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = case.build(good, bad_dir)
    result = _run_on(run_cli, command, good, bad)
    if command == "replay" and case.replay_diverges is not None:
        assert result.exit_code == 1, result.stderr
        assert case.replay_diverges in result.stderr and "Traceback" not in result.stderr
        return
    line = assert_one_line_error(result, *case.fragments)
    if case.line == SOME_LINE:
        assert re.match(rf"Error: {re.escape(str(bad))}:[1-9][0-9]*: ", line), line
    else:
        where = f"{bad}:{case.line}: " if case.line is not None else f"{bad}: "
        assert line.startswith(f"Error: {where}"), line
    if command != "show" or case.in_header:
        assert result.stdout == ""


MID_FILE = {name: case for name, case in BAD_TRACES.items() if not case.in_header}


@pytest.mark.parametrize("case", MID_FILE.values(), ids=MID_FILE.keys())
def test_show_streams_up_to_the_damage_then_fails(
    run_cli: RunCli, good: Path, tmp_path: Path, case: BadTrace
) -> None:
    """show narrates as it reads (a trace may be huge): what it printed before the damaged
    line is exactly the start of the good trace's narration, in whole lines, and the
    error still exits 2."""
    bad = case.build(good, tmp_path)
    result = run_cli("show", bad)
    assert result.exit_code == 2
    whole = run_cli("show", good).stdout
    assert whole.startswith(result.stdout)
    assert result.stdout == "" or result.stdout.endswith("\n")


def test_the_damaged_copies_start_from_a_good_trace(run_cli: RunCli, good: Path) -> None:
    """The table above means something only if the undamaged trace is accepted."""
    for args in (("replay", good), ("show", good), ("diff", good, good)):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stderr == ""


# -- bad experiment files ---------------------------------------------------------------------

BASE = "ch06-streetlights-backprop"


def _toml(run_cli: RunCli) -> str:
    result = run_cli("experiments", "--show", BASE)
    assert result.exit_code == 0
    return result.stdout


def _json(run_cli: RunCli) -> dict[str, Any]:
    result = run_cli("experiments", "--show", BASE, "--format", "json")
    assert result.exit_code == 0
    config: dict[str, Any] = json.loads(result.stdout)
    return config


ExperimentBuilder = Callable[[RunCli, Path], Path]  # (run_cli, directory) -> file to record


def toml_edit(*replacements: tuple[str, str]) -> ExperimentBuilder:
    def build(run_cli: RunCli, directory: Path) -> Path:
        text = _toml(run_cli)
        for old, new in replacements:
            assert text.count(old) == 1, f"{old!r} is not once in the TOML of {BASE}"
            text = text.replace(old, new)
        path = directory / "experiment.toml"
        path.write_text(text)
        return path

    return build


def json_edit(edit: Callable[[dict[str, Any]], object]) -> ExperimentBuilder:
    def build(run_cli: RunCli, directory: Path) -> Path:
        data = _json(run_cli)
        edit(data)
        path = directory / "experiment.json"
        path.write_text(json.dumps(data, indent=2))  # NaN becomes the JSON literal NaN
        return path

    return build


def raw_file(name: str, text: str) -> ExperimentBuilder:
    def build(run_cli: RunCli, directory: Path) -> Path:
        path = directory / name
        path.write_text(text)
        return path

    return build


def no_file(name: str) -> ExperimentBuilder:
    return lambda run_cli, directory: directory / name


def experiment_id(name: str) -> ExperimentBuilder:
    return lambda run_cli, directory: Path(name)


SEEDED = ("seed = 1\n", "")
STRATEGY = 'name = "stochastic"'
MINIBATCH = 'name = "minibatch"'
WEIGHTS_4x1 = [[0.1], [0.2], [0.3], [0.4]]
WEIGHTS_3x4 = [[0.1] * 4, [0.2] * 4, [0.3] * 4]


def _packed(rows: list[list[float]], shape: list[int] | None = None,
            data: str | None = None) -> dict[str, Any]:
    """``rows`` in the packed form of steptrace.matrices (or a damaged one)."""
    packed = Matrix(rows).to_json_value(packed=True)
    assert isinstance(packed, dict)  # packed=True: always the packed form
    return {"shape": packed["shape"] if shape is None else shape,
            PACKED_KEY: packed[PACKED_KEY] if data is None else data}


def _weights(*matrices: list[list[float]]) -> Callable[[dict[str, Any]], object]:
    return lambda c: c.update(seed=None, weights=list(matrices))


@dataclass(frozen=True)
class BadExperiment:
    build: ExperimentBuilder
    fragments: tuple[str, ...]
    names_file: bool = True  # the message starts with the experiment file's name


BAD_EXPERIMENTS = {
    "inputs wider than layers[0]": BadExperiment(
        json_edit(lambda c: c.update(layers=[2, 4, 1])), ("inputs[0] has 3 value(s), expected 2",)),
    "goals row count != inputs": BadExperiment(
        json_edit(lambda c: c["goals"].pop()), ("goals has 3 row(s), expected 4",)),
    "goals wider than the output": BadExperiment(
        json_edit(lambda c: c.update(goals=[[1.0, 0.0]] * 4)), ("goals[0] has 2 value(s), expected 1",)),
    "one goal row wider than the others": BadExperiment(
        json_edit(lambda c: c["goals"].__setitem__(0, [1.0, 0.0])),
        ("goals: row [1] has 1 value(s), row [0] has 2", "every row needs the same length")),
    "packed inputs: not hexadecimal": BadExperiment(
        json_edit(lambda c: c.update(inputs=_packed(c["inputs"], data="not hex!"))),
        ("inputs: a packed matrix's float64_le_hex is not hexadecimal",)),
    "packed inputs: too few bytes": BadExperiment(
        json_edit(lambda c: c.update(inputs=_packed(c["inputs"], shape=[5, 3]))),
        ("inputs: a packed 5×3 matrix holds 120 bytes; this one holds 96",)),
    "packed inputs: a shape that is not two sizes": BadExperiment(
        json_edit(lambda c: c.update(inputs=_packed(c["inputs"], shape=[12]))),
        ("inputs: a packed matrix's shape is [rows, columns]", "[12]")),
    "packed inputs: a key too many": BadExperiment(
        json_edit(lambda c: c.update(inputs={**_packed(c["inputs"]), "dtype": "f4"})),
        ('a packed matrix is {"shape": [rows, columns], "float64_le_hex": "..."}', "'dtype'")),
    "packed inputs: NaN inside": BadExperiment(
        json_edit(lambda c: c.update(inputs=_packed([[1.0, float("nan"), 1.0]] * 4))),
        ("inputs[0][1] is nan", "data must be finite")),
    "packed inputs: the wrong width": BadExperiment(
        json_edit(lambda c: c.update(inputs=_packed([[1.0, 0.0]] * 4))),
        ("inputs[0] has 2 value(s), expected 3",)),
    "weights shape wrong": BadExperiment(
        json_edit(_weights(WEIGHTS_3x4, WEIGHTS_4x1[:3])), ("weights_1_2 has 3 row(s), expected 4",)),
    "weights_0_1 transposed": BadExperiment(
        json_edit(_weights([[0.1] * 3] * 4, WEIGHTS_4x1)), ("weights_0_1 has 4 row(s), expected 3",)),
    "too few weight matrices": BadExperiment(
        json_edit(_weights(WEIGHTS_3x4)), ("weights has 1 matri(ces)", "need 2")),
    "ragged rows": BadExperiment(
        toml_edit(("[0.0, 1.0, 1.0]", "[0.0, 1.0]")),
        ("inputs: row [1] has 2 value(s), row [0] has 3", "every row needs the same length")),
    "empty inputs": BadExperiment(
        json_edit(lambda c: c.update(inputs=[], goals=[])), ("inputs is empty", "at least one row")),
    "non-numeric input": BadExperiment(
        json_edit(lambda c: c["inputs"][0].__setitem__(1, "x")),
        ("inputs.0.1: Input should be a valid number", "'x'")),
    "boolean input": BadExperiment(
        json_edit(lambda c: c["inputs"][0].__setitem__(1, True)),
        ("inputs.0.1: Input should be a valid number", "True")),
    "NaN input (JSON literal)": BadExperiment(
        json_edit(lambda c: c["inputs"][2].__setitem__(0, float("nan"))),
        ("inputs[2][0] is nan", "data must be finite")),
    "nan input (TOML)": BadExperiment(
        toml_edit(("[0.0, 0.0, 1.0]", "[0.0, nan, 1.0]")), ("inputs[2][1] is nan", "must be finite")),
    "inf goal (TOML)": BadExperiment(
        toml_edit(("goals = [\n  [1.0]", "goals = [\n  [inf]")), ("goals[0][0] is inf", "must be finite")),
    "zero iterations": BadExperiment(
        toml_edit(("iterations = 60", "iterations = 0")),
        ("iterations: Input should be greater than or equal to 1", "(got 0)")),
    "negative iterations": BadExperiment(
        toml_edit(("iterations = 60", "iterations = -5")),
        ("iterations: Input should be greater than or equal to 1", "(got -5)")),
    "fractional iterations": BadExperiment(
        toml_edit(("iterations = 60", "iterations = 60.5")),
        ("iterations: Input should be a valid integer", "60.5")),
    "minibatch batch_size 0": BadExperiment(
        toml_edit((STRATEGY, f"{MINIBATCH}\nbatch_size = 0")),
        ("strategy minibatch", "batch_size must be between 1 and the 4 samples, not 0"),
        names_file=False),
    "minibatch batch_size > samples": BadExperiment(
        toml_edit((STRATEGY, f"{MINIBATCH}\nbatch_size = 5")),
        ("batch_size must be between 1 and the 4 samples, not 5",), names_file=False),
    "minibatch without batch_size": BadExperiment(
        toml_edit((STRATEGY, MINIBATCH)), ("minibatch", "needs batch_size", "batch_size = 2"),
        names_file=False),
    "minibatch batch_size a string": BadExperiment(
        toml_edit((STRATEGY, f'{MINIBATCH}\nbatch_size = "2"')),
        ("option batch_size takes a whole number, not '2'",), names_file=False),
    "unknown strategy option": BadExperiment(
        toml_edit((STRATEGY, f"{STRATEGY}\nshuffle = true")),
        ("strategy stochastic has no option 'shuffle'", "its options: none"), names_file=False),
    "unknown nonlinearity": BadExperiment(
        toml_edit(('"relu", "linear"', '"relu", "sigmoidd"')),
        ("unknown nonlinearity 'sigmoidd'", "did you mean 'sigmoid'", "known: linear, relu"),
        names_file=False),
    "unknown strategy": BadExperiment(
        toml_edit((STRATEGY, 'name = "adam"')),
        ("unknown strategy 'adam'", "known: full, hot_and_cold, minibatch, stochastic"), names_file=False),
    "frozen weight outside the network": BadExperiment(
        toml_edit(("frozen = []", "frozen = [[1, 4, 0]]")),
        ("frozen weight [1, 4, 0] is not in the network [3, 4, 1]",)),
    "frozen weight of the wrong shape": BadExperiment(
        toml_edit(("frozen = []", "frozen = [[0, 0]]")), ("frozen.0",)),
    "training without goals": BadExperiment(
        json_edit(lambda c: c.update(goals=None)),
        ("goals are missing: training needs one goal row per input row",)),
    "hot_and_cold without step_amount": BadExperiment(
        toml_edit((STRATEGY, 'name = "hot_and_cold"')),
        ("strategy hot_and_cold: needs step_amount",), names_file=False),
    "hot_and_cold with a negative step": BadExperiment(
        toml_edit((STRATEGY, 'name = "hot_and_cold"\nstep_amount = -0.1')),
        ("strategy hot_and_cold: step_amount must be a positive number, not -0.1",),
        names_file=False),
    "hot_and_cold with a step that is not a number": BadExperiment(
        toml_edit((STRATEGY, 'name = "hot_and_cold"\nstep_amount = true')),
        ("option step_amount takes a number, not True",), names_file=False),
    "hot_and_cold with a step of 401 digits": BadExperiment(
        toml_edit((STRATEGY, 'name = "hot_and_cold"\nstep_amount = 1' + "0" * 400)),
        ("option step_amount takes a number, not an integer of 401 digits",), names_file=False),
    "minibatch batch_size a float": BadExperiment(
        toml_edit((STRATEGY, f"{MINIBATCH}\nbatch_size = 2.0")),
        ("option batch_size takes a whole number, not 2.0",), names_file=False),
    "misspelled strategy option": BadExperiment(
        toml_edit((STRATEGY, f"{MINIBATCH}\nbatch_sise = 2")),
        ("strategy minibatch has no option 'batch_sise': did you mean 'batch_size'? its options: "
         "batch_size (int: how many samples make one update)",), names_file=False),
    "book_view numbers unknown": BadExperiment(
        toml_edit(('numbers = "python"', 'numbers = "latex"')),
        ("book_view.numbers: Input should be 'python', 'numpy' or 'ipython-numpy-1.13'",)),
    "negative alpha": BadExperiment(
        toml_edit(("alpha = 0.2", "alpha = -0.2")),
        ("alpha: Input should be greater than or equal to 0", "-0.2")),
    "nan alpha (TOML)": BadExperiment(toml_edit(("alpha = 0.2", "alpha = nan")), ("alpha", "nan")),
    "inf alpha (TOML)": BadExperiment(toml_edit(("alpha = 0.2", "alpha = inf")),
                                      ("alpha: Input should be a finite number", "inf")),
    "alpha a string": BadExperiment(toml_edit(("alpha = 0.2", 'alpha = "0.2"')),
                                    ("alpha: Input should be a valid number", "'0.2'")),
    "both seed and weights": BadExperiment(
        json_edit(lambda c: c.update(weights=[WEIGHTS_3x4, WEIGHTS_4x1])),
        ("give exactly one of 'weights' (explicit) and 'seed' (drawn)",)),
    "neither seed nor weights": BadExperiment(
        toml_edit(SEEDED), ("give exactly one of 'weights' (explicit) and 'seed' (drawn)",)),
    "negative seed": BadExperiment(toml_edit(("seed = 1", "seed = -1")),
                                   ("seed: Input should be greater than or equal to 0",)),
    "seed beyond numpy's range": BadExperiment(
        toml_edit(("seed = 1", "seed = 4294967296")),
        ("seed: Input should be less than or equal to 4294967295", "4294967296")),
    "too few nonlinearities": BadExperiment(
        toml_edit(('["relu", "linear"]', '["relu"]')),
        ("nonlinearities has 1 name(s)", "has 2 weight layer(s)", "one per weight layer")),
    "too many nonlinearities": BadExperiment(
        toml_edit(('["relu", "linear"]', '["relu", "linear", "relu"]')),
        ("nonlinearities has 3 name(s)",)),
    "layers with a zero": BadExperiment(
        toml_edit(("layers = [3, 4, 1]", "layers = [3, 0, 1]")), ("every size must be at least 1",)),
    "unknown arithmetic": BadExperiment(
        toml_edit(('arithmetic = "exact"', 'arithmetic = "fast"')),
        ("arithmetic: Input should be 'exact' or 'blas'", "'fast'")),
    "book_view field unknown": BadExperiment(
        toml_edit(('epoch = "Error:{error}"', 'epoch = "Error:{oops}"')),
        ("book_view.epoch: unknown field(s) ['oops']", "use ['epoch', 'error', 'iteration']")),
    "book_view conversion": BadExperiment(
        toml_edit(('epoch = "Error:{error}"', 'epoch = "Error:{error!z}"')),
        ("book_view.epoch: template field {error!z} must be a plain name",)),
    "book_view format spec": BadExperiment(
        toml_edit(('epoch = "Error:{error}"', 'epoch = "Error:{error:q}"')),
        ("book_view.epoch: template field {error:q} must be a plain name", "e.g. {error}")),
    "unknown top-level key": BadExperiment(
        toml_edit(("alpha = 0.2", "alpha = 0.2\nlearning_rate = 0.1")),
        ("learning_rate: Extra inputs are not permitted",)),
    "missing name": BadExperiment(
        toml_edit((f'name = "{BASE}"\n', "")), ("name: Field required",)),
    "invalid TOML syntax": BadExperiment(
        raw_file("broken.toml", 'name = "x"\nlayers = = [3, 1]\n'),
        ("not valid TOML", "at line 2, column 10")),
    "invalid JSON syntax": BadExperiment(
        raw_file("broken.json", '{\n  "name": "x",\n  "layers": [3, 1\n}\n'),
        ("broken.json:4: not valid JSON", "Expecting ',' delimiter", "name TOML files *.toml")),
    "JSON nested 100,000 deep": BadExperiment(
        raw_file("deep.json", "[" * 100_000 + "]" * 100_000), ("nested too deeply",)),
    "TOML nested 100,000 deep": BadExperiment(
        raw_file("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000), ("nested too deeply",)),
    "a field nested 100,000 deep": BadExperiment(
        raw_file("deep-field.json", '{"name": "x", "layers": ' + "[" * 100_000 + "]" * 100_000
                 + "}"), ("nested too deeply",)),
    "a name that is a path": BadExperiment(
        toml_edit((f'name = "{BASE}"', 'name = "../elsewhere"')),
        ("name: String should match pattern",)),
    "a name that is absolute": BadExperiment(
        toml_edit((f'name = "{BASE}"', 'name = "/tmp/elsewhere"')),
        ("name: String should match pattern",)),
    "a title with a terminal escape": BadExperiment(
        json_edit(lambda c: c.update(title="\x1b[2Jgone")),
        ("title: holds the control character '\\x1b'",)),
    "a template with a terminal escape": BadExperiment(
        json_edit(lambda c: c["book_view"].update(epoch="\x1b]0;owned\x07{error}")),
        ("book_view.epoch: holds the control character '\\x1b'",)),
    "a nonlinearity name with a terminal escape": BadExperiment(
        json_edit(lambda c: c.update(nonlinearities=["relu\x1b[31m", "linear"])),
        ("nonlinearities: holds the control character '\\x1b'",)),
    "JSON that is a list": BadExperiment(
        raw_file("list.json", "[1, 2]\n"), ("an experiment must be a table/object, not list",)),
    "not text": BadExperiment(
        lambda run_cli, directory: _write(directory, "binary.toml", b"\xff\xfe\x00\x81"),
        ("not a text file", "expected TOML or JSON")),
    "experiment file that does not exist": BadExperiment(
        no_file("nope.toml"), ("cannot read", "No such file or directory")),
    "unknown experiment id": BadExperiment(
        experiment_id("ch06-no-such-experiment"),
        ("unknown experiment 'ch06-no-such-experiment'", "listed by `steptrace experiments`",
         "give the path of a .toml/.json experiment file"), names_file=False),
    "misspelt experiment id": BadExperiment(
        experiment_id("ch06-streetlights-backpro"),
        ("did you mean 'ch06-streetlights-backprop'?",), names_file=False),
}


@pytest.mark.parametrize("existing", [False, True], ids=["no output yet", "output exists"])
@pytest.mark.parametrize("case", BAD_EXPERIMENTS.values(), ids=BAD_EXPERIMENTS.keys())
def test_bad_experiment(run_cli: RunCli, tmp_path: Path, case: BadExperiment, existing: bool) -> None:
    source_dir = tmp_path / "experiments"
    source_dir.mkdir()
    source = case.build(run_cli, source_dir)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "out.jsonl"
    if existing:
        output.write_text("keep me")

    result = run_cli("record", source, "-o", output)

    fragments = (f"Error: {source}:", *case.fragments) if case.names_file else case.fragments
    assert_one_line_error(result, *fragments)
    assert result.stdout == ""
    if existing:
        assert output.read_text() == "keep me"
        assert sorted(p.name for p in out_dir.iterdir()) == ["out.jsonl"]
    else:
        assert not output.exists()
        assert list(out_dir.iterdir()) == []  # no temporary file left behind either


RULE_ERRORS = {name: case for name, case in BAD_EXPERIMENTS.items()
               if not case.names_file and "experiment id" not in name}


@pytest.mark.parametrize("case", RULE_ERRORS.values(), ids=RULE_ERRORS.keys())
def test_rule_errors_name_the_experiment_file(run_cli: RunCli, tmp_path: Path, case: BadExperiment) -> None:
    source = case.build(run_cli, tmp_path)
    result = run_cli("record", source, "-o", tmp_path / "out.jsonl")
    assert_one_line_error(result, str(source), *case.fragments)


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_the_unedited_experiment_records(run_cli: RunCli, tmp_path: Path, fmt: str) -> None:
    """The edits above are what makes each file bad: the file as shown records fine."""
    build = toml_edit() if fmt == "toml" else json_edit(lambda c: None)
    source = build(run_cli, tmp_path)
    result = run_cli("record", source, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"recorded {BASE}: 1740 events")


def test_record_into_a_missing_directory(run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "no-such-dir" / "out.jsonl"
    assert_one_line_error(run_cli("record", SMALL, "-o", output),
                          f"Error: {output}: cannot write", "No such file or directory")
    assert not output.parent.exists()


# -- usage errors: one line too, pointing at the command's --help -----------------------------


def assert_usage_error(result: Result, fragment: str) -> None:
    line = assert_one_line_error(result, fragment)
    assert line.endswith("--help')"), line


def test_unknown_arithmetic(run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("keep me")
    result = run_cli("record", BASE, "--arithmetic", "nonsense", "-o", output)
    assert_usage_error(result, "Invalid value for '--arithmetic': 'nonsense' is not one of")
    assert output.read_text() == "keep me"


def test_show_unknown_kind(run_cli: RunCli, good: Path) -> None:
    assert_usage_error(run_cli("show", good, "--kind", "nonsense"),
                       "Invalid value for '--kind': 'nonsense' is not one of 'forward'")


def test_show_book_view_with_a_filter(run_cli: RunCli, good: Path) -> None:
    assert_usage_error(run_cli("show", good, "--view", "book", "--epoch", "1"),
                       "--view book prints the whole run as the book did")


def test_diff_negative_tolerance(run_cli: RunCli, good: Path) -> None:
    assert_usage_error(run_cli("diff", good, good, "--rtol", "-1"), "Invalid value for '--rtol'")


def test_record_output_is_a_directory(run_cli: RunCli, tmp_path: Path) -> None:
    assert_usage_error(run_cli("record", SMALL, "-o", tmp_path), "is a directory")
