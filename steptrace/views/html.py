"""``steptrace html``: one self-contained HTML page that steps through a trace.

The page draws the network (nodes with their values, edges with their weights), shows
each event's literate line, highlights what the event touched, and marks the current
pass on the error curve; buttons and the arrow keys step forward and back. Everything
is inline (no script, style or font is fetched). The events go in as JSON with a
snapshot of the network every ``CHECKPOINT`` events, so the page reaches any event by
replaying at most that many: a 10^5-event trace stays quick. Big layers are drawn by
their first ``MAX_NODES`` nodes. The page is written while the trace is read, event by
event, so making it takes the same memory for any length of run (the page itself grows
with the run).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from steptrace.outputs import atomic_write, check_output
from steptrace.plugins.registry import Registry
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.views.literate import Literate

CHECKPOINT = 256
MAX_NODES = 12


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else ("NaN" if x != x else ("Infinity" if x > 0 else "-Infinity"))


def _row(matrix: Any) -> list[float | str]:
    return [_number(x) for x in matrix[0][:MAX_NODES]]


def _block(matrix: Any) -> list[list[float | str]]:
    return [[_number(x) for x in row[:MAX_NODES]] for row in matrix[:MAX_NODES]]


def write_html(trace: Path, output: Path, registry: Registry) -> int:
    """Write the page for ``trace`` to ``output`` (atomically: see
    :func:`steptrace.outputs.atomic_write`); returns the event count.

    The trace is read once, as a stream, and the page written as it is read, so memory
    stays flat however long the run: the page's head, then each event's entry (its line
    and what it changes) into the ``events`` block, then the ``data`` block: the network,
    the error per pass and a snapshot of the drawn state every ``CHECKPOINT`` events. The
    snapshots and the errors are made while the events stream, but go after them, so they
    wait in two temporary files (not in memory) until the events are written.
    """
    check_output(output, [trace])  # now, not after reading the whole trace
    head, rest = PAGE.split("/*EVENTS*/")
    middle, tail = rest.split("/*DATA*/")
    with (open_trace(trace) as reader,
          atomic_write(output, inputs=[trace]) as page,
          tempfile.TemporaryFile() as checkpoints,
          tempfile.TemporaryFile() as errors):
        page.write(head.encode())
        count = _write_events(reader, registry, page, checkpoints, errors)
        page.write(middle.encode())
        config = reader.header.config
        page.write(b'{"checkpoints":[')
        _copy(checkpoints, page)
        page.write(b'],"errors":[')
        _copy(errors, page)
        page.write(b"],")
        page.write(_json({"name": config.name, "title": config.title,
                          "layers": list(config.layers),
                          "drawn": [min(size, MAX_NODES) for size in config.layers],
                          "checkpoint": CHECKPOINT, "incomplete": reader.incomplete})[1:])
        page.write(tail.encode())
    return count


def _write_events(reader: TraceReader, registry: Registry, page: IO[bytes],
                  checkpoints: IO[bytes], errors: IO[bytes]) -> int:
    """Write the events' array to ``page``, one entry at a time, and the elements of the
    snapshots' and errors' arrays to their files; returns the event count."""
    header = reader.header
    narrator = Literate(header, registry, None)
    state, layers = narrator.state, range(len(header.config.layers))
    count = passes = 0
    page.write(b"[")
    for event in reader:
        if count % CHECKPOINT == 0:  # the drawn state before this event
            drawn = {"nodes": [_row(state.layer[k].tolist()) if k in state.layer else []
                               for k in layers],
                     "weights": [_block(w.tolist()) for w in state.weights]}
            checkpoints.write((b"," if count else b"") + _json(drawn))
        event = state.complete(event)
        entry: dict[str, Any] = {"kind": event.kind, "epoch": event.epoch,
                                 "samples": list(event.samples), "layer": event.layer,
                                 "line": f"[{event.seq}] {narrator.narrate(event)}"}
        if isinstance(event, ForwardEvent):
            if event.layer == 1 and event.layer_in is not None:
                entry["input"] = _row(event.layer_in)
            entry["values"] = _row(event.layer_out)
        elif isinstance(event, ErrorEvent):
            entry["error"] = _number(event.error)
        elif isinstance(event, DeltaEvent):
            entry["delta"] = _row(event.delta)
        elif isinstance(event, UpdateEvent) and event.weights is not None:
            entry["weights"] = _block(event.weights)
        elif isinstance(event, EpochEndEvent) and event.error is not None:
            errors.write((b"," if passes else b"") + _json(_number(event.error)))
            passes += 1
        page.write((b"," if count else b"") + _json(entry))
        count += 1
    page.write(b"]")
    return count


def _json(value: Any) -> bytes:
    """Compact JSON to go inside a script block: ``</`` is written ``<\\/`` and ``<!--``
    ``<\\u0021--`` (the same strings to JSON), so no name or line from the trace can close
    the block (``</script``) or make the browser read past its end (``<!--<script``)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--").encode()


