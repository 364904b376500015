"""Write the documentation's pictures (docs/*.png) of the HTML viewer: record
ch06-streetlights-backprop, write its page, and screenshot it in headless Chromium
(Playwright) at a forward, a delta and an
update step of the second streetlight (events 7, 11 and 13).

    python docs/screenshots.py          # writes docs/viewer-forward.png, -delta.png, -update.png

and, at 780 pixels wide, a full-batch run's page with sample 2 picked at its first update
(docs/page-780.png) and the live page in a notebook-like output, its frame grown to the
page (docs/notebook-780.png; the inline HTML steptrace.playground(...) gives Jupyter); and
the edit panel (docs/edit-panel.png), the hidden layer made 6 wide, tanh, alpha 0.5 and a
light switched.

Needs the `browser` extra (Playwright) and a Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from steptrace.api import experiment, playground, record

DOCS = Path(__file__).resolve().parent
SHOTS = {"forward": 7, "delta": 11, "update": 13}


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium: apt-get install chromium (Debian)")
    with tempfile.TemporaryDirectory() as folder:
        page_file = Path(folder) / "backprop.html"
        page_file.write_text(record("ch06-streetlights-backprop").html(), encoding="utf-8")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium,
                                                 args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 960, "height": 860})
            page.goto(page_file.as_uri())
            for kind, event in SHOTS.items():
                page.evaluate(f"go({event})")
                where = page.text_content("#where") or ""
                assert f"· {kind}" in where, (kind, where)
                target = DOCS / f"viewer-{kind}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"wrote {target}: {where}")
            narrow(browser, Path(folder))
            edited(browser, Path(folder))
            browser.close()


def edited(browser: Any, folder: Path) -> None:
    """The edit panel, after four edits, at an update of the third streetlight in pass 0."""
    (folder / "live.html").write_text(playground("ch06-streetlights-backprop").html,
                                      encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto((folder / "live.html").as_uri())
    page.wait_for_function("document.querySelector('svg#net circle')")
    for name, value in [("alpha", "0.5"), ("size1", "6")]:
        page.fill(f"[data-setting={name}]", value)
        page.press(f"[data-setting={name}]", "Enter")
    page.select_option("[data-setting=act1]", "tanh")
    page.click("#rows button.cell >> nth=1")
    page.evaluate("go(19)")
    assert "update" in (page.text_content("#where") or "")
    save(page, DOCS / "edit-panel.png")


def narrow(browser: Any, folder: Path) -> None:
    """The two 780-pixel pictures (colours reduced to 64 where Pillow is installed)."""
    full = experiment("streetlights-full-gd")
    full.iterations = 60
    (folder / "full.html").write_text(record(full).html(), encoding="utf-8")
    (folder / "notebook.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>body { font: 14px sans-serif; "
        "margin: 0 1em } pre { background: #f7f7f7; padding: .5em; margin: .3em 0 }</style></head>"
        '<body><pre>steptrace.playground("ch06-streetlights-backprop")</pre>'
        + playground("ch06-streetlights-backprop")._repr_html_() + "</body></html>",
        encoding="utf-8")
    page = browser.new_page(viewport={"width": 780, "height": 900})
    page.goto((folder / "full.html").as_uri())
    page.wait_for_function("document.querySelector('svg#net circle')")
    page.evaluate("go(6)")
    page.select_option("#shown", "2")
    save(page, DOCS / "page-780.png")
    page = browser.new_page(viewport={"width": 780, "height": 1400})  # (the frame in view)
    page.goto((folder / "notebook.html").as_uri())
    frame = page.query_selector("iframe").content_frame()
    frame.wait_for_selector("svg#net circle")
    frame.evaluate("go(11)")
    page.wait_for_timeout(500)  # (the frame grows to the page)
    save(page, DOCS / "notebook-780.png")


def save(page: Any, target: Path) -> None:
    page.screenshot(path=str(target), full_page=True)
    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        Image.open(target).convert("RGB").quantize(colors=64).save(target, optimize=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
