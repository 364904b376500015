"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
// the events come in blocks of D.block, each deflated and base64-encoded; a block is
// inflated and parsed when the page first goes there (the latest 16 are kept)
const blocks = document.querySelectorAll("script.events"), parsed = new Map(), pending = new Map();
// a block, inflated: its JSON's length (4 bytes, little-endian), the JSON, zeros to a multiple
// of 8 bytes, then its numbers (float64, little-endian). The JSON holds each kind of step once,
// [kind, layer, samples, nonlinearity, shape, fields] (the shape an index into its shapes; a
// field [name, i] is the step's operand i), and each event as a row: [its kind's index, epoch,
// its other fields' values, its operands' values]; a kind with two elements more, [..., slots,
// at], has its events' values in the numbers, from at on, one event after another: each slot
// 0 (a number), [r, c] (r rows of c) or [r, c, R, C] (the first r×c of an R×C matrix)
const finite = x => Number.isFinite(x) ? x : Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
function numbered(slots, numbers, at) {  // the values of slots from numbers[at[0]] on (moved past)
  const rows = (r, c) => Array.from({length: r}, () => Array.from({length: c}, () => finite(numbers[at[0]++])));
  return slots.map(s => s === 0 ? finite(numbers[at[0]++]) :
    s.length === 2 ? rows(s[0], s[1]) : {rows: rows(s[0], s[1]), of: [s[2], s[3]]});
}
async function inflate(c) {  // the block's events as entries, each with its step's shape
  const bytes = Uint8Array.from(atob(blocks[c].textContent), ch => ch.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  const buffer = await new Response(stream).arrayBuffer();
  const size = new DataView(buffer).getUint32(0, true), start = Math.ceil((4 + size) / 8) * 8;
  const block = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
  const numbers = new Float64Array(buffer, start, (buffer.byteLength - start) / 8);
  const at = block.kinds.map(k => [k[7]]);  // each kind's next number
  return block.events.map(row => {
    const [kind, layer, samples, nonlinearity, shape, fields, slots] = block.kinds[row[0]];
    const e = {kind, epoch: row[1], samples, layer, shape: block.shapes[shape]};
    const values = slots ? numbered(slots, numbers, at[row[0]]) : row.slice(2);
    let j = 0;
    for (const f of fields) if (!Array.isArray(f)) e[f] = values[j++];
    e.operands = values.slice(j);
    for (const f of fields) if (Array.isArray(f)) e[f[0]] = e.operands[f[1]];
    if (nonlinearity !== null) e.nonlinearity = nonlinearity;
    return e;
  });
}
function load(c) {
  if (!pending.has(c)) {
    pending.set(c, inflate(c).then(block => {
      parsed.set(c, block); pending.delete(c);
      while (parsed.size > 16) parsed.delete(parsed.keys().next().value);
    }));
  }
  return pending.get(c);
}
// a run the page computed itself (edit.js, with engine.js): its entries (live.js) stand in
// for the trace's blocks, its errors, pass starts and checkpoints for the trace's
let live = null;
function E(i) {  // event i's entry, if its block is in (undefined if not)
  if (live) return live.entry(i);
  const c = Math.floor(i / D.block), block = parsed.get(c);
  return block ? block[i - c * D.block] : undefined;
}
async function entry(i) {  // event i's entry, its block brought in if need be
  if (live) return live.entry(i);
  const c = Math.floor(i / D.block);
  if (!parsed.has(c)) await load(c);
  return E(i);
}
let N = D.count;
const L = D.drawn.length - 1, NS = "http://www.w3.org/2000/svg";
const $ = id => document.getElementById(id);
const val = v => typeof v === "string" ? Number(v) : v;  // "NaN", "Infinity" as the trace writes them
function fmt(v) {  // D.digits significant digits (steptrace.defaults.DIGITS); the exact value goes in a tooltip
  if (typeof v === "string") return v;
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(D.digits)));
  return v.toExponential(D.digits - 1).replace("e+", "e");
}
const exact = v => typeof v === "string" ? v : (Object.is(v, -0) ? "-0" : String(v));
const sign = v => { v = val(v); return v > 0 ? "pos" : v < 0 ? "neg" : "zero"; };
let state = null, at = -1, timer = null;
// where each pass starts: the curve's clicks and the pass/sample jump go there
let passStart = D.starts;

