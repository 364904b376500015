"""The HTML viewer in a real browser: headless Chromium driven by Playwright.

CI installs Debian's chromium (see .ci/run) and the `browser` extra; where either is
missing these tests skip, saying which.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from steptrace.derive import complete_events
from steptrace.tracefile import open_trace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="pip install 'steptrace[browser]' (Playwright)")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no Chromium: apt-get install chromium (Debian)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser, html: Path):
    page = browser.new_page(viewport={"width": 960, "height": 760})
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html.as_uri())
    return page, errors, requests


def completed(trace: Path) -> list:
    with open_trace(trace) as reader:
        return list(complete_events(reader.header, reader))


def test_step_forward_seven_times_and_back(run_cli, browser, tmp_path):
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
    assert page.text_content("#where").startswith("event 7 of 1740 · epoch 0 · samples 1")
    seventh = events[7]  # the forward pass of layer 1 for the second streetlight
    assert seventh.kind == "forward" and seventh.layer == 1
    for j, value in enumerate(seventh.layer_out[0]):
        assert float(page.get_attribute(f'[data-node="1,{j}"]', "data-value")) == value
    for j, value in enumerate(seventh.layer_in[0]):
        assert float(page.get_attribute(f'[data-node="0,{j}"]', "data-value")) == value
    weights = next(e for e in reversed(events[:7]) if e.kind == "update" and e.layer == 2).weights
    for a, row in enumerate(weights):
        shown = page.get_attribute(f'[data-weight="1,{a},0"]', "data-value")
        assert float(shown) == row[0]
    hot = page.eval_on_selector_all("g.node.hot text", "ts => ts.map(t => t.dataset.node)")
    assert hot == ["0,0", "0,1", "0,2", "1,0", "1,1", "1,2", "1,3"]  # forward 1: layers 0 and 1
    page.keyboard.press("ArrowLeft")
    assert page.text_content("#line") == next(line for line in literate if line.startswith("[6] "))
    page.click("#next")
    assert page.text_content("#line").startswith("[7] ")
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []
    assert all(url.startswith("file://") for url in requests)  # nothing fetched


def test_a_hundred_thousand_events_stay_usable(run_cli, browser, tmp_path):
    config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                "--format", "json").stdout)
    source = tmp_path / "long.json"
    source.write_text(json.dumps({**config, "name": "long", "iterations": 3449}))
    trace, html = tmp_path / "long.jsonl", tmp_path / "long.html"
    run_cli("record", source, "-o", trace)
    assert run_cli("html", trace, "-o", html).stdout.startswith(f"wrote {html}: 100021 events")
    page, errors, _ = open_page(browser, html)
    page.keyboard.press("End")
    assert page.text_content("#where").startswith("event 100020 of 100021 · epoch 3448")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert page.text_content("#line").startswith("[100017] ")
    page.keyboard.press("Home")
    assert page.text_content("#line").startswith("[0] ")
    assert errors == []
