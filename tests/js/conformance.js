/* The conformance suite's runner: the JavaScript engine (steptrace/views/page/engine.js)
 * against the Python engine's events, bit for bit.
 *
 * A case is {"name", "config", "events"}: an experiment's config as `steptrace experiments
 * --show ID --format json` prints it, and the records the Python engine made of it in exact
 * arithmetic at detail "all" (tests/js_conformance_cases.py writes them, one case a line).
 * Every event's keys must be the same, in the same order; every number the same float64
 * bits (-0 is not 0; NaN, written as the string "NaN", is any NaN); every string the same.
 * The first mismatch of each case is reported: case, event seq, field, index, both values
 * as hex bits.
 *
 * In Node: `node tests/js/conformance.js ENGINE.js CASES.jsonl` prints one JSON line
 * {cases, events, numbers, failures, mismatches, seconds}. In a browser: load engine.js and
 * this file, then `steptraceConformance.compareAll(steptraceEngine, cases)`.
 */
(function (root) {
  "use strict";

  const view = new DataView(new ArrayBuffer(8));

  /** A number's float64 bits in hex (NaN as "nan", its payload aside). */
  function bits(x) {
    if (typeof x !== "number") return JSON.stringify(x);
    if (x !== x) return "nan";
    view.setFloat64(0, x);
    return "0x" + view.getUint32(0).toString(16).padStart(8, "0") + view.getUint32(4).toString(16).padStart(8, "0");
  }

  /** float64 numbers of a packed matrix's hex (little-endian). */
  function unpacked(hex) {
    const out = [];
    for (let i = 0; i < hex.length; i += 16) {
      for (let b = 0; b < 8; b++) view.setUint8(b, parseInt(hex.substr(i + 2 * b, 2), 16));
      out.push(view.getFloat64(0, true));
    }
    return out;
  }

  /** The first difference between `want` (Python's) and `got` (the engine's), as
   * {path, want, got}, or null; `tally.numbers` counts the numbers compared. */
  function difference(want, got, path, tally) {
    if (typeof want === "number") {
      tally.numbers++;
      if (typeof got === "number" && (Object.is(want, got) || (want !== want && got !== got))) return null;
      return { path, want: bits(want), got: bits(got) };
    }
    if (typeof want === "string" || typeof want === "boolean" || want === null) {
      return want === got ? null : { path, want: JSON.stringify(want), got: JSON.stringify(got) };
    }
    if (Array.isArray(want)) {
      if (!Array.isArray(got) || got.length !== want.length) {
        return { path, want: `${want.length} items`, got: Array.isArray(got) ? `${got.length} items` : JSON.stringify(got) };
      }
      for (let i = 0; i < want.length; i++) {
        const found = difference(want[i], got[i], path.concat(i), tally);
        if (found) return found;
      }
      return null;
    }
    if (!got || typeof got !== "object" || Array.isArray(got)) return { path, want: "an object", got: JSON.stringify(got) };
    const wantKeys = Object.keys(want), gotKeys = Object.keys(got);
    if (wantKeys.join() !== gotKeys.join()) return { path, want: `keys ${wantKeys}`, got: `keys ${gotKeys}` };
    if ("float64_le_hex" in want && typeof want.float64_le_hex === "string" && typeof got.float64_le_hex === "string") {
      // a packed matrix: its numbers, bit for bit (a NaN's payload aside)
      const shape = difference(want.shape, got.shape, path.concat("shape"), tally);
      if (shape) return shape;
      return difference(unpacked(want.float64_le_hex), unpacked(got.float64_le_hex), path.concat("float64_le_hex"), tally);
    }
    for (const key of wantKeys) {
      const found = difference(want[key], got[key], path.concat(key), tally);
      if (found) return found;
    }
    return null;
  }

  /** One case: null, or its first mismatch as one line. */
  function compareCase(engine, testCase, tally) {
    let events;
    try {
      events = engine.run(testCase.config);
    } catch (problem) {
      return `${testCase.name}: the engine raised ${problem && problem.message}`;
    }
    const want = testCase.events;
    for (let i = 0; i < Math.max(want.length, events.length); i++) {
      if (i >= want.length || i >= events.length) {
        return `${testCase.name}: ${want.length} events expected, the engine made ${events.length}`;
      }
      tally.events++;
      const found = difference(want[i], events[i], [], tally);
      if (found) {
        const [field, ...index] = found.path;
        return `${testCase.name}: event seq ${want[i].seq} (${want[i].kind}) field ${field === undefined ? "(keys)" : field}`
          + `${index.length ? ` index [${index.join(", ")}]` : ""}: python ${found.want}, javascript ${found.got}`;
      }
    }
    return null;
  }

  /** Every case: {cases, events, numbers, failures, mismatches (the first 20), seconds}. */
  function compareAll(engine, cases) {
    const started = Date.now(), tally = { events: 0, numbers: 0 }, mismatches = [];
    let failures = 0;
    for (const testCase of cases) {
      const mismatch = compareCase(engine, testCase, tally);
      if (mismatch !== null) {
        failures++;
        if (mismatches.length < 20) mismatches.push(mismatch);
      }
    }
    return { cases: cases.length, events: tally.events, numbers: tally.numbers, failures, mismatches,
      seconds: (Date.now() - started) / 1000 };
  }

  const conformance = { compareAll, compareCase, difference, bits };
  if (typeof module === "object" && module.exports) {
    module.exports = conformance;
    if (require.main === module) {
      const [enginePath, casesPath] = process.argv.slice(2);
      const fs = require("fs"), path = require("path");
      const engine = require(path.resolve(enginePath));
      const cases = fs.readFileSync(casesPath, "utf8").split("\n").filter((line) => line).map((line) => JSON.parse(line));
      process.stdout.write(JSON.stringify(compareAll(engine, cases)) + "\n");
    }
  } else {
    root.steptraceConformance = conformance;
  }
})(typeof globalThis === "object" ? globalThis : this);
