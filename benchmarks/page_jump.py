"""``python -m benchmarks.page_jump PAGE.html``: how long the page's jump to a pass (and
sample) takes, in Chromium, after the page has loaded: from the jump to the step drawn.

For each of the last pass, the middle one and the first (sample 0), the page is opened
afresh (headless Chromium through Playwright, ``/usr/bin/chromium`` or the one on PATH),
it is waited for until its first step is drawn, then ``jump(pass, 0)`` is timed inside the
page (``performance.now()``, up to the next animation frame after the step is drawn, so the
drawing's layout is in); ``--repeat`` times each, the median printed. The target (issue 28):
0.2 s or less on the page of a 10^6-event trace. Nothing is asserted (timed assertions
belong nowhere).

Make the page first, e.g. ``steptrace html /work/big/big.jsonl -o /tmp/big.html``.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import click

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: the jump, timed inside the page: to the step drawn and the frame after it
TIMED = """async ([p, sample]) => {
  const started = performance.now();
  await jump(p, sample);
  const drawn = performance.now();
  await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return [drawn - started, performance.now() - started, document.getElementById("where").textContent];
}"""


@click.command()
@click.argument("page_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--repeat", default=3, show_default=True, help="fresh loads per pass")
def main(page_file: Path, repeat: int) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(page_file.as_uri())
            page.wait_for_function("document.querySelector('svg#net circle')", timeout=120_000)
            passes = page.evaluate("passStart.length")
            count = page.evaluate("N")
            print(f"{page_file} ({page_file.stat().st_size / 1e6:.1f} MB): {count} events, {passes} passes")
            for name, p in (("last", passes - 1), ("middle", passes // 2), ("first", 0)):
                drawn, framed, loaded, where = [], [], [], ""
                for _ in range(repeat):
                    page.goto(page_file.as_uri())
                    page.wait_for_function("document.querySelector('svg#net circle')",
                                           timeout=120_000)
                    loaded.append(page.evaluate("performance.now()"))  # (since navigation)
                    took, shown, where = page.evaluate(TIMED, [p, 0])
                    drawn.append(took)
                    framed.append(shown)
                print(f"jump to the {name} pass ({p}), sample 0: drawn in "
                      f"{statistics.median(drawn) / 1000:.3f} s, with its frame "
                      f"{statistics.median(framed) / 1000:.3f} s (median of {repeat}; "
                      f"max {max(framed) / 1000:.3f} s; the page loaded and its first step "
                      f"drawn in {statistics.median(loaded) / 1000:.2f} s) · {where}")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
