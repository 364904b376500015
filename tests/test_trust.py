"""Trust: replay and diff never say "match" for what they did not compare; hostile or broken
input is one line and exit 2; memory stays bounded; writing never clobbers; closed pipes hide
no exit code. Each test is one way the promise broke (issue 11), kept broken-proof here."""

from __future__ import annotations

import gzip
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from steptrace import __version__
from tests.conftest import ROOT, Result, RunCli

HOT_COLD = "ch04-hot-and-cold-learning"  # updates by a rule of its own, with details
SMALL = "ch06-streetlight-single-sample"  # [3, 1], 20 passes x 5 events
BACKPROP = "ch06-streetlights-backprop"
STEPTRACE = [sys.executable, "-m", "steptrace"]
ENV = {**os.environ, "STEPTRACE_PLUGINS": ""}


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n"
                              for line in lines))
    return path


def one_error_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture
def hot_cold(run_cli: RunCli, tmp_path: Path) -> Path:
    path = tmp_path / "hot-cold.jsonl"
    assert run_cli("record", HOT_COLD, "-o", path).exit_code == 0
    return path


# -- 1. replay and diff compare every recorded field ---------------------------------------------


def _edit_details(edit: Callable[[dict[str, float]], object]) -> Callable[[dict[str, Any]], None]:
    def apply(line: dict[str, Any]) -> None:
        if line.get("kind") == "update":
            edit(line["details"])
    return apply


@pytest.mark.parametrize(("case", "edit", "field"), [
    ("emptied", _edit_details(lambda d: d.clear()), "details.up_prediction"),
    ("one key dropped", _edit_details(lambda d: d.pop("down_error")), "details.down_error"),
    ("one key added", _edit_details(lambda d: d.update(bonus=1.0)), "details.bonus"),
])
def test_tampered_details_never_replay_or_diff_as_a_match(
        run_cli: RunCli, hot_cold: Path, tmp_path: Path, case: str,
        edit: Callable[[dict[str, Any]], None], field: str) -> None:
    lines = lines_of(hot_cold)
    for line in lines:
        edit(line)
    tampered = write_lines(tmp_path / "tampered.jsonl", lines)
    replayed = run_cli("replay", tampered)
    assert replayed.exit_code == 1, replayed.stdout
    assert f"field {field}" in replayed.stderr
    for a, b in ((tampered, hot_cold), (hot_cold, tampered)):  # both argument orders
        compared = run_cli("diff", a, b)
        assert compared.exit_code == 1, compared.stdout
        assert f"field {field}" in compared.stdout


@pytest.mark.parametrize(("where", "value", "field"), [
    (("book_view", "epoch"), "Error:{error}!", "book_view.epoch"),
    (("book_view", "every"), 7, "book_view.every"),
    (("input_name",), "lights", "input_name"),
    (("title",), "Another title", "title"),
])
def test_a_header_unlike_its_registered_experiment_does_not_replay(
        run_cli: RunCli, hot_cold: Path, tmp_path: Path, where: tuple[str, ...], value: object,
        field: str) -> None:
    lines = lines_of(hot_cold)
    target = lines[0]["config"]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    tampered = write_lines(tmp_path / "tampered.jsonl", lines)
    result = run_cli("replay", tampered)
    line = one_error_line(result, code=1)
    assert f"is not experiment {HOT_COLD!r} as registered: field {field}: recorded" in line
    assert result.stdout == ""


def test_a_header_with_rules_it_did_not_use_does_not_replay(
        run_cli: RunCli, hot_cold: Path, tmp_path: Path) -> None:
    lines = lines_of(hot_cold)
    lines[0]["fingerprint"]["rules"]["nonlinearity:relu"] = f"steptrace_builtins.nonlinearities {__version__}"
    line = one_error_line(run_cli("replay", write_lines(tmp_path / "t.jsonl", lines)), code=1)
    assert "the header's rules are not those of its config: not used ['nonlinearity:relu']" in line


def test_a_header_with_another_schema_version_does_not_replay(
        run_cli: RunCli, hot_cold: Path, tmp_path: Path) -> None:
    lines = lines_of(hot_cold)
    lines[0]["schema_version"] = 2
    line = one_error_line(run_cli("replay", write_lines(tmp_path / "t.jsonl", lines)), code=1)
    assert "the header says schema 2; a trace of its config is schema 1" in line


def test_replay_says_what_it_held_the_header_to(run_cli: RunCli, hot_cold: Path, tmp_path: Path) -> None:
    assert run_cli("replay", hot_cold).stdout.splitlines()[1] == (
        f"{hot_cold}: the header agrees with experiment {HOT_COLD!r} "
        f"(steptrace_builtins.book {__version__})")
    # a trace that names no experiment (as before fingerprints named them) is its own config
    lines = lines_of(hot_cold)
    del lines[0]["fingerprint"]["rules"][f"experiment:{HOT_COLD}"]
    older = write_lines(tmp_path / "older.jsonl", lines)
    replayed = run_cli("replay", older)
    assert replayed.exit_code == 0, replayed.stderr
    assert replayed.stdout.splitlines()[1] == (
        f"{older}: the header agrees with its config (its own, not a registered experiment's)")
    own = tmp_path / "own.toml"
    own.write_text(run_cli("experiments", "--show", HOT_COLD).stdout.replace(
        f'name = "{HOT_COLD}"', 'name = "mine"'))
    trace = tmp_path / "own.jsonl"
    assert run_cli("record", own, "-o", trace).exit_code == 0
    assert run_cli("replay", trace).stdout.splitlines()[1] == (
        f"{trace}: the header agrees with its config (its own, not a registered experiment's)")


