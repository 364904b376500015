"""Write the README's pictures of the HTML viewer: record ch06-streetlights-backprop, write
its page, and screenshot it in headless Chromium (Playwright) at a forward, a delta and an
update step of the second streetlight (events 7, 11 and 13).

    python docs/screenshots.py          # writes docs/viewer-forward.png, -delta.png, -update.png

and, at 780 pixels wide, a full-batch run's page with sample 2 picked at its first update
(docs/page-780.png) and the inline page in a notebook-like output, its frame grown to the
page (docs/notebook-780.png; the inline HTML Trace._repr_html_ gives Jupyter).

Needs the `browser` extra (Playwright) and a Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from steptrace.api import experiment, record

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
            browser.close()


def narrow(browser: Any, folder: Path) -> None:
    """The two 780-pixel pictures (colours reduced to 64 where Pillow is installed)."""
    full = experiment("streetlights-full-gd")
    full.iterations = 60
    (folder / "full.html").write_text(record(full).html(), encoding="utf-8")
    (folder / "notebook.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>body { font: 14px sans-serif; "
        "margin: 0 1em } pre { background: #f7f7f7; padding: .5em; margin: .3em 0 }</style></head>"
        '<body><pre>trace = steptrace.record("ch06-streetlights-backprop")\ntrace</pre>'
        + record("ch06-streetlights-backprop")._repr_html_() + "</body></html>", encoding="utf-8")
    page = browser.new_page(viewport={"width": 780, "height": 900})
    page.goto((folder / "full.html").as_uri())
    page.wait_for_function("document.querySelector('svg#net circle')")
    page.evaluate("go(6)")
    page.select_option("#shown", "2")
    save(page, DOCS / "page-780.png")
    page = browser.new_page(viewport={"width": 780, "height": 900})
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