def _copy(source: IO[bytes], target: IO[bytes]) -> None:
    source.seek(0)
    shutil.copyfileobj(source, target)


PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>steptrace</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.2em; margin: 0 0 .3em; }
#controls button { font-size: 1em; margin-right: .3em; }
#line { font-family: ui-monospace, monospace; background: #f5f5f0; padding: .6em; margin: .6em 0;
        white-space: pre-wrap; word-break: break-all; min-height: 3em; }
svg text { font: 11px ui-monospace, monospace; }
.node circle { fill: #fff; stroke: #555; stroke-width: 1.5; }
.node.hot circle { fill: #ffe08a; stroke: #c60; stroke-width: 2.5; }
.edge line { stroke: #999; stroke-width: 1; }
.edge.hot line { stroke: #c60; stroke-width: 2.5; }
.edge text { fill: #666; }
.edge.hot text { fill: #c60; }
#curve polyline { fill: none; stroke: #c33; stroke-width: 1.5; }
#curve circle { fill: #06c; }
#where { color: #555; margin-left: 1em; }
</style></head>
<body>
<h1 id="title"></h1>
<div id="controls">
  <button id="first" title="Home">|◀ first</button><button id="prev" title="←">◀ back</button>
  <button id="next" title="→">forward ▶</button><button id="last" title="End">last ▶|</button>
  <span id="where"></span>
</div>
<div id="line"></div>
<svg id="net" width="900" height="420"></svg>
<svg id="curve" width="900" height="160"></svg>
<script type="application/json" id="events">/*EVENTS*/</script>
<script type="application/json" id="data">/*DATA*/</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
D.events = JSON.parse(document.getElementById("events").textContent);
const NS = "http://www.w3.org/2000/svg";
const num = v => v;  // a number, or "NaN" / "Infinity" / "-Infinity" as the trace writes them
const short = v => typeof v === "string" ? v : (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)
  ? v.toExponential(2) : String(Math.round(v * 1e4) / 1e4));
let state = null, at = -1;

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function snapshot(i) {  // the drawn state after event i, from the nearest checkpoint
  const c = Math.floor(Math.max(i, 0) / D.checkpoint);
  const s = JSON.parse(JSON.stringify(D.checkpoints[c]));
  for (let j = c * D.checkpoint; j <= i; j++) apply(s, D.events[j]);
  return s;
}
function apply(s, e) {
  if (e.input) s.nodes[0] = e.input;
  if (e.values) s.nodes[e.layer] = e.values;
  if (e.weights) s.weights[e.layer - 1] = e.weights;
}
const X = k => 80 + k * (760 / Math.max(1, D.layers.length - 1));
const Y = (j, n) => 30 + (j + 0.5) * (360 / n);

function draw(i) {
  const e = D.events[i], s = state, net = document.getElementById("net");
  net.textContent = "";
  D.drawn.forEach((n, k) => {
    if (k === D.drawn.length - 1) return;
    const m = D.drawn[k + 1];
    for (let a = 0; a < n; a++) for (let b = 0; b < m; b++) {
      const hot = e && e.kind === "update" && e.layer === k + 1;
      const g = el("g", {class: "edge" + (hot ? " hot" : "")}, net);
      const x1 = X(k), y1 = Y(a, n), x2 = X(k + 1), y2 = Y(b, m);
      el("line", {x1, y1, x2, y2}, g);
      const w = s.weights[k] && s.weights[k][a] ? s.weights[k][a][b] : undefined;
      if (w !== undefined && n * m <= 16) {
        const t = el("text", {x: x1 + (x2 - x1) * 0.3, y: y1 + (y2 - y1) * 0.3 - 3,
                              "data-weight": `${k},${a},${b}`, "data-value": String(num(w))}, g);
        t.textContent = short(w);
      }
    }
  });
  D.drawn.forEach((n, k) => {
    const touched = e && ((e.kind === "forward" && (e.layer === k || e.layer - 1 === k)) ||
      (e.kind === "delta" && e.layer === k) || (e.kind === "error" && k === D.drawn.length - 1));
    for (let j = 0; j < n; j++) {
      const g = el("g", {class: "node" + (touched ? " hot" : "")}, net);
      el("circle", {cx: X(k), cy: Y(j, n), r: 22}, g);
      const v = s.nodes[k] ? s.nodes[k][j] : undefined;
      const t = el("text", {x: X(k), y: Y(j, n) + 4, "text-anchor": "middle", "data-node": `${k},${j}`,
                            "data-value": v === undefined ? "" : String(num(v))}, g);
      t.textContent = v === undefined ? "" : short(v);
    }
    const label = el("text", {x: X(k), y: 410, "text-anchor": "middle"}, net);
    label.textContent = `layer_${k}` + (D.layers[k] > n ? ` (${n} of ${D.layers[k]})` : "");
  });
}
function curve(i) {
  const svg = document.getElementById("curve"), errs = D.errors.map(v => typeof v === "string" ? NaN : v);
  svg.textContent = "";
  const ok = errs.filter(v => isFinite(v) && v > 0);
  if (!ok.length) return;
  const lo = Math.log10(Math.min(...ok)), hi = Math.log10(Math.max(...ok)) + 1e-9;
  const px = k => 40 + k * (840 / Math.max(1, errs.length - 1));
  const py = v => 140 - (Math.log10(v) - lo) / (hi - lo || 1) * 120;
  const pts = errs.map((v, k) => isFinite(v) && v > 0 ? `${px(k)},${py(v)}` : "").filter(Boolean);
  el("polyline", {points: pts.join(" ")}, svg);
  const epoch = D.events[i] ? D.events[i].epoch : 0;
  if (isFinite(errs[epoch]) && errs[epoch] > 0) {
    el("circle", {cx: px(epoch), cy: py(errs[epoch]), r: 5, id: "now"}, svg);
  }
  const t = el("text", {x: 40, y: 155}, svg);
  t.textContent = `error per pass (log scale); pass ${epoch} of ${errs.length}`;
}
function go(i) {
  i = Math.max(0, Math.min(D.events.length - 1, i));
  state = (i === at + 1 && state) ? (apply(state, D.events[i]), state) : snapshot(i);
  at = i;
  const e = D.events[i];
  document.getElementById("line").textContent = e.line;
  document.getElementById("where").textContent =
    `event ${i} of ${D.events.length} · epoch ${e.epoch} · samples ${e.samples.join(", ")}` +
    (D.incomplete ? ` · incomplete trace: ${D.incomplete}` : "");
  draw(i); curve(i);
}
document.getElementById("title").textContent = `${D.name}: ${D.title}`;
document.getElementById("first").onclick = () => go(0);
document.getElementById("prev").onclick = () => go(at - 1);
document.getElementById("next").onclick = () => go(at + 1);
document.getElementById("last").onclick = () => go(D.events.length - 1);
document.addEventListener("keydown", k => {
  if (k.key === "ArrowRight") go(at + 1);
  else if (k.key === "ArrowLeft") go(at - 1);
  else if (k.key === "Home") go(0);
  else if (k.key === "End") go(D.events.length - 1);
});
if (D.events.length) go(0);
</script>
</body></html>
"""
