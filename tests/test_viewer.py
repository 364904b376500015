"""The HTML viewer: the page's data as written, and the page in a real browser
(headless Chromium driven by Playwright).

CI installs Debian's chromium (see .ci/run) and the `browser` extra; where either is
missing the browser's tests skip, saying which.
"""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import math
import re
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pydantic_core
import pytest

import steptrace
from steptrace.defaults import DIGITS
from steptrace.errors import TraceFormatError
from steptrace.plugins.registry import Registry
from steptrace.recording import record
from steptrace.trace.events import (
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    UpdateEvent,
)
from steptrace.trace.reader import open_trace
from steptrace.trace.state import complete_events, walk
from steptrace.views import html as html_module
from steptrace.views.html import CHECKPOINT, MAX_NODES, page_entries, write_html
from steptrace.views.literate import Clause, Literate, Sign
from tests.conftest import TRACES, RunCli, present
from tests.test_plot import fill_disk
from tests.test_reading_order import EDITS, LINE_EDITS, _edited

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        pytest.skip("pip install 'steptrace[browser]' (Playwright)")
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (Debian)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Browser, html: Path) -> tuple[Page, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 960, "height": 760})
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html.as_uri())
    # a viewer's first frame (its first block of events inflated); a notebook's frames wait on their own
    page.wait_for_function("!document.getElementById('net') || document.querySelector('svg#net circle')")
    return page, errors, requests


def where(page: Page, start: str) -> None:
    """Wait until ``#where`` starts with ``start`` (a block of events the page has not
    been to yet is inflated first, asynchronously), or fail saying what it shows."""
    try:
        page.wait_for_function("s => document.getElementById('where').textContent.startsWith(s)",
                               arg=start, timeout=10_000)
    except Exception as error:
        raise AssertionError(f"#where is {page.text_content('#where')!r}, not {start!r}…") from error


def completed(trace: Path) -> list[Event]:
    with open_trace(trace) as reader:
        return list(complete_events(reader.header, reader))


def page_formulas(trace: Path) -> list[str]:
    """The formula line the page shows above each event's operands: its clauses' formulas
    (names only), numbered by event."""
    with open_trace(trace) as reader:
        narrator = Literate(reader.header, Registry.load(), DIGITS)
        return [f"[{e.seq}] " + "; ".join(c.formula + (f" {c.note.strip()}" if c.note else "")
                                         for c in narrator.clauses(narrator.state.complete(e)))
                for e in reader]


def test_step_forward_seven_times_and_back(run_cli: RunCli, browser: Browser, tmp_path: Path) -> None:
    trace, html = tmp_path / "backprop.jsonl", tmp_path / "backprop.html"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    made = run_cli("html", trace, "-o", html)
    assert made.stdout == f"wrote {html}: 1740 events; open it in a browser (nothing is fetched)\n"
    page, errors, requests = open_page(browser, html)
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    events = completed(trace)
    formulas = page_formulas(trace)
    assert page.text_content("#formula") == formulas[7] == "[7] layer_1 = relu(layer_0 · weights_0_1)"
    assert present(page.text_content("#where")).startswith("event 7 of 1740 · epoch 0 · samples 1")
    seventh = events[7]  # the forward pass of layer 1 for the second streetlight
    assert seventh.kind == "forward" and seventh.layer == 1
    for j, value in enumerate(seventh.layer_out[0]):
        assert float(present(page.get_attribute(f'[data-node="1,{j}"]', "data-value"))) == value
    for j, value in enumerate(present(seventh.layer_in)[0]):
        assert float(present(page.get_attribute(f'[data-node="0,{j}"]', "data-value"))) == value
    weights = next(e for e in reversed(events[:7]) if e.kind == "update" and e.layer == 2).weights
    for a, row in enumerate(present(weights)):
        shown = page.get_attribute(f'[data-weight="1,{a},0"]', "data-value")
        assert float(present(shown)) == row[0]
    hot = page.eval_on_selector_all("g.node.hot text.value", "ts => ts.map(t => t.dataset.node)")
    assert hot == ["0,0", "0,1", "0,2", "1,0", "1,1", "1,2", "1,3"]  # forward 1: layers 0 and 1
    assert page.get_attribute('[data-node="2,0"]', "data-value") == ""  # not computed yet
    page.keyboard.press("ArrowLeft")
    assert page.text_content("#formula") == formulas[6]
    page.click("#next")
    assert present(page.text_content("#formula")).startswith("[7] ")
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []
    assert all(url.startswith("file://") for url in requests)  # nothing fetched


def test_a_hundred_thousand_events_stay_usable(run_cli: RunCli, browser: Browser, tmp_path: Path) -> None:
    config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                "--format", "json").stdout)
    source = tmp_path / "long.json"
    source.write_text(json.dumps({**config, "name": "long", "iterations": 3449}))
    trace, html = tmp_path / "long.jsonl", tmp_path / "long.html"
    run_cli("record", source, "-o", trace)
    assert run_cli("html", trace, "-o", html).stdout.startswith(f"wrote {html}: 100021 events")
    page, errors, _ = open_page(browser, html)
    page.keyboard.press("End")
    where(page, "event 100020 of 100021 · epoch 3448")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    where(page, "event 100017 of")
    assert present(page.text_content("#formula")).startswith("[100017] ")
    page.keyboard.press("Home")
    where(page, "event 0 of")
    assert present(page.text_content("#formula")).startswith("[0] ")
    assert errors == []


# -- the page as written: streamed, self-contained, valid --------------------------------------


def inflated_block(block: str) -> tuple[dict[str, Any], list[float]]:
    """An events block as page.js reads it: its JSON and its numbers (float64s)."""
    data = zlib.decompress(base64.b64decode(block))
    size = int.from_bytes(data[:4], "little")
    start = -(-(4 + size) // 8) * 8
    return json.loads(data[4:4 + size]), np.frombuffer(data[start:], dtype="<f8").tolist()


def numbered(slots: list[Any], numbers: list[float], at: list[int]) -> list[Any]:
    """The values of ``slots`` from ``numbers[at[0]]`` on, as page.js makes them (the
    non-finite as the strings JSON would hold)."""
    def number() -> Any:
        x = numbers[at[0]]
        at[0] += 1
        return x if math.isfinite(x) else "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity"

    def rows(r: int, c: int) -> list[list[Any]]:
        return [[number() for _ in range(c)] for _ in range(r)]

    return [number() if slot == 0 else rows(*slot) if len(slot) == 2
            else {"rows": rows(*slot[:2]), "of": slot[2:]} for slot in slots]


def page_data(html: Path) -> dict[str, Any]:
    """What the page's script reads: the data block, with the events block as ``events``."""
    text = html.read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(
        present(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S))[1])
    blocks = re.findall(r'<script type="application/x-steptrace-events" class="events">(.*?)</script>',
                        text, re.S)
    data["events"] = []
    for block in blocks:  # each row an entry, by its kind of step (as page.js reads them)
        inflated, numbers = inflated_block(block)
        at = [[kind[7]] if len(kind) > 6 else [] for kind in inflated["kinds"]]
        for row in inflated["events"]:
            kind, layer, samples, nonlinearity, shape, fields, *slots = inflated["kinds"][row[0]]
            values = numbered(slots[0], numbers, at[row[0]]) if slots else row[2:]
            own = [f for f in fields if isinstance(f, str)]  # ([name, i]: operand i)
            operands = values[len(own):]
            entry = {"kind": kind, "epoch": row[1], "samples": samples, "layer": layer,
                     "shape": inflated["shapes"][shape], **dict(zip(own, values, strict=False)),
                     **{f[0]: operands[f[1]] for f in fields if not isinstance(f, str)},
                     "operands": operands}
            data["events"].append(entry | ({} if nonlinearity is None else {"nonlinearity": nonlinearity}))
    return data


