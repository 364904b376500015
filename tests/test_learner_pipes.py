"""The learner's child process talks to steptrace over pipes, with no temporary file or
folder: the source it runs is the one steptrace read (a file's, or a notebook cell's with
no file at all), a notebook cell imports what lies beside the notebook, what the child
writes is read as it comes and bounded (a flood of output or of forged records is the
usual one-line error, with memory bounded), and a process the script leaves behind
holding a pipe does not hold the check up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from steptrace.learner.capture import CELL
from steptrace.learner.magic import steptrace_check
from steptrace.learner.prelude import Prelude
from steptrace.learner.runner import LIMITS, MAX_HEADER, Records, ScriptError, capture, script_of
from tests.book_programs import CH06_STREETLIGHTS_BACKPROP

DAMAGED = "steptrace's record of the script's run is damaged (did the script write into it?)"
#: A script's lines that find the records pipe: the one pipe it holds past stdin, stdout
#: and stderr (the input pipe is closed before its first line).
RECORDS_FD = """\
import os, stat
fd = next(int(n) for n in os.listdir("/proc/self/fd")
          if int(n) > 2 and os.path.exists(f"/proc/self/fd/{n}")
          and stat.S_ISFIFO(os.fstat(int(n)).st_mode))
"""


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in plugins alone, as the command line's tests run (STEPTRACE_PLUGINS="")."""
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})


def write(tmp_path: Path, source: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# -- no temporary file or folder --------------------------------------------------------

def test_no_temporary_file_or_folder_is_made(tmp_path: Path) -> None:
    """A script's run, with a prelude of arrays and plain values, and a cell's through the
    magic, with tempfile's makers all refusing (the parent's side)."""
    path = write(tmp_path, "layer_0 = weights_0_1 * alpha\nprint(layer_0.sum())\n")
    prelude = Prelude(imported={"np": ("numpy", "")},
                      values={"weights_0_1": np.arange(6.0).reshape(2, 3), "alpha": 0.5,
                              "rows": [(1, 2.5), None, "x"]})
    refusing = [mock.patch(f"tempfile.{name}", side_effect=AssertionError(name))
                for name in ("TemporaryDirectory", "mkdtemp", "NamedTemporaryFile", "mkstemp",
                             "TemporaryFile", "SpooledTemporaryFile")]
    for patch in refusing:
        patch.start()
    try:
        captured = capture(path, prelude=prelude)
        report = steptrace_check("", CH06_STREETLIGHTS_BACKPROP, {})
    finally:
        for patch in refusing:
            patch.stop()
    assert captured.from_earlier_cells == ("np", "weights_0_1", "alpha", "rows")
    assert [(a.name, a.line) for a in captured.assignments] == [
        ("weights_0_1", 0), ("alpha", 0), ("layer_0", 1)]
    assert captured.assignments[-1].value.tolist() == [[0.0, 0.5, 1.0], [1.5, 2.0, 2.5]]
    assert captured.stdout == "7.5\n"
    assert report is not None and report.exit_code == 0, str(report)


def test_the_child_runs_the_source_steptrace_read(tmp_path: Path) -> None:
    """What runs is the Script's bytes, not the file as it is by then; a file's run has
    ``__file__`` and its folder first on ``sys.path``, as ``python SCRIPT`` gives it."""
    path = write(tmp_path, "layer_0 = 1\n")
    script = script_of("import sys\nlayer_0 = 2\nprint(__file__, sys.path[0], sys.argv)\n",
                       "mine.py", path)
    captured = capture(script)
    assert [a.value.item() for a in captured.assignments] == [2.0]
    resolved = str(path.resolve())
    assert captured.stdout == f"{resolved} {tmp_path.resolve()} {[resolved]!r}\n"


def test_a_cell_has_no_file_and_its_errors_name_its_lines(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell runs as Jupyter runs one: no ``__file__``, the current folder first on
    ``sys.path``; where it raises is its own line (compiled as CELL, traced as such)."""
    monkeypatch.chdir(tmp_path)
    cell = script_of("\nimport sys\nlayer_0 = 1\nprint('__file__' in globals(), sys.path[0])\n"
                     "def f():\n    raise ValueError('no')\nf()\n", "the cell")
    assert not cell.is_file and cell.filename == CELL
    with pytest.raises(ScriptError) as failed:
        capture(cell)
    assert str(failed.value) == "the cell:6: the script raised ValueError: no"
    assert failed.value.captured is not None
    assert failed.value.captured.stdout == f"False {os.getcwd()}\n"
    assert [(a.name, a.line) for a in failed.value.captured.assignments] == [("layer_0", 3)]


def test_a_cell_imports_a_module_beside_the_notebook(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the magic, a cell imports a module from the kernel's current folder (it
    once saw only the temporary folder its file was written to)."""
    (tmp_path / "streetlights_data.py").write_text(
        "import numpy as np\n"
        "streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])\n"
        "walk_vs_stop = np.array([[1, 1, 0, 0]]).T\n")
    monkeypatch.chdir(tmp_path)
    book = CH06_STREETLIGHTS_BACKPROP
    start, end = book.index("streetlights = np.array"), book.index("alpha = ")
    cell = (book[:start] + "from streetlights_data import streetlights, walk_vs_stop\n\n"
            + book[end:])
    report = steptrace_check("--against ch06-streetlights-backprop", cell, {})
    assert report is not None and report.error is None, str(report)
    assert report.exit_code == 0, str(report)


# -- bounded, and no waiting on what the script left behind ------------------------------

@pytest.mark.parametrize("exit_seen_by", ["pidfd", "polling"])
def test_a_process_left_behind_holding_the_pipes_does_not_hold_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_seen_by: str) -> None:
    """The script forks a process into a session of its own (out of the reach of the kill of
    the script's process group) that holds stdout, stderr and the records pipe open for a
    minute; the check ends when the script does (its exit seen through a pidfd, or where
    there is none by polling)."""
    if exit_seen_by == "polling":
        monkeypatch.setattr("steptrace.learner.runner._pidfd", lambda pid: None)
    pid_file = tmp_path / "left.pid"
    path = write(tmp_path, f"""\
        import os, time
        layer_0 = 1
        pid = os.fork()
        if pid == 0:
            os.setsid()
            time.sleep(60)
            os._exit(0)
        open({str(pid_file)!r}, "w").write(str(pid))
        print("done")
        layer_1 = 2
        """)
    started = time.monotonic()
    try:
        captured = capture(path, timeout=30)
        took = time.monotonic() - started
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert took < 10, took
    assert captured.stdout == "done\n"
    assert [a.name for a in captured.assignments] == ["layer_0", "layer_1"]


@pytest.mark.parametrize("how", ["print", "os.write"])
def test_a_script_that_prints_20_mib_is_stopped(tmp_path: Path, how: str) -> None:
    """Through print (the child's cap) or around it (the parent's): the same one line."""
    line = ('print("x" * (20 * 2**20))' if how == "print"
            else 'import os\nfor _ in range(20):\n    os.write(1, b"x" * 2**20)')
    path = write(tmp_path, f"layer_0 = 1\n{line}\n")
    started = time.monotonic()
    with pytest.raises(ScriptError) as failed:
        capture(path, timeout=60)
    assert time.monotonic() - started < 30
    assert str(failed.value) == (f"{path}: the script printed more than "
                                 f"{LIMITS['max_output']:,} characters to its output "
                                 "(steptrace stopped it)")


#: Runs capture on a script in a fresh process and prints the error and how much the
#: process's peak memory grew over the run (MB).
MEASURE = """\
import resource, sys
from steptrace.learner.runner import ScriptError, capture
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    capture(sys.argv[1], timeout=120, limits={"max_numbers": 3_000_000})
    print("no error")
except ScriptError as error:
    print(error)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.parametrize("garbage", ["noise", "records"])
def test_300_mb_written_into_the_records_is_damage_with_bounded_memory(tmp_path: Path,
                                                                       garbage: str) -> None:
    """300 MB into the records pipe: bytes that are no record (no header line within 64
    KiB), or well-formed records of a million numbers each, past what the run may record.
    Either is the "damaged" error, and steptrace's memory grows by far less than 300 MB."""
    if garbage == "noise":
        chunk = 'b"\\xff" * 2**20'
    else:  # (131,000 numbers: some 1 MB a record, 23 of them before the 3,000,000 limit)
        chunk = ('json.dumps({"name": "layer_0", "line": 2, "inplace": False, '
                 '"shape": [131_000]}).encode() + b"\\n" + bytes(8 * 131_000)')
    path = write(tmp_path, RECORDS_FD + textwrap.dedent(f"""\
        import json
        layer_0 = 1
        chunk = {chunk}
        with open(fd, "wb", closefd=False) as records:
            for _ in range(300 * 2**20 // len(chunk)):
                records.write(chunk)
        layer_1 = 2
        """))
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "STEPTRACE_PLUGINS": ""})
    assert done.returncode == 0, done.stderr
    error, grew = done.stdout.splitlines()
    assert error == f"{path}: {DAMAGED}"
    assert float(grew) < 100, grew


