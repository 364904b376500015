// The page's entries for a run it computes itself (live.js, on engine.js's events) against
// those html.py writes for the same run recorded by Python: every entry (what is drawn, the
// literate line's clauses and operands), checkpoint, error and pass start, number for number
// (Object.is: -0 is not 0). Reads the cases as JSON on stdin; prints one line per case that
// differs, then a summary; exits 1 if any differs. Its argument, if any, is the folder of
// engine.js and live.js (by default the package's).
"use strict";
const path = require("path");
const page = process.argv[2] || path.join(__dirname, "..", "..", "steptrace", "views", "page");
const engine = require(path.join(page, "engine.js"));
const Live = require(path.join(page, "live.js"));

function differ(a, b, where) {  // the first place a and b differ, or null
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b) ? null : `${where}: ${a} != ${b}`;
  if (Array.isArray(a) !== Array.isArray(b) || typeof a !== typeof b) {
    return `${where}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
  }
  if (a === null || b === null || typeof a !== "object") return a === b ? null : `${where}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
  const keys = Array.isArray(a) ? [...Array(Math.max(a.length, b.length)).keys()]
    : [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    if (!(k in a) || !(k in b)) return `${where}.${k}: only in ${k in a ? "the page's" : "Python's"}`;
    const d = differ(a[k], b[k], `${where}.${k}`);
    if (d) return d;
  }
  return null;
}

const cases = JSON.parse(require("fs").readFileSync(0, "utf-8"));
let bad = 0, entries = 0;
for (const c of cases) {
  const run = new Live.Run(c.config, c.rules, engine.run(c.config), engine,
                           {maxNodes: c.maxNodes, checkpoint: c.checkpoint});
  const mine = {entries: run.entries.map((_, i) => run.entry(i)), checkpoints: run.checkpoints,
                errors: run.errors, test_errors: run.test_errors, starts: run.starts};
  if (mine.test_errors === undefined) delete mine.test_errors;
  const d = differ(mine, c.python, c.config.name);
  entries += run.count;
  if (d) { bad++; console.log(`differs: ${d}`); }
}
console.log(`compared ${cases.length} runs, ${entries} entries: ${bad} differ`);
process.exit(bad ? 1 : 0);