def test_the_page_holds_every_event_a_snapshot_every_256_and_each_pass_error(
        run_cli: RunCli, tmp_path: Path) -> None:
    trace, html = TRACES / "streetlights-minibatch.jsonl", tmp_path / "minibatch.html"
    assert run_cli("html", trace, "-o", html).exit_code == 0
    data, events = page_data(html), completed(trace)
    formulas = [" ".join(line.split(" ")[1:]) for line in page_formulas(trace)]
    assert ["; ".join(formula + note for given, formula, note, _ in e["shape"] if not given)
            for e in data["events"]] == formulas
    assert len(data["checkpoints"]) == math.ceil(len(events) / CHECKPOINT)
    passes = [e.error for e in events if e.kind == "epoch_end"]
    assert data["errors"] == passes and len(passes) == 300
    assert data["starts"] == [next(i for i, e in enumerate(events) if e.epoch == p) for p in range(300)]
    assert data["count"] == len(events) == len(data["events"])
    assert data["incomplete"] is None and data["checkpoint"] == CHECKPOINT
    assert data["name"] == "streetlights-minibatch" and data["layers"] == [3, 4, 1]
    for i in (0, 1, 5 * CHECKPOINT):  # a snapshot is the state before its event
        state = data["checkpoints"][i // CHECKPOINT]
        before = [e for e in data["events"][:i] if e.get("weights")]
        if before:
            assert state["weights"][before[-1]["layer"] - 1] == before[-1]["weights"]
    assert [p.name for p in tmp_path.iterdir()] == ["minibatch.html"]  # no temporary left


def entries_of(trace: Path) -> list[bytes]:
    """The page's entries of ``trace`` (:func:`page_entries`), as JSON, one an event."""
    with open_trace(trace) as reader:
        return [pydantic_core.to_json(entry, inf_nan_mode="strings")
                for _, entry, _ in page_entries(reader, Registry.load())]


PAGE_TRACES = ["streetlights-minibatch", "ch06-streetlights-backprop", "ch05-freeze-one-weight",
               "ch04-breaking-gd-diverge", "ch03-stacked-hidden-layer", "streetlights-overfitting",
               "ch04-hot-and-cold-learning"]


@pytest.mark.parametrize("name", PAGE_TRACES)
def test_a_blocks_rows_are_the_entries_narrating_every_step_makes(
        name: str, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's blocks (each kind of step once, each event a row, read back as page.js
    reads them) hold the entries that narrating every step (Literate.clauses) makes, number
    for number: the recipes a kind of step is made by after its first steps change nothing."""
    trace, html = TRACES / f"{name}.jsonl", tmp_path / "page.html"
    assert run_cli("html", trace, "-o", html).exit_code == 0
    data = page_data(html)
    written = [pydantic_core.to_json(e, inf_nan_mode="strings") for e in data["events"]]
    made = entries_of(trace)
    # (each snapshot the drawn state before its event, as completing one event at a time
    # has it: the page's writer works a chunk's updates out at once)
    with open_trace(trace) as reader:
        drawn = [json.loads(pydantic_core.to_json(state, inf_nan_mode="strings"))
                 for _, _, state in page_entries(reader, Registry.load()) if state is not None]
    assert data["checkpoints"] == drawn and len(drawn) == math.ceil(len(made) / CHECKPOINT)
    monkeypatch.setattr(html_module, "CHECKED", 10**9)  # every step narrated, no recipe trusted
    narrated = entries_of(trace)
    assert len(written) == len(narrated) == len(completed(trace))
    assert made == narrated
    # (bit for bit: -0.0 is not 0.0 here, as it is to ==)
    assert ([json.dumps(json.loads(e), sort_keys=True) for e in written]
            == [json.dumps(json.loads(e), sort_keys=True) for e in narrated])


def diverging(tmp_path: Path) -> Path:
    """The ch. 6 network made linear, with alpha 3: its numbers overflow to ±inf, then NaN
    (inf - inf), in steps made by their recipes (written as float64s)."""
    config = steptrace.experiment("ch06-streetlights-backprop").model_copy(
        update={"nonlinearities": ("linear", "linear"), "alpha": 3.0, "iterations": 120})
    trace = tmp_path / "diverging.jsonl"
    record(config, Registry.load(), trace)
    return trace


def signed(value: Any) -> Any:
    """``value`` with each -0.0 written "-0" (to ``==``, -0.0 is 0.0)."""
    if isinstance(value, float) and value == 0.0 and math.copysign(1.0, value) < 0:
        return "-0"
    if isinstance(value, list | tuple):
        return [signed(v) for v in value]
    if isinstance(value, dict):
        return {k: signed(v) for k, v in value.items()}
    return value


def _page_both_ways(trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> tuple[bytes | str, bytes | str, list[bool]]:
    """The page of ``trace`` (or its error) written with blocks of 512 events read 256 at a
    time, as the writer writes them (each window at once where it can be) and an event at
    a time only; and, for the first, whether each window after the first was written at
    once."""
    monkeypatch.setattr(html_module, "BLOCK", 2 * CHECKPOINT)  # (many blocks of a short run,
    monkeypatch.setattr(html_module, "WINDOW", CHECKPOINT)  # each of two windows)
    at_once = html_module._Writer.at_once
    taken: list[bool] = []

    def watched(writer: Any, chunk: list[Event]) -> bool:
        taken.append(at_once(writer, chunk))
        return taken[-1]

    pages: list[bytes | str] = []
    for way in (watched, lambda writer, chunk: False):
        monkeypatch.setattr(html_module._Writer, "at_once", way)
        html = tmp_path / "page.html"
        try:
            write_html(trace, html, Registry.load())
            pages.append(html.read_bytes())
            html.unlink()
        except TraceFormatError as error:
            pages.append(str(error))
    return pages[0], pages[1], taken


AT_ONCE_TRACES = [*PAGE_TRACES, "ch06-streetlights-backprop-gz", "ch06-streetlights-backprop-ascent-form",
                  "streetlights-no-hidden-layer", "streetlights-linear-hidden-layer",
                  "ch06-streetlights-full-dataset", "streetlights-full-gd"]


@pytest.mark.parametrize("name", AT_ONCE_TRACES)
def test_a_page_written_a_block_at_once_is_the_page_written_an_event_at_a_time(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's at-once way (every step of a block a step of a kind seen before, the
    state after each event worked out for the block, each kind's values a column): the page
    it writes is the page writing an event at a time writes, byte for byte (the entries, the
    snapshots, the errors, the pass starts, the pressure view), and the ch. 6 run's blocks
    after its first two passes are written at once."""
    trace = TRACES / f"{name}.jsonl"
    if name.endswith("-gz"):  # (the same run, gzip-compressed)
        trace = tmp_path / "t.jsonl.gz"
        trace.write_bytes(gzip.compress((TRACES / f"{name[:-3]}.jsonl").read_bytes()))
    elif not trace.exists():
        pytest.skip(f"no {trace.name}")
    at_once, one_by_one, taken = _page_both_ways(trace, tmp_path, monkeypatch)
    assert isinstance(at_once, bytes) and at_once == one_by_one
    if name.startswith("ch06-streetlights-backprop"):
        assert len(taken) == 6 and taken.count(True) >= 5, taken  # (1,740 events: 7 windows)


@pytest.mark.parametrize("kind", ["forward", "error", "update"])
def test_a_window_after_one_written_at_once_in_the_same_block_may_go_an_event_at_a_time(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block's first window written at once, its second an event at a time (a step there
    gives the fields the state fills in, with the run's own values: the line of the same
    run at ``all`` detail): each kind of step's values from both windows written together,
    the page the same as one written an event at a time (an attacker's finding: it crashed
    on gathering after a window's columns)."""
    config = steptrace.experiment("ch06-streetlights-backprop").model_dump() | {"iterations": 40}
    step, every = tmp_path / "step.jsonl", tmp_path / "all.jsonl"
    for path, detail in ((step, "step"), (every, "all")):
        steptrace.record(steptrace.Experiment.model_validate(config), output=path,
                         detail=detail)  # type: ignore[arg-type]
    lines = step.read_bytes().splitlines(keepends=True)
    given = every.read_bytes().splitlines(keepends=True)
    seq = next(i for i in range(800, 900) if json.loads(lines[1 + i])["kind"] == kind)
    assert json.loads(given[1 + seq])["seq"] == seq  # (the same step, its fields given)
    lines[1 + seq] = given[1 + seq]
    step.write_bytes(b"".join(lines))
    at_once, one_by_one, taken = _page_both_ways(step, tmp_path, monkeypatch)
    assert isinstance(at_once, bytes) and at_once == one_by_one
    assert taken[:3] == [True, True, False], taken  # (windows 1-3 of 256: 256-1023; 768-1023
    # in the block of 512-1023 whose first half went at once)


@pytest.mark.parametrize("name", [*EDITS, *LINE_EDITS])
def test_an_edited_trace_makes_the_page_or_the_error_reading_every_event_makes(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's writer reads the steps (a repeating pass's as step lines) and fills them
    in a chunk at a time: for each edit of the ch. 6 trace that the reader's tests make
    (of its order, of a line's content), the page holds the entries, and the snapshots,
    that reading every event and completing it one at a time make (:func:`page_entries`),
    or the page is not written and the error is the one reading every event raises."""
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(_edited({**EDITS, **LINE_EDITS}[name]))
    with monkeypatch.context() as patch:  # (small blocks: written at once and not)
        at_once, one_by_one, _ = _page_both_ways(trace, tmp_path, patch)
    assert at_once == one_by_one
    expected: list[Any] = []
    snapshots: list[Any] = []
    try:
        with open_trace(trace) as reader:
            for _, entry, drawn in page_entries(reader, Registry.load()):
                expected.append(json.loads(pydantic_core.to_json(entry, inf_nan_mode="strings")))
                if drawn is not None:
                    snapshots.append(json.loads(pydantic_core.to_json(drawn, inf_nan_mode="strings")))
    except TraceFormatError as error:
        expected.append(str(error))
    html = tmp_path / "page.html"
    try:
        write_html(trace, html, Registry.load())
    except TraceFormatError as error:
        assert isinstance(expected[-1], str) and str(error) == expected[-1]
        assert not html.exists()
        return
    assert not isinstance(expected[-1], str), expected[-1]
    data = page_data(html)
    assert [json.loads(pydantic_core.to_json(e, inf_nan_mode="strings"))
            for e in data["events"]] == expected
    assert data["checkpoints"] == snapshots


def test_the_pages_numbers_keep_every_bit_nan_the_infinities_and_minus_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's numbers are written as float64s (the page reads them as a Float64Array):
    NaN, ±inf and -0.0 come back as the narration's own (the non-finite as the strings the
    trace writes), in a run that diverges and in the book's relu run (its -0.0s)."""
    for trace in (diverging(tmp_path), TRACES / "ch06-streetlights-backprop.jsonl"):
        html = tmp_path / "page.html"
        write_html(trace, html, Registry.load())
        text = html.read_text()
        numbers = [x for block in re.findall(r'class="events">(.*?)</script>', text, re.S)
                   for x in inflated_block(block)[1]]
        found = {"nan": sum(map(math.isnan, numbers)), "inf": sum(map(math.isinf, numbers)),
                 "-0": sum(x == 0.0 and math.copysign(1.0, x) < 0 for x in numbers)}
        if trace.name == "diverging.jsonl":
            assert found["nan"] > 1000 and found["inf"] > 10, found
        else:
            assert found["-0"] > 1000, found
        written = [signed(e) for e in page_data(html)["events"]]
        with monkeypatch.context() as narrating:
            narrating.setattr(html_module, "CHECKED", 10**9)  # every step narrated
            narrated = [signed(json.loads(e)) for e in entries_of(trace)]
        assert written == narrated
        assert any("NaN" in json.dumps(e["operands"]) for e in written) or found["nan"] == 0


def test_values_not_all_numbers_of_one_shape_are_written_in_the_rows() -> None:
    """A kind of step's values become float64s only when each is a number, or a matrix of
    the same shape, in every event of the block: else (None, a ragged matrix) its events'
    values are written in their rows, as JSON, as before."""
    order, hows = (2, 3), (html_module._AS_IS, html_module._VALUE)
    one = (0, 0, 0.5, ((1.0, -0.0), (float("nan"), float("inf"))))
    slots, numbers = present(html_module._numbers([[one, one]], order, hows))
    assert slots == [0, [2, 2]]
    assert np.asarray(numbers).tobytes() == np.array(
        [0.5, 1.0, -0.0, np.nan, np.inf] * 2).tobytes()
    assert html_module._numbers([[one, (0, 0, None, one[3])]], order, hows) is None
    assert html_module._numbers([[one, (0, 0, 0.5, ((1.0,), (2.0, 3.0)))]], order, hows) is None
    assert html_module._numbers([[one, (0, 0, 0.5, ((1.0, 2.0),))]], order, hows) is None
    wide = (0, 0, 1.0, np.arange(13 * 14, dtype=np.float64).reshape(13, 14))  # cut, and of what
    slots, numbers = present(html_module._numbers([[wide]], order, hows))
    assert slots == [0, [MAX_NODES, MAX_NODES, 13, 14]]
    assert numbers.tolist() == [1.0, *wide[3][:MAX_NODES, :MAX_NODES].ravel().tolist()]
    block = html_module._Block()
    recipe = html_module._Recipe((), (), [], ["forward", 1, (0,), None, (), []])
    recipe.order, recipe.hows = order, hows
    recipe.own = lambda event: event  # type: ignore[assignment,return-value]
    block.gather(one, recipe)  # type: ignore[arg-type]
    block.gather((0, 0, None, one[3]), recipe)  # type: ignore[arg-type]
    assert block.numbers() == b""
    assert json.loads(pydantic_core.to_json(block.rows, inf_nan_mode="strings")) == [
        [0, 0, 0.5, [[1.0, -0.0], ["NaN", "Infinity"]]], [0, 0, None, [[1.0, -0.0], ["NaN", "Infinity"]]]]
    assert block.kind_list == [["forward", 1, (0,), None, 0, []]]  # (no slots: in the rows)
    # a window's columns, then an event gathered with a value left out: in the rows alike
    columned = html_module._Block()
    made = html_module._Columns([np.array([0.5]), np.array([one[3]], dtype=np.float64)], 1)
    columned.rows.append((columned.columned(recipe, made), 0))
    columned.gather((0, 0, None, one[3]), recipe)  # type: ignore[arg-type]
    assert columned.numbers() == b""
    assert pydantic_core.to_json(columned.rows, inf_nan_mode="strings") == pydantic_core.to_json(
        block.rows, inf_nan_mode="strings")
    # and with one gathered of its shape: float64s, the column's first
    both = html_module._Block()
    both.rows.append((both.columned(recipe, made), 0))
    both.gather((0, 0, 0.25, one[3]), recipe)  # type: ignore[arg-type]
    assert np.frombuffer(both.numbers(), dtype="<f8").tobytes() == np.array(
        [0.5, 1.0, -0.0, np.nan, np.inf, 0.25, 1.0, -0.0, np.nan, np.inf]).tobytes()
    assert both.kind_list == [["forward", 1, (0,), None, 0, [], [0, [2, 2]], 0]]


@pytest.mark.parametrize("name", ["diverging", "ch06-streetlights-backprop"])
def test_the_pages_script_reads_each_entry_as_written(name: str, browser: Browser, tmp_path: Path) -> None:
    """page.js's entries (its blocks inflated, the numbers read as a Float64Array) are the
    entries as written (read back here as page.js reads them), every bit: NaN and the
    infinities as the trace's strings (a run that diverges), -0 as -0 (the book's relu
    run)."""
    html = tmp_path / "page.html"
    write_html(diverging(tmp_path) if name == "diverging" else TRACES / f"{name}.jsonl", html,
               Registry.load())
    page, errors, _ = open_page(browser, html)
    read = json.loads(page.evaluate("""async () => {
      const all = [];
      for (let i = 0; i < N; i++) all.push(await entry(i));
      return JSON.stringify(all, (k, v) => Object.is(v, -0) ? "-0" : v);
    }"""))
    written = [signed(e) for e in page_data(html)["events"]]
    assert len(read) == len(written) == (3480 if name == "diverging" else 1740)
    assert read == written
    shown = json.dumps(read)
    assert ('"NaN"' in shown and '"Infinity"' in shown) if name == "diverging" else '"-0"' in shown
    assert errors == []
    page.close()


def test_each_kind_of_step_is_narrated_twice_then_made_by_its_recipe() -> None:
    steps = html_module._Steps(open_trace(TRACES / "ch06-streetlights-backprop.jsonl").header,
                               Registry.load())
    narrated: list[int] = []
    real = steps.narrated

    def narrating(event: Event) -> Any:
        narrated.append(event.seq)
        return real(event)

    steps.narrated = narrating  # type: ignore[method-assign]
    events = completed(TRACES / "ch06-streetlights-backprop.jsonl")
    for event in events:
        steps.step(event)
    # 4 samples' 7 kinds of step, each narrated twice, then made by its recipe; the run's
    # first 4 steps (the state held fewer layers and deltas) once each; the 60 passes'
    # ends (their formula names the pass) every time
    recipes = list(steps.recipes.values())
    assert len(recipes) == 4 * 7 + 4 and not any(r.slow for r in recipes)
    assert sorted(r.checked for r in recipes) == [1] * 4 + [2] * 4 * 7
    assert all(r.ready for r in recipes if r.checked == 2)
    assert len(narrated) == 4 + 4 * 7 * 2 + 60 == 120 and narrated[:60] == list(range(60))
    assert len(events) == 1740  # (1620 made by recipes alone)


def test_a_recipe_that_disagrees_with_the_narration_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = TRACES / "streetlights-minibatch.jsonl"
    narrated = entries_of(trace)
    real = html_module._Steps.recipe

    def swapped(self: Any, event: Any, raw: list[Any]) -> Any:  # every operand from the wrong place
        parts = real(self, event, raw)
        return None if parts is None else parts[1:] + parts[:1]

    monkeypatch.setattr(html_module._Steps, "recipe", swapped)
    assert entries_of(trace) == narrated  # (each such step narrated every time)


NASTY_TITLE = '</script><script>alert("title")</script> <!--<script> & </SCRIPT'


def nasty_page(run_cli: RunCli, tmp_path: Path) -> Path:
    """A page whose title would close its data block, or open a comment in it."""
    config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                "--format", "json").stdout)
    source = tmp_path / "nasty.json"
    source.write_text(json.dumps({**config, "name": "nasty", "title": NASTY_TITLE,
                                  "iterations": 2}))
    trace, html = tmp_path / "nasty.jsonl", tmp_path / "nasty.html"
    run_cli("record", source, "-o", trace)
    assert run_cli("html", trace, "-o", html).exit_code == 0
    return html


def test_nothing_from_the_trace_can_close_a_script_block(run_cli: RunCli, tmp_path: Path) -> None:
    html = nasty_page(run_cli, tmp_path)
    text = html.read_text()
    assert text.lower().count("</script") == 3  # the events' block (58 events), data's, the script's
    assert "<!--" not in text
    assert page_data(html)["title"] == NASTY_TITLE


def test_a_title_that_looks_like_markup_is_shown_as_text(
        run_cli: RunCli, browser: Browser, tmp_path: Path) -> None:
    page, errors, requests = open_page(browser, nasty_page(run_cli, tmp_path))
    assert page.text_content("#title") == f"nasty: {NASTY_TITLE}"
    page.keyboard.press("End")
    assert present(page.text_content("#where")).startswith("event 57 of 58 · epoch 1")
    assert errors == [] and all(url.startswith("file://") for url in requests)


def test_an_incomplete_trace_makes_a_page_that_says_so(run_cli: RunCli, tmp_path: Path) -> None:
    lines = (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes().splitlines(keepends=True)
    trace = tmp_path / "cut.incomplete.jsonl"
    trace.write_bytes(b"".join(lines[:101]) + b'{"kind":"end","events":100,"complete":false,'
                      b'"reason":"interrupted (Ctrl-C)"}\n')
    html = tmp_path / "cut.html"
    assert run_cli("html", trace, "-o", html).stdout.startswith(f"wrote {html}: 100 events")
    data = page_data(html)
    assert data["incomplete"] == "interrupted (Ctrl-C)"
    assert len(data["events"]) == 100 and len(data["errors"]) == 3


def test_a_damaged_trace_leaves_no_page_and_no_temporary(run_cli: RunCli, tmp_path: Path) -> None:
    lines = (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes().splitlines(keepends=True)
    trace = tmp_path / "damaged.jsonl"
    trace.write_bytes(b"".join(lines[:1000]) + lines[1000][:20])  # cut mid-line, far in
    html = tmp_path / "damaged.html"
    html.write_text("the old page")
    result = run_cli("html", trace, "-o", html)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {trace}:1001: truncated in the middle of a line; "
                             "re-record the trace\n")
    assert html.read_text() == "the old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.html", "damaged.jsonl"]


def test_a_full_disk_is_one_line_and_leaves_nothing(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = tmp_path / "full.html"
    fill_disk(monkeypatch, 100_000)  # past the page's head, in the events
    result = run_cli("html", TRACES / "ch06-streetlights-backprop.jsonl", "-o", html)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {html}: cannot write: No space left on device (free some "
                             "space, or write elsewhere with -o; nothing was left behind)\n")
    assert list(tmp_path.iterdir()) == []


def test_the_page_never_replaces_its_trace(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "run.html"
    trace.write_bytes((TRACES / "ch06-streetlights-backprop.jsonl").read_bytes())
    result = run_cli("html", trace, "-o", trace)
    assert result.exit_code == 2 and "is also the input" in result.stderr
    assert trace.read_bytes() == (TRACES / "ch06-streetlights-backprop.jsonl").read_bytes()


# -- every kind of step drawn, readably, and the ways to move ------------------------------------


@pytest.fixture(scope="module")
def backprop(browser: Browser,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, list[Event]]]:
    trace = TRACES / "ch06-streetlights-backprop.jsonl"
    html = tmp_path_factory.mktemp("backprop") / "backprop.html"
    write_html(trace, html, Registry.load())
    page, errors, requests = open_page(browser, html)
    yield page, completed(trace)
    assert errors == [] and all(url.startswith("file://") for url in requests)
    page.close()


def shown(page: Page, selector: str) -> float:
    return float(present(page.get_attribute(selector, "data-value")))


def overlaps(page: Page) -> list[tuple[str, str]]:
    """Pairs of visible labels in the network whose boxes overlap (by more than half a pixel)."""
    result: list[tuple[str, str]] = page.evaluate("""() => {
      const boxes = [...document.querySelectorAll("#net text")].filter(t => t.textContent.trim())
        .map(t => [t.textContent, t.getBoundingClientRect()]);
      const out = [];
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const [s, a] = boxes[i], [u, b] = boxes[j];
        if (a.left < b.right - .5 && b.left < a.right - .5 && a.top < b.bottom - .5 && b.top < a.bottom - .5)
          out.push([s, u]);
      }
      return out;
    }""")
    return result


def test_every_kind_of_step_shows_the_traces_numbers(backprop: tuple[Page, list[Event]]) -> None:
    page, events = backprop
    with open_trace(TRACES / "ch06-streetlights-backprop.jsonl") as reader:
        before = {e.seq: state.before[e.layer - 1].tolist() for e, state in walk(reader.header, reader)
                  if e.kind == "update"}
    chosen = [i for i in range(len(events)) if i < 30 or i % 97 == 0]
    kinds = {events[i].kind for i in chosen}
    assert kinds == {"forward", "error", "delta", "update", "epoch_end"} and len(chosen) >= 20
    for i in chosen:
        page.evaluate(f"go({i})")
        e = events[i]
        assert present(page.text_content("#where")).startswith(f"event {i} of {len(events)} ")
        if e.kind == "forward":
            for j, v in enumerate(e.layer_out[0]):
                assert shown(page, f'[data-node="{e.layer},{j}"]') == v
            for later in range(e.layer + 1, 3):  # not computed yet in this step: blank
                assert page.get_attribute(f'[data-node="{later},0"]', "data-value") == ""
        elif e.kind == "error":
            assert shown(page, "#error") == e.error
            assert shown(page, '[data-goal="0"]') == present(e.goal)[0][0]
            assert shown(page, '[data-node="2,0"]') == present(e.prediction)[0][0]
        elif e.kind == "delta":
            for j, (d, der) in enumerate(zip(e.delta[0], e.derivative[0], strict=True)):
                label = f'[data-delta="{e.layer},{j}"]'
                assert shown(page, label) == d
                off = page.eval_on_selector(label, "t => t.closest('g').classList.contains('off')")
                assert off == (der == 0)
                if der == 0:  # relu switched the node off: its delta is 0, and the page says why
                    assert "relu'=0" in present(page.text_content(label))
        elif e.kind == "update":
            after, old = present(e.weights), before[i]
            changed = sorted(page.eval_on_selector_all(
                "g.edge.changed", "gs => gs.map(g => g.dataset.weight)"))
            assert changed == sorted(f"{e.layer - 1},{a},{b}" for a, row in enumerate(after)
                                     for b, v in enumerate(row) if v != old[a][b])
            for a, row in enumerate(after):
                for b, v in enumerate(row):
                    assert shown(page, f'g[data-weight="{e.layer - 1},{a},{b}"]') == v


def test_the_first_update_of_weights_0_1_lights_only_the_weights_that_moved(
        backprop: tuple[Page, list[Event]]) -> None:
    page, events = backprop
    assert events[6].kind == "update" and events[6].layer == 1
    page.evaluate("go(6)")
    changed = page.eval_on_selector_all("g.edge.changed", "gs => gs.map(g => g.dataset.weight)")
    assert sorted(changed) == ["0,0,1", "0,2,1"]  # inputs 0 and 2 lit, only hidden node 1 alive
    with open_trace(TRACES / "ch06-streetlights-backprop.jsonl") as reader:
        initial = reader.header.initial_weights[0][0][1]
    assert page.get_attribute('g[data-weight="0,0,1"]', "data-before") == repr(initial)
    assert present(page.text_content('text[data-label="0,0,1"]')).startswith("▲")


def test_no_two_labels_overlap(backprop: tuple[Page, list[Event]]) -> None:
    page, _ = backprop
    for i in (0, 1, 2, 3, 4, 5, 6, 7, 700, 1739):  # forward, error, delta, update, ...
        page.evaluate(f"go({i})")
        assert overlaps(page) == [], i


def test_numbers_are_rounded_with_the_exact_value_in_a_tooltip(backprop: tuple[Page, list[Event]]) -> None:
    page, events = backprop
    page.evaluate("go(1)")
    first = events[1]
    assert isinstance(first, ForwardEvent)
    value = first.layer_out[0][0]
    text = page.locator('[data-node="2,0"]')
    assert text.evaluate("t => t.firstChild.nodeValue") == f"{value:.4g}"  # then its <title>
    assert text.locator("title").text_content() == f"layer_2[0] = {value!r}"
    css = page.evaluate("getComputedStyle(document.getElementById('formula')).wordBreak")
    assert css != "break-all"
    keys = present(page.text_content("#keys"))
    assert all(key in keys for key in ("←", "→", "Home", "End", "Space"))


def test_the_slider_the_pass_jump_and_the_curve_go_where_they_say(
        backprop: tuple[Page, list[Event]]) -> None:
    page, events = backprop
    page.eval_on_selector("#slider", "s => { s.value = '500'; s.dispatchEvent(new Event('input')); }")
    where(page, f"event 500 of {len(events)} ")
    page.fill("#pass", "3")
    page.fill("#sample", "2")
    page.click("#jump")
    target = next(i for i, e in enumerate(events) if e.epoch == 3 and 2 in e.samples)
    where(page, f"event {target} of ")
    passes = sum(e.kind == "epoch_end" for e in events)
    for p in (0, 17, passes - 1):
        x = 60 + p * 820 / (passes - 1)
        page.click("#curve", position={"x": x, "y": 80})
        first = next(i for i, e in enumerate(events) if e.epoch == p)
        where(page, f"event {first} of ")
        assert present(page.text_content("#readout")).startswith(f"pass {p}: error ")


def test_the_keys_step_jump_and_play(backprop: tuple[Page, list[Event]]) -> None:
    page, events = backprop
    page.evaluate("go(0)")
    page.focus("body")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert present(page.text_content("#where")).startswith("event 2 of ")
    page.keyboard.press("End")
    where(page, f"event {len(events) - 1} of ")
    page.keyboard.press("Home")
    where(page, "event 0 of ")
    page.select_option("#speed", "250")
    page.focus("body")
    page.keyboard.press(" ")
    assert page.text_content("#play") == "❚❚ pause"
    page.wait_for_function("document.getElementById('slider').value > 10")
    page.keyboard.press(" ")
    assert page.text_content("#play") == "▶ play"
    stopped = page.eval_on_selector("#slider", "s => s.value")
    page.wait_for_timeout(100)
    assert page.eval_on_selector("#slider", "s => s.value") == stopped


def test_a_one_weight_layer_network_is_drawn_in_chapter_4s_names(run_cli: RunCli, tmp_path: Path) -> None:
    html = tmp_path / "alpha.html"
    assert run_cli("html", TRACES / "ch04-alpha.jsonl", "-o", html).exit_code == 0
    names = page_data(html)["names"]
    assert names == {"layers": ["input", "prediction"], "weights": ["", "weight"],
                     "deltas": ["", "delta"]}
    deep = tmp_path / "deep.html"
    assert run_cli("html", TRACES / "ch06-streetlights-backprop.jsonl", "-o", deep).exit_code == 0
    assert page_data(deep)["names"] == {"layers": ["layer_0", "layer_1", "layer_2"],
                                        "weights": ["", "weights_0_1", "weights_1_2"],
                                        "deltas": ["", "layer_1_delta", "layer_2_delta"]}


def test_no_two_labels_overlap_in_a_deeper_wider_network(
        run_cli: RunCli, browser: Browser, tmp_path: Path) -> None:
    config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                "--format", "json").stdout)
    source = tmp_path / "deep.json"
    source.write_text(json.dumps({**config, "name": "deep", "layers": [3, 6, 16, 1], "iterations": 2,
                                  "nonlinearities": ["relu", "relu", "linear"]}))
    trace, html = tmp_path / "deep.jsonl", tmp_path / "deep.html"
    run_cli("record", source, "-o", trace)
    assert run_cli("html", trace, "-o", html).exit_code == 0
    page, errors, _ = open_page(browser, html)
    kinds = [e.kind for e in completed(trace)]
    for i in range(kinds.index("epoch_end") + 1):  # every step of the first sample's pass
        page.evaluate(f"go({i})")
        assert overlaps(page) == [], (i, kinds[i])
    assert errors == []