function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function tip(parent, text) { el("title", {}, parent, text); }
function snapshot(i) {  // the drawn state after event i, from the nearest checkpoint
  const c = Math.floor(Math.max(i, 0) / D.checkpoint);
  const s = JSON.parse(JSON.stringify(D.checkpoints[c]));
  for (let j = c * D.checkpoint; j <= i; j++) apply(s, E(j));
  return s;
}
function apply(s, e) {
  s.before = null;
  if (e.input) s.nodes[0] = e.input;
  if (e.values) s.nodes[e.layer] = e.values;
  if (e.delta) { s.deltas[e.layer] = e.delta; s.derivs = s.derivs || []; s.derivs[e.layer] = e.derivative; }
  if (e.weights) { s.before = s.weights[e.layer - 1]; s.weights[e.layer - 1] = e.weights; }
}
const X = k => 90 + k * (660 / Math.max(1, L));
const Y = (j, n) => 40 + (j + 0.5) * (360 / n);
const R = n => Math.max(9, Math.min(27, 360 / n / 2 - 4));

// labels are placed one by one, each at the first of its candidate spots where it overlaps
// nothing placed before it; a label with no free spot is left out (its edge keeps the tooltip)
let boxes = [];
const hit = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width &&
  a.y < b.y + b.height && b.y < a.y + a.height;
// an edge's label sits on its own line and covers no other edge's line (so it is never read as a
// label of the edge it would cross): own is its edge's segment, segs every edge's
let segs = [];
function crosses(s, box) {  // does segment s = [x1, y1, x2, y2] pass through the box? (Liang-Barsky)
  const [x1, y1, x2, y2] = s, dx = x2 - x1, dy = y2 - y1;
  let t0 = 0, t1 = 1;
  for (const [p, q] of [[-dx, x1 - box.x], [dx, box.x + box.width - x1],
                        [-dy, y1 - box.y], [dy, box.y + box.height - y1]]) {
    if (p === 0) { if (q < 0) return false; continue; }
    const r = q / p;
    if (p < 0) { if (r > t1) return false; if (r > t0) t0 = r; }
    else { if (r < t0) return false; if (r < t1) t1 = r; }
  }
  return true;
}
function place(t, spots, inside, own) {  // inside: the one box (its own circle) it may overlap
  // measured once, at the first spot: a text's box moves with its x and y, so each other
  // spot's box is that one moved (one layout a label, not one a spot: a step draws in half the time)
  const [x0, y0] = spots[0];
  t.setAttribute("x", x0); t.setAttribute("y", y0);
  const b = t.getBBox();
  for (const [x, y] of spots) {
    const box = {x: b.x - 1 + x - x0, y: b.y - 1 + y - y0, width: b.width + 2, height: b.height + 2};
    if (boxes.some(o => o !== inside && hit(o, box))) continue;
    if (own && segs.some(g => g !== own && crosses(g, box))) continue;
    t.setAttribute("x", x); t.setAttribute("y", y);
    boxes.push(box); return true;
  }
  t.remove();
  return false;
}
function block(x, y, w, h) { const box = {x, y, width: w, height: h}; boxes.push(box); return box; }

// a batch step holds a row per sample: the nodes show one of them, the picker's (a flat row
// is one sample's)
let picked = null, pickedAt = 0;  // the sample chosen, and its place in its batch
const rowOf = (v, r) => v && Array.isArray(v[0]) ? v[Math.min(r, v.length - 1)] : v;
function batchOf(i) {  // the samples whose rows the nodes hold: the step's, at a pass's end its last step's
  for (let j = i; j >= 0 && j > i - 64; j--) {
    const e = E(j);
    if (!e) break;
    if (e.kind !== "epoch_end") return e.samples.slice(0, D.rows || e.samples.length);
  }
  return [];
}
function shownSample(batch) {
  return batch.includes(picked) ? picked : batch[Math.min(pickedAt, batch.length - 1)];
}
const span = ss => ss.length > 2 && ss.every((v, j) => !j || v === ss[j - 1] + 1) ?
  `${ss[0]}–${ss[ss.length - 1]}` : ss.join(", ");