def test_diff_of_traces_whose_configs_differ_exits_1(run_cli: RunCli, tmp_path: Path) -> None:
    base = tmp_path / "base.jsonl"
    assert run_cli("record", SMALL, "-o", base).exit_code == 0
    lines = lines_of(base)
    lines[0]["config"]["book_view"]["epoch"] = "Err:{error}"
    other = write_lines(tmp_path / "other.jsonl", lines)
    for a, b in ((base, other), (other, base)):
        result = run_cli("diff", a, b)
        assert result.exit_code == 1
        assert result.stdout.splitlines()[:2] == [
            "the headers differ in what ran:",
            f"  config field book_view.epoch: {a} {lines_of(a)[0]['config']['book_view']['epoch']!r}, "
            f"{b} {lines_of(b)[0]['config']['book_view']['epoch']!r}"]
    events_only = run_cli("diff", base, other, "--events-only")
    assert events_only.exit_code == 0
    assert events_only.stdout.splitlines()[-1] == "100 events agree (bit for bit)"


@pytest.mark.parametrize(("command", "expected"), [
    ("{st} diff {a} {b} | true", 1),  # the reader is gone before the first line
    ("{st} diff {a} {b} | head -1", 1),
    ("{st} show {b} --view book | true", 0),
    ("{st} show {cut} | true", 2),  # the damage is found after the reader left
    ("{st} show {a} | head -1", 0),
])
def test_a_closed_pipe_does_not_hide_the_exit_code(tmp_path: Path, command: str, expected: int) -> None:
    a, b, cut = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "cut.jsonl"
    subprocess.run([*STEPTRACE, "record", BACKPROP, "-o", str(a)], env=ENV, check=True,
                   capture_output=True)
    lines = lines_of(a)
    forward = next(line for line in lines[40:] if line.get("kind") == "forward")
    forward["weighted_sum"][0][0] += 1.0
    write_lines(b, lines)
    cut.write_bytes(a.read_bytes()[:-30])
    st = f"{sys.executable} -m steptrace"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.format(st=st, a=a, b=b, cut=cut)],
        env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == expected, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# -- 2. hostile or broken input: one line, exit 2 ------------------------------------------------


def test_deeply_nested_experiment_files_are_refused(run_cli: RunCli, tmp_path: Path) -> None:
    for name, text in (("deep.json", "[" * 100_000 + "]" * 100_000),
                       ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000),
                       ("deep2.json", '{"name": "x", "layers": ' + "[" * 100_000 + "]" * 100_000 + "}")):
        path = tmp_path / name
        path.write_text(text)
        line = one_error_line(run_cli("record", path))
        assert str(path) in line
        assert "nested too deeply" in line or "not valid" in line, line


def test_a_deeply_nested_event_line_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    raw = good.read_bytes().splitlines(keepends=True)
    raw[3] = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(raw))
    for args in (("show", bad), ("replay", bad), ("diff", good, bad),
                 ("html", bad, "-o", tmp_path / "p.html")):
        line = one_error_line(run_cli(*args))
        assert f"{bad}:4: bad event" in line


def _renumber(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for seq, line in enumerate(lines[1:-1]):
        line["seq"] = seq
    return lines


READERS = ["show", "show --view book", "show --view pressure", "html", "plot", "diff"]


def _read(run_cli: RunCli, tmp_path: Path, reader: str, good: Path, bad: Path) -> Result:
    words = reader.split()
    if words[0] == "diff":
        return run_cli("diff", good, bad)
    if words[0] in ("html", "plot"):
        suffix = ".html" if words[0] == "html" else ".png"
        return run_cli(words[0], bad, "-o", tmp_path / f"out{suffix}")
    return run_cli(*words, bad)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("case", "swap", "fragment"), [
    ("forward and error swapped", (1, 2), "error of layer 1 where forward of layer 1 comes next"),
    ("update before its delta", (3, 4), "a gradient-descent update without its deltas"),
    ("the next pass before this one's end", (5, 6), "a forward event of epoch 1 in epoch 0"),
    ("a pass's end inside a step", (4, 5), "the end of a pass in the middle of a step"),
])
def test_events_reordered_with_seq_renumbered_are_refused(
        run_cli: RunCli, tmp_path: Path, reader: str, case: str, swap: tuple[int, int],
        fragment: str) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    lines = lines_of(good)
    i, j = swap
    lines[i], lines[j] = lines[j], lines[i]
    bad = write_lines(tmp_path / "bad.jsonl", _renumber(lines))
    pytest.importorskip("matplotlib") if reader == "plot" else None
    line = one_error_line(_read(run_cli, tmp_path, reader, good, bad))
    assert "out of order" in line and fragment in line, line