def test_the_records_are_read_the_same_however_they_arrive() -> None:
    """The records parsed as they come: split at every byte, or at once, the same run; past
    the child's limits, a header line past 64 KiB, not JSON or a forged shape: damaged."""
    script = script_of("layer_0 = 1\nweights_0_1 = 2\n", "mine.py")
    stream = b"".join(
        json.dumps({"name": name, "line": line, "inplace": False, "shape": shape}).encode()
        + b"\n" + np.arange(float(np.prod(shape))).astype("<f8").tobytes()
        for name, line, shape in [("layer_0", 1, []), ("weights_0_1", 2, [2, 3]),
                                  ("weights_0_1", 2, [0])]) + b'{"end": "ok"}\n'

    def parsed(chunks: list[bytes], **limits: int) -> Records:
        records = Records(script, {**LIMITS, **limits})
        for chunk in chunks:
            records.feed(chunk)
        records.finish()
        return records

    whole, bytewise = parsed([stream]), parsed([stream[i:i + 1] for i in range(len(stream))])
    for records in (whole, bytewise):
        assert not records.damaged and records.end == {"end": "ok"}
        assert [(a.name, a.line, a.value.shape) for a in records.assignments] == [
            ("layer_0", 1, ()), ("weights_0_1", 2, (2, 3)), ("weights_0_1", 2, (0,))]
        assert records.assignments[1].value.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert parsed([stream[:-1]]).end == {"end": "ok"}  # (a last line cut short of its \n)
    cut = stream[:stream.index(b"[2, 3]}\n") + 8 + 20]  # (in the midst of a record's numbers)
    assert parsed([cut]).end is None and not parsed([cut]).damaged
    assert parsed([stream[:30]]).damaged  # (a header line cut short is not JSON)
    for damaged in [parsed([stream], max_assignments=2), parsed([stream], max_numbers=6),
                    parsed([stream], max_value=5), parsed([b" " * MAX_HEADER]),
                    parsed([b"not json\n"]), parsed([b'{"name": "x", "line": 1, "inplace": false, '
                                                     b'"shape": [-1]}\n']),
                    parsed([b'{"name": "x", "line": 1, "shape": [1]}\n'])]:
        assert damaged.damaged