def test_hovering_an_edge_shows_its_exact_weight_at_once(backprop: tuple[Page, list[Event]]) -> None:
    page, _ = backprop
    page.evaluate("go(13)")  # the update of weights_0_1 for the second streetlight
    label = page.locator('text[data-label="0,2,3"]')  # a weight that moved
    label.hover()
    before = page.get_attribute('g[data-weight="0,2,3"]', "data-before")
    after = page.get_attribute('g[data-weight="0,2,3"]', "data-value")
    assert page.text_content("#tip") == f"weights_0_1[2][3]: {before} → {after}"
    assert page.is_visible("#tip")
    page.mouse.move(5, 5)
    assert not page.is_visible("#tip")
    cell = page.locator("#operands .operand").last.locator("td").nth(11)  # (after)[2][3]
    cell.hover()
    assert cell.get_attribute("title") == after
    assert page.text_content("#tip") == f"weights_0_1 (after): {after}"
    page.mouse.move(5, 5)
    assert not page.is_visible("#tip")


# -- the literate line: the formula, then its operands laid out as matrices ----------------------


def shown_operands(page: Page) -> list[list[Any]]:
    """The operands as the page lays them out, clause by clause: each sign's text, and each
    operand's name, its cells row by row (text and tooltip), or its number's, and what it
    says of a cut matrix."""
    result: list[list[Any]] = page.evaluate("""() =>
      [...document.querySelectorAll('#operands .clause')].map(c => [...c.children].map(x => {
        if (x.classList.contains('sign')) return x.textContent;
        const num = x.querySelector('.num'), cut = x.querySelector('.cut');
        return {name: x.querySelector('.name').textContent,
                rows: [...x.querySelectorAll('tr')].map(tr => [...tr.querySelectorAll('td:not(.more)')]
                        .map(td => [td.textContent, td.title])).filter(r => r.length),
                num: num ? [num.textContent, num.title] : null, cut: cut ? cut.textContent : ''};
      }))""")
    return result


