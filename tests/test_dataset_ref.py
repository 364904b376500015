"""Datasets by reference: an experiment's ``inputs``/``goals`` (and held-out rows) named as
a file with its sha256. The rows read are bit for bit the inline ones, so a run recorded
by reference has the same events as the same run inline; the trace's header holds the
reference (schema 6) with the path relative to the trace's directory; every reader checks
the hash at open, and a missing, changed or hostile file is one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import steptrace
from steptrace.config import load_config, parse_config
from steptrace.errors import DataFileError
from steptrace.trace.header import DATA_FILES_SCHEMA_VERSION
from tests.conftest import RunCli
from tests.test_bad_input import assert_one_line_error

BACKPROP = "ch06-streetlights-backprop"  # exact, 4 samples of 3, 60 passes
STREETLIGHTS = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
WALK_VS_STOP = [[1.0], [1.0], [0.0], [0.0]]
FINAL_ERROR = 1.5055622665134859e-05  # the golden trace's last pass (and the book's)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def experiment_data(run_cli: RunCli) -> dict[str, Any]:
    shown = run_cli("experiments", "--show", BACKPROP)
    assert shown.exit_code == 0, shown.stderr
    return tomllib.loads(shown.stdout)


def write_experiment(folder: Path, data: dict[str, Any], name: str = "mine.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def referencing(run_cli: RunCli, folder: Path, inputs: Path, goals: Path | None = None,
                file: str | None = None) -> Path:
    """The backprop experiment in ``folder``, its inputs (and goals) by reference."""
    data = experiment_data(run_cli)
    data["inputs"] = {"file": file or os.path.relpath(inputs, folder), "sha256": sha256(inputs)}
    if goals is not None:
        data["goals"] = {"file": os.path.relpath(goals, folder), "sha256": sha256(goals)}
    return write_experiment(folder, data)


@pytest.fixture
def npy_setup(run_cli: RunCli, tmp_path: Path) -> tuple[Path, Path]:
    """An experiment in exp/ naming exp/data/streetlights.npy and walk.npy; its trace in
    out/: (experiment, trace)."""
    data = tmp_path / "exp" / "data"
    data.mkdir(parents=True)
    np.save(data / "streetlights.npy", np.array(STREETLIGHTS))
    np.save(data / "walk.npy", np.array(WALK_VS_STOP))
    experiment = referencing(run_cli, tmp_path / "exp", data / "streetlights.npy", data / "walk.npy")
    trace = tmp_path / "out" / "run.jsonl"
    trace.parent.mkdir()
    result = run_cli("record", experiment, "-o", trace)
    assert result.exit_code == 0, result.stderr
    return experiment, trace


# -- the same numbers, the same events -------------------------------------------------------


def test_a_run_by_reference_has_the_inline_runs_events(
        run_cli: RunCli, npy_setup: tuple[Path, Path], tmp_path: Path) -> None:
    _, trace = npy_setup
    inline = tmp_path / "inline.jsonl"
    assert run_cli("record", BACKPROP, "-o", inline).exit_code == 0
    by_reference, by_value = trace.read_bytes().split(b"\n"), inline.read_bytes().split(b"\n")
    assert by_reference[1:] == by_value[1:]  # every event and the end line, byte for byte
    assert len(by_reference) == 1740 + 3
    header = json.loads(by_reference[0])
    assert header["schema_version"] == DATA_FILES_SCHEMA_VERSION == 6
    assert header["config"]["inputs"] == {
        "file": "../exp/data/streetlights.npy",  # relative to the trace's directory
        "sha256": sha256(tmp_path / "exp" / "data" / "streetlights.npy")}
    assert header["config"]["goals"]["file"] == "../exp/data/walk.npy"
    assert list(header["config"]) == list(json.loads(by_value[0])["config"])  # in its place
    assert steptrace.load(trace).errors[-1] == FINAL_ERROR
    assert steptrace.load(trace).config.inputs == steptrace.load(inline).config.inputs


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_each_format_reads_bit_for_bit_what_inline_numbers_give(tmp_path: Path, suffix: str) -> None:
    """Random numbers of every magnitude, written as each format writes them, and inline."""
    random = np.random.RandomState(7)
    values = random.standard_normal((50, 3)) * 10.0 ** random.randint(-300, 300, (50, 3))
    values[0] = [-0.0, 5e-324, 1.7976931348623157e308]
    path = tmp_path / f"data{suffix}"
    if suffix == ".npy":
        np.save(path, values)
    elif suffix == ".csv":
        path.write_text("\n".join(",".join(repr(v) for v in row) for row in values.tolist()) + "\n")
    else:
        path.write_text(json.dumps(values.tolist()))
    base = {"name": "x", "layers": [3, 1], "nonlinearities": ["linear"], "seed": 0,
            "alpha": 0.1, "iterations": 1, "goals": [[0.0]] * 50}
    inline = parse_config({**base, "inputs": values.tolist()}, "inline")
    referenced = parse_config({**base, "inputs": {"file": path.name, "sha256": sha256(path)}},
                              "referenced", tmp_path)
    assert referenced.inputs == inline.inputs  # bit for bit (-0.0 is not 0.0 here)
    assert np.signbit(referenced.inputs.array[0, 0])
    assert referenced.data_files["inputs"].file == f"data{suffix}"


def test_a_float32_npy_widens_exactly(tmp_path: Path) -> None:
    values = np.array([[0.1, 0.2, 0.3]], dtype=np.float32)
    np.save(tmp_path / "f32.npy", values)
    config = parse_config({"name": "x", "layers": [3, 1], "nonlinearities": ["linear"], "seed": 0,
                           "alpha": 0.1, "iterations": 1, "goals": [[0.0]], "inputs": {
                               "file": "f32.npy", "sha256": sha256(tmp_path / "f32.npy")}},
                          "f32", tmp_path)
    assert config.inputs.array.tolist() == [[float(np.float32(0.1)), float(np.float32(0.2)),
                                             float(np.float32(0.3))]]


@pytest.mark.parametrize("layout", ["fortran order", "big-endian"])
def test_an_npy_in_another_layout_reads_the_same_rows(tmp_path: Path, layout: str) -> None:
    values = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    stored = np.asfortranarray(values) if layout == "fortran order" else values.astype(">f8")
    np.save(tmp_path / "d.npy", stored)
    assert (b"'fortran_order': True" in (tmp_path / "d.npy").read_bytes()) == (layout == "fortran order")
    config = parse_config({"name": "x", "layers": [3, 1], "nonlinearities": ["linear"], "seed": 0,
                           "alpha": 0.1, "iterations": 1, "goals": [[0.0]] * 4, "inputs": {
                               "file": "d.npy", "sha256": sha256(tmp_path / "d.npy")}},
                          "layout", tmp_path)
    assert config.inputs.array.tolist() == values.tolist()
    assert config.inputs.array.dtype == np.float64 and config.inputs.array.flags.c_contiguous


def test_held_out_rows_by_reference(run_cli: RunCli, tmp_path: Path) -> None:
    shown = run_cli("experiments", "--show", "streetlights-overfitting")
    data = tomllib.loads(shown.stdout)
    inline = tmp_path / "inline.jsonl"
    assert run_cli("record", "streetlights-overfitting", "-o", inline).exit_code == 0
    (tmp_path / "held.csv").write_text("\n".join(",".join(map(repr, row))
                                                 for row in data["test_inputs"]) + "\n")
    data["test_inputs"] = {"file": "held.csv", "sha256": sha256(tmp_path / "held.csv")}
    experiment = write_experiment(tmp_path, data)
    trace = tmp_path / "held.jsonl"
    assert run_cli("record", experiment, "-o", trace).exit_code == 0
    assert trace.read_bytes().split(b"\n")[1:] == inline.read_bytes().split(b"\n")[1:]
    assert steptrace.load(trace).test_errors[-1] == steptrace.load(inline).test_errors[-1]
    assert json.loads(trace.read_bytes().split(b"\n")[0])["config"]["test_inputs"]["file"] == "held.csv"


# -- every reader checks the file ------------------------------------------------------------


READERS = [("show",), ("show", "--view", "book"), ("replay",), ("plot", "-o", "{tmp}/p.png"),
           ("html", "-o", "{tmp}/p.html"), ("diff", "{trace}")]


def run_reader(run_cli: RunCli, reader: tuple[str, ...], trace: Path, tmp: Path) -> Any:
    command, *rest = reader
    return run_cli(command, trace, *(arg.format(tmp=tmp, trace=trace) for arg in rest))


@pytest.mark.parametrize("reader", READERS, ids=" ".join)
def test_every_reader_reads_a_trace_by_reference(
        run_cli: RunCli, npy_setup: tuple[Path, Path], tmp_path: Path, reader: tuple[str, ...]) -> None:
    pytest.importorskip("matplotlib") if reader[0] == "plot" else None
    _, trace = npy_setup
    result = run_reader(run_cli, reader, trace, tmp_path)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("reader", READERS, ids=" ".join)
def test_every_reader_refuses_a_changed_file_in_one_line(
        run_cli: RunCli, npy_setup: tuple[Path, Path], tmp_path: Path, reader: tuple[str, ...]) -> None:
    _, trace = npy_setup
    data = tmp_path / "exp" / "data" / "streetlights.npy"
    recorded = sha256(data)
    changed = np.array(STREETLIGHTS)
    changed[3, 2] = 0.0
    np.save(data, changed)
    line = assert_one_line_error(
        run_reader(run_cli, reader, trace, tmp_path),
        f"{trace}: inputs: data file {data} has changed",
        f"the trace gives sha256 {recorded}", f"the file's is {sha256(data)}",
        "restore the file the trace was recorded with, or record it again")
    assert not (tmp_path / "p.html").exists() and not (tmp_path / "p.png").exists()
    assert line.count(recorded) == 1


@pytest.mark.parametrize("reader", READERS, ids=" ".join)
def test_every_reader_refuses_a_missing_file_in_one_line(
        run_cli: RunCli, npy_setup: tuple[Path, Path], tmp_path: Path, reader: tuple[str, ...]) -> None:
    _, trace = npy_setup
    data = tmp_path / "exp" / "data" / "walk.npy"
    recorded = sha256(data)
    data.unlink()
    assert_one_line_error(run_reader(run_cli, reader, trace, tmp_path),
                          f"{trace}: goals: data file ", "walk.npy: no such file",
                          f"(sha256 {recorded})")


def test_load_checks_the_hash_too(npy_setup: tuple[Path, Path], tmp_path: Path) -> None:
    _, trace = npy_setup
    (tmp_path / "exp" / "data" / "walk.npy").write_bytes(b"\x93NUMPY changed")
    with pytest.raises(DataFileError, match=r"goals: data file .*walk.npy has changed"):
        steptrace.load(trace)


def test_a_trace_and_its_data_moved_together_still_read(
        run_cli: RunCli, npy_setup: tuple[Path, Path], tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "exp", moved / "exp")
    shutil.copytree(tmp_path / "out", moved / "out")
    shutil.rmtree(tmp_path / "exp")
    result = run_cli("replay", moved / "out" / "run.jsonl")
    assert result.exit_code == 0, result.stderr
    assert "all 1740 events match (bit for bit)" in result.stdout


def test_a_header_below_schema_6_naming_a_file_is_refused(
        run_cli: RunCli, npy_setup: tuple[Path, Path]) -> None:
    _, trace = npy_setup
    lines = trace.read_bytes().split(b"\n", 1)
    header = json.loads(lines[0])
    header["schema_version"] = 5
    trace.write_bytes(json.dumps(header).encode() + b"\n" + lines[1])
    assert_one_line_error(run_cli("show", trace), "bad header: data files (config.inputs by "
                          "reference) belong to trace schema 6 and later; this header says schema 5")


# -- the experiment file ---------------------------------------------------------------------


def test_a_changed_file_named_by_an_experiment_is_one_line(
        run_cli: RunCli, npy_setup: tuple[Path, Path]) -> None:
    experiment, _ = npy_setup
    data = experiment.parent / "data" / "streetlights.npy"
    given = sha256(data)
    np.save(data, np.zeros((4, 3)))
    assert_one_line_error(run_cli("record", experiment),
                          f"{experiment}: inputs: data file", "streetlights.npy has changed",
                          f"{experiment} gives sha256 {given}", f"the file's is {sha256(data)}",
                          f"put its new sha256 in {experiment}")


def test_a_reference_without_its_sha256_is_told_the_files(run_cli: RunCli, tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.array(STREETLIGHTS))
    data = experiment_data(run_cli)
    data["inputs"] = {"file": "in.npy"}
    experiment = write_experiment(tmp_path, data)
    assert_one_line_error(run_cli("record", experiment),
                          "inputs: the data file in.npy needs its sha256",
                          f'the file\'s is sha256 = "{sha256(tmp_path / "in.npy")}"')


def test_experiments_show_keeps_the_reference(run_cli: RunCli, npy_setup: tuple[Path, Path]) -> None:
    experiment, _ = npy_setup
    shown = run_cli("experiments", "--show", experiment)
    assert shown.exit_code == 0, shown.stderr
    digest = sha256(experiment.parent / "data" / "streetlights.npy")
    assert f'inputs = {{ file = "data/streetlights.npy", sha256 = "{digest}" }}' in shown.stdout
    as_json = json.loads(run_cli("experiments", "--show", experiment, "--format", "json").stdout)
    assert as_json["inputs"] == {"file": "data/streetlights.npy", "sha256": digest}
    # what it prints, written beside the experiment, records the same run
    again = experiment.parent / "again.toml"
    again.write_text(shown.stdout)
    assert load_config(again).inputs == load_config(experiment).inputs


# -- hostile files ---------------------------------------------------------------------------


def hostile(run_cli: RunCli, tmp_path: Path, name: str, content: bytes | None = None,
            digest: str | None = None) -> Any:
    """``record`` of the backprop experiment whose inputs name ``name`` (written with
    ``content`` if given) with its sha256 (or ``digest``)."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    data = experiment_data(run_cli)
    data["inputs"] = {"file": name, "sha256": digest or hashlib.sha256(content or b"").hexdigest()}
    return run_cli("record", write_experiment(tmp_path, data), "-o", tmp_path / "t.jsonl")