@pytest.mark.parametrize("reader", READERS)
def test_events_whose_batch_sizes_disagree_are_refused(run_cli: RunCli, tmp_path: Path, reader: str) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", "streetlights-minibatch", "-o", good).exit_code == 0
    lines = lines_of(good)
    delta = next(line for line in lines if line.get("kind") == "delta" and line["layer"] == 1)
    delta["samples"] = delta["samples"][:1]
    delta["derivative"], delta["delta"] = delta["derivative"][:1], delta["delta"][:1]
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    pytest.importorskip("matplotlib") if reader == "plot" else None
    line = one_error_line(_read(run_cli, tmp_path, reader, good, bad))
    assert "in the step of samples [0, 1]" in line, line


def test_a_gz_trace_with_a_bad_crc_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    data = bytearray(gzip.compress(good.read_bytes()))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(bytes(data))
    for args in (("show", bad), ("show", bad, "--view", "book"), ("replay", bad), ("diff", good, bad)):
        line = one_error_line(run_cli(*args))
        assert "the compressed data is damaged (CRC check failed" in line, line


def test_a_full_disk_mid_recording_is_one_line_and_leaves_nothing(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills after 20 kB (a real tmpfs below, when the machine lets us mount one)."""
    import steptrace.outputs as outputs

    real = outputs.create_temporary

    class Filling:
        def __init__(self, file: IO[bytes]) -> None:
            self.file, self.written = file, 0

        def write(self, data: bytes) -> int:
            self.written += len(data)
            if self.written > 20_000:
                raise OSError(28, "No space left on device")
            return self.file.write(data)

        def __getattr__(self, name: str) -> Any:  # the file's own, as they are
            return getattr(self.file, name)

    def filling(target: Path) -> tuple[Filling, Path]:
        file, path = real(target)
        return Filling(file), path

    monkeypatch.setattr("steptrace.trace.writer.create_temporary", filling)
    trace = tmp_path / "run.jsonl"
    trace.write_text("an older trace")
    for name in (trace, tmp_path / "run.jsonl.gz"):
        line = one_error_line(run_cli("record", BACKPROP, "-o", name))
        assert f"{name}: cannot write: No space left on device (free some space" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]
    assert trace.read_text() == "an older trace"


def test_a_really_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        done = subprocess.run([*STEPTRACE, "record", BACKPROP, "-o", str(disk / "run.jsonl")],
                              env=ENV, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"Error: {disk / 'run.jsonl'}: cannot write: No space left")
        assert len(done.stderr.splitlines()) == 1
        assert list(disk.iterdir()) == []  # the space is given back
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_file_too_large_for_its_limit(tmp_path: Path) -> None:
    """RLIMIT_FSIZE: the write fails with EFBIG (SIGXFSZ ignored): one line, nothing left."""
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)); "
            "from steptrace.cli import main; sys.argv[1:] = sys.argv[1:]; main()")
    done = subprocess.run([sys.executable, "-c", code, "record", BACKPROP, "-o",
                           str(tmp_path / "run.jsonl")], env=ENV, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"Error: {tmp_path / 'run.jsonl'}: cannot write: File too large")
    assert list(tmp_path.iterdir()) == []


SIGNAL_IN_HEADER = """
import os, signal, sys
import steptrace.trace.writer as tracefile
real = tracefile.create_temporary
sent_signal = getattr(signal, sys.argv[1])
class Signalling:
    def __init__(self, file):
        self.file, self.sent = file, False
    def write(self, data):
        if not self.sent:  # the first write is the header's: the signal comes in its middle
            self.sent = True
            os.kill(os.getpid(), sent_signal)
            half = len(data) // 2
            self.file.write(data[:half])
            return self.file.write(data[half:])
        return self.file.write(data)
    def __getattr__(self, name):
        return getattr(self.file, name)
def signalling(target):
    file, path = real(target)
    return Signalling(file), path
tracefile.create_temporary = signalling
from steptrace.cli import main
sys.argv[1:] = sys.argv[2:]
main()
"""


@pytest.mark.parametrize(("name", "code", "reason"), [
    ("SIGINT", 130, "interrupted (Ctrl-C)"),
    ("SIGTERM", 143, "terminated (SIGTERM)"),
])
def test_a_signal_while_the_header_is_written(tmp_path: Path, name: str, code: int, reason: str) -> None:
    trace = tmp_path / "run.jsonl"
    done = subprocess.run([sys.executable, "-c", SIGNAL_IN_HEADER, name, "record", BACKPROP,
                           "-o", str(trace)], env=ENV, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    kept = tmp_path / "run.incomplete.jsonl"
    assert done.stderr.strip() == (f"Error: {reason}: the 0 events recorded so far are in {kept} "
                                   "(marked incomplete)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.incomplete.jsonl"]
    header, end = lines_of(kept)
    assert header["config"]["name"] == BACKPROP
    assert end == {"kind": "end", "events": 0, "complete": False, "reason": reason}


def signal_once_a_file_appears(args: list[str], folder: Path, sent: signal.Signals
                               ) -> tuple[int, str]:
    """Run ``steptrace ARGS`` and send it ``sent`` as soon as a file appears in ``folder``
    (its temporary file): its exit code and standard error. Skips if it finished first."""
    process = subprocess.Popen([*STEPTRACE, *args], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(folder.iterdir()) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.001)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the command finished before the signal came (a very fast machine)")
    return process.returncode, stderr


def test_a_real_ctrl_c_while_a_big_header_is_written(run_cli: RunCli, tmp_path: Path) -> None:
    """A dataset of 2 million numbers (a 33 MB header): Ctrl-C as soon as the file appears."""
    config = json.loads(run_cli("experiments", "--show", BACKPROP, "--format", "json").stdout)
    rows = 2_000_000 // 100
    config.update(name="big", layers=[100, 4, 1], iterations=1, seed=1, weights=None,
                  inputs={"shape": [rows, 100], "float64_le_hex": "00" * 8 * rows * 100},
                  goals={"shape": [rows, 1], "float64_le_hex": "00" * 8 * rows})
    source = tmp_path / "big.json"
    source.write_text(json.dumps(config))
    out = tmp_path / "out"
    out.mkdir()
    code, stderr = signal_once_a_file_appears(
        ["record", str(source), "-o", str(out / "big.jsonl")], out, signal.SIGINT)
    assert code == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["big.incomplete.jsonl"]
    assert lines_of(out / "big.incomplete.jsonl")[-1]["complete"] is False


def test_messages_are_one_bounded_line_without_terminal_codes(run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    lines = lines_of(good)
    lines[1]["nonlinearity"] = "\x1b[2J" + "A" * 10_000_000
    lines[0]["config"]["title"] = "fine"
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    line = one_error_line(run_cli("show", bad))
    assert len(line) < 1200 and "\x1b" not in line and "\\x1b" in line
    hostile = tmp_path / "\x1b[31mred\nname.jsonl"
    line = one_error_line(run_cli("show", hostile))
    assert "\x1b" not in line and "\\x1b[31mred\\nname.jsonl: no such file" in line
    header_title = lines_of(good)
    header_title[0]["config"]["title"] = "\x1b]0;pwned\x07"
    line = one_error_line(run_cli("show", write_lines(tmp_path / "t.jsonl", header_title)))
    assert "control character" in line and "\x1b" not in line
    experiment = tmp_path / "e.toml"
    experiment.write_text(run_cli("experiments", "--show", SMALL).stdout.replace(
        "title = ", 'title = "\\u001b[2J" #', 1))
    line = one_error_line(run_cli("record", experiment))
    assert "title" in line and "control character" in line


# -- 3. memory stays bounded ---------------------------------------------------------------------


def _peak_rss_mb(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """Run ``python -m steptrace ARGS`` in a fresh process: exit code, stderr, peak RSS (MB)."""
    # VmHWM, not ru_maxrss: the latter keeps the forked test process's peak across exec.
    code = ("import re, runpy, sys; sys.argv = ['steptrace', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('steptrace', run_name='__main__')\n"
            "finally:\n    status = open('/proc/self/status').read()\n"
            "    print(re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], env=ENV, capture_output=True,
                          text=True, timeout=300, cwd=cwd)
    *message, peak = done.stderr.strip().splitlines()
    return done.returncode, "\n".join(message), int(peak) / 1024


@pytest.mark.parametrize("args", [["show", "/dev/zero"], ["record", "/dev/zero"],
                                  ["replay", "/dev/zero"]])
def test_endless_input_is_refused_within_bounded_memory(tmp_path: Path, args: list[str]) -> None:
    code, message, peak = _peak_rss_mb(args, tmp_path)
    assert code == 2, message
    assert message.startswith("Error: /dev/zero") and ("256 MiB" in message or "128 MiB" in message)
    assert peak < 800, peak  # the limit's worth, once


def test_a_gzip_bomb_is_refused_early(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as file:
        zeros = b"0" * (1 << 24)
        for _ in range(64):  # 1 GiB of "0" without a newline, about 1 MB compressed
            file.write(zeros)
    assert bomb.stat().st_size < 2_000_000
    code, message, peak = _peak_rss_mb(["show", str(bomb)], tmp_path)
    assert code == 2, message
    assert "expands more than 200-fold" in message and "gunzip" in message
    assert peak < 200, peak


def test_a_huge_experiment_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as file:
        file.truncate(1 << 30)  # 1 GiB, sparse: nothing to read
    code, message, peak = _peak_rss_mb(["record", str(huge)], tmp_path)
    assert code == 2
    assert message == (f"Error: {huge}: larger than 128 MiB, the most an experiment file may be "
                       "(is this an experiment?)")
    assert peak < 200, peak


def test_a_line_longer_than_the_limit(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("steptrace.trace.reader.MAX_LINE", 5000)
    good = tmp_path / "good.jsonl"
    assert run_cli("record", BACKPROP, "-o", good).exit_code == 0  # a header of 1900 bytes
    lines = lines_of(good)
    assert lines[8]["kind"] == "forward"
    lines[8]["layer_out"] = [[0.1] * 2000]
    line = one_error_line(run_cli("show", write_lines(tmp_path / "long.jsonl", lines)))
    assert f"{tmp_path / 'long.jsonl'}:9: cannot read: a line longer than 5000 bytes" in line


# -- 4. writing never clobbers --------------------------------------------------------------------


def test_a_planted_link_at_the_old_temporary_name_is_not_followed(run_cli: RunCli, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "run.jsonl"
    for pid in {os.getpid(), *range(os.getpid() - 5, os.getpid() + 5)}:
        (tmp_path / f".run.jsonl.{pid}.tmp").symlink_to(victim)
    assert run_cli("record", SMALL, "-o", out).exit_code == 0
    assert victim.read_text() == "precious"
    assert lines_of(out)[0]["kind"] == "header"
    assert all(p.is_symlink() for p in tmp_path.glob(".run.jsonl.*.tmp"))


def test_an_output_that_is_not_a_regular_file_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    specials = [fifo, tmp_path]
    if os.geteuid() == 0:  # a copy of /dev/null's device node, in the test's own directory
        device = tmp_path / "null"
        os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))
        specials.append(device)
    trace = tmp_path / "t.jsonl"
    assert run_cli("record", SMALL, "-o", trace).exit_code == 0
    for special in specials:
        for args in (("record", SMALL, "-o", special), ("html", trace, "-o", special),
                     ("plot", trace, "-o", special)):
            if args[0] == "plot" and special == tmp_path:
                continue  # a directory: click refuses it first (dir_okay=False)
            line = one_error_line(run_cli(*args))
            assert str(special) in line
        assert not special.is_file()


def test_a_command_never_replaces_its_own_input(run_cli: RunCli, tmp_path: Path) -> None:
    experiment = tmp_path / "mine.toml"
    experiment.write_text(run_cli("experiments", "--show", SMALL).stdout)
    before = experiment.read_bytes()
    line = one_error_line(run_cli("record", experiment, "-o", experiment))
    assert "is also the input" in line
    assert experiment.read_bytes() == before
    trace = tmp_path / "t.jsonl"
    assert run_cli("record", experiment, "-o", trace).exit_code == 0
    kept = trace.read_bytes()
    html_link, png_link = tmp_path / "link.html", tmp_path / "link.png"
    for link in (html_link, png_link):
        os.link(trace, link)  # the same file by another name
    for command, output in (("html", trace), ("html", html_link), ("plot", png_link),
                            ("html", tmp_path / "sub" / ".." / "t.jsonl")):
        (tmp_path / "sub").mkdir(exist_ok=True)
        assert "is also the input" in one_error_line(run_cli(command, trace, "-o", output))
    assert trace.read_bytes() == kept


def test_an_output_that_is_a_link_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    """Renaming over a link replaces the link: -o /dev/stdout would replace the system's
    /dev/stdout (a link to /proc/self/fd/1) with a file. Links are refused, whatever they
    point to."""
    trace = tmp_path / "t.jsonl"
    assert run_cli("record", SMALL, "-o", trace).exit_code == 0
    kept = trace.read_bytes()
    stdout_like, to_file, dangling = (tmp_path / "stdout", tmp_path / "to-file.html",
                                      tmp_path / "dangling.png")
    stdout_like.symlink_to("/proc/self/fd/1")
    to_file.symlink_to(trace)
    dangling.symlink_to(tmp_path / "nowhere.png")
    for command, link in (("record", stdout_like), ("html", stdout_like), ("html", to_file),
                          ("plot", dangling), ("record", to_file)):
        args = (command, SMALL if command == "record" else trace, "-o", link)
        line = one_error_line(run_cli(*args))
        assert f"{link}: is a symbolic link (to " in line
        assert link.is_symlink()
    assert trace.read_bytes() == kept
    assert not (tmp_path / "nowhere.png").exists()


@pytest.mark.parametrize("name", ["../x", "/abs/x", ".hidden", "a b", "sub/x", "x\x1b[2J"])
def test_an_experiment_name_must_be_a_plain_file_name(run_cli: RunCli, tmp_path: Path, name: str) -> None:
    experiment = tmp_path / "mine.json"
    config = json.loads(run_cli("experiments", "--show", SMALL, "--format", "json").stdout)
    experiment.write_text(json.dumps({**config, "name": name}))
    line = one_error_line(run_cli("record", experiment))
    assert "name: String should match pattern" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json"]
    assert not (tmp_path.parent / "x.jsonl").exists()


def test_a_file_named_like_a_builtin_does_not_replace_it(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = json.loads(run_cli("experiments", "--show", "ch04-alpha", "--format", "json").stdout)
    Path("ch04-alpha").write_text(json.dumps({**config, "alpha": 0.5}))
    builtin = run_cli("record", "ch04-alpha", "-o", "a.jsonl")
    assert builtin.exit_code == 0
    assert builtin.stderr == ("warning: ch04-alpha is both a registered experiment and a file "
                              "here: recording the experiment (give ./ch04-alpha to record the "
                              "file)\n")
    assert lines_of(Path("a.jsonl"))[0]["config"]["alpha"] == config["alpha"]
    from_file = run_cli("record", "./ch04-alpha", "-o", "b.jsonl")
    assert from_file.exit_code == 0
    assert from_file.stderr == (
        "warning: ch04-alpha is named 'ch04-alpha' like a registered experiment, but is not it "
        f"(field alpha: ours 0.5, registered {config['alpha']!r} (|Δ| 0.4, relative 0.8)): its "
        "trace is a config of its own; give it a name of its own\n")
    assert lines_of(Path("b.jsonl"))[0]["config"]["alpha"] == 0.5
    replayed = run_cli("replay", "b.jsonl")  # it replays, saying it is not the built-in
    assert replayed.exit_code == 0
    assert replayed.stdout.splitlines()[1] == (
        "b.jsonl: the header agrees with its config (its own: named like the registered "
        f"experiment 'ch04-alpha', but not it: field alpha: ours 0.5, registered "
        f"{config['alpha']!r} (|Δ| 0.4, relative 0.8))")


def test_limits_are_what_the_reliability_page_says() -> None:
    from steptrace.limits import MAX_EXPERIMENT_FILE, MAX_GZIP_RATIO, MAX_LINE, size

    readme = (ROOT / "docs" / "reliability.md").read_text()
    assert f"a line of a trace: at most {size(MAX_LINE)}" in readme
    assert f"an experiment file: at most {size(MAX_EXPERIMENT_FILE)}" in readme
    assert f"expands more than {MAX_GZIP_RATIO}-fold" in readme
    assert resource.RLIMIT_FSIZE  # (the limits tests above use it)


# -- found by attacking the first version of the above --------------------------------------------


def _long_experiment(run_cli: RunCli, tmp_path: Path, iterations: int) -> Path:
    config = json.loads(run_cli("experiments", "--show", BACKPROP, "--format", "json").stdout)
    config.update(name="long", iterations=iterations)
    path = tmp_path / "long.json"
    path.write_text(json.dumps(config))
    return path


def test_sigterm_while_a_page_is_written_leaves_no_temporary_file(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "long.jsonl"
    assert run_cli("record", _long_experiment(run_cli, tmp_path, 3000), "-o", trace).exit_code == 0
    out = tmp_path / "out"
    out.mkdir()
    code, stderr = signal_once_a_file_appears(
        ["html", str(trace), "-o", str(out / "p.html")], out, signal.SIGTERM)
    assert code == 143, stderr
    assert stderr == "Error: terminated\n"
    assert list(out.iterdir()) == []


def test_an_ignored_sigint_stays_ignored_while_recording(run_cli: RunCli, tmp_path: Path) -> None:
    source = _long_experiment(run_cli, tmp_path, 6000)
    trace = tmp_path / "long.jsonl"
    process = subprocess.Popen([*STEPTRACE, "record", str(source), "-o", str(trace)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(0.8)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    end = lines_of(trace)[-1]
    assert len(end.pop("index")) == (6000 - 1) // 35  # (a checkpoint every 35 passes)
    assert end == {"kind": "end", "events": 6000 * 29, "complete": True}


def test_an_end_lines_reason_is_shown_escaped_and_cut(run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    lines = lines_of(good)
    lines[-1].update(complete=False, reason="\x1b]0;pwned\x07")
    line = one_error_line(run_cli("show", write_lines(tmp_path / "bad.jsonl", lines)))
    assert "end.reason" in line and "control character" in line and "\x1b" not in line
    lines[-1].update(reason="B" * 3000)
    line = one_error_line(run_cli("show", write_lines(tmp_path / "long.jsonl", lines)))
    assert "end.reason: String should have at most 2000 characters" in line
    lines[-1]["reason"] = "stopped\nby a line break " + "B" * 1500
    ended = write_lines(tmp_path / "ended.jsonl", lines)
    shown = run_cli("show", ended, "--view", "book")
    assert shown.exit_code == 0
    warning = shown.stderr.splitlines()
    assert len(warning) == 1 and "stopped\\nby a line break" in warning[0]
    assert len(warning[0]) < 1100
    compared = run_cli("diff", good, ended)
    assert compared.exit_code == 1
    assert all(len(line) < 1100 for line in compared.stdout.splitlines())


def test_replay_of_a_whole_run_whose_end_line_says_incomplete_is_a_mismatch(
        run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    lines = lines_of(good)
    lines[-1].update(complete=False, reason="interrupted (Ctrl-C)")
    line = one_error_line(run_cli("replay", write_lines(tmp_path / "t.jsonl", lines)), code=1)
    assert ("its 100 events match (bit for bit), the whole run, but its end line says the "
            "recording was incomplete (interrupted (Ctrl-C)): the trace was edited") in line


@pytest.mark.parametrize(("command", "expected"), [
    ("{st} record nosuch 2>&1 | true", 2),  # the error line goes into a closed pipe
    ("{st} show {cut} 2>&1 | head -1", 2),
    ("{st} show {good} >/dev/full", 2),
    ("{st} show {good} >&-", 2),
    ("{st} show {good} 2>&-", 0),
    ("{st} diff {good} {good} >/dev/full", 2),
])
def test_output_that_cannot_be_written_keeps_the_exit_code(tmp_path: Path, command: str,
                                                           expected: int) -> None:
    good, cut = tmp_path / "good.jsonl", tmp_path / "cut.jsonl"
    subprocess.run([*STEPTRACE, "record", BACKPROP, "-o", str(good)], env=ENV, check=True,
                   capture_output=True)
    cut.write_bytes(good.read_bytes()[:-30])
    st = f"{sys.executable} -m steptrace"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.format(st=st, good=good, cut=cut)],
        env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == expected, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    if command.endswith((" >/dev/full", " >&-")):
        assert done.stderr.startswith("Error: standard output: cannot write: ")


def test_ctrl_c_while_the_command_line_loads_is_one_line(tmp_path: Path) -> None:
    checked = 0
    for delay in (0.06, 0.1, 0.15, 0.2, 0.3, 0.5):
        process = subprocess.Popen(["steptrace" if _on_path() else sys.executable, *(
            [] if _on_path() else ["-m", "steptrace"]), "experiments"], env=ENV,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        if _python_starting(stderr):
            continue  # Ctrl-C before steptrace's code ran: not ours
        # (Python's own report of a Ctrl-C that came while it ran a callback of its import
        # machinery, which cannot raise: it says so, and the command goes on)
        stderr = re.sub(r"Exception ignored in: <function _get_module_lock\.<locals>\.cb at \w+>\n"
                        r"Traceback \(most recent call last\):\n(  File .*\n)+KeyboardInterrupt: ?\n",
                        "", stderr)
        assert "Traceback" not in stderr, (delay, stderr)
        # -2: Python ends itself by SIGINT when it comes as it exits (a shell says 130)
        assert process.returncode in (0, 130, -signal.SIGINT), (delay, process.returncode, stderr)
        if process.returncode == 130:
            assert stderr.strip().splitlines()[-1] in ("Error: interrupted", "Aborted!"), stderr
        checked += 1
    assert checked >= 2, "every Ctrl-C came before Python had started: nothing was checked"


@pytest.mark.parametrize(("raised", "message", "code"), [
    ("KeyboardInterrupt", "Error: interrupted", 130),
    ("Terminated", "Error: terminated", 143),
])
def test_a_signal_while_pydantic_builds_a_validator_is_that_signal(
        run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, raised: str, message: str,
        code: int) -> None:
    """Models are built when first used; a Ctrl-C (or SIGTERM) that comes while
    pydantic-core builds one in Rust reaches us as its SchemaError naming the exception
    (CI met it: "internal error: SchemaError: Error building "model" validator: ...
    KeyboardInterrupt", exit 3). It is the signal: one line, its exit code."""
    import pydantic_core

    import steptrace.cli.listing as listing

    def building() -> None:
        raise pydantic_core.SchemaError(
            f'Error building "model" validator:\n  SchemaError: Error building "literal" '
            f"validator:\n  {raised}: ")

    monkeypatch.setattr(listing, "registry", building)
    result = run_cli("experiments")
    assert (result.exit_code, result.stderr) == (code, message + "\n")


def _python_starting(stderr: str) -> bool:
    """Whether a Ctrl-C came while Python itself was starting, before any of steptrace's
    code could catch it: in the site module (Python says "init_import_site", or "Error
    processing line" of a .pth file, the editable install's among them), or while it
    imported the entry module (``steptrace/__init__.py`` and ``__main__.py`` at module
    level, which import nothing of their own; under ``python -m``, runpy finding and
    compiling it): every steptrace frame of the traceback is a module's top level, none is
    ``main`` or ``script``, whose ``try`` takes it from there."""
    if "init_import_site" in stderr or "Error processing line" in stderr:
        return True
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', stderr)
    if frames and frames[0][0] == "<frozen runpy>":  # python -m: finding, compiling, importing
        return all(name != "main" for _, name in frames)
    ours = [(path, name) for path, name in frames if "steptrace" in path]
    return bool(ours) and all(name == "<module>" for _, name in ours) and all(
        Path(path).name in ("steptrace", "__init__.py", "__main__.py") for path, _ in ours)


def _on_path() -> bool:
    import shutil

    return shutil.which("steptrace") is not None


def test_bytes_after_a_gzip_trace_are_damage(run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert run_cli("record", SMALL, "-o", good).exit_code == 0
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(good.read_bytes()) + b"garbage!")
    line = one_error_line(run_cli("show", bad, "--view", "book"))
    assert "bytes that are not gzip follow the compressed trace: the file is damaged" in line


def test_a_bidirectional_override_in_a_title_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    config = json.loads(run_cli("experiments", "--show", SMALL, "--format", "json").stdout)
    experiment = tmp_path / "e.json"
    experiment.write_text(json.dumps({**config, "name": "bidi", "title": "safe\u202etxt.exe"}))
    line = one_error_line(run_cli("record", experiment))
    assert "title: holds the control character '\\u202e'" in line


def test_a_link_planted_at_the_incomplete_name_is_not_followed(tmp_path: Path) -> None:
    from steptrace.trace.reader import open_trace
    from steptrace.trace.writer import TraceWriter

    good = tmp_path / "good.jsonl"
    subprocess.run([*STEPTRACE, "record", SMALL, "-o", str(good)], env=ENV, check=True,
                   capture_output=True)
    with open_trace(good) as reader:
        header = reader.header
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "run.incomplete.jsonl").symlink_to(victim)
    with pytest.raises(RuntimeError), TraceWriter(tmp_path / "run.jsonl", header):
        raise RuntimeError("stop")
    assert victim.read_text() == "precious"
    assert (tmp_path / "run.incomplete.jsonl").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.jsonl", "run.incomplete.jsonl",
                                                           "victim.txt"]


