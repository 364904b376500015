"""The live page (issue 25): the page computes a run itself and draws it as ``steptrace
html`` draws a recorded one, and the learner edits it.

- **Entries, number for number**: for every built-in experiment the page can compute and
  random networks, the entries the page makes of its own engine's events
  (``page/live.js``: what is drawn, each step's literate clauses and operands, the
  checkpoints, errors and pass starts) are those ``html.py`` writes of the trace ``record``
  makes (``tests/js/live_entries.js`` compares them in Node, -0 apart from 0); a live.js with
  one clause changed fails it.
- **In Chromium**, on a page written by ``steptrace html --edit``: edits of alpha, a light,
  the hidden size and a nonlinearity, then "copy as experiment": ``record`` of that TOML
  gives the page's events bit for bit; ``window.steptrace.run`` agrees with ``record`` on
  random networks of a seed drawn at each run; what makes no run is refused where it was
  typed and the run shown stays; a divergence is named; a page the engine cannot compute
  (blas, a plugin's rule) shows its recording and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import steptrace
from steptrace.config import ExperimentConfig
from steptrace.plugins.registry import Registry
from steptrace.trace.events import EpochEndEvent
from steptrace.trace.reader import open_trace
from steptrace.views.html import (
    CHECKPOINT,
    MAX_NODES,
    PAGE_RULES,
    _json,
    edit_data,
    page_entries,
    uneditable,
)
from tests.conftest import ROOT, builtin_registry
from tests.js_conformance_cases import NONLINEARITIES, STRATEGIES, builtin_configs, random_configs
from tests.test_viewer import browser

__all__ = ["browser"]  # the fixture, shared with tests/test_viewer.py (skips, saying why)
NODE = shutil.which("node")
PAGE_DIR = ROOT / "steptrace" / "views" / "page"
RUNNER = ROOT / "tests" / "js" / "live_entries.js"
#: Random networks whose page entries are compared (more with STEPTRACE_LIVE_CASES=N).
RANDOM_CASES = int(os.environ.get("STEPTRACE_LIVE_CASES", "150"))

needs_node = pytest.mark.skipif(NODE is None, reason="Node is not installed: the page's "
                                "entries are not compared here (CI's machine has Node 20)")


def test_the_page_computes_the_rules_its_engine_runs() -> None:
    # html.py's table (which runs a page may edit) and the conformance suite's (what
    # engine.js is held to) are the same rules
    assert set(PAGE_RULES["nonlinearities"]) == set(NONLINEARITIES)
    assert set(PAGE_RULES["strategies"]) == set(STRATEGIES)


def python_case(config: ExperimentConfig, registry: Registry, folder: Path) -> dict[str, Any]:
    """What html.py makes of ``config``'s recorded run: its page data, as the page has it."""
    path = folder / f"{config.name}.jsonl"
    steptrace.record(config, output=path, detail="all")
    entries, checkpoints, errors, test_errors, starts = [], [], [], [], []
    epoch = -1
    with open_trace(path) as reader:
        for i, (event, entry, drawn) in enumerate(page_entries(reader, registry)):
            if drawn is not None:
                checkpoints.append(drawn)
            entries.append(entry)
            if isinstance(event, EpochEndEvent):
                if event.error is not None:
                    errors.append(event.error)
                if event.test_error is not None:
                    test_errors.append(event.test_error)
            if event.epoch != epoch:
                starts.append(i)
                epoch = event.epoch
    python: dict[str, Any] = {"entries": entries, "checkpoints": checkpoints, "errors": errors,
                              "starts": starts}
    if config.held_out:
        python["test_errors"] = test_errors
    data = edit_data(config, registry)
    return {"config": data["config"], "rules": data["rules"], "maxNodes": MAX_NODES,
            "checkpoint": CHECKPOINT, "python": python}


