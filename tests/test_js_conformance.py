"""The JavaScript engine (steptrace/views/page/engine.js) against the Python engine, bit for
bit: one set of cases (tests/js_conformance_cases.py) run in Node and, a subset, in Chromium.

Every built-in experiment and 1000 random networks (``STEPTRACE_CONFORMANCE_CASES=20000``
runs more) are recorded by the Python engine in exact arithmetic at detail ``all``;
tests/js/conformance.js runs each config through engine.js and compares every key and every
number's float64 bits, reporting the first mismatch of each case. Without Node the Node
tests skip, without Chromium or Playwright the browser's, saying which. An engine with one
operation changed must fail the suite: the suite cannot pass by comparing nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steptrace.config import ExperimentConfig
from steptrace.errors import ConfigError
from steptrace.portable import EXP2_HI, EXP2_LO, _probe, sigmoid, tanh
from tests.conftest import BOOK_REPORT, ROOT, builtin_registry
from tests.js_conformance_cases import builtin_configs, case_line, random_configs, wide_configs
from tests.test_viewer import browser

__all__ = ["browser"]  # the fixture, shared with tests/test_viewer.py (skips, saying why)
ENGINE = ROOT / "steptrace" / "views" / "page" / "engine.js"
RUNNER = ROOT / "tests" / "js" / "conformance.js"
NODE = shutil.which("node")
#: Random cases: 1000 on every run (CI's too: some 10 s), more on demand.
RANDOM_CASES = max(1000, int(os.environ.get("STEPTRACE_CONFORMANCE_CASES", "1000")))
#: Random cases the browser runs, besides the built-ins and the wide ones.
BROWSER_RANDOM_CASES = 50

needs_node = pytest.mark.skipif(NODE is None, reason="Node is not installed: the JavaScript "
                                "engine is not compared here (CI's machine has Node 20)")


@dataclass(frozen=True)
class Cases:
    every: Path  # every case, one a line
    subset: Path  # the built-ins, the wide ones and the first BROWSER_RANDOM_CASES random
    builtins: int
    wide: int
    random: int
    events: int


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    registry = builtin_registry()
    builtins, wide = builtin_configs(registry), wide_configs()
    folder = tmp_path_factory.mktemp("conformance")
    every, subset = folder / "cases.jsonl", folder / "subset.jsonl"
    events = 0
    fixed = len(builtins) + len(wide)
    with every.open("wb") as all_file, subset.open("wb") as some_file:
        configs = itertools.chain(builtins, wide, random_configs(RANDOM_CASES))
        for number, config in enumerate(configs):
            line, count = case_line(config, registry)
            events += count
            all_file.write(line)
            if number < fixed + BROWSER_RANDOM_CASES:
                some_file.write(line)
    # every built-in experiment has rules the JavaScript engine runs
    assert [c.name for c in builtins] == sorted(registry.experiments)
    return Cases(every, subset, len(builtins), len(wide), RANDOM_CASES, events)


def run_node(engine: Path, cases: Path) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run([NODE, str(RUNNER), str(engine), str(cases)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def node_eval(script: str, data: Any) -> Any:
    """Run ``script`` in Node with ``engine`` (engine.js) and ``data`` (parsed from stdin)
    defined; returns the JSON it prints."""
    assert NODE is not None
    program = (f"const engine = require({json.dumps(str(ENGINE))});\n"
               "const data = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n" + script)
    done = subprocess.run([NODE, "-e", program], input=json.dumps(data), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_node
def test_node_runs_every_case_bit_for_bit(cases: Cases) -> None:
    result = run_node(ENGINE, cases.every)
    assert result["failures"] == 0, "\n".join(result["mismatches"])
    assert result["cases"] == cases.builtins + cases.wide + cases.random
    assert cases.random >= 1000 and cases.builtins >= 31
    assert result["events"] == cases.events
    assert result["numbers"] > 10 * result["events"]
    BOOK_REPORT.append(
        f"JavaScript engine in Node: {result['cases']} cases ({cases.builtins} built-in, "
        f"{cases.random} random), {result['events']:,} events, {result['numbers']:,} numbers, "
        f"bit for bit, in {result['seconds']:.1f} s")


def test_chromium_runs_the_built_ins_and_some_random_cases_bit_for_bit(
        cases: Cases, browser: Any) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content("<!DOCTYPE html><html><body></body></html>")
    page.add_script_tag(content=ENGINE.read_text())
    page.add_script_tag(content=RUNNER.read_text())
    result = page.evaluate(
        "text => steptraceConformance.compareAll(steptraceEngine, "
        "text.split('\\n').filter(line => line).map(line => JSON.parse(line)))",
        cases.subset.read_text())
    page.close()
    assert errors == []
    assert result["failures"] == 0, "\n".join(result["mismatches"])
    assert result["cases"] == cases.builtins + cases.wide + BROWSER_RANDOM_CASES
    BOOK_REPORT.append(f"JavaScript engine in Chromium: {result['cases']} cases, "
                       f"{result['events']:,} events, bit for bit, in {result['seconds']:.2f} s")


#: One operation changed in engine.js: (what, the source's text, its replacement).
MUTATIONS = [
    ("a dot product summed right to left",
     "let sum = x[row] * y[j];\n        for (let k = 1; k < depth; k++) sum += x[row + k] * y[k * n + j];",
     "let sum = x[row + depth - 1] * y[(depth - 1) * n + j];\n"
     "        for (let k = depth - 2; k >= 0; k--) sum += x[row + k] * y[k * n + j];"),
    ("relu as Math.max, which loses the book's -0.0",
     "relu: { function: (x) => (x > 0 ? 1.0 : 0.0) * x,", "relu: { function: (x) => Math.max(0, x),"),
    ("a batch's mean as a product with 1/rows",
     "map(summed, (x) => x / rows)", "map(summed, (x) => x * (1 / rows))"),
]


@needs_node
@pytest.mark.parametrize(("what", "original", "changed"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_an_engine_with_one_operation_changed_fails(cases: Cases, tmp_path: Path, what: str,
                                                    original: str, changed: str) -> None:
    source = ENGINE.read_text()
    assert source.count(original) == 1, f"engine.js no longer holds {original!r}"
    mutant = tmp_path / "engine.js"
    mutant.write_text(source.replace(original, changed))
    result = run_node(mutant, cases.subset)
    assert result["failures"] > 0, what
    first = result["mismatches"][0]
    assert " event seq " in first and ": python " in first and ", javascript " in first, first


def hex64(values: Any) -> list[str]:
    return [struct.pack(">d", x).hex() for x in np.asarray(values, dtype=np.float64).ravel()]


@needs_node
def test_tanh_sigmoid_and_their_table_are_portable_s_bit_for_bit() -> None:
    probe = np.concatenate([_probe(), np.linspace(-40, 40, 20001), [0.0625, -0.0625, 0.06249999999999999]])
    got = node_eval(
        "const bits = (x) => { const v = new DataView(new ArrayBuffer(8)); v.setFloat64(0, x);"
        " return v.getBigUint64(0).toString(16).padStart(16, '0'); };\n"
        "const x = data.map((h) => { const v = new DataView(new ArrayBuffer(8));"
        " v.setBigUint64(0, BigInt('0x' + h)); return v.getFloat64(0); });\n"
        "const table = engine.exp2Table();\n"
        "console.log(JSON.stringify({tanh: x.map((v) => bits(engine.tanh(v))),"
        " sigmoid: x.map((v) => bits(engine.sigmoid(v))),"
        " hi: Array.from(table.hi, bits), lo: Array.from(table.lo, bits)}));", hex64(probe))
    assert got["hi"] == hex64(EXP2_HI) and got["lo"] == hex64(EXP2_LO)
    nan = {i for i, x in enumerate(tanh(probe)) if np.isnan(x)}
    want_tanh, want_sigmoid = hex64(tanh(probe)), hex64(sigmoid(probe))
    for name, want in (("tanh", want_tanh), ("sigmoid", want_sigmoid)):
        wrong = [i for i, (w, g) in enumerate(zip(want, got[name], strict=True))
                 if w != g and i not in nan]
        assert not wrong, f"{name}({probe[wrong[0]]!r}): {want[wrong[0]]} != {got[name][wrong[0]]}"


@needs_node
def test_seeded_weights_are_numpys() -> None:
    draws = [(seed, layers) for seed in (0, 1, 2, 42, 12345, 2**31 - 1, 2**31, 2**32 - 1)
             for layers in ([3, 4, 1], [1, 1], [8, 700, 2])]
    got = node_eval(
        "console.log(JSON.stringify(data.map(([seed, layers]) =>"
        " engine.initialWeights({layers, seed}).map((w) => engine.pack(w).float64_le_hex))));",
        draws)
    for (seed, layers), hexes in zip(draws, got, strict=True):
        random = np.random.RandomState(seed)
        want = [(2 * random.random_sample((n_in, n_out)) - 1).astype("<f8").tobytes().hex()
                for n_in, n_out in itertools.pairwise(layers)]
        assert hexes == want, f"seed {seed}, layers {layers}"


def backprop(**changes: Any) -> dict[str, Any]:
    config = builtin_registry().experiment("ch06-streetlights-backprop")
    data: dict[str, Any] = json.loads(config.model_dump_json())
    data.update(changes)
    return data


@needs_node
def test_a_config_it_cannot_run_is_one_line_naming_what_it_runs() -> None:
    refused = [
        (backprop(nonlinearities=["leaky_relu", "linear"]),
         "nonlinearity 'leaky_relu' is not one this engine runs: it runs linear, relu, sigmoid, tanh"),
        (backprop(strategy={"name": "momentum", "beta": 0.9}),
         "strategy 'momentum' is not one this engine runs: it runs stochastic, full, minibatch, "
         "hot_and_cold"),
        (backprop(arithmetic="blas"), "arithmetic 'blas': this engine computes in exact arithmetic only"),
        (backprop(layers=[3, 4, 2]), "goals[0] has 1 value(s), expected 2"),
        (backprop(layers=[3, 1]), "nonlinearities has 2 name(s); layers [3, 1] has 1 weight layer(s)"),
        (backprop(alpha="fast"), "alpha must be a finite number, not 'fast'"),
        (backprop(alpha=None), "alpha must be a finite number, not null"),
        (backprop(alpha="Infinity"), "alpha must be a finite number, not 'Infinity'"),
        (backprop(alpha=-0.5), "alpha must be at least 0, not -0.5"),
        (backprop(strategy={"name": "minibatch", "batch_size": 5}), None),
        (backprop(strategy={"name": "minibatch", "batch_size": 0}), None),
        (backprop(strategy={"name": "minibatch"}), None),
        (backprop(strategy={"name": "hot_and_cold", "step_amount": -1.0}), None),
        (backprop(strategy={"name": "hot_and_cold", "step_amount": -1e-20}), None),
        (backprop(strategy={"name": "hot_and_cold"}), None),
        (backprop(strategy={"name": "minibatch", "batch_size": 2.5}),
         "strategy minibatch: option batch_size takes an integer, not 2.5"),
        (backprop(frozen=[[0, 3, 0]]), "frozen weight [0, 3, 0] is not in the network [3, 4, 1]"),
        (backprop(seed=None), "give exactly one of 'weights' (explicit) and 'seed' (drawn)"),
        (backprop(weights=[[[0.5]]], seed=None), "weights has 1 matri(ces); layers [3, 4, 1] need 2"),
        (backprop(goals=None), "goals are missing: training needs one goal row per input row"),
        (backprop(test_inputs=[[1.0, 0.0, 1.0]]), "test_goals are missing"),
        (backprop(inputs=[[1.0, 0.0]]), "inputs[0] has 2 value(s), expected 3"),
    ]
    got = node_eval(
        "console.log(JSON.stringify(data.map((config) => {"
        " try { engine.validate(config); return null; } catch (e) { return e.message; } })));",
        [config for config, _ in refused])
    for (config, expected), message in zip(refused, got, strict=True):
        assert message is not None and "\n" not in message, (expected, message)
        if expected is None:  # a strategy's plan: the words Python's built-ins say
            with pytest.raises(ConfigError) as python:
                builtin_registry().resolve(ExperimentConfig.model_validate(config))
            expected = str(python.value)
        assert message.startswith(expected), (message, expected)
    assert node_eval("engine.validate(data); console.log(JSON.stringify(engine.run(data).length));",
                     backprop()) == 1740