def expected_operands(narrator: Literate, event: Event) -> list[list[Any]]:
    """What the page should lay out for ``event``: the clauses Literate makes of it (where
    the step starts a sample, the banner's input and goal first, in one group, each named
    by its formula)."""
    given = narrator.given(event) if isinstance(event, ForwardEvent) and event.layer == 1 else ()

    def parts(clause: Clause, name: str | None = None) -> list[Any]:
        return [part.text.strip() if isinstance(part, Sign) else
                {"name": name or part.name,
                 "value": part.value.tolist() if isinstance(part.value, np.ndarray) else part.value}
                for part in clause.on_page()]

    expected = [[part for clause in given for part in parts(clause, clause.formula)]] if given else []
    return expected + [parts(clause) for clause in narrator.clauses(event)]


def same_float(shown: str, value: float) -> bool:
    """The page's exact value (JavaScript's shortest form) is the trace's float, sign of a
    zero included."""
    x = float(shown)
    return (x == value and math.copysign(1, x) == math.copysign(1, value)) or (x != x and value != value)


def check_operands(page: Page, narrator: Literate, event: Event, result: Any) -> int:
    """The operands on the page are the clauses' (names, signs, every cell: the rounded
    number the page's fmt gives, its exact value in the tooltip); the last of them is the
    step's ``result`` as the trace holds it. Returns how many numbers it checked."""
    shown, expected = shown_operands(page), expected_operands(narrator, event)
    assert len(shown) == len(expected), (event.seq, shown)
    checked: list[tuple[str, str, float]] = []  # text, tooltip, the trace's number
    for shown_clause, expected_clause in zip(shown, expected, strict=True):
        assert len(shown_clause) == len(expected_clause), (event.seq, shown_clause)
        for got, want in zip(shown_clause, expected_clause, strict=True):
            if isinstance(want, str):
                assert got == want, event.seq
                continue
            assert got["name"] == want["name"], event.seq
            value = want["value"]
            if value is None:
                assert got["num"][0] == "?"
            elif isinstance(value, float):
                checked.append((*got["num"], value))
            else:
                rows = [row[:MAX_NODES] for row in value[:MAX_NODES]]
                assert [len(row) for row in got["rows"]] == [len(row) for row in rows], event.seq
                checked += [(text, title, v) for got_row, row in zip(got["rows"], rows, strict=True)
                            for (text, title), v in zip(got_row, row, strict=True)]
                cut = len(value) > MAX_NODES or len(value[0]) > MAX_NODES
                assert bool(got["cut"]) == cut and (not cut or f"of {len(value[0])} columns" in got["cut"]
                                                    or f"of {len(value)} rows" in got["cut"])
    rounded = page.evaluate("vs => vs.map(fmt)", [v for _, _, v in checked])
    for (text, title, value), want in zip(checked, rounded, strict=True):
        assert same_float(title, value), (event.seq, title, value)
        assert text == want, (event.seq, text, value)
        if math.isfinite(value):
            assert abs(float(text) - value) <= 5e-4 * abs(value), (event.seq, text, value)
    last = shown[-1][-1]  # what the step computed, as the page shows it, and as the trace holds it
    if isinstance(result, float):
        assert same_float(last["num"][1], result), event.seq
    elif last["num"] is not None:  # a one-weight-layer network's 1×1: the book's scalar
        assert len(result) == 1 == len(result[0]) and same_float(last["num"][1], result[0][0]), event.seq
    else:
        assert len(last["rows"]) == min(len(result), MAX_NODES), event.seq
        for got_row, row in zip(last["rows"], result, strict=False):
            assert all(same_float(title, v) for (_, title), v in zip(got_row, row, strict=False)), event.seq
    return len(checked)


