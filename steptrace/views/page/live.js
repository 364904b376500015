// The page's entries from a run's events: what steptrace/views/html.py writes for a
// recorded trace, made here for a run the page computed itself (engine.js). Each entry is
// what the page draws (the values of the nodes, the deltas, the weights after an update)
// and the step's literate line: its clauses, as views/literate.py's Literate.clauses makes
// them, with their operands. The two are held together by tests/test_live_page.py: for the
// same run, these entries and html.py's are the same, number for number.
"use strict";
const Live = (() => {
  const NONE = undefined;
  const line = text => ({text, only: "line"}), page = text => ({text, only: "page"});
  const num = v => typeof v === "string" ? Number(v) : v;
  const transposed = rows => rows[0].map((_, j) => rows.map(row => row[j]));
  const copy = x => Array.isArray(x) ? x.map(copy) : typeof x === "object" && x ? Object.fromEntries(
    Object.entries(x).map(([k, v]) => [k, copy(v)])) : x;  // (JSON would make -0 a 0)

  // the literate view's names and clauses (views/literate.py's Literate), for the page
  class Narrator {
    constructor(config, rules, engine, maxNodes) {
      this.config = config;
      this.engine = engine;
      this.maxNodes = maxNodes;
      this.last = config.layers.length - 1;
      this.single = this.last === 1;
      this.ascent = config.delta === "goal - prediction";
      this.updateOp = this.ascent ? "+=" : "-=";
      this.oneWeight = this.single && config.layers[0] * config.layers[1] === 1;
      this.rules = rules;  // name: [formula, derivative formula, derivative's name]
      this.frozen = {};  // weight layer k (from 1): "[i][j]" of its frozen weights, in order
      const frozen = config.frozen.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
      for (const [k, i, j] of frozen) (this.frozen[k + 1] = this.frozen[k + 1] || []).push(`[${i}][${j}]`);
    }
    layer(k) { return this.single ? (k === 0 ? "input" : "prediction") : `layer_${k}`; }
    weightsName(k) { return this.single ? (this.oneWeight ? "weight" : "weights") : `weights_${k - 1}_${k}`; }
    deltaName(k) { return this.single ? "delta" : `layer_${k}_delta`; }
    rows(name, samples) {
      if (samples.length === 1) return `${name}[${samples[0]}]`;
      const first = samples[0], end = samples[samples.length - 1];
      if (samples.every((s, i) => s === first + i)) return `${name}[${first}:${end + 1}]`;
      return `${name}[[${samples.join(", ")}]]`;
    }
    // an operand: a one-weight-layer network's 1×1 matrix is the book's scalar
    operand(name, value) {
      if (this.single && value != null && value.length === 1 && value[0].length === 1) {
        return [name, value[0][0]];
      }
      return [name, value == null ? null : value];
    }
    given(event, state) {
      const config = this.config, clauses = [[
        `${this.layer(0)} = ${this.rows(config.input_name, event.samples)}`,
        [line(" ="), this.operand(this.layer(0), state.layer[0])]]];
      if (config.goals != null) {
        clauses.push([`goal ${this.rows(config.goal_name, event.samples)}`,
          [line(" ="), this.operand("goal", event.samples.map(i => config.goals[i]))]]);
      }
      return clauses;
    }
    // each clause: [formula, parts, note]; a part is an operand [name, value] or a sign's
    // text, or a sign only show's line writes (line(text)) or only the page (page(text))
    clauses(event, state) {
      switch (event.kind) {
        case "forward": return [this.forward(event, state)];
        case "error": return [this.error(event)];
        case "delta": return [this.delta(event, state)];
        case "update": return this.update(event, state);
        default: return this.passEnd(event);
      }
    }
    passEnd(event) {
      const clauses = [event.error === NONE ? [`end of epoch ${event.epoch}`, []]
        : [`end of epoch ${event.epoch}: error summed over ${event.samples.length} sample(s)`,
          [line(" ="), ["error", event.error]]]];
      if (event.test_error !== NONE) {
        clauses.push([`held-out error summed over ${this.config.test_inputs.length} row(s)`,
          [line(" ="), ["held-out error", event.test_error]]]);
      }
      return clauses;
    }
    forward(event, state) {
      const k = event.layer, before = this.layer(k - 1), weights = this.weightsName(k);
      const product = `${before} · ${weights}`, out = this.operand(this.layer(k), event.layer_out);
      const formula = (this.rules[event.nonlinearity] || [""])[0];
      const weightsIn = this.operand(weights, state.weights[k - 1]);
      if (formula === "x") {
        const hide = this.single ? text => text : page;
        return [`${this.layer(k)} = ${product}`, [line(" ="), this.operand(before, event.layer_in),
          hide(" · "), weightsIn, hide(" = "), out]];
      }
      const name = event.nonlinearity;
      return [`${this.layer(k)} = ${name}(${product})`, [
        line(" ="), page(`${name}(`), this.operand(before, event.layer_in), page(" · "), weightsIn,
        page(")"), page(" = "), `${name}(`, this.operand(product, event.weighted_sum), ")", " = ", out]];
    }
    error(event) {
      const goal = this.rows(this.config.goal_name, event.samples);
      const p = event.prediction, scalar = p.length === 1 && p[0].length === 1;
      const [opening, closing] = this.single && scalar ? ["(", ")²"] : ["sum((", ")²)"];
      return [`error = ${opening}${this.layer(event.layer)} − ${goal}${closing}`, [
        line(" ="), opening, this.operand(this.layer(event.layer), p), " − ",
        this.operand(goal, event.goal), closing, " = ", ["error", event.error]]];
    }
    delta(event, state) {
      const k = event.layer, rule = this.rules[event.nonlinearity] ||
        ["", "", `${event.nonlinearity}2deriv`];
      const timesDeriv = rule[1] !== "1", name = this.deltaName(k);
      const delta = this.operand(name, event.delta);
      const derivative = this.operand(`${rule[2]}(${this.layer(k)})`, event.derivative);
      if (k === this.last) {  // the output: how far the prediction missed its goal
        const goal = this.rows(this.config.goal_name, event.samples);
        const layer = this.operand(this.layer(k), state.layer[k]);
        const target = this.operand(goal, this.config.goals == null ? null
          : event.samples.map(i => this.config.goals[i]));
        const [first, second] = this.ascent ? [target, layer] : [layer, target];
        const miss = `${first[0]} − ${second[0]}`;
        if (!timesDeriv) {
          return [`${name} = ${miss}`, [line(" ="), first, page(" − "), second, page(" = "), delta]];
        }
        return [`${name} = (${miss}) * ${derivative[0]}`, [line(" ="), "(", first, page(" − "), second,
          line("…"), ")", " * ", derivative, " = ", delta]];
      }
      const back = `${this.deltaName(k + 1)} · weights_${k}_${k + 1}ᵀ`;
      if (!timesDeriv) {
        return [`${name} = ${back}`, [line(" ="), this.operand(this.deltaName(k + 1), state.delta[k + 1]),
          page(" · "), this.operand(`weights_${k}_${k + 1}ᵀ`, transposed(state.weights[k])),
          page(" = "), delta]];
      }
      const engine = this.engine, matrix = rows => engine.fromJson(rows.map(r => r.map(num)));
      const carried = engine.jsonRows(engine.back(matrix(state.delta[k + 1]), matrix(state.weights[k])));
      return [`${name} = ${back} * ${derivative[0]}`, [line(" ="),
        this.operand(back, carried), " * ", derivative, " = ", delta]];
    }
    update(event, state) {
      const k = event.layer, name = this.weightsName(k), frozen = this.frozen[k] || [];
      const before = this.operand(`${name} (before)`, state.weights[k - 1]);
      const after = this.operand(`${name} (after)`, event.weights);
      const alpha = ["alpha", event.alpha], weightDelta = this.operand("weight_delta", event.weight_delta);
      const sign = this.ascent ? " + " : " − ";
      const change = [`${name} ${this.updateOp} alpha · weight_delta`, [
        line(`: ${name} = `), before, sign, alpha, " · ", weightDelta, " = ", after],
      frozen.length ? ` (${name}${frozen.join(", ")} frozen: its weight_delta is 0)` : ""];
      if (event.rule !== NONE) {  // a strategy's own rule, and the numbers it decided by
        const parts = [line(":")];
        Object.entries(event.details || {}).forEach(([key, value], i) => {
          if (i) parts.push(line(","));
          parts.push(line(`${key} = `), [key, value]);
        });
        parts.push(" → ", line("weight_delta = "), weightDelta);
        return [[event.rule, parts], change];
      }
      let term = `${this.layer(k - 1)}ᵀ · ${this.deltaName(k)}`;
      const batch = event.samples.length > 1;
      if (batch) term = `mean over ${event.samples.length} samples of (${term})`;
      if (this.single && state.layer[0] && state.delta[k]) {
        let product = [this.operand(`${this.layer(k - 1)}ᵀ`, transposed(state.layer[0])), " · ",
          this.operand(this.deltaName(k), state.delta[k])];
        if (batch) product = ["mean(", ...product, ")"];
        return [[`weight_delta = ${term}`, [line(" ="), ...product, " = ", weightDelta]], change];
      }
      return [[`${name} ${this.updateOp} alpha · ${term}`, [
        line(`: ${name} = `), before, sign, alpha, " · ", this.operand(term, event.weight_delta),
        " = ", after], frozen.length ? ` (${name}${frozen.join(", ")} frozen)` : ""]];
    }
  }

  // a run's events as the page's entries (see html.py's _write_events), and the rest of
  // what the page's data holds: errors per pass, where each pass starts, checkpoints
  class Run {
    constructor(config, rules, records, engine, options) {
      this.config = config;
      this.records = records;
      this.count = records.length;
      this.maxNodes = options.maxNodes;
      this.checkpoint = options.checkpoint;
      this.narrator = new Narrator(config, rules, engine, options.maxNodes);
      const L = config.layers.length - 1, initial = engine.initialWeights(config).map(engine.jsonRows);
      this.errors = []; this.starts = []; this.checkpoints = []; this.entries = [];
      if (config.test_inputs != null) this.test_errors = [];
      this.weightsAt = [];  // per event: the weights it starts from (shared until an update)
      this.stepAt = new Int32Array(records.length);  // per event: its step's first event
      let weights = initial, epoch = -1, stepStart = 0;
      const drawn = {nodes: [], weights: weights.map(w => this.block(w)), deltas: []};
      for (let k = 0; k <= L; k++) { drawn.nodes.push([]); drawn.deltas.push([]); }
      records.forEach((e, i) => {
        if (i % this.checkpoint === 0) this.checkpoints.push(copy(drawn));
        if (e.kind === "forward" && e.layer === 1) stepStart = i;
        this.stepAt[i] = e.kind === "epoch_end" ? i : stepStart;
        this.weightsAt.push(weights);
        const entry = {kind: e.kind, epoch: e.epoch, samples: e.samples, layer: e.layer};
        if (e.kind === "forward") {
          if (e.layer === 1) entry.input = drawn.nodes[0] = this.row(e.layer_in);
          entry.values = drawn.nodes[e.layer] = this.row(e.layer_out);
        } else if (e.kind === "error") {
          entry.error = e.error;
          entry.goal = this.row(e.goal);
        } else if (e.kind === "delta") {
          entry.delta = drawn.deltas[e.layer] = this.row(e.delta);
          entry.derivative = this.row(e.derivative);
          entry.nonlinearity = e.nonlinearity;
        } else if (e.kind === "update") {
          entry.weights = drawn.weights[e.layer - 1] = this.block(e.weights);
          weights = weights.slice();
          weights[e.layer - 1] = e.weights;
        } else {
          if (e.error !== NONE) this.errors.push(e.error);
          if (e.test_error !== NONE) this.test_errors.push(e.test_error);
        }
        if (e.epoch !== epoch) { this.starts.push(i); epoch = e.epoch; }
        this.entries.push(entry);
      });
      this.finalWeights = weights;
    }
    row(matrix) { return this.block(matrix); }  // a batch's rows, one a sample (html.py's _rows)
    block(matrix) {
      const n = this.maxNodes;
      return matrix.length <= n && matrix[0].length <= n ? matrix : matrix.slice(0, n).map(r => r.slice(0, n));
    }
    value(v) {  // an operand's value as html.py's _value writes it
      if (v === null || typeof v !== "object") return v;
      const n = this.maxNodes;
      if (v.length <= n && v[0].length <= n) return v;
      return {rows: this.block(v), of: [v.length, v[0].length]};
    }
    // entry i, with its literate line's shape and operands (made when first asked for)
    entry(i) {
      const entry = this.entries[i];
      if (entry.shape) return entry;
      const e = this.records[i], narrator = this.narrator;
      const state = {weights: this.weightsAt[i], layer: [], delta: []};
      for (let j = this.stepAt[i]; j < i; j++) {  // what this step computed before event i
        const r = this.records[j];
        if (r.kind === "forward") { state.layer[r.layer] = r.layer_out; if (r.layer === 1) state.layer[0] = r.layer_in; }
        if (r.kind === "delta") state.delta[r.layer] = r.delta;
      }
      if (e.kind === "forward" && e.layer === 1) state.layer[0] = e.layer_in;
      const groups = [[true, e.kind === "forward" && e.layer === 1 ? narrator.given(e, state) : []],
                      [false, narrator.clauses(e, state)]];
      const shape = [], operands = [];
      for (const [given, clauses] of groups) {
        for (const [formula, parts, note] of clauses) {
          const shown = [];
          for (const part of parts) {
            if (typeof part === "string") {
              shown.push(part);
            } else if (part.only === "page") {
              shown.push(part.text);
            } else if (part.only !== "line") {
              shown.push([given ? formula : part[0]]);
              operands.push(this.value(part[1]));
            }
          }
          shape.push([given, formula, note || "", shown]);
        }
      }
      entry.shape = shape;
      entry.operands = operands;
      return entry;
    }
  }

  // the first number of a run that is not finite, as show's literate view names it
  function firstNonfinite(records) {
    const bad = v => typeof v === "string";
    for (const e of records) {
      for (const [name, value] of Object.entries(e)) {
        if (bad(value) && (name === "error" || name === "test_error" || name === "alpha")) return [e, name, value];
        if (Array.isArray(value) && Array.isArray(value[0])) {
          for (let i = 0; i < value.length; i++) {
            const j = value[i].findIndex(bad);
            if (j >= 0) return [e, `${name}[${i}][${j}]`, value[i][j]];
          }
        }
      }
    }
    return null;
  }
  return {Narrator, Run, firstNonfinite};
})();
if (typeof module !== "undefined") module.exports = Live;
