"""``steptrace html`` and ``steptrace plot`` stream: 10x the events must not cost 10x the
memory. Each command runs in a fresh Python process that reports its own peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_viewer import page_data

ENV = {**os.environ, "STEPTRACE_PLUGINS": ""}
# VmHWM (this process's own peak), not ru_maxrss, which Linux keeps across exec: a child
# forked from a big test process would report the parent's peak.
MEASURE = """
import re, sys
from steptrace.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="steptrace")
except SystemExit as done:
    assert done.code in (0, None), done.code
print(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1))
"""


def peak_kib(*args: str) -> int:
    """The peak resident memory (KiB) of ``steptrace ARGS...`` run in a new process."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *args], env=ENV, capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return int(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Step-detail traces of ch. 6's backprop (29 events a pass): ~10^4 and ~10^5 events."""
    folder = tmp_path_factory.mktemp("long")
    shown = subprocess.run([sys.executable, "-m", "steptrace", "experiments", "--show",
                            "ch06-streetlights-backprop", "--format", "json"], env=ENV,
                           capture_output=True, text=True, check=True)
    config = json.loads(shown.stdout)
    made: dict[int, Path] = {}
    for events, passes in ((10_005, 345), (100_021, 3449)):
        source, trace = folder / f"run{passes}.json", folder / f"run{passes}.jsonl"
        source.write_text(json.dumps({**config, "name": f"run{passes}", "iterations": passes}))
        subprocess.run([sys.executable, "-m", "steptrace", "record", str(source), "-o",
                        str(trace)], env=ENV, capture_output=True, check=True)
        made[events] = trace
    return made


def test_html_memory_stays_flat_from_ten_thousand_to_a_hundred_thousand_events(
        traces: dict[int, Path]) -> None:
    """Before the page was streamed, 10^4 events took 80 MB and 10^5 took 350 MB."""
    peaks = {events: peak_kib("html", str(trace), "-o", str(trace.with_suffix(".html")))
             for events, trace in traces.items()}
    small, large = peaks[10_005], peaks[100_021]
    assert large < small * 1.15 + 8_000, (small, large)  # KiB
    page = page_data(traces[100_021].with_suffix(".html"))  # every event (deflated blocks)
    assert page["count"] == len(page["events"]) == 100_021


def test_plot_memory_stays_flat_from_ten_thousand_to_a_hundred_thousand_events(
        traces: dict[int, Path]) -> None:
    """Before the curves were thinned as they were read, 10^5 events took 12 MB more than
    10^4 (every update's weights were kept); now at most ``MAX_POINTS`` rows a layer are,
    which the 10^5-event run reaches (about 3.5 MB), so the margin is tight: 8 MB."""
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    peaks = {events: peak_kib("plot", str(trace), "-o", str(trace.with_suffix(".png")))
             for events, trace in traces.items()}
    small, large = peaks[10_005], peaks[100_021]
    assert large < small + 8_000, (small, large)  # KiB