def result_of(event: Event) -> Any:
    """What a step computes, as the trace holds it: the last operand the page shows."""
    if isinstance(event, ForwardEvent):
        return event.layer_out
    if event.kind == "update":
        return getattr(event, "weights")  # noqa: B009 (any update)
    return getattr(event, event.kind if event.kind == "delta" else "error")


def wide_trace(run_cli: RunCli, folder: Path) -> Path:
    """A 3-14-13-1 network: its layers are wider than the page draws (MAX_NODES)."""
    config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                "--format", "json").stdout)
    source = folder / "wide.json"
    source.write_text(json.dumps({**config, "name": "wide", "layers": [3, 14, 13, 1], "iterations": 1,
                                  "nonlinearities": ["relu", "tanh", "linear"]}))
    trace = folder / "wide.jsonl"
    run_cli("record", source, "-o", trace)
    return trace


EVERY_KIND = {"forward", "error", "delta", "update", "epoch_end"}


@pytest.mark.parametrize(("name", "chosen", "kinds"), [
    ("ch06-streetlights-backprop", [i for i in range(1740) if i < 30 or i % 97 == 0], EVERY_KIND),
    # one weight layer: ch. 5's names, a frozen weight
    ("ch05-freeze-one-weight", list(range(15)), EVERY_KIND),
    # a strategy's own rule and its details (no delta: it tries the weight up and down)
    ("ch04-hot-and-cold-learning", list(range(12)), EVERY_KIND - {"delta"}),
    ("streetlights-minibatch", list(range(30)), EVERY_KIND),  # a batch: a row per sample
    ("wide", list(range(41)), EVERY_KIND),  # layers wider than the page draws: "… of N"
])
def test_every_operand_on_the_page_is_the_traces_number(
        run_cli: RunCli, browser: Browser, tmp_path: Path, name: str, chosen: list[int],
        kinds: set[str]) -> None:
    trace = wide_trace(run_cli, tmp_path) if name == "wide" else TRACES / f"{name}.jsonl"
    html = tmp_path / f"{name}.html"
    write_html(trace, html, Registry.load())
    page, errors, _ = open_page(browser, html)
    events = steptrace.load(trace).events
    seen, numbers = set(), 0
    with open_trace(trace) as reader:
        narrator = Literate(reader.header, Registry.load(), DIGITS)
        for i, event in enumerate(reader):
            event = narrator.state.complete(event)
            if i not in chosen:
                continue
            page.evaluate(f"go({i})")
            where(page, f"event {i} of ")
            assert page.text_content("#formula") == f"[{i}] " + "; ".join(
                c.formula + (f" {c.note.strip()}" if c.note else "") for c in narrator.clauses(event))
            numbers += check_operands(page, narrator, event, result_of(events[i]))
            seen.add(event.kind)
    assert len(chosen) >= 12 and numbers >= 4 * len(chosen) and seen == kinds
    assert errors == []