# -- found by the second attack: legitimate runs that failed, and what a plan may say --------------

INDEX_PLANS = '''
import numpy as np
from steptrace.plugins.hookspecs import hookimpl
from steptrace.engine.rules import Strategy

def split(n, options):
    return np.array_split(np.arange(n), 2)  # numpy integers

def flags(n, options):
    return [[True], [False], [2], [3]]  # bools are not sample indices

def fractions(n, options):
    return [[0.0], [1.0]]

@hookimpl
def register_strategies(register):
    register(Strategy("split", split))
    register(Strategy("flags", flags))
    register(Strategy("fractions", fractions))
'''


def test_a_plan_of_numpy_integers_records_and_one_of_bools_is_the_plugins_failure(
        run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "plans.py").write_text(INDEX_PLANS)
    config = json.loads(run_cli("experiments", "--show", BACKPROP, "--format", "json").stdout)
    env = {"STEPTRACE_PLUGINS": "plans"}
    for strategy in ("split", "flags", "fractions"):
        experiment = tmp_path / f"{strategy}.json"
        experiment.write_text(json.dumps({**config, "name": strategy, "strategy": strategy}))
        trace = tmp_path / f"{strategy}.jsonl"
        result = run_cli("--plugins-dir", folder, "record", experiment, "-o", trace, env=env)
        if strategy == "split":
            assert result.exit_code == 0, result.stderr
            assert lines_of(trace)[1]["samples"] == [0, 1]
            for command in ("replay", "show"):
                assert run_cli("--plugins-dir", folder, command, trace, env=env).exit_code == 0
        else:
            line = one_error_line(result)
            assert f"plugin plans ({folder / 'plans.py'}): strategy {strategy} planned batches" in line
            assert "each batch must be a non-empty list of sample indices" in line
            assert not trace.exists()