function draw(i) {
  const e = E(i), s = state, net = $("net"), names = D.names;
  net.textContent = "";
  boxes = []; segs = [];
  const batch = batchOf(i), sample = shownSample(batch), row = Math.max(0, batch.indexOf(sample));
  let anyOff = false;
  // what this step has computed so far: a forward step has filled layers 0..its layer
  const known = e.kind === "forward" ? e.layer : L;
  const deltasFrom = e.kind === "delta" ? e.layer : (e.kind === "update" ? 1 : L + 1);
  let big = 1e-12;
  s.weights.forEach(w => w.forEach(r => r.forEach(v => {
    if (isFinite(val(v))) big = Math.max(big, Math.abs(val(v)));
  })));
  const edgeLayer = el("g", {class: "edges" + (e.kind === "update" ? " dim" : "")}, net);
  const labels = [];
  D.drawn.forEach((n, k) => {
    if (k === L) return;
    const m = D.drawn[k + 1], w = s.weights[k], upd = e.kind === "update" && e.layer === k + 1;
    for (let a = 0; a < n; a++) for (let b = 0; b < m; b++) {
      const v = w && w[a] ? w[a][b] : undefined;
      const before = upd && s.before && s.before[a] ? s.before[a][b] : undefined;
      const changed = upd && before !== undefined && exact(before) !== exact(v);
      const g = el("g", {class: "edge" + (changed ? " changed" : ""), "data-weight": `${k},${a},${b}`,
                         "data-value": v === undefined ? "" : exact(v)}, edgeLayer);
      if (changed) g.setAttribute("data-before", exact(before));
      const x1 = X(k), y1 = Y(a, n), x2 = X(k + 1), y2 = Y(b, m), seg = [x1, y1, x2, y2];
      segs.push(seg);
      const width = v === undefined || !isFinite(val(v)) ? 1 : 0.7 + 5 * Math.abs(val(v)) / big;
      if (changed) el("line", {x1, y1, x2, y2, class: "halo", "stroke-width": width + 6}, g);
      el("line", {x1, y1, x2, y2, class: v === undefined ? "zero" : sign(v), "stroke-width": width}, g);
      const name = `${names.weights[k + 1]}[${a}][${b}]`;
      const says = changed ? `${name}: ${exact(before)} → ${exact(v)}` : `${name} = ${exact(v)}`;
      tip(g, v === undefined ? name : says);
      if (v !== undefined && (n * m <= 16 || changed)) {
        const t = el("text", {class: "label" + (changed ? " changed" : ""), "text-anchor": "middle",
                              "data-label": `${k},${a},${b}`}, g,
                     changed ? `${val(v) > val(before) ? "▲" : "▼"}${fmt(v)}` : fmt(v));
        tip(t, says);
        // spots on the edge (the text's middle on its line), staggered by the target so that a
        // fan's labels part, then every 5% of the way, for one clear of the other edges' lines
        const spots = [];
        for (const f of [0.22, 0.32, 0.42, 0.52, 0.62, 0.72]) {
          const t0 = Math.min(0.8, f + 0.05 * (b % 3));
          spots.push([x1 + (x2 - x1) * t0, y1 + (y2 - y1) * t0 + 4]);
        }
        for (let f = 0.15; f < 0.86; f += 0.05) spots.push([x1 + (x2 - x1) * f, y1 + (y2 - y1) * f + 4]);
        labels.push([t, spots, changed, seg]);
      }
    }
    const caption = el("text", {class: "caption", x: (X(k) + X(k + 1)) / 2, "text-anchor": "middle"}, net,
                       names.weights[k + 1]);
    place(caption, [[(X(k) + X(k + 1)) / 2, 16]]);
  });
  // every circle first, so that no label lands on a node drawn after it
  const circles = D.drawn.map((n, k) => Array.from({length: n}, (_, j) =>
    block(X(k) - R(n), Y(j, n) - R(n), 2 * R(n), 2 * R(n))));
  D.drawn.forEach((n, k) => {
    const r = R(n);
    for (let j = 0; j < n; j++) {
      const cx = X(k), cy = Y(j, n);
      const v = k <= known && s.nodes[k] ? rowOf(s.nodes[k], row)[j] : undefined;
      const d = k >= deltasFrom && s.deltas[k] && s.deltas[k].length ? rowOf(s.deltas[k], row)[j] : undefined;
      const der = d !== undefined && s.derivs && s.derivs[k] ? rowOf(s.derivs[k], row)[j] : undefined;
      const off = der !== undefined && val(der) === 0;
      anyOff = anyOff || off;
      const touched = (e.kind === "forward" && (e.layer === k || (e.layer === 1 && k === 0))) ||
        (e.kind === "error" && k === L) || (e.kind === "delta" && e.layer === k);
      const g = el("g", {class: "node" + (touched ? " hot" : "") + (v === undefined ? " blank" : "") +
                                (off ? " off" : d !== undefined ? " d" + sign(d) : "")}, net);
      el("circle", {cx, cy, r}, g);
      const name = `${names.layers[k]}[${j}]`;
      tip(g, (v === undefined ? `${name}: not computed yet in this step` : `${name} = ${exact(v)}`) +
             (d === undefined ? "" : `\n${names.deltas[k]}[${j}] = ${exact(d)}`));
      const t = el("text", {class: "value", "text-anchor": "middle", "data-node": `${k},${j}`,
                            "data-value": v === undefined ? "" : exact(v),
                            "font-size": r < 20 ? 9 : 11}, g, v === undefined ? "" : fmt(v));
      if (v !== undefined) {  // inside its own circle
        tip(t, `${name} = ${exact(v)}`);
        place(t, [[cx, cy + 4]], circles[k][j]);
      }
      if (d !== undefined) {
        const dn = `${names.deltas[k]}[${j}]`;
        const dt = el("text", {class: off ? "off" : sign(d), "data-delta": `${k},${j}`,
                               "data-value": exact(d),
                               "text-anchor": "middle"}, g, off ? `δ 0 (${D_nl(k)}'=0)` : `δ ${fmt(d)}`);
        tip(dt, off ? `${dn} = ${exact(d)} for sample ${sample}: ${D_nl(k)}'(${names.layers[k]}[${j}]) = 0, ` +
                      "so no error of this sample flows back through this node" +
                      (batch.length > 1 ? "; in a batch its weights can still move by the other samples' deltas" : "")
                    : `${dn} = ${exact(d)}`);
        place(dt, [[cx, cy + r + 12], [cx + r + 4, cy + r + 4], [cx, cy - r - 4]]);
      }
    }
    const caption = el("text", {class: "caption", "text-anchor": "middle"}, net,
                       names.layers[k] + (D.layers[k] > n ? ` (${n} of ${D.layers[k]})` : ""));
    place(caption, [[X(k), 430]]);
  });
  if (e.kind === "error" || (e.kind === "delta" && e.layer === L)) {  // goal and error beside the prediction
    const n = D.drawn[L], x = X(L) + R(n) + 8;
    if (e.goal || (E(i).kind === "delta")) {
      const goal = rowOf(e.goal || goalOf(i), row);
      if (goal) goal.forEach((g, j) => {
        const t = el("text", {class: "goal", "data-goal": `${j}`, "data-value": exact(g)}, net,
                     `goal ${fmt(g)}`);
        tip(t, `goal = ${exact(g)}`);
        place(t, [[x, Y(j, n) - 2], [x, Y(j, n) - 16]]);
      });
    }
    const err = e.kind === "error" ? e.error : errorOf(i);
    if (err !== undefined) {  // a batch's error is its samples' summed
      const all = batch.length > 1;
      const t = el("text", {class: "err", id: "error", "data-value": exact(err)}, net,
                   `${all ? "batch " : ""}error ${fmt(err)}`);
      tip(t, `error = ${exact(err)}` + (all ? `, summed over samples ${span(batch)}` : ""));
      place(t, [[x, Y(0, n) + 14], [x, Y(0, n) + 28], [x, 40]]);
    }
  }
  labels.sort((p, q) => (q[2] ? 1 : 0) - (p[2] ? 1 : 0));  // the moved weights first
  const top = el("g", {class: "labels" + (e.kind === "update" ? " dim" : "")}, net);  // above every line
  for (const [t, spots, , seg] of labels) { top.appendChild(t); place(t, spots, undefined, seg); }
  says(i, e, batch, sample, anyOff && e.kind !== "epoch_end");
}
// what the nodes show, said in the line under the legend; a batch's picker chooses the sample
function says(i, e, batch, sample, anyOff) {
  const pick = $("shown"), many = batch.length > 1;
  $("pick").hidden = !many;
  if (many && pick.dataset.batch !== batch.join(",")) {
    pick.textContent = "";
    for (const b of batch) { const o = document.createElement("option"); o.value = o.textContent = String(b); pick.appendChild(o); }
    pick.dataset.batch = batch.join(",");
  }
  if (many) pick.value = String(sample);
  const of = many ? `sample ${sample} of samples ${span(batch)}` : `sample ${sample}`;
  let text;
  if (!batch.length) text = "no sample's values in this trace";
  else if (e.kind === "epoch_end") {
    text = `end of pass ${e.epoch}: the weights as the pass left them; the nodes still show ` +
      (many ? `its last batch's ${of}` : `${of}, its last step`);
  } else text = (many ? `a batch of ${batch.length}: ` : "") + `the nodes show ${of}`;
  if (many && e.samples.length > batch.length) text += ` (the first ${batch.length} of ${e.samples.length} can be shown)`;
  if (anyOff) {
    text += ` · grey: δ 0 for sample ${sample}` +
      (many ? "; its weights can still move by the other samples' deltas (lit: moved by the batch)" : "");
  }
  $("batch").textContent = text;
}
function D_nl(k) {  // the nonlinearity of layer k's delta in this step
  for (let j = at; j >= 0 && j > at - 4 * (L + 2); j--) {
    const e = E(j);
    if (!e) break;
    if (e.kind === "delta" && e.layer === k) return e.nonlinearity;
  }
  return "f";
}
function goalOf(i) {
  for (let j = i; j >= 0 && j > i - 8 && E(j); j--) if (E(j).goal) return E(j).goal;
}
function errorOf(i) {
  for (let j = i; j >= 0 && j > i - 8 && E(j); j--) if (E(j).kind === "error") return E(j).error;
}