def boxes(page: Page, selector: str) -> list[dict[str, float]]:
    found: list[dict[str, float]] = page.eval_on_selector_all(selector, """xs => xs.map(x => {
      const b = x.getBoundingClientRect();
      return {left: b.left, right: b.right, top: b.top, bottom: b.bottom};
    })""")
    return found


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["left"] < b["right"] - .5 and b["left"] < a["right"] - .5
            and a["top"] < b["bottom"] - .5 and b["top"] < a["bottom"] - .5)


@pytest.mark.parametrize("name", ["ch06-streetlights-backprop", "wide"])
def test_operand_tables_never_overlap_each_other_or_the_drawing(
        run_cli: RunCli, browser: Browser, tmp_path: Path, name: str) -> None:
    trace = wide_trace(run_cli, tmp_path) if name == "wide" else TRACES / f"{name}.jsonl"
    html = tmp_path / f"{name}.html"
    write_html(trace, html, Registry.load())
    page, errors, _ = open_page(browser, html)
    for i in range(15):  # every kind of step of the first samples
        page.evaluate(f"go({i})")
        where(page, f"event {i} of ")
        parts = boxes(page, "#operands .operand") + boxes(page, "#operands .sign")
        assert len(parts) >= 1
        for j, a in enumerate(parts):
            assert not any(overlap(a, b) for b in parts[j + 1:]), (i, a)
        line, net = boxes(page, "#line")[0], boxes(page, "#net")[0]
        assert all(a["bottom"] <= line["bottom"] and a["right"] <= line["right"] for a in parts), i
        assert line["bottom"] <= net["top"] and not overlap(line, net), i
    assert errors == []