def npy_bytes(array: Any, allow_pickle: bool = False) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, array, allow_pickle=allow_pickle)
    return out.getvalue()


@pytest.mark.parametrize(("name", "content", "says"), [
    ("pickled.npy", npy_bytes(np.array([[{"a": 1}]], dtype=object), allow_pickle=True),
     "holds Python objects (a pickled array), which steptrace never unpickles"),
    ("ints.npy", npy_bytes(np.array(STREETLIGHTS, dtype=np.int64)), "holds int64, not floats"),
    ("flat.npy", npy_bytes(np.ones(12)), "holds a 1-D array of shape (12,)"),
    ("cube.npy", npy_bytes(np.ones((2, 2, 3))), "holds a 3-D array of shape (2, 2, 3)"),
    ("cut.npy", npy_bytes(np.array(STREETLIGHTS))[:-8], "it holds 88 bytes of data: the file is cut"),
    ("liar.npy", npy_bytes(np.array(STREETLIGHTS)).replace(b"(4, 3)", b"(9, 3)"),
     "its header says 9×3 float64 numbers"),
    ("pickle.npy", b"\x80\x04\x95", "not a .npy file (numpy.save writes one)"),
    ("text.csv", b"1,0,1\n0,one,1\n", "line 2, value 2: 'one' is not a number"),
    ("header.csv", b"a,b,c\n1,0,1\n", "line 1, value 1: 'a' is not a number"),
    ("ragged.csv", b"1,0,1\n0,1\n", "line 2 has 2 value(s), the first row 3"),
    ("empty.csv", b"\n\n", "holds no rows"),
    ("binary.csv", b"\xff\xfe\x00", "not a text file"),
    ("strings.json", b'[[1, 0, "1"]]', "[0][2]: Input should be a valid number"),
    ("object.json", b'{"rows": 1}', "a JSON data file holds a list of rows"),
    ("broken.json", b"[[1, 0", "not valid JSON"),
    ("data.txt", b"1,0,1\n", "is not a .npy, .csv or .json file"),
])
def test_a_hostile_data_file_is_one_line(run_cli: RunCli, tmp_path: Path, name: str,
                                         content: bytes, says: str) -> None:
    assert_one_line_error(hostile(run_cli, tmp_path, name, content), f"inputs: data file {tmp_path / name}",
                          says)
    assert not (tmp_path / "t.jsonl").exists()


