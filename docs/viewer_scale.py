"""Measure the HTML viewer at scale: the table of docs/pictures.md of the page's size, its
writing time and peak memory, and its first frame and End in headless Chromium, at 10^4,
10^5 and 10^6 events of ch06-streetlights-backprop (its ``iterations`` raised: 29 events a
pass, step detail).

    python docs/viewer_scale.py            # all three (some two minutes)
    python docs/viewer_scale.py 345 3449   # passes of your choosing

Writing the page is timed, with its peak memory, by ``/usr/bin/time -f "%e %M" steptrace
html T -o T.html`` in a fresh process; the first frame is from navigation to the network
drawn (the first block of events inflated), End from the key to the last event shown. Needs
the `browser` extra (Playwright), a Chromium (Debian: apt-get install chromium) and GNU time
(Debian: apt-get install time).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

PASSES = [345, 3449, 34483]  # 10,005, 100,021 and 1,000,007 events


def megabytes(path: Path) -> str:
    size = path.stat().st_size / 1e6
    return f"{size:.2f} MB" if size < 1 else f"{size:.1f} MB"


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    gnu_time = Path("/usr/bin/time")
    if chromium is None or not gnu_time.exists():
        sys.exit("needs chromium and GNU time: apt-get install chromium time (Debian)")
    passes = [int(n) for n in sys.argv[1:]] or PASSES
    rows = ["| events | trace (step detail) | page | page per event | writing the page | its peak "
            "memory | first frame | End |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        config = json.loads(subprocess.run(
            ["steptrace", "experiments", "--show", "ch06-streetlights-backprop", "--format", "json"],
            check=True, capture_output=True, text=True).stdout)
        for n in passes:
            source, trace, html = (Path(folder) / f"long{n}.{ext}" for ext in ("json", "jsonl", "html"))
            source.write_text(json.dumps({**config, "name": "long", "iterations": n}))
            subprocess.run(["steptrace", "record", source, "-o", trace], check=True, capture_output=True)
            made = subprocess.run([gnu_time, "-f", "%e %M", "steptrace", "html", trace, "-o", html],
                                  check=True, capture_output=True, text=True)
            events = int(made.stdout.split(": ")[1].split(" ")[0])
            seconds, kilobytes = made.stderr.split()[-2:]
            page = browser.new_page(viewport={"width": 960, "height": 860})
            start = time.perf_counter()
            page.goto(html.as_uri())
            page.wait_for_function("document.querySelector('svg#net circle')", timeout=120_000)
            first = time.perf_counter() - start
            start = time.perf_counter()
            page.keyboard.press("End")
            page.wait_for_function("n => document.getElementById('where').textContent.startsWith(n)",
                                   arg=f"event {events - 1} of", timeout=120_000)
            end = time.perf_counter() - start
            page.close()
            per_event = html.stat().st_size / events
            rows.append(f"| {events:,} | {megabytes(trace)} | {megabytes(html)} | {per_event:.0f} B | "
                        f"{float(seconds):.1f} s | {int(kilobytes) / 1000:.0f} MB | {first:.2f} s | "
                        f"{end:.2f} s |")
            print(rows[-1], file=sys.stderr)
        browser.close()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