def test_an_update_of_3x4_weights_fits_a_1000_pixel_window_and_wraps_in_a_narrow_one(
        browser: Browser, tmp_path: Path) -> None:
    html = tmp_path / "backprop.html"
    write_html(TRACES / "ch06-streetlights-backprop.jsonl", html, Registry.load())
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(html.as_uri())
    page.wait_for_function("document.querySelector('svg#net circle')")
    page.evaluate("go(13)")  # weights_0_1 (before) − alpha · weight_delta = weights_0_1 (after)
    where(page, "event 13 of 1740 · epoch 0 · samples 1 · update")
    names = page.eval_on_selector_all("#operands .operand .name", "ns => ns.map(n => n.textContent)")
    assert names == ["weights_0_1 (before)", "alpha", "layer_0ᵀ · layer_1_delta", "weights_0_1 (after)"]
    rows = page.eval_on_selector_all("#operands .operand table", "ts => ts.map(t => t.rows.length)")
    assert rows == [3, 3, 3]
    moved = page.eval_on_selector_all("#operands .operand:last-child td", """tds => tds.flatMap((td, n) =>
      td.classList.contains("moved") ? [`0,${Math.floor(n / 4)},${n % 4}`] : [])""")
    lit = page.eval_on_selector_all("g.edge.changed", "gs => gs.map(g => g.dataset.weight)")
    assert moved == sorted(lit) == ["0,1,3", "0,2,3"]  # the after table lights what the drawing lights
    parts = boxes(page, "#operands .operand")
    assert max(b["right"] for b in parts) <= 1000
    assert page.evaluate("document.documentElement.scrollWidth") <= 1000
    assert page.evaluate("(l => l.scrollWidth <= l.clientWidth)(document.getElementById('line'))")
    middles = [(b["top"] + b["bottom"]) / 2 for b in parts]
    assert max(middles) - min(middles) < 2  # side by side, on one row
    page.set_viewport_size({"width": 520, "height": 800})  # narrow: they wrap, inside the box
    page.wait_for_function("document.getElementById('operands').getBoundingClientRect().right <= 520")
    # (the page lays the line out again after a resize: wait for the rows to wrap, at most 5 s)
    page.wait_for_function("new Set([...document.querySelectorAll('#operands .operand')]"
                           ".map(o => Math.round(o.getBoundingClientRect().top))).size > 1",
                           timeout=5000)
    parts, line = boxes(page, "#operands .operand"), boxes(page, "#line")[0]
    assert len({round(b["top"]) for b in parts}) > 1
    assert all(line["left"] <= b["left"] and b["right"] <= line["right"] for b in parts)
    for j, a in enumerate(parts):
        assert not any(overlap(a, b) for b in parts[j + 1:])
    page.close()


