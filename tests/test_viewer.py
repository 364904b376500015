"""The HTML viewer: the page's data as written, and the page in a real browser
(headless Chromium driven by Playwright).

CI installs Debian's chromium (see .ci/run) and the `browser` extra; where either is
missing the browser's tests skip, saying which.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from steptrace.trace.events import Event
from steptrace.trace.reader import open_trace
from steptrace.trace.state import complete_events
from steptrace.views.html import CHECKPOINT
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
    return page, errors, requests


def completed(trace: Path) -> list[Event]:
    with open_trace(trace) as reader:
        return list(complete_events(reader.header, reader))


def test_step_forward_seven_times_and_back(run_cli: RunCli, browser: Browser, tmp_path: Path) -> None:
    trace, html = tmp_path / "backprop.jsonl", tmp_path / "backprop.html"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    made = run_cli("html", trace, "-o", html)
    assert made.stdout == f"wrote {html}: 1740 events; open it in a browser (nothing is fetched)\n"
    page, errors, requests = open_page(browser, html)
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    events = completed(trace)
    literate = run_cli("show", trace, "--epoch", "0").stdout.splitlines()
    assert page.text_content("#line") == next(line for line in literate if line.startswith("[7] "))
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
    hot = page.eval_on_selector_all("g.node.hot text", "ts => ts.map(t => t.dataset.node)")
    assert hot == ["0,0", "0,1", "0,2", "1,0", "1,1", "1,2", "1,3"]  # forward 1: layers 0 and 1
    page.keyboard.press("ArrowLeft")
    assert page.text_content("#line") == next(line for line in literate if line.startswith("[6] "))
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
    assert present(page.text_content("#where")).startswith("event 100020 of 100021 · epoch 3448")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert present(page.text_content("#line")).startswith("[100017] ")
    page.keyboard.press("Home")
    assert present(page.text_content("#line")).startswith("[0] ")
    assert errors == []


# -- the page as written: streamed, self-contained, valid --------------------------------------


def page_data(html: Path) -> dict[str, Any]:
    """What the page's script reads: the data block, with the events block as ``events``."""
    blocks = dict(re.findall(r'<script type="application/json" id="(\w+)">(.*?)</script>',
                             html.read_text(encoding="utf-8"), re.S))
    data: dict[str, Any] = json.loads(blocks["data"])
    data["events"] = json.loads(blocks["events"])
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
    assert text.lower().count("</script") == 3  # the two data blocks' and the script's own
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
