// Edit and watch: the learner changes the experiment on the page (alpha, passes, a hidden
// layer's size, a layer's nonlinearity, the strategy and its batch size, the seed or one
// initial weight, any light or goal of the data, a row more or less) and the page computes
// the run again with its own engine (engine.js, bit for bit with `steptrace record` in exact
// arithmetic), staying on the same pass and sample. An edit that makes no run is refused
// where it was typed, with one line saying what is allowed; the run shown stays. "copy as
// experiment" gives the edited experiment as TOML, which `steptrace record` reproduces.
// window.steptrace.run(config) is the page's engine, for scripts (docs/live-page.md).
/* global D, E, Live, at, relive */  // (page.js's and live.js's: the page is one script)
(() => {
  "use strict";
  const engine = globalThis.steptraceEngine;
  const $ = id => document.getElementById(id);
  const edit = D.edit;  // absent: a page written without --edit
  let config = edit ? JSON.parse(JSON.stringify(edit.config)) : null;  // the experiment run
  let records = null;  // the shown run's events (null: the trace's, as recorded)
  let computes = false;  // whether the page computes this experiment (else: recorded only)

  // the most a run may make: the page keeps every event (and the numbers in them)
  function size(c) {
    const rows = c.inputs.length, L = c.layers.length - 1, name = c.strategy && c.strategy.name;
    const batches = name === "full" ? 1 : name === "minibatch" ? Math.ceil(rows / c.strategy.batch_size) : rows;
    const events = c.iterations * (batches * (c.train === false ? L + 1 : 3 * L + 1) + 1);
    const widest = Math.max(...c.layers.slice(0, -1).map((n, k) => n * c.layers[k + 1]),
                            ...c.layers.map(n => n * Math.min(rows, 1000)));
    return {events, numbers: events * widest};
  }
  const LIMITS = {events: D.maxEvents, numbers: 50 * D.maxEvents};
  function run(c) {  // the engine's run, within the page's limits; Errors of one line
    if (typeof c === "string") {
      try { c = JSON.parse(c); } catch (error) { throw new Error(`the config is not JSON: ${error.message}`, {cause: error}); }
    }
    if (c === null || typeof c !== "object" || Array.isArray(c)) {
      throw new Error("a config is an object, as `steptrace experiments --show ID --format json` prints it");
    }
    engine.validate(c);
    const {events, numbers} = size(c);
    if (events > LIMITS.events || numbers > LIMITS.numbers) {
      throw new Error(`this run would make ${events.toLocaleString("en")} events of up to ` +
        `${Math.round(numbers / events).toLocaleString("en")} numbers: the page keeps at most ` +
        `${LIMITS.events.toLocaleString("en")} events and ${LIMITS.numbers.toLocaleString("en")} ` +
        "numbers (record it with steptrace record)");
    }
    try {
      return engine.run(c);
    } catch (error) {
      throw new Error(`the run could not be made: ${error.message}`, {cause: error});
    }
  }
  // the experiment shown: once edited, named as its own (the original's name with -edited)
  function shown(c) {
    const named = JSON.parse(JSON.stringify(c));
    if (JSON.stringify(c) !== JSON.stringify(edit.config)) {
      named.name = `${edit.config.name}-edited`.slice(0, 100);
      named.title = `${edit.config.title}, edited on the page`;
      named.source = `edited on steptrace's page from ${edit.config.name}`;
    }
    return named;
  }

  globalThis.steptrace = {
    // the events of the run `config` makes (the JSON `steptrace experiments --show ID
    // --format json` prints), as the objects of the lines `steptrace record --detail all
    // --arithmetic exact` writes; an Error saying what is wrong for a config it cannot run
    run,
    // the experiment shown, with the learner's edits (null: a page written without --edit)
    config: () => config && shown(config),
    // the shown run's events (null where the page shows a recording it cannot compute)
    events: () => records || (computes ? run(config) : null),
    toml: () => config && toml(shown(config)),  // the shown experiment, as TOML
  };
  if (!edit) return;
  const form = $("edit");
  form.hidden = false;
  form.addEventListener("submit", ev => ev.preventDefault());
  if (edit.why) {  // a run the page's engine cannot compute: the recording, as it is
    $("says").textContent = `recorded only: ${edit.why}`;
    return;
  }
  // the page's engine must give the trace's own numbers before it is trusted with edits
  let first;
  try {
    first = run(config);
  } catch (error) {
    $("says").textContent = `recorded only: the page's engine cannot run this experiment (${error.message})`;
    return;
  }
  const errors = first.filter(e => e.kind === "epoch_end").map(e => e.error);
  const differs = D.errors.findIndex((v, p) => !Object.is(v, errors[p]));  // (the trace's)
  if (differs >= 0) {
    $("says").textContent = `recorded only: the page's engine does not reproduce this trace ` +
      `(pass ${differs}: the trace's error ${D.errors[differs]}, the page's ${errors[differs]}), ` +
      "so it shows the recording and takes no edits";
    return;
  }
  document.body.classList.add("editing");
  computes = true;
  const pressure = $("pressure").querySelector("pre").textContent;  // the recorded run's table

  const L = config.layers.length - 1, MAX = edit.maxNodes;
  const field = (label, control, hint) => {
    const box = document.createElement("label");
    box.className = "field";
    box.append(label, control);
    const refused = document.createElement("span");
    refused.className = "refused";
    box.append(refused);
    if (hint) box.title = hint;
    control.refuse = text => {  // one line where it was typed; "" takes it back
      refused.textContent = text;
      control.classList.toggle("bad", Boolean(text));
      if (text) $("says").textContent = `not recomputed: ${text}`;
    };
    return box;
  };
  const input = (value, className) => {
    const box = document.createElement("input");
    box.value = value;
    if (className) box.className = className;
    return box;
  };
  const select = (options, value) => {
    const box = document.createElement("select");
    for (const option of options) box.add(new Option(option, option, false, option === value));
    return box;
  };
  const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
  const INTEGER = /^\s*\d+\s*$/;

  // -- the settings -------------------------------------------------------------------
  const settings = $("settings");
  let controls = {}, rebuilding = false;  // (a box removed while focused fires its change)
  function settingsPanel() {
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.setting : undefined;
    rebuilding = true;
    settings.textContent = "";
    rebuilding = false;
    controls = {};
    const add = (name, label, control, hint) => {
      controls[name] = control;
      control.dataset.setting = name;
      settings.append(field(label, control, hint));
    };
    const trains = config.train !== false;
    if (trains) add("alpha", "alpha", input(String(config.alpha)), "the learning rate: a positive number");
    add("iterations", "passes", input(String(config.iterations)), "iterations: passes over the data");
    for (let k = 1; k < L; k++) {
      add(`size${k}`, `layer_${k} size`, input(String(config.layers[k])), `1 to ${MAX} nodes`);
    }
    for (let k = 1; k <= L; k++) {
      add(`act${k}`, `${L === 1 ? "nonlinearity" : `layer_${k}`}`,
          select(edit.nonlinearities, config.nonlinearities[k - 1]));
    }
    const strategies = edit.strategies.filter(s => s !== "hot_and_cold" || config.strategy.name === s);
    if (trains) add("strategy", "strategy", select(strategies, config.strategy.name));
    if (trains && config.strategy.name === "minibatch") {
      add("batch", "batch size", input(String(config.strategy.batch_size)), "samples per update");
    }
    add("seed", "seed", input(config.seed === null ? "" : String(config.seed)),
        config.seed === null ? "the weights are given: type a seed to draw them instead" :
          "np.random.seed(seed), then 2*random(shape)-1 per layer");
    if (config.seed === null) controls.seed.placeholder = "given";
    add("weight", "", input("", "wide"), "click an edge of the network, then type its initial weight");
    controls.weight.hidden = true;
    const copy = document.createElement("button");
    copy.type = "button"; copy.textContent = "copy as experiment";
    copy.onclick = () => exportToml();
    const reset = document.createElement("button");
    reset.type = "button"; reset.textContent = "reset";
    reset.onclick = () => { if (apply(JSON.parse(JSON.stringify(edit.config)))) rebuild(); };
    settings.append(copy, " ", reset);
    if (!trains) {
      const note = document.createElement("span");
      note.className = "field";
      note.textContent = "forward passes only (train = false): nothing learns";
      settings.append(" ", note);
    }
    for (const [name, control] of Object.entries(controls)) {
      control.addEventListener("change", () => { if (!rebuilding) take(name, control); });
      if (control.tagName === "INPUT") {
        control.addEventListener("keydown", k => { if (k.key === "Enter") { k.preventDefault(); take(name, control); } });
      }
    }
    if (focused && controls[focused] && !controls[focused].hidden) controls[focused].focus();
  }
  let picked = null;  // the weight clicked: [k, i, j]
  function take(name, control) {  // a setting typed or chosen: a new config, or refused
    const text = control.value, next = JSON.parse(JSON.stringify(config));
    const say = control.refuse;
    const rows = next.inputs.length;
    if (name === "alpha") {
      const alpha = Number(text);
      if (!NUMBER.test(text) || !(alpha > 0) || !Number.isFinite(alpha)) return say("alpha is a positive number, e.g. 0.2");
      next.alpha = alpha;
    } else if (name === "iterations") {
      const passes = Number(text);
      const most = Math.floor(LIMITS.events / size({...next, iterations: 1}).events);
      if (!INTEGER.test(text) || passes < 1 || passes > most) {
        return say(`passes is a whole number from 1 to ${most.toLocaleString("en")} ` +
                   `(the page keeps at most ${LIMITS.events.toLocaleString("en")} events)`);
      }
      next.iterations = passes;
    } else if (name.startsWith("size")) {
      const k = Number(name.slice(4)), size = Number(text);
      if (!INTEGER.test(text) || size < 1 || size > MAX) return say(`layer_${k} has 1 to ${MAX} nodes (the page draws at most ${MAX})`);
      next.layers[k] = size;
      reshape(next, `layer_${k} is ${size} wide now`);
    } else if (name.startsWith("act")) {
      next.nonlinearities[Number(name.slice(3)) - 1] = text;
    } else if (name === "strategy") {
      next.strategy = text === "minibatch" ? {name: text, batch_size: Math.min(2, rows)}
        : text === config.strategy.name ? config.strategy : {name: text};
    } else if (name === "batch") {
      const size = Number(text);
      if (!INTEGER.test(text) || size < 1 || size > rows) return say(`batch size is a whole number from 1 to the ${rows} rows`);
      next.strategy.batch_size = size;
    } else if (name === "seed") {
      const seed = Number(text);
      if (!INTEGER.test(text) || seed > 2 ** 32 - 1) return say("seed is a whole number from 0 to 4294967295");
      next.seed = seed; next.weights = null;
    } else if (name === "weight") {
      const value = Number(text), [k, i, j] = picked;
      if (!NUMBER.test(text) || !Number.isFinite(value)) return say("a weight is a number, e.g. -0.5");
      next.weights = next.weights || engine.initialWeights(next).map(engine.jsonRows);
      next.weights[k][i][j] = value; next.seed = null;
    }
    say("");
    if (!apply(next)) settingsPanel();  // (the boxes show the run's settings again)
  }
  // a layer's size changed: weights of the old shapes cannot be kept, frozen ones outside go
  let pending = "";  // what an edit changed besides itself, said with its run
  function reshape(next, why) {
    const notes = [];
    if (next.weights !== null && next.weights !== undefined) {
      next.weights = null;
      next.seed = edit.config.seed === null ? 1 : edit.config.seed;
      notes.push(`the given weights do not fit: drawn with seed ${next.seed}`);
    }
    const kept = next.frozen.filter(([k, i, j]) => i < next.layers[k] && j < next.layers[k + 1]);
    if (kept.length < next.frozen.length) notes.push(`${next.frozen.length - kept.length} frozen weight(s) no longer in the network`);
    next.frozen = kept;
    pending = notes.length ? `${why}: ${notes.join("; ")}` : "";
  }

  // -- the data ---------------------------------------------------------------------------
  const binary = rows => rows.every(row => row.every(v => v === 0 || v === 1));
  function dataPanel() {
    const box = $("rows");
    box.textContent = "";
    const table = document.createElement("table"), caption = table.createCaption();
    caption.textContent = `${config.input_name}` + (config.goals ? ` → ${config.goal_name}` : "");
    const lights = binary(config.inputs), goals = config.goals && binary(config.goals);
    caption.title = lights ? "click a light to switch it" : "type a number in a cell";
    config.inputs.forEach((row, r) => {
      const tr = table.insertRow();
      const index = tr.insertCell(); index.className = "index"; index.textContent = String(r);
      row.forEach((v, c) => tr.insertCell().append(cell("inputs", r, c, v, lights)));
      if (config.goals) {
        tr.insertCell().className = "gap";
        config.goals[r].forEach((v, c) => tr.insertCell().append(cell("goals", r, c, v, goals)));
      }
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = "×"; remove.title = `remove row ${r}`;
      remove.onclick = () => {
        if (config.inputs.length === 1) { say(`not recomputed: a run needs at least one row`); return; }
        const next = JSON.parse(JSON.stringify(config));
        next.inputs.splice(r, 1);
        if (next.goals) next.goals.splice(r, 1);
        fitBatch(next);
        apply(next);
      };
      tr.insertCell().append(remove);
    });
    const more = document.createElement("button");
    more.type = "button"; more.textContent = "+ row"; more.title = "add a row (a copy of the last)";
    more.onclick = () => {
      const next = JSON.parse(JSON.stringify(config));
      next.inputs.push(next.inputs[next.inputs.length - 1].slice());
      if (next.goals) next.goals.push(next.goals[next.goals.length - 1].slice());
      apply(next);
    };
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = lights ? "click a light or a goal to switch it; × removes a row" : "type a number in any cell; × removes a row";
    box.append(table, more, hint);
  }
  function fitBatch(next) {  // a batch no bigger than the rows left
    if (next.strategy.name === "minibatch" && next.strategy.batch_size > next.inputs.length) {
      next.strategy.batch_size = next.inputs.length;
      pending = `batch size ${next.inputs.length} now: no more than the rows`;
    }
  }
  function cell(which, r, c, v, toggles) {
    const name = `${which === "inputs" ? config.input_name : config.goal_name}[${r}][${c}]`;
    if (toggles) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "cell " + (v ? "on" : "off"); b.textContent = String(v);
      b.title = `${name} = ${v}: click for ${1 - v}`;
      b.dataset.cell = `${which},${r},${c}`;
      b.onclick = () => {
        const next = JSON.parse(JSON.stringify(config));
        next[which][r][c] = 1 - v;
        apply(next);
      };
      return b;
    }
    const box = input(String(v), "cell");
    box.title = name; box.dataset.cell = `${which},${r},${c}`;
    box.addEventListener("change", () => {
      const value = Number(box.value);
      if (!NUMBER.test(box.value) || !Number.isFinite(value)) {
        box.classList.add("bad"); say(`not recomputed: ${name} is a number, e.g. 0.5`); return;
      }
      box.classList.remove("bad");
      const next = JSON.parse(JSON.stringify(config));
      next[which][r][c] = value;
      apply(next);
    });
    return box;
  }

  // -- one weight, clicked on the network -------------------------------------------------
  $("net").addEventListener("click", ev => {
    // an edge, or its label (the number on it)
    const edge = ev.target.closest ? ev.target.closest("[data-weight], [data-label]") : null;
    if (!edge) return;
    picked = (edge.dataset.weight || edge.dataset.label).split(",").map(Number);
    const [k, i, j] = picked, weights = config.weights || engine.initialWeights(config).map(engine.jsonRows);
    const control = controls.weight;
    control.hidden = false;
    control.previousSibling.textContent = `initial ${D.names.weights[k + 1]}[${i}][${j}]`;
    control.value = String(weights[k][i][j]);
    control.focus(); control.select();
  });

  // -- computing the run again ------------------------------------------------------------
  function say(text, diverged) {
    $("says").textContent = text;
    $("says").classList.toggle("diverged", Boolean(diverged));
  }
  function apply(next) {  // run next; shown if it runs, refused (and the run kept) if not
    let made;
    const started = performance.now();
    try {
      made = run(next);
    } catch (error) {
      say(`not recomputed: ${error.message}`);
      pending = "";
      return false;
    }
    const computed = new Live.Run(next, edit.rules, made, engine,
                             {maxNodes: MAX, checkpoint: D.checkpoint});
    const took = performance.now() - started;
    const here = where();
    config = next; records = made;
    relive(computed, findAgain(computed, here));
    retitle();
    rebuild();
    const broke = Live.firstNonfinite(made);
    const note = pending; pending = "";
    if (broke) {
      const [e, name, value] = broke;
      say(`⚠ [${e.seq}] the first number that is not finite: ${name} = ${value} (${e.kind}, epoch ` +
          `${e.epoch}): the run has diverged; from here on the numbers overflow to inf and NaN ` +
          "(a smaller alpha keeps it finite)", true);
    } else {
      say(`recomputed: ${made.length.toLocaleString("en")} events in ${took.toFixed(1)} ms` +
          (note ? ` · ${note}` : ""));
    }
    $("toml").hidden = true;
    return true;
  }
  function where() {  // the event shown: its pass, sample, kind and layer
    const e = at >= 0 ? E(at) : null;
    return e && {epoch: e.epoch, sample: Number($("sample").value), kind: e.kind, layer: e.layer};
  }
  function findAgain(run, here) {  // the same pass, sample and step in the new run, or nearest
    if (!here) return 0;
    const p = Math.min(here.epoch, run.starts.length - 1), start = run.starts[p];
    const end = p + 1 < run.starts.length ? run.starts[p + 1] : run.count;
    let best = start;
    for (let i = start; i < end; i++) {
      const e = run.entries[i];
      if (!e.samples.includes(here.sample)) continue;
      if (best === start && !run.entries[best].samples.includes(here.sample)) best = i;
      if (e.kind === here.kind && e.layer === here.layer) return i;
    }
    return best;
  }
  function rebuild() { settingsPanel(); dataPanel(); }
  // the title names the experiment shown; the pressure table (Python's, of the recorded
  // run) is shown for that run only
  function retitle() {
    const named = shown(config), title = `${named.name}: ${named.title}`;
    $("title").textContent = title;
    document.title = `${title} · steptrace`;
    const edited = named.name !== edit.config.name, box = $("pressure");
    box.hidden = !pressure;
    box.querySelector("pre").textContent = edited
      ? "The table is made by Python, from a recorded run: copy as experiment, record it, and " +
        "`steptrace show TRACE --view pressure` gives the edited run's." : pressure;
  }

  // -- copy as experiment: TOML that `steptrace record` reads ------------------------------
  function tomlValue(v) {
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "boolean") return String(v);
    if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
    throw new Error(`no TOML for ${v}`);
  }
  const float = v => Object.is(v, -0) ? "-0.0" : Number.isInteger(v) && Math.abs(v) < 1e16 ? v.toFixed(1) : String(v);
  const floats = m => `[${m.map(row => `[${row.map(float).join(", ")}]`).join(", ")}]`;
  function toml(c) {
    if (!c) return null;
    const lines = [`name = ${tomlValue(c.name)}`, `title = ${tomlValue(c.title)}`,
                   `source = ${tomlValue(c.source)}`,
                   `layers = [${c.layers.join(", ")}]`, `nonlinearities = ${tomlValue(c.nonlinearities)}`];
    if (c.weights !== null) lines.push(`weights = [${c.weights.map(floats).join(", ")}]`);
    else lines.push(`seed = ${c.seed}`);
    lines.push(`alpha = ${float(c.alpha)}`, `iterations = ${c.iterations}`, `train = ${c.train}`);
    if (c.frozen.length) lines.push(`frozen = [${c.frozen.map(f => `[${f.join(", ")}]`).join(", ")}]`);
    lines.push(`arithmetic = "exact"`, `delta = ${tomlValue(c.delta)}`,
               `input_name = ${tomlValue(c.input_name)}`, `goal_name = ${tomlValue(c.goal_name)}`,
               `inputs = ${floats(c.inputs)}`);
    if (c.goals !== null) lines.push(`goals = ${floats(c.goals)}`);
    if (c.test_inputs != null) lines.push(`test_inputs = ${floats(c.test_inputs)}`, `test_goals = ${floats(c.test_goals)}`);
    const strategy = Object.entries(c.strategy).map(([k, v]) =>
      `${k} = ${typeof v === "number" ? (Number.isInteger(v) && k !== "step_amount" ? String(v) : float(v)) : tomlValue(v)}`);
    lines.push("", "[strategy]", ...strategy);
    return lines.join("\n") + "\n";
  }
  function exportToml() {
    const c = shown(config), changed = c.name !== edit.config.name;
    const text = toml(c), box = $("toml");
    box.value = text; box.hidden = false; box.focus(); box.select();
    const record = `save it as ${c.name}.toml and \`steptrace record ${c.name}.toml\` makes this ` +
      "run (with --detail all, a trace of every field the page shows)";
    const done = () => say(`the experiment is below as TOML${changed ? "" : " (not edited)"}: ${record}`);
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(() => say(`copied: ${record}; it is also below`), done);
    } else done();
  }
  rebuild();
  say(`edit any setting or light: the page computes the run again (its engine gives this ` +
      `trace's numbers, bit for bit); click an edge to change its initial weight`);
})();
