"""``python -m benchmarks.page_engine``: the page's JavaScript engine (engine.js) in Chromium,
beside the same engine in Node and the Python engine recording the same events, in one run.

Workloads: **B1**, the book's ch. 6 backprop (3-4-1, relu, 4 samples, 60 passes, stochastic:
1,740 events), and **B1×10⁵**, the same network for 3,449 passes (100,021 events). Each
contender makes every event of a trace at detail ``all`` in exact arithmetic, as objects in
memory: ``engine.run(config)`` in Chromium (headless, through Playwright) and in Node; the
Python engine's records (``Network.train`` handing each step to the emitter, the records
kept in a list, not written); and **the page**: an edit page's recomputing as the learner
meets it, in Chromium: ``engine.run``, the page's entries of the events (``Live.Run``) and
(its own column) the page drawn at the run's first event (``relive``). Targets: B1 in 20 ms or less in
Chromium, 10⁵ events in 1 s.

After one untimed run (the JIT, caches), each contender runs ``--repeat`` times per
workload, interleaved in rounds shuffled every round (benchmarks.rounds); the time is the
median, each ratio the median over the rounds of the two times in the same round. Chromium's
and Node's times are measured inside the JavaScript (``performance.now()``), the browser's
round trip left out. Nothing here is asserted (timed assertions belong nowhere).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import click

from benchmarks.rounds import interleaved, same_round_ratio
from steptrace.api import playground
from steptrace.config import ExperimentConfig
from steptrace.engine.network import Network
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import Registry
from steptrace.recording import train_at_detail
from steptrace.trace.emitter import Record

ENGINE = Path(__file__).resolve().parents[1] / "steptrace" / "views" / "page" / "engine.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMED = "config => { const started = performance.now(); const n = steptraceEngine.run(config).length;" \
        " return [performance.now() - started, n]; }"
#: An edit page's recomputing: the run and its entries (what the panel's "recomputed in"
#: says), then the page drawn at the run's first event.
RECOMPUTED = """config => {
  const started = performance.now(), events = steptraceEngine.run(config);
  const run = new Live.Run(config, D.edit.rules, events, steptraceEngine,
                           {maxNodes: D.edit.maxNodes, checkpoint: D.checkpoint});
  const computed = performance.now();
  relive(run, 0);
  return [computed - started, performance.now() - computed, events.length];
}"""


def python_run(config: ExperimentConfig, registry: Registry) -> tuple[float, int]:
    started = time.perf_counter()
    records: list[Record] = []
    network = Network.from_config(config, registry.resolve(config))
    train_at_detail(network, config, "all", records.append)
    return time.perf_counter() - started, len(records)


class NodeRunner:
    """One Node process, timing engine.run on the configs it is sent, one a line."""

    def __init__(self, node: str) -> None:
        script = (f"const engine = require({json.dumps(str(ENGINE))});\n"
                  "require('readline').createInterface({input: process.stdin}).on('line', (line) => {"
                  " const config = JSON.parse(line); const started = performance.now();"
                  " const n = engine.run(config).length;"
                  " console.log(JSON.stringify([performance.now() - started, n])); });")
        self.process = subprocess.Popen([node, "-e", script], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def run(self, config_json: str) -> tuple[float, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(config_json + "\n")
        self.process.stdin.flush()
        milliseconds, events = json.loads(self.process.stdout.readline())
        return milliseconds / 1000, events

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


@click.command()
@click.option("--repeat", default=7, show_default=True, help="timed rounds per workload")
def main(repeat: int) -> None:
    from playwright.sync_api import sync_playwright

    chromium_path = shutil.which("chromium") or shutil.which("chromium-browser")
    node_path = shutil.which("node")
    if chromium_path is None or node_path is None:
        raise click.ClickException("needs chromium and node on the PATH")
    registry = Registry.load(load_plugins(entry_points=False))
    b1 = registry.experiment("ch06-streetlights-backprop")
    workloads = {"B1": b1, "B1×10⁵": b1.model_copy(update={"iterations": 3449})}
    node = NodeRunner(node_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page()
        page.set_content("<!DOCTYPE html><html><body></body></html>")
        page.add_script_tag(content=ENGINE.read_text())
        edit_page = browser.new_page(viewport={"width": 1280, "height": 1000})
        edit_page.set_content(playground(b1).html)
        edit_page.wait_for_function("document.querySelector('svg#net circle')")
        node_version = subprocess.check_output([node_path, "--version"], text=True).strip()
        click.echo(f"Chromium {browser.version}, Node {node_version}; {repeat} rounds after one "
                   "untimed round; medians")
        click.echo(f"  {'workload':<10} {'events':>8} {'Chromium ms':>12} {'page ms':>9} "
                   f"{'+ draw ms':>10} {'Node ms':>9} {'Python ms':>10} {'Python ÷ Chromium':>18} "
                   f"{'target':>8}")
        for name, config in workloads.items():
            config_json = config.model_dump_json()
            config_data: Any = json.loads(config_json)
            counts: dict[str, int] = {}

            def timed(contender: str, result: tuple[float, int],
                      counts: dict[str, int] = counts) -> float:
                counts[contender] = result[1]
                return result[0]

            def in_chromium(data: Any = config_data, timed: Any = timed) -> float:
                milliseconds, events = page.evaluate(TIMED, data)
                return timed("chromium", (milliseconds / 1000, events))

            drawn: list[float] = []

            def on_the_page(data: Any = config_data, timed: Any = timed,
                            drawn: list[float] = drawn) -> float:
                milliseconds, drawing, events = edit_page.evaluate(RECOMPUTED, data)
                drawn.append(drawing)
                return timed("page", (milliseconds / 1000, events))

            times = interleaved({
                "chromium": in_chromium,
                "page": on_the_page,
                "node": lambda j=config_json, t=timed: t("node", node.run(j)),
                "python": lambda c=config, t=timed: t("python", python_run(c, registry)),
            }, repeat)
            assert len(set(counts.values())) == 1, counts  # the same events everywhere
            medians = {contender: statistics.median(t) * 1000 for contender, t in times.items()}
            target = "20 ms" if name == "B1" else "1000 ms"
            click.echo(f"  {name:<10} {counts['python']:>8,} {medians['chromium']:>12.2f} "
                       f"{medians['page']:>9.2f} {statistics.median(drawn):>10.2f} "
                       f"{medians['node']:>9.2f} {medians['python']:>10.1f} "
                       f"{same_round_ratio(times, 'python', 'chromium'):>18.1f} {target:>8}")
        browser.close()
    node.close()


if __name__ == "__main__":
    main()