def test_nan_in_a_data_file_is_refused_as_inline_nan_is(run_cli: RunCli, tmp_path: Path) -> None:
    assert_one_line_error(hostile(run_cli, tmp_path, "nan.csv", b"1,0,1\n0,1,nan\n0,0,1\n1,1,1\n"),
                          "inputs[1][2] is nan: data must be finite")
    array = np.array(STREETLIGHTS)
    array[2, 0] = np.inf
    assert_one_line_error(hostile(run_cli, tmp_path, "inf.npy", npy_bytes(array)),
                          "inputs[2][0] is inf: data must be finite")
    data = experiment_data(run_cli)
    data["inputs"] = [[1.0, 0.0, 1.0], [0.0, 1.0, float("nan")], [0, 0, 1], [1, 1, 1]]
    assert_one_line_error(run_cli("record", write_experiment(tmp_path, data, "inline.json")),
                          "inputs[1][2] is nan: data must be finite")


def test_shapes_are_checked_as_inline_ones_are(run_cli: RunCli, tmp_path: Path) -> None:
    assert_one_line_error(hostile(run_cli, tmp_path, "wide.npy", npy_bytes(np.ones((4, 5)))),
                          "inputs[0] has 5 value(s), expected 3")


def test_a_directory_a_device_and_a_fifo_are_refused_without_waiting(
        run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "folder.npy").mkdir()
    assert_one_line_error(hostile(run_cli, tmp_path, "folder.npy", digest="0" * 64),
                          "folder.npy: is a directory, not a data file")
    if Path("/dev/zero").exists():
        (tmp_path / "zero.npy").symlink_to("/dev/zero")
        assert_one_line_error(hostile(run_cli, tmp_path, "zero.npy", digest="0" * 64),
                              "zero.npy: not a regular file (a device, a FIFO or a socket)")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.csv")  # nobody writes to it: opening it must not wait
        assert_one_line_error(hostile(run_cli, tmp_path, "pipe.csv", digest="0" * 64),
                              "pipe.csv: not a regular file (a device, a FIFO or a socket)")


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("steptrace.datafiles.MAX_DATA_FILE", 100)
    assert_one_line_error(hostile(run_cli, tmp_path, "big.npy", npy_bytes(np.array(STREETLIGHTS))),
                          "big.npy: larger than 100 bytes, the most a data file may be")


