"""The step-through page says exactly what it draws (issue 25, item 8), and lays out in a
narrow window or a notebook's frame with nothing cut off (item 7): in headless Chromium
(the ``browser`` fixture of tests/test_viewer.py, which skips, saying why, without it).

- a batch step draws one sample's row, the one the picker chooses, and says which;
- a pass's end says which sample the nodes still show;
- grey is "δ 0 for the sample shown", while the lit edges are the batch's weight_delta;
- the jump says why it cannot go where it is asked;
- an edge's label sits on its own edge, nearer it than any other;
- the page at 780 and 1280 pixels wide: every node and the curve's axes inside.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import steptrace
from steptrace.plugins.registry import Registry
from steptrace.trace.events import DeltaEvent, Event, ForwardEvent, UpdateEvent
from steptrace.views.html import write_html
from tests.conftest import TRACES, present
from tests.test_viewer import browser, completed, where

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

__all__ = ["browser"]  # the fixture, shared with tests/test_viewer.py


def run(folder: Path, name: str, **changes: Any) -> Path:
    """A run of the experiment ``name`` with ``changes``, recorded, and its page written."""
    config = steptrace.experiment(name)
    for key, value in changes.items():
        setattr(config, key, value)
    trace = folder / f"{name}-{'-'.join(map(str, changes.values()))}.jsonl"
    steptrace.record(config, output=trace)
    return trace


def page_of(browser: Browser, trace: Path, folder: Path, width: int = 960) -> Page:
    html = folder / f"{trace.stem}.html"
    write_html(trace, html, Registry.load())
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(html.as_uri())
    page.wait_for_function("document.querySelector('svg#net circle')")
    page.errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture(scope="module")
def full(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, list[Event]]]:
    """Full gradient descent on the streetlights, 60 passes: every step a batch of 4."""
    folder = tmp_path_factory.mktemp("full")
    trace = run(folder, "streetlights-full-gd", iterations=60)
    page = page_of(browser, trace, folder)
    yield page, completed(trace)
    assert page.errors == []  # type: ignore[attr-defined]
    page.close()


def go(page: Page, i: int) -> None:
    page.evaluate(f"go({i})")
    where(page, f"event {i} of ")


def nodes(page: Page, layer: int) -> list[float]:
    values: list[str] = page.eval_on_selector_all(
        f'[data-node^="{layer},"]', "ts => ts.map(t => t.dataset.value)")
    return [float(v) for v in values]


def grey(page: Page, layer: int) -> list[bool]:
    off: list[bool] = page.eval_on_selector_all(
        f'[data-delta^="{layer},"]', "ts => ts.map(t => t.closest('g').classList.contains('off'))")
    return off


def said(page: Page) -> str:
    return present(page.text_content("#batch"))


# -- a batch: the picker chooses the sample drawn, and the page says which -----------------------


def test_a_batch_draws_the_picked_samples_row_and_says_which(full: tuple[Page, list[Event]]) -> None:
    page, events = full
    delta = events[4]  # layer_1_delta of the first batch
    assert isinstance(delta, DeltaEvent) and delta.layer == 1 and list(delta.samples) == [0, 1, 2, 3]
    forward = events[0]
    assert isinstance(forward, ForwardEvent)
    go(page, 4)
    assert page.is_visible("#shown")
    assert page.eval_on_selector_all("#shown option", "os => os.map(o => o.value)") == ["0", "1", "2", "3"]
    assert said(page).startswith("a batch of 4: the nodes show sample 0 of samples 0–3")
    assert nodes(page, 1) == list(forward.layer_out[0])
    page.select_option("#shown", "2")
    assert said(page).startswith("a batch of 4: the nodes show sample 2 of samples 0–3 · grey: δ 0 "
                                 "for sample 2; its weights can still move by the other samples' deltas")
    assert nodes(page, 0) == list(present(forward.layer_in)[2])
    assert nodes(page, 1) == list(forward.layer_out[2])
    assert grey(page, 1) == [d == 0 for d in delta.derivative[2]]  # grey: δ 0 for the sample shown
    shown_deltas = page.eval_on_selector_all('[data-delta^="1,"]', "ts => ts.map(t => t.dataset.value)")
    assert [float(d) for d in shown_deltas] == list(delta.delta[2])
    page.focus("body")
    page.keyboard.press("ArrowRight")  # the next step keeps the sample picked
    where(page, "event 5 of ")
    assert said(page).startswith("a batch of 4: the nodes show sample 2 of samples 0–3")
    assert page.eval_on_selector("#shown", "s => s.value") == "2"
    page.select_option("#shown", "0")


def test_a_pass_end_names_the_sample_it_still_shows(
        full: tuple[Page, list[Event]], browser: Browser, tmp_path: Path) -> None:
    page, events = full
    end = next(i for i, e in enumerate(events) if e.kind == "epoch_end")
    go(page, end)
    assert said(page) == ("end of pass 0: the weights as the pass left them; the nodes still show "
                          "its last batch's sample 0 of samples 0–3")
    page.select_option("#shown", "3")
    assert said(page).endswith("its last batch's sample 3 of samples 0–3")
    forward = events[1]
    assert isinstance(forward, ForwardEvent) and forward.layer == 2
    assert nodes(page, 2) == list(forward.layer_out[3])
    page.select_option("#shown", "0")
    # one sample a step (stochastic): the pass's last step was sample 3's, and the page says so
    stochastic = page_of(browser, TRACES / "ch06-streetlights-backprop.jsonl", tmp_path)
    backprop = completed(TRACES / "ch06-streetlights-backprop.jsonl")
    end = next(i for i, e in enumerate(backprop) if e.kind == "epoch_end")
    assert list(backprop[end].samples) == [0, 1, 2, 3]
    go(stochastic, end)
    assert said(stochastic) == ("end of pass 0: the weights as the pass left them; the nodes still "
                                "show sample 3, its last step")
    assert not stochastic.is_visible("#shown")
    last = next(e for e in reversed(backprop[:end]) if isinstance(e, ForwardEvent) and e.layer == 1)
    assert list(last.samples) == [3] and nodes(stochastic, 1) == list(last.layer_out[0])
    go(stochastic, 7)  # a step of one sample
    assert said(stochastic) == "the nodes show sample 1"
    assert stochastic.errors == []  # type: ignore[attr-defined]


def test_a_batch_update_lights_the_weights_its_weight_delta_moves(full: tuple[Page, list[Event]]) -> None:
    """The lit edges are the nonzero cells of the batch's weight_delta, a grey node's too."""
    page, events = full
    updates = [i for i, e in enumerate(events) if e.kind == "update"][:8]
    into_grey = 0
    for i in updates:
        e = events[i]
        assert isinstance(e, UpdateEvent)
        go(page, i)
        lit = sorted(page.eval_on_selector_all("g.edge.changed", "gs => gs.map(g => g.dataset.weight)"))
        assert lit == sorted(f"{e.layer - 1},{a},{b}" for a, row in enumerate(present(e.weight_delta))
                             for b, v in enumerate(row) if v != 0), i
        if e.layer == 1:  # a hidden node grey for sample 0 whose weights the batch moved
            off = [j for j, is_off in enumerate(grey(page, 1)) if is_off]
            into_grey += sum(f"0,{a},{b}" in lit for b in off for a in range(3))
    assert into_grey > 0
    go(page, 6)
    text = page.locator('[data-delta="1,3"]')
    assert text.locator("title").text_content() == (
        "layer_1_delta[3] = -0 for sample 0: relu'(layer_1[3]) = 0, so no error of this sample flows "
        "back through this node; in a batch its weights can still move by the other samples' deltas")
    legend = present(page.text_content("#legend"))
    assert "grey node: its derivative is 0 for the sample shown" in " ".join(legend.split())


def test_the_jump_says_why_it_cannot_go(full: tuple[Page, list[Event]]) -> None:
    page, events = full
    go(page, 10)
    page.fill("#pass", "99")
    page.fill("#sample", "0")
    page.click("#jump")
    page.wait_for_function("document.getElementById('said').textContent !== ''")
    assert page.text_content("#said") == "no pass 99: this run has passes 0–59"
    assert present(page.text_content("#where")).startswith("event 10 of ")  # it stayed
    page.fill("#pass", "3")
    assert page.text_content("#said") == ""  # (a new number: the message goes)
    page.fill("#sample", "7")
    page.click("#jump")
    page.wait_for_function("document.getElementById('said').textContent !== ''")
    assert page.text_content("#said") == "pass 3 has no sample 7 (its samples: 0–3)"
    assert present(page.text_content("#where")).startswith("event 10 of ")
    page.fill("#sample", "2")
    page.click("#jump")
    first = next(i for i, e in enumerate(events) if e.epoch == 3)
    where(page, f"event {first} of ")
    assert page.text_content("#said") == ""
    assert said(page).startswith("a batch of 4: the nodes show sample 2 of samples 0–3")  # the one asked
    page.select_option("#shown", "0")


# -- labels on their own edges ---------------------------------------------------------------


LABELS_NEAR_THEIR_EDGES = """() => {
  // each edge's line and each label's middle in the page's pixels
  const lines = new Map();
  for (const g of document.querySelectorAll("#net g.edge")) {
    const l = g.querySelector("line:not(.halo)"), m = l.getScreenCTM();
    const p = (x, y) => new DOMPoint(x, y).matrixTransform(m);
    lines.set(g.dataset.weight, [p(+l.getAttribute("x1"), +l.getAttribute("y1")),
                                 p(+l.getAttribute("x2"), +l.getAttribute("y2"))]);
  }
  const far = (c, [a, b]) => {  // from point c to segment ab
    const dx = b.x - a.x, dy = b.y - a.y;
    const t = Math.max(0, Math.min(1, ((c.x - a.x) * dx + (c.y - a.y) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(a.x + t * dx - c.x, a.y + t * dy - c.y);
  };
  return [...document.querySelectorAll("#net text.label")].map(t => {
    const r = t.getBoundingClientRect(), c = {x: (r.left + r.right) / 2, y: (r.top + r.bottom) / 2};
    const own = far(c, lines.get(t.dataset.label));
    const others = [...lines].filter(([k]) => k !== t.dataset.label).map(([, s]) => s);
    const other = Math.min(...others.map(s => far(c, s)));
    // and no other edge's line passes through the label (sampled every half pixel, 1 px inside)
    const crossed = others.filter(([a, b]) => {
      const n = Math.ceil(2 * Math.hypot(b.x - a.x, b.y - a.y));
      for (let k = 0; k <= n; k++) {
        const x = a.x + (b.x - a.x) * k / n, y = a.y + (b.y - a.y) * k / n;
        if (x > r.left + 1 && x < r.right - 1 && y > r.top + 1 && y < r.bottom - 1) return true;
      }
      return false;
    }).length;
    return [t.dataset.label, own, other, crossed];
  });
}"""


@pytest.mark.parametrize(("hidden", "steps"), [(4, range(0, 29)), (8, range(0, 29))])
def test_every_edge_label_is_nearer_its_own_edge_than_any_other(
        browser: Browser, tmp_path: Path, hidden: int, steps: range) -> None:
    """On the 3-4-1 network (every weight labelled) and a 3-8-1 one (the moved ones), at
    every step of the first pass: no label sits on a crossing it does not belong to (its middle
    is nearer its own edge than any other, and no other edge's line passes through it)."""
    trace = (TRACES / "ch06-streetlights-backprop.jsonl" if hidden == 4 else
             run(tmp_path, "ch06-streetlights-backprop", layers=[3, hidden, 1], iterations=2))
    page = page_of(browser, trace, tmp_path)
    kinds = [e.kind for e in completed(trace)]
    shown = 0
    for i in steps:
        go(page, i)
        labels = page.evaluate(LABELS_NEAR_THEIR_EDGES)
        for label, own, other, crossed in labels:
            assert own < other and crossed == 0, (i, kinds[i], label, own, other, crossed)
        shown += len(labels)
        if hidden == 4:  # most of the 16 weights keep their label
            assert len(labels) >= 12, (i, len(labels))
    assert shown > 0
    assert page.errors == []  # type: ignore[attr-defined]


# -- sizing: nothing cut off at 780 pixels wide ----------------------------------------------


INSIDE = """() => {
  const w = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll("#net circle, #curve .axis line")]
    .map(c => c.getBoundingClientRect())
    .filter(b => b.left < 0 || b.right > w + 0.5 || b.width + b.height === 0);
  return {out: out.length, circles: document.querySelectorAll("#net circle").length,
          scroll: document.documentElement.scrollWidth - w};
}"""


@pytest.mark.parametrize("width", [780, 1280])
def test_the_page_lays_out_whole_at_780_and_1280_pixels(browser: Browser, tmp_path: Path, width: int) -> None:
    page = page_of(browser, TRACES / "ch06-streetlights-backprop.jsonl", tmp_path, width)
    for i in (0, 4, 6, 28):
        go(page, i)
        inside = page.evaluate(INSIDE)
        assert inside == {"out": 0, "circles": 3 + 4 + 1, "scroll": 0}, (i, inside)
    net = page.eval_on_selector("#net", "n => n.getBoundingClientRect().width")
    assert net == (min(900, width - 2 * 21))  # the page's margins: 1.5em each side
    # the curve's click goes to the pass under the pointer, the drawing scaled or not
    box = present(page.locator("#curve").bounding_box())
    scale = box["width"] / 900
    page.click("#curve", position={"x": (60 + 30 * 820 / 59) * scale, "y": 80 * scale})
    start = next(i for i, e in enumerate(completed(TRACES / "ch06-streetlights-backprop.jsonl"))
                 if e.epoch == 30)
    where(page, f"event {start} of ")
    assert re.match(r"pass 30: error ", present(page.text_content("#readout")))
    assert page.errors == []  # type: ignore[attr-defined]
