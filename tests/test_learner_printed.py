"""A traced script's book view is what the script printed: its own lines, captured as it
ran and kept in its trace's header (``printed``, trace schema 4), escaped and bounded; a
damaged ``printed`` is one line and exit 2 wherever a trace is read; a recorded
experiment's trace is as it was."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import steptrace
from steptrace.errors import TraceFormatError
from steptrace.limits import MAX_PRINTED
from steptrace.trace.header import PRINTED_SCHEMA_VERSION, Printed, trace_schema
from steptrace.trace.reader import open_trace
from steptrace.views.book import BookPrintout
from tests.book_programs import BATCHED, CH04_DERIVATIVE_TO_LEARN, PROGRAMS
from tests.conftest import TRACES, RunCli
from tests.test_bad_input import HOSTILE_PRINTED, assert_one_line_error

#: What a terminal acts on: no line steptrace prints may hold one.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in plugins alone, as the command line's tests run (STEPTRACE_PLUGINS="")."""
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})


def script(tmp_path: Path, source: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def run_plainly(path: Path) -> str:
    """What ``python SCRIPT`` prints, byte for byte (no newline translated): the oracle,
    independent of steptrace's capture."""
    return subprocess.run([sys.executable, str(path)], capture_output=True,
                          check=True).stdout.decode()


def traced(run_cli: RunCli, path: Path, trace: Path) -> Path:
    result = run_cli("trace", path, "-o", trace)
    assert result.exit_code == 0, result.stderr
    return trace


def header_of(trace: Path) -> dict[str, object]:
    with trace.open("rb") as file:
        header: dict[str, object] = json.loads(file.readline())
    return header


@pytest.mark.parametrize("name", [*PROGRAMS, *BATCHED])
def test_a_traced_scripts_book_view_is_exactly_what_it_printed(
        tmp_path: Path, run_cli: RunCli, name: str) -> None:
    path = script(tmp_path, {**PROGRAMS, **BATCHED}[name], f"{name.replace('-', '_')}.py")
    printed = run_plainly(path)
    trace = traced(run_cli, path, tmp_path / "mine.jsonl")

    shown = run_cli("show", trace, "--view", "book")
    assert (shown.exit_code, shown.stderr) == (0, "")
    assert shown.stdout == printed  # every line, and nothing else (not the config's templates)
    assert steptrace.load(trace).show("book") == printed.removesuffix("\n")  # the API's
    with open_trace(trace) as reader:  # the view itself, as every reader renders it
        assert list(BookPrintout(reader.header).lines(reader)) == printed.splitlines()

    header = header_of(trace)
    assert header["schema_version"] == PRINTED_SCHEMA_VERSION
    assert header["printed"] == {"lines": printed.splitlines(), "left_out": 0}
    replayed = run_cli("replay", trace)  # replay re-runs the config, as before
    assert replayed.exit_code == 0, replayed.stderr
    assert "events match" in replayed.stdout


def test_the_book_view_was_the_templates_and_is_now_the_scripts_lines(
        tmp_path: Path, run_cli: RunCli) -> None:
    """The fault: chapter 6's loop prints every 10th pass's error, 6 lines; its trace's config
    has no templates for that (the default prints every pass, 60 lines). A script that
    prints nothing has an empty book view, not the default's."""
    backprop = PROGRAMS["ch06-streetlights-backprop"]
    trace = traced(run_cli, script(tmp_path, backprop), tmp_path / "t.jsonl")
    loaded = steptrace.load(trace)
    assert loaded.config.book_view.epoch == "Error:{error}" and loaded.config.book_view.every == 1
    assert len(loaded.show("book").splitlines()) == 6
    assert len(loaded.errors) == 60

    silent = backprop.replace('      print("Error:" + str(layer_2_error))', "      pass")
    assert silent != backprop
    trace = traced(run_cli, script(tmp_path, silent, "silent.py"), tmp_path / "silent.jsonl")
    shown = run_cli("show", trace, "--view", "book")
    assert (shown.exit_code, shown.stdout, shown.stderr) == (0, "", "")
    assert header_of(trace)["printed"] == {"lines": [], "left_out": 0}


def test_control_characters_the_script_printed_are_kept_escaped(
        tmp_path: Path, run_cli: RunCli) -> None:
    source = ('import sys\nprint("\\x1b[31mred\\x1b[0m 100%\\rdone\\u202eevil\\ttab")\nprint()\n'
              + CH04_DERIVATIVE_TO_LEARN + 'sys.stdout.write("the last line, without a newline")\n')
    path = script(tmp_path, source)
    printed = run_plainly(path)
    trace = traced(run_cli, path, tmp_path / "t.jsonl")
    shown = run_cli("show", trace, "--view", "book")
    assert shown.exit_code == 0 and not CONTROL.search(shown.stdout)
    lines = printed.split("\n")
    assert shown.stdout.splitlines() == [
        "\\x1b[31mred\\x1b[0m 100%\\rdone\\u202eevil\ttab", "", *lines[2:-1],
        "the last line, without a newline"]
    assert shown.stdout.endswith("the last line, without a newline\n")


def test_a_trace_keeps_the_first_mebibyte_of_what_was_printed_and_says_what_it_left_out(
        tmp_path: Path, run_cli: RunCli) -> None:
    source = 'for i in range(20000):\n    print(f"{i:05d}" + "x" * 94)\n' + CH04_DERIVATIVE_TO_LEARN
    path = script(tmp_path, source)
    printed = run_plainly(path).splitlines()
    assert len(printed) == 20004 and sum(len(line) + 1 for line in printed) > 2 * MAX_PRINTED - 100_000
    trace = traced(run_cli, path, tmp_path / "t.jsonl")
    kept = MAX_PRINTED // 100  # whole lines of 99 characters and a newline
    shown = run_cli("show", trace, "--view", "book")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines() == printed[:kept]
    assert shown.stderr == (
        f"warning: the book view stops early: the script printed {len(printed) - kept:,} more "
        "line(s) after these, which its trace does not keep (a trace keeps the first 1,048,576 "
        "characters a script printed, in whole lines)\n")
    loaded = steptrace.load(trace)
    with pytest.warns(UserWarning, match=f"printed {len(printed) - kept:,} more line"):
        assert loaded.show("book").splitlines() == printed[:kept]
    assert loaded.header.printed is not None and loaded.header.printed.left_out == len(printed) - kept
    assert run_cli("replay", trace).exit_code == 0


def test_what_a_trace_keeps_of_a_printout() -> None:
    assert Printed.of("") == Printed(lines=())
    assert Printed.of("\n") == Printed(lines=("",))
    assert Printed.of("a\nb") == Printed.of("a\nb\n") == Printed(lines=("a", "b"))
    assert Printed.of("a\r\n\x1b[0m\n").lines == ("a\\r", "\\x1b[0m")
    exactly = "x" * (MAX_PRINTED - 2) + "\n\n"  # the allowance, newlines counted
    assert Printed.of(exactly) == Printed(lines=("x" * (MAX_PRINTED - 2), ""))
    assert Printed.of(exactly + "y\n") == Printed(lines=("x" * (MAX_PRINTED - 2), ""), left_out=1)
    assert Printed.of("z" * MAX_PRINTED + "\nshort\n") == Printed(lines=(), left_out=2)
    escaping = "\x1b" * (MAX_PRINTED // 4)  # escaped, 4 times as long: counted as kept
    assert Printed.of(escaping + "\n") == Printed(lines=(), left_out=1)
    assert Printed.of("x" * (MAX_PRINTED - 1)) == Printed(lines=("x" * (MAX_PRINTED - 1),))
    assert Printed.of("x" * MAX_PRINTED) == Printed(lines=(), left_out=1)  # its newline too
    empty = Printed.of("\n" * (MAX_PRINTED + 5))  # a newline each: the most lines there are
    assert empty.lines == ("",) * MAX_PRINTED and empty.left_out == 5
    assert Printed.of("ok\n").cut() is None


@pytest.fixture(scope="module")
def learner_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("learner")
    path = folder / "derivative.py"
    path.write_text(CH04_DERIVATIVE_TO_LEARN)
    trace = folder / "derivative.jsonl"
    steptrace.trace_script(path, trace)
    return trace


@pytest.mark.parametrize("name", HOSTILE_PRINTED)
def test_a_damaged_printed_is_one_line_wherever_it_is_read(
        tmp_path: Path, run_cli: RunCli, learner_trace: Path, name: str) -> None:
    value, fragments = HOSTILE_PRINTED[name]
    lines = learner_trace.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["printed"] = value
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps(header).encode() + b"\n" + b"".join(lines[1:]))
    for command in (("show", bad, "--view", "book"), ("show", bad), ("replay", bad),
                    ("diff", learner_trace, bad), ("html", bad, "-o", tmp_path / "bad.html")):
        line = assert_one_line_error(run_cli(*command), f"{bad}:1: bad header", *fragments)
        assert not CONTROL.search(line)
    with pytest.raises(TraceFormatError) as raised:
        steptrace.load(bad)
    assert "\n" not in str(raised.value) and all(f in str(raised.value) for f in fragments)


def test_a_recorded_experiments_trace_holds_no_printed_and_keeps_its_schema(
        tmp_path: Path, run_cli: RunCli) -> None:
    """Its book view is its config's templates, as before; the field is absent (not null)
    from its header, which says the schema it said before."""
    for name, schema in (("ch06-streetlights-backprop", 1), ("streetlights-minibatch", 1)):
        trace = tmp_path / f"{name}.jsonl"
        assert run_cli("record", name, "-o", trace).exit_code == 0
        header = header_of(trace)
        assert "printed" not in header and header["schema_version"] == schema
        assert header_of(TRACES / f"{name}.jsonl")["schema_version"] == schema
        assert run_cli("show", trace, "--view", "book").stdout == run_cli(
            "show", TRACES / f"{name}.jsonl", "--view", "book").stdout
    all_detail = tmp_path / "all.jsonl"
    run_cli("record", "ch04-alpha", "--detail", "all", "-o", all_detail)
    assert header_of(all_detail)["schema_version"] == 3


def test_the_schema_lists_printed() -> None:
    schema = trace_schema()
    assert "printed" in schema["$defs"]["Header"]["properties"]
    assert set(schema["$defs"]["Printed"]["properties"]) == {"lines", "left_out"}