def test_a_symlink_is_followed_and_its_targets_bytes_hashed(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "shared" / "streetlights.npy"
    target.parent.mkdir()
    target.write_bytes(npy_bytes(np.array(STREETLIGHTS)))
    (tmp_path / "linked.npy").symlink_to(target)
    result = hostile(run_cli, tmp_path, "linked.npy", digest=sha256(target))
    assert result.exit_code == 0, result.stderr
    assert steptrace.load(tmp_path / "t.jsonl").errors[-1] == FINAL_ERROR
    assert json.loads((tmp_path / "t.jsonl").read_bytes().split(b"\n")[0])["config"]["inputs"][
        "file"] == "linked.npy"  # the link, as named


def test_a_malformed_reference_is_a_config_error(run_cli: RunCli, tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.array(STREETLIGHTS))
    data = experiment_data(run_cli)
    data["inputs"] = {"file": "in.npy", "sha256": "abc"}
    assert_one_line_error(run_cli("record", write_experiment(tmp_path, data)),
                          "inputs: sha256 must be 64 hexadecimal digits")
    data["inputs"] = {"file": "in.npy", "sha256": sha256(tmp_path / "in.npy"), "rows": 4}
    assert_one_line_error(run_cli("record", write_experiment(tmp_path, data)),
                          "['rows'] is not one of its keys")


def test_the_data_file_cannot_be_the_trace(run_cli: RunCli, npy_setup: tuple[Path, Path]) -> None:
    experiment, _ = npy_setup
    data = experiment.parent / "data" / "streetlights.npy"
    before = data.read_bytes()
    result = run_cli("record", experiment, "-o", data)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert data.read_bytes() == before


# -- Python ----------------------------------------------------------------------------------


def test_the_api_keeps_the_reference(npy_setup: tuple[Path, Path], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    experiment, _ = npy_setup
    config = steptrace.experiment(str(experiment))
    assert set(config.data_files) == {"inputs", "goals"}
    assert config.inputs.tolist() == STREETLIGHTS
    assert "from data/streetlights.npy, sha256 " in config._repr_html_()
    config.alpha = 0.2  # another setting: still by reference
    assert set(config.data_files) == {"inputs", "goals"}
    monkeypatch.chdir(tmp_path)
    trace = steptrace.record(config)  # in memory: named from the current directory
    assert trace.errors[-1] == FINAL_ERROR
    assert trace.replay()
    assert trace.config.data_files["inputs"].file == "exp/data/streetlights.npy"
    (tmp_path / "elsewhere" / "deep").mkdir(parents=True)
    saved = trace.save(tmp_path / "elsewhere" / "deep" / "run.jsonl")  # named from there
    header = json.loads(saved.read_bytes().split(b"\n")[0])
    assert header["config"]["inputs"]["file"] == "../../exp/data/streetlights.npy"
    assert steptrace.load(saved).replay()
    config.inputs = STREETLIGHTS  # type: ignore[assignment]  # numbers: no longer the file's
    assert set(config.data_files) == {"goals"}
    assert json.loads(steptrace.record(config)._lines.split(b"\n")[0])["config"]["inputs"] == STREETLIGHTS
