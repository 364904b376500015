"""Write the README's pictures of the HTML viewer: record ch06-streetlights-backprop, write
its page, and screenshot it in headless Chromium (Playwright) at a forward, a delta and an
update step of the second streetlight (events 7, 11 and 13).

    python docs/screenshots.py          # writes docs/viewer-forward.png, -delta.png, -update.png

Needs the `browser` extra (Playwright) and a Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from steptrace.api import record

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
            browser.close()


if __name__ == "__main__":
    main()