// the error curve: drawn once, a marker moves with the step
const C = {x0: 60, x1: 880, y0: 18, y1: 150};
let cpx = null, cpy = null;
function curveSetup() {
  // the error per pass; with held-out rows, their error per pass too (a second, dashed curve)
  const svg = $("curve"), errs = D.errors.map(val), tests = (D.test_errors || []).map(val);
  svg.textContent = ""; cpx = cpy = null;  // (drawn again for a run the learner edited)
  const ok = errs.concat(tests).filter(v => isFinite(v) && v > 0);
  if (!ok.length) { el("text", {x: C.x0, y: 40}, svg, "no error per pass in this trace"); return; }
  // (a loop, not Math.min(...ok): hundreds of thousands of passes overflow the call's arguments)
  const least = ok.reduce((a, b) => Math.min(a, b)), most = ok.reduce((a, b) => Math.max(a, b));
  let lo = Math.floor(Math.log10(least)), hi = Math.ceil(Math.log10(most));
  if (hi === lo) hi = lo + 1;
  const passes = Math.max(errs.length, tests.length);
  cpx = p => C.x0 + p * (C.x1 - C.x0) / Math.max(1, passes - 1);
  cpy = v => C.y1 - (Math.log10(v) - lo) / (hi - lo) * (C.y1 - C.y0);
  const axis = el("g", {class: "axis"}, svg);
  el("line", {x1: C.x0, y1: C.y0, x2: C.x0, y2: C.y1}, axis);
  el("line", {x1: C.x0, y1: C.y1, x2: C.x1, y2: C.y1}, axis);
  const stepY = Math.max(1, Math.ceil((hi - lo) / 6));
  for (let p = lo; p <= hi; p += stepY) {
    el("line", {x1: C.x0 - 4, y1: cpy(10 ** p), x2: C.x0, y2: cpy(10 ** p)}, axis);
    el("text", {x: C.x0 - 6, y: cpy(10 ** p) + 3, "text-anchor": "end"}, svg, `1e${p}`);
  }
  const raw = Math.max(1, (passes - 1) / 8), mag = 10 ** Math.floor(Math.log10(raw));
  const stepX = [1, 2, 5, 10].map(f => f * mag).find(s => s >= raw);
  for (let p = 0; p < passes; p += stepX) {
    el("line", {x1: cpx(p), y1: C.y1, x2: cpx(p), y2: C.y1 + 4}, axis);
    el("text", {x: cpx(p), y: C.y1 + 15, "text-anchor": "middle"}, svg, String(p));
  }
  el("text", {x: (C.x0 + C.x1) / 2, y: C.y1 + 30, "text-anchor": "middle"}, svg, "pass (epoch)");
  el("text", {x: 12, y: (C.y0 + C.y1) / 2, transform: `rotate(-90 12 ${(C.y0 + C.y1) / 2})`,
              "text-anchor": "middle"}, svg, "error (log)");
  // at most two points a pixel column (its least and its greatest), so a long run draws fast
  function line(values, attrs) {
    const cols = new Map();
    values.forEach((v, p) => {
      if (!(isFinite(v) && v > 0)) return;
      const c = Math.round(cpx(p)), m = cols.get(c);
      if (!m) cols.set(c, [v, v]); else { m[0] = Math.min(m[0], v); m[1] = Math.max(m[1], v); }
    });
    const pts = [];
    for (const [c, [a, b]] of cols) {
      pts.push(`${c},${cpy(b).toFixed(1)}`);
      if (a !== b) pts.push(`${c},${cpy(a).toFixed(1)}`);
    }
    el("polyline", {...attrs, points: pts.join(" ")}, svg);
  }
  line(errs, {class: "training"});
  if (tests.length) {
    line(tests, {class: "heldout"});
    // the key under the axis, left of its label (the readout takes the top line)
    el("text", {x: C.x0, y: C.y1 + 30, class: "key"}, svg, "── training error");
    el("text", {x: C.x0 + 150, y: C.y1 + 30, class: "key heldout"}, svg, "- - held-out error");
  }
  el("line", {id: "guide", x1: -10, x2: -10, y1: C.y0, y2: C.y1}, svg);
  el("circle", {id: "now", cx: -10, cy: -10, r: 5}, svg);
  el("text", {id: "readout", x: C.x1, y: 12, "text-anchor": "end"}, svg, "");
  const passAt = ev => {  // (the drawing is scaled to the page's width: back to its own units)
    const box = svg.getBoundingClientRect(), x = (ev.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
    const p = Math.round((x - C.x0) / (C.x1 - C.x0) * Math.max(1, passes - 1));
    return Math.max(0, Math.min(passes - 1, p));
  };
  svg.onmousemove = ev => {
    const p = passAt(ev);
    $("guide").setAttribute("x1", cpx(p)); $("guide").setAttribute("x2", cpx(p));
    const said = [];
    if (errs.length) said.push(`error ${fmt(D.errors[p])} (${exact(D.errors[p])})`);
    if (tests.length) said.push(`held-out ${fmt(D.test_errors[p])} (${exact(D.test_errors[p])})`);
    $("readout").textContent = `pass ${p}: ${said.join(" · ")} · click to go there`;
  };
  svg.onmouseleave = () => {
    $("guide").setAttribute("x1", -10); $("guide").setAttribute("x2", -10); $("readout").textContent = "";
  };
  svg.onclick = ev => {
    const p = passAt(ev);
    if (passStart[p] !== undefined) go(passStart[p]);
  };
}
// show a run the page computed (edit.js) in place of the one shown, at event i
/* exported relive */
function relive(run, i) {
  live = run;
  D.checkpoints = run.checkpoints; D.checkpoint = run.checkpoint;
  D.errors = run.errors; D.test_errors = run.test_errors; D.incomplete = null;
  D.layers = run.config.layers; D.drawn = run.config.layers.map(n => Math.min(n, run.maxNodes));
  N = run.count; passStart = run.starts;
  $("pressure").hidden = true;  // (the recorded run's table, made in Python)
  $("slider").max = String(Math.max(0, N - 1));
  curveSetup();
  state = null; at = -1; want = -1;
  return go(i);
}
function curve(i) {
  if (!cpx) return;
  const p = E(i).epoch, v = val(D.errors[p]), now = $("now");
  if (isFinite(v) && v > 0) { now.setAttribute("cx", cpx(p)); now.setAttribute("cy", cpy(v)); }
  else { now.setAttribute("cx", -10); now.setAttribute("cy", -10); }
}
// the step's literate line: its formula in names, then its operands laid out as the
// matrices they are (4 significant digits, the exact value in each cell's tooltip)
function h(name, cls, parent, text) {
  const e = document.createElement(name);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function moved(shown) {  // an update's weights (after): the cells it moved lit, as in the drawing
  if (shown.length < 2) return;
  const [[before], [after, box]] = [shown[0], shown[shown.length - 1]];
  if (typeof before === "number" && typeof after === "number") {  // the book's one weight
    if (exact(before) !== exact(after)) box.querySelector(".num").classList.add("moved");
    return;
  }
  const rows = v => v && typeof v === "object" ? (v.rows || v) : null, a = rows(before), b = rows(after);
  if (!a || !b || a.length !== b.length) return;
  box.querySelectorAll("tr").forEach((tr, i) => {
    if (!b[i]) return;
    tr.querySelectorAll("td:not(.more)").forEach((td, j) => {
      if (a[i][j] !== undefined && exact(a[i][j]) !== exact(b[i][j])) td.classList.add("moved");
    });
  });
}
function operand(name, value, parent) {  // a number, null ("?"), rows, or {rows, of: [rows, columns]}
  const box = h("div", "operand", parent);
  h("div", "name", box, name);
  if (value === null) {
    h("span", "num", box, "?").title = "not in the trace, and nothing to derive it from";
  } else if (!Array.isArray(value) && typeof value !== "object") {  // alpha, an error, the book's scalars
    h("span", "num " + sign(value), box, fmt(value)).title = exact(value);
  } else {
    // a big layer's first rows and columns, as the network is drawn: "… of N" says so
    const rows = value.rows || value, [nRows, nCols] = value.of || [rows.length, rows[0].length];
    const table = h("table", "m", box), shown = rows[0].length;
    for (const row of rows) {
      const tr = h("tr", "", table);
      for (const v of row) h("td", sign(v), tr, fmt(v)).title = exact(v);
      if (nCols > shown) h("td", "more", tr, "…");
    }
    if (nRows > rows.length) {
      const tr = h("tr", "", table);
      for (let j = 0; j < shown + (nCols > shown ? 1 : 0); j++) h("td", "more", tr, "⋮");
    }
    const cut = [nRows > rows.length ? `${rows.length} of ${nRows} rows` : "",
                 nCols > shown ? `${shown} of ${nCols} columns` : ""].filter(Boolean);
    if (cut.length) h("div", "cut", box, cut.join(", "));
  }
  return box;
}
let lineHeight = 0;
function literate(i, e) {
  // e.shape: per clause [given, formula, note, parts], each part a sign's text or an
  // operand's [name]; e.operands: the operands' values, in order
  const line = $("line"), values = e.operands[Symbol.iterator]();
  line.textContent = "";
  const formula = h("div", "", line);
  formula.id = "formula";
  formula.append(`[${i}] `);
  e.shape.filter(c => !c[0]).forEach(([, text, note], j) => {
    formula.append((j ? "; " : "") + text);
    if (note) h("span", "note", formula, " " + note.trim());
  });
  const row = h("div", "", line);
  row.id = "operands";
  let given = null;  // the banner's clauses (layer_0 = streetlights[1], its goal): one group
  e.shape.forEach(([isGiven, , , parts], c) => {
    const box = isGiven ? (given = given || h("div", "clause given", row)) : h("div", "clause", row);
    const shown = [];  // this clause's operands: [value, its box]
    for (const part of parts) {
      if (typeof part === "string") h("span", "sign", box, part.trim());
      else { const value = values.next().value; shown.push([value, operand(part[0], value, box)]); }
    }
    if (e.kind === "update" && c === e.shape.length - 1) moved(shown);  // (before) − … = (after)
  });
  // the box only grows (until the window is resized), so the network below it stays put
  const height = line.getBoundingClientRect().height;
  if (height > lineHeight) { lineHeight = height; line.style.minHeight = `${height}px`; }
}
let laidOut = window.innerWidth;  // (a frame that only grows taller lays nothing out again)
window.addEventListener("resize", () => {
  if (window.innerWidth === laidOut) return;
  laidOut = window.innerWidth;
  lineHeight = 0; $("line").style.minHeight = ""; if (at >= 0) literate(at, E(at));
});
let ticket = 0, want = -1;  // want: the event asked for last (shown once its block is in)
function go(i) {  // show event i; its block (and the one before, if need be) first brought in
  i = Math.max(0, Math.min(N - 1, i));
  want = i;
  const mine = ++ticket, c = Math.floor(i / D.block);
  // (and the events the drawing looks back to, up to 64 before)
  const need = [Math.floor(Math.max(i - 64, 0) / D.block), c].filter((b, k, both) =>
    !parsed.has(b) && both.indexOf(b) === k);
  if (live || !need.length) { show(i); return Promise.resolve(); }
  return Promise.all(need.map(load)).then(() => { if (mine === ticket) show(i); });
}
function show(i) {
  state = (i === at + 1 && state) ? (apply(state, E(i)), state) : snapshot(i);
  at = i;
  const e = E(i);
  literate(i, e);
  $("where").textContent =
    `event ${i} of ${N} · epoch ${e.epoch} · samples ${e.samples.join(", ")} · ${e.kind}` +
    (D.incomplete ? ` · incomplete trace: ${D.incomplete}` : "");
  $("slider").value = String(i);
  if (document.activeElement !== $("pass")) $("pass").value = String(e.epoch);
  if (document.activeElement !== $("sample")) $("sample").value = String(e.samples[0]);
  draw(i); curve(i);
}
async function jump(p, sample) {  // the first event of pass p with sample in its batch, or why not
  const said = $("said");
  said.textContent = "";
  if (!Number.isInteger(p) || !Number.isInteger(sample) || p < 0 || sample < 0) {
    said.textContent = "a pass and a sample are whole numbers from 0";
    return;
  }
  if (p >= passStart.length) {
    said.textContent = `no pass ${p}: this run has ` +
      (passStart.length ? `passes 0–${passStart.length - 1}` : "no pass");
    return;
  }
  const held = new Set();
  for (let j = passStart[p]; j < N; j++) {
    const e = await entry(j);
    if (e.epoch !== p) break;
    if (e.samples.includes(sample)) {
      picked = sample; pickedAt = e.samples.indexOf(sample);  // the nodes show it
      return go(j);
    }
    e.samples.forEach(b => held.add(b));
  }
  said.textContent = `pass ${p} has no sample ${sample}` +
    (held.size ? ` (its samples: ${span([...held].sort((a, b) => a - b))})` : "");
}
function play(on) {
  if (timer) { clearInterval(timer); timer = null; }
  if (on) timer = setInterval(() => { if (at >= N - 1) play(false); else go(at + 1); },
                              1000 / Number($("speed").value));
  $("play").textContent = timer ? "❚❚ pause" : "▶ play";
}
document.title = `${D.name}: ${D.title} · steptrace`;
$("title").textContent = `${D.name}: ${D.title}`;
if (D.pressure) {  // steptrace show --view pressure, made in Python: the data's table, the run beside it
  $("pressure").querySelector("pre").textContent = D.pressure.join("\n");
  $("pressure").hidden = false;
}
$("first").onclick = () => go(0);
$("prev").onclick = () => go(want - 1);
$("next").onclick = () => go(want + 1);
$("last").onclick = () => go(N - 1);
$("play").onclick = () => play(!timer);
$("speed").onchange = () => { if (timer) play(true); };
$("slider").max = String(Math.max(0, N - 1));
$("slider").oninput = () => go(Number($("slider").value));
$("jump").onclick = () => jump(Number($("pass").value), Number($("sample").value));
for (const id of ["pass", "sample"]) {
  $(id).addEventListener("keydown", k => { if (k.key === "Enter") $("jump").click(); });
  $(id).addEventListener("input", () => { $("said").textContent = ""; });
}
$("shown").onchange = () => {  // the sample whose row the nodes show, kept while the batches hold it
  picked = Number($("shown").value); pickedAt = $("shown").selectedIndex;
  if (at >= 0) draw(at);
};
document.addEventListener("keydown", k => {
  const t = k.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "SELECT")) return;  // their own keys
  if (k.key === "ArrowRight") go(want + 1);
  else if (k.key === "ArrowLeft") go(want - 1);
  else if (k.key === "Home") go(0);
  else if (k.key === "End") go(N - 1);
  else if (k.key === " ") play(!timer);
  else return;
  k.preventDefault();
});
// hovering a node, an edge or a number shows its exact value at once (the <title> is
// kept for screen readers and for a browser's own tooltip)
function tipAt(ev, text) {
  const tipBox = $("tip");
  if (!text) { tipBox.style.display = "none"; return; }
  tipBox.textContent = text;
  tipBox.style.display = "block";  // beside the pointer, turned back before the window's edge
  const w = tipBox.offsetWidth, h = tipBox.offsetHeight;
  const left = ev.clientX + 14 + w > window.innerWidth ? Math.max(0, ev.clientX - 14 - w) : ev.clientX + 14;
  const top = ev.clientY + 14 + h > window.innerHeight ? Math.max(0, ev.clientY - 14 - h) : ev.clientY + 14;
  tipBox.style.left = `${left}px`; tipBox.style.top = `${top}px`;
}
$("net").addEventListener("mousemove", ev => {
  let t = ev.target;
  while (t && t !== ev.currentTarget && !(t.querySelector && t.querySelector(":scope > title"))) {
    t = t.parentNode;
  }
  const title = t && t !== ev.currentTarget ? t.querySelector(":scope > title") : null;
  tipAt(ev, title ? title.textContent : "");
});
$("line").addEventListener("mousemove", ev => {  // a cell of an operand: its name and exact value
  const t = ev.target.closest ? ev.target.closest("td, .num") : null;
  const name = t ? t.closest(".operand").querySelector(".name").textContent : "";
  tipAt(ev, t ? `${name}: ${t.title}` : "");
});
for (const id of ["net", "line"]) {
  $(id).addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
}
curveSetup();
// in a frame (a notebook's inline page): the page tells its parent its height whenever it changes,
// so that the frame grows to its content (steptrace/views/page/frame.html listens, for its frame only)
if (window.parent !== window) {
  const tell = () => window.parent.postMessage(
    {steptrace: "height", height: Math.ceil(document.documentElement.getBoundingClientRect().height)}, "*");
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(tell).observe(document.documentElement);
  window.addEventListener("message", ev => {
    if (ev.source === window.parent && ev.data && ev.data.steptrace === "ask") tell();
  });
  tell();
}
if (typeof DecompressionStream === "undefined") {
  $("line").textContent = "This browser cannot inflate the page's events (it has no DecompressionStream): " +
    "open the page in a current Chrome, Edge, Firefox (113+) or Safari (16.4+).";
} else if (N) go(0);