@pytest.fixture(scope="module")
def entry_cases(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    registry = builtin_registry()
    folder = tmp_path_factory.mktemp("live")
    configs = [*builtin_configs(registry), *random_configs(RANDOM_CASES, seed=4711)]
    cases = [python_case(config, registry, folder) for config in configs
             if uneditable(config, registry) is None]
    assert len(cases) == len(configs)  # (every one a page can edit: widths of at most 8)
    return _json(cases)  # (the page's own JSON: NaN as "NaN", -0.0 kept)


def compare(cases: bytes, page: Path = PAGE_DIR) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(RUNNER), str(page)], input=cases.decode(), text=True,
                          capture_output=True, timeout=600)


@needs_node
def test_the_page_makes_html_pys_entries_of_its_own_run(entry_cases: bytes) -> None:
    done = compare(entry_cases)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = len(json.loads(entry_cases))
    assert f"compared {runs} runs" in done.stdout and ": 0 differ" in done.stdout
    assert runs >= 34 + RANDOM_CASES


@needs_node
@pytest.mark.parametrize("change", [
    ("this.single && scalar ?", "this.single ?"),  # a ch. 5 error of several outputs
    ('["mean(", ...product, ")"]', '["mean", ...product, ")"]'),  # the ch. 5 batch's mean
    ("this.ascent ? [target, layer] : [layer, target]", "[layer, target]"),  # the ascent form
    ("if (i % this.checkpoint === 0)", "if (i % this.checkpoint === 1)"),  # the snapshots
])
def test_a_page_with_one_clause_changed_differs(entry_cases: bytes, tmp_path: Path,
                                                change: tuple[str, str]) -> None:
    source = (PAGE_DIR / "live.js").read_text()
    assert source.count(change[0]) == 1
    (tmp_path / "live.js").write_text(source.replace(*change))
    shutil.copy(PAGE_DIR / "engine.js", tmp_path / "engine.js")
    done = compare(entry_cases, tmp_path)
    assert done.returncode == 1 and "differs: " in done.stdout, done.stdout[-2000:]


# -- in Chromium --------------------------------------------------------------------------

def open_page(browser: Any, path: Path) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_function("document.getElementById('where').textContent.length > 0")
    return page


@pytest.fixture(scope="module")
def backprop_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("edit")
    trace = steptrace.record("ch06-streetlights-backprop", output=folder / "backprop.jsonl")
    path = folder / "backprop.html"
    path.write_text(trace.html(edit=True))
    return path


#: A page's events with every number as its float64 bits (hex): compared bit for bit.
BITS = """events => {
  const view = new DataView(new ArrayBuffer(8));
  const bits = v => { view.setFloat64(0, v); return view.getBigUint64(0).toString(16); };
  const walk = v => typeof v === "number" ? bits(v) : Array.isArray(v) ? v.map(walk)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : v;
  return events.map(walk);
}"""