def test_diff_of_a_step_and_an_epoch_trace_compares_the_passes(run_cli: RunCli, tmp_path: Path) -> None:
    step, epoch = tmp_path / "step.jsonl", tmp_path / "epoch.jsonl"
    assert run_cli("record", "ch04-alpha", "-o", step).exit_code == 0
    assert run_cli("record", "ch04-alpha", "-o", epoch, "--detail", "epoch").exit_code == 0
    for a, b in ((step, epoch), (epoch, step)):
        result = run_cli("diff", a, b)
        assert result.exit_code == 0, result.stdout
        assert result.stdout.splitlines() == [
            "note: one trace holds the passes alone (epoch detail): the passes are compared",
            "20 events agree (bit for bit)"]
    lines = lines_of(epoch)
    lines[5]["error"] *= 1.5
    changed = write_lines(tmp_path / "changed.jsonl", lines)
    result = run_cli("diff", step, changed)
    assert result.exit_code == 1
    assert "first divergence at event 4 (epoch_end, epoch 4" in result.stdout


def test_writing_over_a_file_keeps_its_permissions(run_cli: RunCli, tmp_path: Path) -> None:
    private = tmp_path / "private.jsonl"
    private.write_text("x")
    private.chmod(0o600)
    assert run_cli("record", SMALL, "-o", private).exit_code == 0
    assert private.stat().st_mode & 0o777 == 0o600
    page = tmp_path / "page.html"
    page.write_text("x")
    page.chmod(0o640)
    assert run_cli("html", private, "-o", page).exit_code == 0
    assert page.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.jsonl"
    assert run_cli("record", SMALL, "-o", fresh).exit_code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~mask



def test_a_details_name_with_a_terminal_code_is_refused_when_read(
        run_cli: RunCli, hot_cold: Path, tmp_path: Path) -> None:
    lines = lines_of(hot_cold)
    update = next(line for line in lines if line.get("kind") == "update")
    update["details"]["\x1b[31m"] = 1.0
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    for command in ("show", "diff"):
        args = (command, bad) if command == "show" else (command, hot_cold, bad)
        line = one_error_line(run_cli(*args))
        assert "control character" in line and "\x1b" not in line
