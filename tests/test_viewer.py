"""The HTML viewer: the page's data as written, and the page in a real browser
(headless Chromium driven by Playwright).

CI installs Debian's chromium (see .ci/run) and the `browser` extra; where either is
missing the browser's tests skip, saying which.
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import re
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from steptrace.plugins.registry import Registry
from steptrace.trace.events import Event, ForwardEvent
from steptrace.trace.reader import open_trace
from steptrace.trace.state import complete_events, walk
from steptrace.views.html import CHECKPOINT, DIGITS, write_html
from steptrace.views.literate import Literate
from tests.conftest import TRACES, RunCli, present
from tests.test_plot import fill_disk

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


def page_lines(trace: Path) -> list[str]:
    """The literate lines the page shows: 4 significant digits, numbered by event."""
    with open_trace(trace) as reader:
        narrator = Literate(reader.header, Registry.load(), DIGITS)
        return [f"[{e.seq}] {narrator.narrate(narrator.state.complete(e))}" for e in reader]


def test_step_forward_seven_times_and_back(run_cli: RunCli, browser: Browser, tmp_path: Path) -> None:
    trace, html = tmp_path / "backprop.jsonl", tmp_path / "backprop.html"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    made = run_cli("html", trace, "-o", html)
    assert made.stdout == f"wrote {html}: 1740 events; open it in a browser (nothing is fetched)\n"
    page, errors, requests = open_page(browser, html)
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    events = completed(trace)
    literate = page_lines(trace)
    assert page.text_content("#line") == literate[7]
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
    assert page.text_content("#line") == literate[6]
    page.click("#next")
    assert present(page.text_content("#line")).startswith("[7] ")
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
    assert present(page.text_content("#line")).startswith("[100017] ")
    page.keyboard.press("Home")
    where(page, "event 0 of")
    assert present(page.text_content("#line")).startswith("[0] ")
    assert errors == []


# -- the page as written: streamed, self-contained, valid --------------------------------------


def page_data(html: Path) -> dict[str, Any]:
    """What the page's script reads: the data block, with the events block as ``events``."""
    text = html.read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(
        present(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S))[1])
    blocks = re.findall(r'<script type="application/x-steptrace-events" class="events">(.*?)</script>',
                        text, re.S)
    data["events"] = [entry for block in blocks
                      for entry in json.loads(zlib.decompress(base64.b64decode(block)))]
    return data


def test_the_page_holds_every_event_a_snapshot_every_256_and_each_pass_error(
        run_cli: RunCli, tmp_path: Path) -> None:
    trace, html = TRACES / "streetlights-minibatch.jsonl", tmp_path / "minibatch.html"
    assert run_cli("html", trace, "-o", html).exit_code == 0
    data, events = page_data(html), completed(trace)
    assert [e["line"].split(" ")[0] for e in data["events"]] == [f"[{e.seq}]" for e in events]
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
    css = page.evaluate("getComputedStyle(document.getElementById('line')).wordBreak")
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
