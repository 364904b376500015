"""Traces over streams: the writer writes, and the reader reads, a binary stream or an
iterator of lines as they do a file; the Python API keeps a trace in memory and never goes
through a temporary file for it."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import pytest

import steptrace
from steptrace.errors import TraceFormatError
from steptrace.plugins.registry import Registry
from steptrace.recording import record
from steptrace.trace.reader import TraceReader, open_trace

BACKPROP = "ch06-streetlights-backprop"


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})


def test_a_stream_holds_the_bytes_a_file_holds(tmp_path: Path) -> None:
    registry = Registry.load()
    config = registry.experiment(BACKPROP)
    path = tmp_path / "b.jsonl"
    record(config, registry, path)
    stream = io.BytesIO()
    done = record(config, registry, stream)
    assert done.path is None and done.events == 1740
    assert stream.getvalue() == path.read_bytes()
    lines = stream.getvalue().splitlines(keepends=True)
    with open_trace(path) as from_file, TraceReader(io.BytesIO(stream.getvalue())) as from_bytes, \
            TraceReader(iter(lines), "given lines") as from_lines:
        assert list(from_file) == list(from_bytes) == list(from_lines)
        assert from_file.end == from_bytes.end == from_lines.end


def test_a_reader_names_what_it_was_given() -> None:
    with pytest.raises(TraceFormatError, match=r"^this trace:1: not a steptrace trace"):
        TraceReader(io.BytesIO(b"hello\n"))
    with pytest.raises(TraceFormatError, match=r"^mine:1: .*gzipped=True"):
        TraceReader([b"\x1f\x8b\x08\n"], "mine")
    lines = steptrace.record(BACKPROP, detail="epoch")._lines.splitlines(keepends=True)
    with pytest.raises(TraceFormatError, match=r"^mine:4: truncated: the trace ends after 2 event"):
        list(TraceReader(iter(lines[:3]), "mine"))


def test_a_stream_interrupted_ends_with_an_incomplete_end_line() -> None:
    registry = Registry.load()
    seen = 0

    def stop(done: int, passes: int, steps: int) -> None:
        nonlocal seen
        seen = done
        if done == 2:
            raise KeyboardInterrupt

    stream = io.BytesIO()
    with pytest.raises(KeyboardInterrupt):
        record(registry.experiment(BACKPROP), registry, stream, progress=stop)
    with TraceReader(io.BytesIO(stream.getvalue())) as reader:
        assert sum(1 for _ in reader) == 58
        assert reader.incomplete == "interrupted (Ctrl-C)"


def test_the_api_keeps_a_trace_in_memory_without_temporary_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a temporary file or folder")

    for name in ("TemporaryDirectory", "mkdtemp", "mkstemp", "TemporaryFile", "NamedTemporaryFile"):
        monkeypatch.setattr(tempfile, name, refused)
    trace = steptrace.record(BACKPROP)
    assert trace.path is None and trace.html().startswith("<!DOCTYPE html>")
    assert str(trace.replay()).startswith(f"{BACKPROP} (in memory): all 1740 events match")
    assert trace.diff(steptrace.record(BACKPROP, detail="all"))
    assert trace.show("book").splitlines()[0] == "Error:0.6342311598444467"
    from steptrace.learner.services import book_printout

    assert book_printout(trace.config, steptrace.plugins.loaded.registry()) == trace.show("book")
    monkeypatch.undo()
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    saved = trace.save(tmp_path / "saved.jsonl.gz")  # (a file, atomically: asked to write)
    again = steptrace.load(saved)
    assert again._lines == trace._lines and again.replay()
    assert str(again.replay()).startswith(f"{saved}: all 1740 events match")