def bits(value: Any) -> Any:
    """The same of Python's numbers (JSON's ints, as JavaScript's, are doubles)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return format(struct.unpack(">Q", struct.pack(">d", float(value)))[0], "x")
    if isinstance(value, list | tuple):
        return [bits(v) for v in value]
    return {key: bits(v) for key, v in value.items()}


def recorded(source: Path | ExperimentConfig, folder: Path) -> list[Any]:
    """The events ``steptrace record --detail all --arithmetic exact`` writes, parsed."""
    name = source.stem if isinstance(source, Path) else source.name
    path = folder / f"{name}.jsonl"
    steptrace.record(source, output=path, detail="all", arithmetic="exact")
    lines = path.read_bytes().splitlines()[1:-1]  # (no header, no end line)
    return [bits(json.loads(line)) for line in lines]


def setting(page: Any, name: str, value: str) -> None:
    """Type (or choose) ``value`` in the setting ``name``: alpha, iterations, size1 (layer_1's
    size), act1 (its nonlinearity), strategy, batch, seed, weight."""
    box = page.locator(f"#settings [data-setting={name}]")
    if box.evaluate("b => b.tagName") == "SELECT":
        box.select_option(value)
    else:
        box.fill(value)
        box.press("Enter")


def says(page: Any) -> str:
    text: str = page.text_content("#says")
    return text


def test_edits_then_copy_as_experiment_record_the_pages_run_bit_for_bit(
        browser: Any, backprop_page: Path, tmp_path: Path) -> None:
    page = open_page(browser, backprop_page)
    assert says(page).startswith("edit any setting")
    page.keyboard.press("End")  # a pass's end, then back to a step of sample 2 in pass 59
    page.fill("#pass", "59")
    page.fill("#sample", "2")
    page.click("#jump")
    setting(page, "alpha", "0.35")
    assert says(page).startswith("recomputed: 1,740 events in ")
    page.click("#rows button.cell >> nth=1")  # streetlights[0][1]: 0 -> 1
    setting(page, "size1", "6")
    setting(page, "act1", "tanh")
    assert "epoch 59 · samples 2" in page.text_content("#where")  # the same pass and sample
    config = page.evaluate("steptrace.config()")
    assert (config["alpha"], config["layers"], config["nonlinearities"]) == (0.35, [3, 6, 1],
                                                                            ["tanh", "linear"])
    assert config["inputs"][0] == [1, 1, 1]
    assert page.locator("#net .node").count() == 3 + 6 + 1
    page.click("text=copy as experiment")
    text = page.input_value("#toml")
    assert tomllib.loads(text)["name"] == "ch06-streetlights-backprop-edited"
    toml = tmp_path / "edited.toml"
    toml.write_text(text)
    mine = page.evaluate(BITS, page.evaluate("steptrace.events()"))
    theirs = recorded(toml, tmp_path)
    assert len(mine) == len(theirs) == 1740
    assert mine == theirs
    assert page.errors == []


def test_window_steptrace_run_agrees_with_record_on_networks_nobody_chose(
        browser: Any, backprop_page: Path, tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "little")  # a new draw each run, named if one differs
    page = open_page(browser, backprop_page)
    for config in random_configs(12, seed=seed):
        data = config.model_dump(mode="json")
        mine = page.evaluate(f"config => ({BITS})(steptrace.run(config))", data)
        assert mine == recorded(config, tmp_path), f"random_configs(12, seed={seed}): {config.name}"


def test_an_edit_that_makes_no_run_is_refused_where_it_was_typed(
        browser: Any, backprop_page: Path) -> None:
    page = open_page(browser, backprop_page)
    before = page.evaluate("steptrace.events().length")
    for name, value, refusal in [
            ("alpha", "-1", "alpha is a positive number, e.g. 0.2"),
            ("alpha", "fast", "alpha is a positive number, e.g. 0.2"),
            ("size1", "0", f"layer_1 has 1 to {MAX_NODES} nodes"),
            ("size1", "13", f"layer_1 has 1 to {MAX_NODES} nodes"),
            ("iterations", "0", "passes is a whole number from 1 to 6,896")]:
        setting(page, name, value)
        field = page.locator(f"#settings label.field:has([data-setting={name}])")
        assert refusal in field.text_content()
        assert says(page).startswith(f"not recomputed: {refusal}")
        assert page.locator("#net .node").count() == 3 + 4 + 1  # the run shown stays
    for _ in range(3):
        page.click("#rows button:has-text('×') >> nth=0")
    assert page.locator("#rows tr").count() == 1
    page.click("#rows button:has-text('×') >> nth=0")
    assert says(page) == "not recomputed: a run needs at least one row"
    assert page.evaluate("steptrace.events().length") != before  # (three rows went)
    page.click("text=reset")
    assert page.locator("#rows tr").count() == 4
    setting(page, "alpha", "1e100")
    assert "the first number that is not finite" in says(page)
    assert "the run has diverged" in says(page)
    assert page.errors == []


def test_a_run_the_page_cannot_compute_shows_its_recording_and_says_why(
        browser: Any, tmp_path: Path) -> None:
    blas = steptrace.record("ch06-streetlights-backprop", arithmetic="blas")
    path = tmp_path / "blas.html"
    path.write_text(blas.html(edit=True))
    page = open_page(browser, path)
    assert says(page).startswith("recorded only: it was recorded in blas arithmetic")
    assert page.locator("#settings input").count() == 0
    assert page.locator("#net .node").count() == 3 + 4 + 1
    assert page.evaluate("steptrace.events()") is None  # (it shows the recording, not a run of its own)
    assert page.evaluate("steptrace.config().arithmetic") == "blas"


def test_the_command_line_and_the_api_write_an_edit_page(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from steptrace.cli import cli

    trace = tmp_path / "blas.jsonl"
    steptrace.record("ch06-streetlights-backprop", arithmetic="blas", output=trace)
    done = CliRunner().invoke(cli, ["html", "--edit", str(trace), "-o", str(tmp_path / "p.html")])
    assert done.exit_code == 0, done.output
    assert "the page shows the recording only: it was recorded in blas arithmetic" in done.output
    made = steptrace.playground("ch06-streetlights-backprop")
    data = made.html.split('<script type="application/json" id="data">')[1].split("</script>")[0]
    edit = json.loads(data)["edit"]
    assert edit["why"] is None and edit["config"]["alpha"] == 0.2 and edit["maxNodes"] == MAX_NODES
    assert made.save(tmp_path / "page.html").read_text() == made.html
    assert '<iframe srcdoc="' in made._repr_html_()
    plain = steptrace.record("ch06-streetlights-backprop").html()
    assert '"edit":' not in plain.split('id="data">')[1]
    np.testing.assert_equal(len(made.html) > len(plain), True)


def test_the_panel_and_the_page_follow_the_run_they_show(
        browser: Any, backprop_page: Path, tmp_path: Path) -> None:
    page = open_page(browser, backprop_page)
    page.click("#net [data-label='0,2,1']")  # the number on the edge: its weight to type
    setting(page, "weight", "0.75")
    assert page.evaluate("steptrace.config().weights[0][2][1]") == 0.75
    assert page.text_content("#title") == ("ch06-streetlights-backprop-edited: Putting it all "
                                           "together: a two-layer relu network, seed 1, edited "
                                           "on the page")
    assert page.evaluate("steptrace.toml()").startswith('name = "ch06-streetlights-backprop-edited"')
    assert page.text_content("#pressure pre").startswith("The table is made by Python")
    setting(page, "size1", "5")  # the given weights no longer fit: drawn, and said so
    assert says(page).endswith("layer_1 is 5 wide now: the given weights do not fit: drawn "
                               "with seed 1")
    assert page.evaluate("[steptrace.config().seed, steptrace.config().weights]") == [1, None]
    setting(page, "iterations", "")
    assert "passes is a whole number" in page.text_content("#settings")
    setting(page, "alpha", "0.3")  # a run made: every box shows the run's settings again
    assert "passes is a whole number" not in page.text_content("#settings")
    assert page.input_value("[data-setting=iterations]") == "60"
    huge = page.evaluate("""() => { try { steptrace.run({...steptrace.config(), iterations: 1e7}); }
                                    catch (error) { return error.message; } }""")
    assert huge.startswith("this run would make 290,000,000 events")
    assert "the page keeps at most 200,000 events" in huge
    assert page.evaluate("() => { try { steptrace.run('{'); } catch (e) { return e.message; } }"
                         ).startswith("the config is not JSON: ")
    page.click("text=reset")
    assert page.text_content("#title").startswith("ch06-streetlights-backprop: ")
    assert page.text_content("#pressure pre").startswith("Up and down pressure")
    assert page.errors == []

    minibatch = tmp_path / "minibatch.html"
    minibatch.write_text(steptrace.playground("streetlights-minibatch").html)
    page = open_page(browser, minibatch)
    setting(page, "batch", "3")
    for _ in range(2):
        page.click("#rows button:has-text('×') >> nth=0")
    assert says(page).endswith("batch size 2 now: no more than the rows")
    assert page.input_value("[data-setting=batch]") == "2"
    forward = tmp_path / "forward.html"
    forward.write_text(steptrace.playground("ch03-stacked-hidden-layer").html)
    page = open_page(browser, forward)
    assert page.locator("[data-setting=alpha], [data-setting=strategy]").count() == 0
    assert "forward passes only (train = false)" in page.text_content("#settings")
    assert page.errors == []