@pytest.mark.slow
def test_a_million_events_open_and_step(browser: Browser, tmp_path: Path) -> None:
    """The 10⁶-event page (ch. 4's one weight, 200,000 passes of 5 events: the fastest run
    to that length) opens at event 0, steps, goes to the last event by the slider and to a
    late pass by the jump, each showing the trace's numbers (streamed from the file and
    completed, keeping only the seven events compared: memory stays flat)."""
    config = steptrace.experiment("ch04-alpha")
    config.iterations = 200_000
    trace_file, html = tmp_path / "million.jsonl", tmp_path / "million.html"
    record(config, Registry.load(), trace_file)
    last, start = 999_999, 5 * 150_000  # the last event; pass 150,000's first
    wanted = {0, 1, last, start - 2, start - 1, start, start + 2}
    with open_trace(trace_file) as reader:
        events = {event.seq: event for event in complete_events(reader.header, reader)
                  if event.seq in wanted}
    assert sorted(events) == sorted(wanted)
    assert write_html(trace_file, html, Registry.load()) == 1_000_000
    page, errors, requests = open_page(browser, html)

    def same(selector: str, value: float) -> None:
        assert same_float(present(page.get_attribute(selector, "data-value")), value), selector

    def result(value: float) -> None:  # the step's last operand, its exact value
        title = page.eval_on_selector_all("#operands .operand", "os => os.at(-1).querySelector('.num').title")
        assert same_float(title, value)

    first, error, end = events[0], events[1], events[last]
    late, update, delta = events[start], events[start - 2], events[start + 2]
    assert isinstance(first, ForwardEvent) and first.layer_in is not None
    assert isinstance(error, ErrorEvent) and isinstance(end, EpochEndEvent) and end.error is not None
    assert isinstance(late, ForwardEvent) and isinstance(update, UpdateEvent)
    assert isinstance(delta, DeltaEvent)
    assert end.epoch == 199_999 and late.epoch == 150_000 and events[start - 1].epoch == 149_999

    where(page, "event 0 of 1000000 · epoch 0 · samples 0 · forward")
    assert page.text_content("#formula") == "[0] prediction = input · weight"
    same('[data-node="0,0"]', first.layer_in[0][0])
    same('[data-node="1,0"]', first.layer_out[0][0])
    result(first.layer_out[0][0])
    page.keyboard.press("ArrowRight")  # the error of the first pass
    where(page, "event 1 of 1000000 · epoch 0 · samples 0 · error")
    same("#error", error.error)
    result(error.error)

    # the slider, to the last event: the end of pass 199,999
    page.eval_on_selector("#slider", f"s => {{ s.value = '{last}'; s.dispatchEvent(new Event('input')); }}")
    where(page, f"event {last} of 1000000 · epoch 199999 · samples 0 · epoch_end")
    result(end.error)

    page.fill("#pass", "150000")  # the jump, to a late pass: its forward step, then on
    page.fill("#sample", "0")
    page.click("#jump")
    where(page, f"event {start} of 1000000 · epoch 150000 · samples 0 · forward")
    same('[data-node="1,0"]', late.layer_out[0][0])
    same('g[data-weight="0,0,0"]', present(update.weights)[0][0])  # as the last update left it
    page.focus("body")
    for _ in range(2):
        page.keyboard.press("ArrowRight")
    where(page, f"event {start + 2} of 1000000 · epoch 150000 · samples 0 · delta")
    same('[data-delta="1,0"]', delta.delta[0][0])
    result(delta.delta[0][0])
    assert errors == [] and all(url.startswith("file://") for url in requests)
