"""Fuzzing: mutated traces and experiment files make steptrace raise its own errors, and
nothing else. A few hundred cases run in CI; for a long run:

    STEPTRACE_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steptrace.compare import Tolerance
from steptrace.config import StrategySpec, dump_json, dump_toml, load_config, parse_config
from steptrace.diff import diff
from steptrace.errors import SteptraceError
from steptrace.matrices import Matrix
from steptrace.recording import record
from steptrace.replay import replay
from steptrace.trace.reader import open_trace
from steptrace.views.book import BookPrintout
from steptrace.views.literate import Literate
from steptrace.views.text import Filters
from tests.conftest import builtin_registry

EXAMPLES = int(os.environ.get("STEPTRACE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REGISTRY = builtin_registry()
WORK = Path(tempfile.mkdtemp(prefix="steptrace-fuzz-"))

SMALL = REGISTRY.experiment("ch06-streetlights-backprop").model_copy(update={"iterations": 2})
GOOD = WORK / "good.jsonl"
record(SMALL, REGISTRY, GOOD)
GOOD_BYTES = GOOD.read_bytes()
GOOD_LINES = GOOD_BYTES.splitlines(keepends=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@st.composite
def byte_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        if operation == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "replace":
            data[at] = draw(st.integers(0, 255))
        else:
            del data[at:]
    return bytes(data)


@st.composite
def line_mutation(draw: st.DrawFn, lines: list[bytes]) -> bytes:
    lines = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        operation = draw(st.sampled_from(["drop", "duplicate", "swap"]))
        if operation == "drop" and len(lines) > 1:
            del lines[i]
        elif operation == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value[path[0]] = _set(value[path[0]], path[1:], new)
    return value


@st.composite
def json_mutation(draw: st.DrawFn, data: Any) -> Any:
    data = json.loads(json.dumps(data))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        data = _set(data, path, draw(json_values))
    return data


@st.composite
def field_mutation(draw: st.DrawFn, lines: list[bytes]) -> bytes:
    i = draw(st.integers(0, len(lines) - 1))
    mutated = draw(json_mutation(json.loads(lines[i])))
    return b"".join([*lines[:i], json.dumps(mutated).encode() + b"\n", *lines[i + 1:]])


traces = (byte_mutation(GOOD_BYTES) | line_mutation(GOOD_LINES) | field_mutation(GOOD_LINES)
          | field_mutation(GOOD_LINES[:1]) .map(lambda header: header + b"".join(GOOD_LINES[1:])))


def read_everything(path: Path, good: Path = GOOD) -> None:
    """Every way steptrace reads a trace: each must end or raise a SteptraceError."""
    with open_trace(path) as reader:
        for _ in reader:
            pass
    with open_trace(path) as reader:
        for _ in Literate(reader.header, REGISTRY, None).lines(reader, Filters()):
            pass
    with open_trace(path) as reader:
        for _ in BookPrintout(reader.header).lines(reader):
            pass
    diff(good, path, Tolerance())
    with open_trace(path) as reader:
        small = reader.header.config.iterations * len(reader.header.config.inputs) <= 64
    if small:
        replay(path, REGISTRY)


@FUZZ
@given(traces)
def test_a_mutated_trace_raises_only_steptrace_errors(mutated: bytes) -> None:
    path = WORK / "mutated.jsonl"
    path.write_bytes(mutated)
    with contextlib.suppress(SteptraceError):
        read_everything(path)


# Packed matrices (steptrace.matrices): a 40 x 40 dataset in the header, and 40-row batches
# by 30 hidden units in the events, all in hex; mutated, they must fail as cleanly.
random = np.random.RandomState(7)
PACKED = SMALL.model_copy(update={
    "name": "packed", "layers": (40, 30, 1), "seed": 3, "strategy": StrategySpec(name="full"),
    "inputs": Matrix(random.random_sample((40, 40))), "goals": Matrix(random.randint(0, 2, (40, 1)))})
GOOD_PACKED = WORK / "good-packed.jsonl"
record(PACKED, REGISTRY, GOOD_PACKED)
PACKED_LINES = GOOD_PACKED.read_bytes().splitlines(keepends=True)
assert b"float64_le_hex" in PACKED_LINES[0] and b"float64_le_hex" in PACKED_LINES[1]


@FUZZ
@given(byte_mutation(GOOD_PACKED.read_bytes()) | field_mutation(PACKED_LINES)
       | field_mutation(PACKED_LINES[:1]).map(lambda header: header + b"".join(PACKED_LINES[1:])))
def test_a_mutated_packed_trace_raises_only_steptrace_errors(mutated: bytes) -> None:
    path = WORK / "mutated-packed.jsonl"
    path.write_bytes(mutated)
    with contextlib.suppress(SteptraceError):
        read_everything(path, GOOD_PACKED)


CONFIG = json.loads(dump_json(SMALL))
CONFIG_TOML = dump_toml(SMALL).encode()


CONFIG_PACKED = json.loads(dump_json(PACKED))


@FUZZ
@given(json_mutation(CONFIG) | byte_mutation(json.dumps(CONFIG).encode())
       | byte_mutation(CONFIG_TOML) | json_mutation(CONFIG_PACKED)
       | byte_mutation(json.dumps(CONFIG_PACKED).encode()))
def test_a_mutated_experiment_file_raises_only_steptrace_errors(mutated: Any) -> None:
    if isinstance(mutated, bytes):
        is_toml = mutated.startswith(b"name")
        path = WORK / ("mutated.toml" if is_toml else "mutated.json")
        path.write_bytes(mutated)
    else:
        path = WORK / "mutated.json"
        path.write_text(json.dumps(mutated))
    try:
        config = load_config(path)
        REGISTRY.resolve(config)
    except SteptraceError:
        return
    if config.iterations * len(config.inputs) <= 80 and max(config.layers) <= 64:
        record(config, REGISTRY, WORK / "from-mutated.jsonl")


def test_the_unmutated_files_are_accepted() -> None:
    """The fuzzers start from good inputs: those must read cleanly."""
    read_everything(GOOD)
    read_everything(GOOD_PACKED, GOOD_PACKED)
    assert parse_config(tomllib.loads(CONFIG_TOML.decode()), "toml") == SMALL
