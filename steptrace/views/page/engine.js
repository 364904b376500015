/* steptrace's engine in JavaScript: the same bits as the Python engine in exact arithmetic.
 *
 * One file, no dependencies: in Node, `require("./engine.js")`; inlined in a page, it sets
 * `globalThis.steptraceEngine`. `run(config)` trains an experiment (the JSON object that
 * `steptrace experiments --show ID --format json` prints) and returns its events: the objects
 * `JSON.parse` makes of the lines `steptrace record --detail all --arithmetic exact` writes
 * (no header, no end line), the same keys in the same order, bit for bit.
 * `validate(config)` throws an Error with one line for a config it cannot run.
 *
 * Read it beside the Python, in the same order and under the same names (snake_case made
 * camelCase: weight_delta is weightDelta):
 *
 *   arithmetic   steptrace/engine/arithmetic.py   exact mode only: every sum left to right
 *                                                 in float64, products first, a sum
 *                                                 starting from its first term
 *   portable     steptrace/portable.py            tanh and sigmoid from + - * / alone
 *   random       numpy's RandomState (MT19937)    the seeded initial weights
 *   rules        plugins/steptrace_builtins/      linear, relu, sigmoid, tanh; stochastic,
 *                                                 full, minibatch, hot_and_cold
 *   formulas     steptrace/engine/formulas.py     each formula once
 *   Network      steptrace/engine/network.py      step, gradientDescent, forward,
 *                                                 heldOutError, train
 *   Emitter      steptrace/trace/emitter.py       a step as event records, detail "all"
 *
 * A matrix is {rows, cols, data}: a Float64Array, row after row. Nothing is fused or
 * reordered: JavaScript numbers are IEEE-754 doubles, each + - * / rounded once, as numpy's.
 * inf and NaN propagate as they do in numpy (a run that diverges is recorded, not stopped);
 * a record holds a non-finite number as the string "NaN", "Infinity" or "-Infinity", and a
 * matrix of more than PACK_ABOVE numbers packed ({shape, float64_le_hex}), as Python writes
 * them. tests/test_js_conformance.py holds the two engines to the same bits.
 */
(function (root) {
  "use strict";

  // -- matrices ----------------------------------------------------------------------------

  /** A rows × cols matrix of zeros (or of `data`, row after row). */
  function matrix(rows, cols, data) {
    return { rows, cols, data: data || new Float64Array(rows * cols) };
  }

  /** A matrix from nested rows of numbers, or from its packed form. */
  function fromJson(value) {
    if (value && value.data instanceof Float64Array) return value; // a matrix already
    if (value && !Array.isArray(value) && typeof value === "object") return unpack(value);
    const rows = value.length, cols = rows ? value[0].length : 0;
    const out = matrix(rows, cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out.data[i * cols + j] = value[i][j];
    return out;
  }

  function copy(m) {
    return matrix(m.rows, m.cols, Float64Array.from(m.data));
  }

  /** The rows `indices` of `m`, as a matrix of their own (a batch). */
  function pickRows(m, indices) {
    const out = matrix(indices.length, m.cols);
    indices.forEach((row, i) => out.data.set(m.data.subarray(row * m.cols, (row + 1) * m.cols), i * m.cols));
    return out;
  }

  /** Each number of `m` through `f`, as a new matrix. */
  function map(m, f) {
    const out = matrix(m.rows, m.cols), a = m.data, o = out.data;
    for (let i = 0; i < a.length; i++) o[i] = f(a[i]);
    return out;
  }

  /** `a OP b` number by number (the same shape). */
  function zip(a, b, f) {
    const out = matrix(a.rows, a.cols), x = a.data, y = b.data, o = out.data;
    for (let i = 0; i < x.length; i++) o[i] = f(x[i], y[i]);
    return out;
  }

  function transpose(m) {
    const out = matrix(m.cols, m.rows);
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out.data[j * m.rows + i] = m.data[i * m.cols + j];
    return out;
  }

  const PACK_ABOVE = 1000;
  const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

  /** A number as its JSON holds it: non-finite ones as the strings Python writes. */
  function json(x) {
    if (Number.isFinite(x)) return x;
    return x !== x ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
  }

  /** The packed form: the IEEE-754 bytes, little-endian float64, row after row, in hex. */
  function pack(m) {
    const bytes = new Uint8Array(m.data.length * 8), view = new DataView(bytes.buffer);
    m.data.forEach((x, i) => view.setFloat64(i * 8, x, true));
    let hex = "";
    for (let i = 0; i < bytes.length; i++) hex += HEX[bytes[i]];
    return { shape: [m.rows, m.cols], float64_le_hex: hex };
  }

  function unpack(value) {
    const [rows, cols] = value.shape, hex = value.float64_le_hex;
    if (typeof hex !== "string" || hex.length !== rows * cols * 16) {
      throw new Error(`a packed ${rows}×${cols} matrix holds ${rows * cols * 16} hex digits`);
    }
    const bytes = new Uint8Array(rows * cols * 8);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
    const view = new DataView(bytes.buffer), out = matrix(rows, cols);
    for (let i = 0; i < rows * cols; i++) out.data[i] = view.getFloat64(i * 8, true);
    return out;
  }

  /** A matrix as its record holds it: rows of numbers, or packed when large (json_rows). */
  function jsonRows(m) {
    if (m.data.length > PACK_ABOVE) return pack(m);
    const rows = new Array(m.rows);
    for (let i = 0; i < m.rows; i++) {
      const row = new Array(m.cols);
      for (let j = 0; j < m.cols; j++) row[j] = json(m.data[i * m.cols + j]);
      rows[i] = row;
    }
    return rows;
  }

  // -- arithmetic.py: exact mode ---------------------------------------------------------

  /** `a · b`, each entry summed over k = 0, 1, ... in that order, from its first term. */
  function dot(a, b) {
    const m = a.rows, depth = a.cols, n = b.cols, x = a.data, y = b.data;
    const out = matrix(m, n), o = out.data;
    for (let i = 0; i < m; i++) {
      const row = i * depth;
      for (let j = 0; j < n; j++) {
        let sum = x[row] * y[j];
        for (let k = 1; k < depth; k++) sum += x[row + k] * y[k * n + j];
        o[i * n + j] = sum;
      }
    }
    return out;
  }

  /** The sum of every entry, row by row, left to right. */
  function total(m) {
    const a = m.data;
    let sum = a[0];
    for (let i = 1; i < a.length; i++) sum += a[i];
    return sum;
  }

  // -- portable.py: tanh and sigmoid, number by number -------------------------------------
  // numpy computes every branch of an np.where and keeps one: here only the kept one is
  // computed, with the same operations in the same order.

  const LN2_HI = 6.93147180369123816490e-01;
  const LN2_LO = 1.90821492927058770002e-10;
  const LN2 = LN2_HI + LN2_LO;
  const TWO_52 = 4503599627370496;

  /** np.fmin / np.fmax: a NaN operand gives the other. */
  const fmin = (a, b) => (a !== a ? b : b !== b ? a : a < b ? a : b);
  const fmax = (a, b) => (a !== a ? b : b !== b ? a : a > b ? a : b);

  /** np.rint: to the nearest integer, halves to even, the sign kept (-0.3 gives -0). */
  function rint(x) {
    if (!(Math.abs(x) < TWO_52)) return x;
    return x < 0 || Object.is(x, -0) ? -((-x + TWO_52) - TWO_52) : (x + TWO_52) - TWO_52;
  }

  /** 2^n for integer n in [-1022, 1023], its bits written directly (portable.py's _pow2). */
  const POW2 = (() => {
    const table = new Float64Array(2046), view = new DataView(new ArrayBuffer(8));
    for (let n = -1022; n <= 1023; n++) {
      view.setUint32(0, (n + 1023) << 20 >>> 0);
      view.setUint32(4, 0);
      table[n + 1022] = view.getFloat64(0);
    }
    return table;
  })();
  const pow2 = (n) => POW2[n + 1022];

  /** 2^(j/64), j = 0..63, as hi + lo to 106 bits, from integers alone (_exp2_table): in
   * fixed point with 200 fractional bits, 2^(1/2), 2^(1/4), ... by integer square roots. */
  function exp2Table() {
    const bits = 200n, one = 1n << bits;
    const isqrt = (n) => { // the largest r with r*r <= n (Newton's method, from above)
      let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
      for (;;) {
        const y = (x + n / x) >> 1n;
        if (y >= x) return x;
        x = y;
      }
    };
    const roots = [];
    let root = 2n * one;
    for (let i = 0; i < 6; i++) roots.push(root = isqrt(root << bits));
    const scale = 2 ** -200, hi = new Float64Array(64), lo = new Float64Array(64);
    for (let j = 0; j < 64; j++) {
      let value = one;
      roots.slice().reverse().forEach((factor, place) => {
        if ((j >> place) & 1) value = (value * factor) >> bits;
      });
      hi[j] = Number(value) * scale; // Number() rounds to nearest; the scale is exact
      lo[j] = Number(value - (BigInt(hi[j] * 2 ** 52) << (bits - 52n))) * scale;
    }
    return { hi, lo };
  }
  const EXP2 = exp2Table(), EXP2_HI = EXP2.hi, EXP2_LO = EXP2.lo;

  /** e**x as [hi, lo], hi the sum rounded once, some 2^-59 from the true value (_exp_parts). */
  function expParts(x) {
    const n = rint(fmax(fmin(x, 710.0), -800.0) * (64 / LN2));
    const k = Math.floor(n * (1 / 64));
    const j = n - 64.0 * k;
    const r = (x - n * (LN2_HI / 64)) - n * (LN2_LO / 64);
    const p = r + r * r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720)))));
    const tHi = EXP2_HI[j], tLo = EXP2_LO[j];
    const small = tLo + tHi * p;
    const hi = tHi + small;
    const lo = (tHi - hi) + small;
    const half = Math.floor(k * 0.5);
    const first = pow2(half), second = pow2(k - half);
    return [(hi * first) * second, (lo * first) * second];
  }

  /** a = high + low, each of at most 26 significant bits (Veltkamp): _split. */
  function split(a) {
    const c = 134217729.0 * a;
    const high = c - (c - a);
    return [high, a - high];
  }

  /** (nHi + nLo)/(dHi + dLo) rounded once: _divide. */
  function divide(nHi, nLo, dHi, dLo) {
    const q = nHi / dHi;
    const p = q * dHi;
    const [q1, q2] = split(q);
    const [d1, d2] = split(dHi);
    const error = ((q1 * d1 - p) + q1 * d2 + q2 * d1) + q2 * d2;
    const remainder = (nHi - p) - error;
    return q + ((remainder + nLo) - q * dLo) / dHi;
  }

  /** tanh(x) = (1 - E)/(1 + E), E = e**(-2|x|); its Taylor series below 1/16: _tanh. */
  function tanh(x) {
    if (Math.abs(x) < 0.0625) {
      if (x === 0.0) return x; // (keeps -0.0)
      const s = x * x;
      return x + x * (s * (-1 / 3 + s * (2 / 15 + s * (-17 / 315 + s * (
        62 / 2835 + s * (-1382 / 155925 + s * (21844 / 6081075)))))));
    }
    const [eHi, eLo] = expParts(Math.max(-2.0 * Math.abs(x), -800.0)); // (NaN stays NaN)
    const nHi = 1.0 - eHi;
    const nLo = ((1.0 - nHi) - eHi) - eLo;
    const dHi = 1.0 + eHi;
    const dLo = ((1.0 - dHi) + eHi) + eLo;
    const z = divide(nHi, nLo, dHi, dLo);
    return x < 0.0 ? -z : z;
  }

  /** 1/(1 + E) for x >= 0 and E/(1 + E) below, E = e**-|x|: _sigmoid. */
  function sigmoid(x) {
    const [eHi, eLo] = expParts(Math.max(-Math.abs(x), -800.0));
    const dHi = 1.0 + eHi;
    const dLo = ((1.0 - dHi) + eHi) + eLo;
    return x >= 0.0 ? divide(1.0, 0.0, dHi, dLo) : divide(eHi, eLo, dHi, dLo);
  }

  // -- numpy's RandomState: MT19937 seeded with an integer ---------------------------------

  /** numpy's legacy MT19937 (init_genrand), drawing random_sample's doubles. */
  function RandomState(seed) {
    const mt = new Uint32Array(624);
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const previous = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, previous) + i) >>> 0;
    }
    let position = 624;
    function next() {
      if (position >= 624) {
        for (let i = 0; i < 624; i++) {
          const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
          mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        position = 0;
      }
      let y = mt[position++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }
    /** random_sample((rows, cols)): ((a >> 5)·2^26 + (b >> 6)) / 2^53 per number. */
    function randomSample(rows, cols) {
      const out = matrix(rows, cols);
      for (let i = 0; i < out.data.length; i++) {
        const a = next() >>> 5, b = next() >>> 6;
        out.data[i] = (a * 67108864.0 + b) / 9007199254740992.0;
      }
      return out;
    }
    return { next, randomSample };
  }

  // -- the built-in rules (plugins/steptrace_builtins) ----------------------------------------
  // Each derivative takes the layer's output, as the book's relu2deriv(output) does.

  const NONLINEARITIES = {
    linear: { function: (x) => x, derivative: () => 1.0, formula: "x", derivativeFormula: "1",
      derivativeIsOne: true },
    // (x > 0) * x: -0.0 for a negative x, NaN for NaN and -inf (0 * -inf), as numpy's
    relu: { function: (x) => (x > 0 ? 1.0 : 0.0) * x, derivative: (output) => (output > 0 ? 1.0 : 0.0),
      formula: "(x > 0) * x", derivativeFormula: "output > 0" },
    sigmoid: { function: sigmoid, derivative: (output) => output * (1 - output),
      formula: "1 / (1 + exp(-x))", derivativeFormula: "output * (1 - output)" },
    tanh: { function: tanh, derivative: (output) => 1 - output * output,
      formula: "tanh(x)", derivativeFormula: "1 - output ** 2" },
  };

  const STRATEGIES = {
    stochastic: { options: {}, plan: (n) => Array.from({ length: n }, (_, i) => [i]) },
    full: { options: {}, plan: (n) => [Array.from({ length: n }, (_, i) => i)] },
    minibatch: {
      options: { batch_size: "int: how many samples make one update" },
      plan(n, options) {
        if (!("batch_size" in options)) {
          throw new Error('needs batch_size, e.g. [strategy] name = "minibatch"  batch_size = 2');
        }
        const size = options.batch_size;
        if (!(size >= 1 && size <= n)) {
          throw new Error(`batch_size must be between 1 and the ${n} samples, not ${size}`);
        }
        const batches = [];
        for (let start = 0; start < n; start += size) {
          batches.push(Array.from({ length: Math.min(start + size, n) - start }, (_, i) => start + i));
        }
        return batches;
      },
    },
    hot_and_cold: {
      options: { step_amount: "float: how far each weight is tried up and down (no default)" },
      plan(n, options) {
        const stepAmount = options.step_amount;
        if (stepAmount === undefined) {
          throw new Error('needs step_amount, e.g. [strategy] name = "hot_and_cold"  step_amount = 0.001');
        }
        if (!(Number.isFinite(stepAmount) && stepAmount > 0)) {
          throw new Error(`step_amount must be a positive number, not ${pyFloat(stepAmount)}`);
        }
        return Array.from({ length: n }, (_, i) => [i]);
      },
      learn: hotAndCold,
    },
  };

  /** Hot and cold learning (ch. 4, hot_and_cold.py): every weight tried step_amount up and
   * down in turn, the others held; its weight_delta is +step_amount (down), -step_amount
   * (up) or 0. Returns [weightDeltas, details]. */
  function hotAndCold(step) {
    const stepAmount = step.options.step_amount;
    const weightDeltas = step.weights.map((w) => matrix(w.rows, w.cols));
    const details = {};
    const onlyOne = step.weights.reduce((n, w) => n + w.data.length, 0) === 1;
    step.weights.forEach((weights, k) => {
      for (let i = 0; i < weights.rows; i++) {
        for (let j = 0; j < weights.cols; j++) {
          const index = i * weights.cols + j;
          const up = step.weights.map(copy);
          up[k].data[index] = weights.data[index] + stepAmount;
          const down = step.weights.map(copy);
          down[k].data[index] = weights.data[index] - stepAmount;
          const upPrediction = step.predict(up), downPrediction = step.predict(down);
          const upError = step.errorOf(upPrediction), downError = step.errorOf(downPrediction);
          if (downError < upError) weightDeltas[k].data[index] = stepAmount;
          else if (downError > upError) weightDeltas[k].data[index] = -stepAmount;
          const which = onlyOne ? "" : ` weights_${k}_${k + 1}[${i}, ${j}]`;
          if (upPrediction.data.length === 1) details[`up_prediction${which}`] = upPrediction.data[0];
          details[`up_error${which}`] = upError;
          if (downPrediction.data.length === 1) details[`down_prediction${which}`] = downPrediction.data[0];
          details[`down_error${which}`] = downError;
        }
      }
    });
    return [weightDeltas, details];
  }

  // -- formulas.py: the book's step, one formula a function ---------------------------------

  /** `layer_k = act(layer_{k-1} · weights_{k-1}_k)`: [the weighted sum, the layer]. */
  function forward(act, layerIn, weights) {
    const weightedSum = dot(layerIn, weights);
    return [weightedSum, act === NONLINEARITIES.linear.function ? weightedSum : map(weightedSum, act)];
  }

  /** `(prediction - goal) ** 2`, one per output. */
  function squaredErrors(prediction, goal) {
    return zip(prediction, goal, (p, g) => { const d = p - g; return d * d; });
  }

  /** The book's error: `sum((prediction - goal) ** 2)` over every output (and row). */
  function error(prediction, goal) {
    return total(squaredErrors(prediction, goal));
  }

  /** How far the prediction missed: `prediction - goal` (ascent: `goal - prediction`). */
  function miss(prediction, goal, ascent) {
    return ascent ? zip(goal, prediction, (g, p) => g - p) : zip(prediction, goal, (p, g) => p - g);
  }

  /** `layer_out_delta = prediction - goal` (or `goal - prediction`), times the output
   * layer's derivative where it has one (null: a linear output, derivative 1). */
  function outputDelta(prediction, goal, ascent, derivative) {
    const delta = miss(prediction, goal, ascent);
    return derivative === null ? delta : zip(delta, derivative, (d, f) => d * f);
  }

  /** The ᵀ of the book's formulas. */
  const transposed = transpose;

  /** `layer_{k+1}_delta · weights_k_{k+1}ᵀ`: a delta carried back, before the derivative. */
  function back(deltaAbove, weights) {
    return dot(deltaAbove, transpose(weights));
  }

  /** `layer_k_delta = layer_{k+1}_delta · weights_k_{k+1}ᵀ * relu2deriv(layer_k)`. */
  function hiddenDelta(deltaAbove, weights, derivative) {
    const carried = back(deltaAbove, weights);
    return derivative === null ? carried : zip(carried, derivative, (c, f) => c * f);
  }

  /** `layer_{k-1}ᵀ · layer_k_delta`, summed over the batch's rows. */
  function summedWeightDelta(layerIn, delta) {
    return dot(transpose(layerIn), delta);
  }

  /** A batch's summed weight_delta averaged over its `rows` (one row: as it is). */
  function batchMean(summed, rows) {
    return rows > 1 ? map(summed, (x) => x / rows) : summed;
  }

  /** `weight_delta = layer_{k-1}ᵀ · layer_k_delta`, averaged over the batch. */
  function weightDelta(layerIn, delta) {
    return batchMean(summedWeightDelta(layerIn, delta), layerIn.rows);
  }

  /** `weights - alpha * weight_delta` (`+` in the ascent form), as a new matrix. */
  function updated(weights, weightDelta, alpha, ascent) {
    return zip(weights, weightDelta, ascent ? (w, d) => w + alpha * d : (w, d) => w - alpha * d);
  }

  /** `weights -= alpha * weight_delta` in place (`+=` in the ascent form); a frozen
   * weight's delta is set to 0 first, as the book's `weight_deltas[0] = 0`. */
  function update(weights, weightDelta, alpha, ascent, frozen) {
    const w = weights.data, d = weightDelta.data;
    if (frozen !== null) for (const index of frozen) d[index] = 0.0;
    for (let i = 0; i < w.length; i++) {
      const change = alpha * d[i]; // alpha times the product, in the book's order
      w[i] = ascent ? w[i] + change : w[i] - change;
    }
  }

  // -- network.py ------------------------------------------------------------------------

  /** The config's weights, or the book's seeded draw: per layer 2 * random_sample - 1. */
  function initialWeights(config) {
    const layers = config.layers;
    if (config.weights !== null && config.weights !== undefined) return config.weights.map((w) => copy(fromJson(w)));
    const random = RandomState(config.seed);
    const weights = [];
    for (let k = 0; k + 1 < layers.length; k++) {
      weights.push(map(random.randomSample(layers[k], layers[k + 1]), (x) => 2 * x - 1));
    }
    return weights;
  }

  /** Per weight matrix, the flat indices of its frozen weights (null: none there). */
  function frozenMasks(config) {
    const masks = config.layers.slice(1).map(() => null);
    for (const [k, i, j] of config.frozen || []) (masks[k] = masks[k] || []).push(i * config.layers[k + 1] + j);
    return masks;
  }

  /** A dense network without bias, trained the book's way (network.py's Network). */
  class Network {
    constructor(config, plan) {
      this.weights = initialWeights(config);
      this.plan = plan; // {nonlinearities: [names], strategy: name, batches, options}
      this.alpha = config.alpha;
      this.ascent = config.delta === "goal - prediction";
      this.frozen = frozenMasks(config);
      this.learning = config.train !== false;
      this.options = plan.options;
      const own = STRATEGIES[plan.strategy].learn;
      this.learn = own ? (layer, goal, error) => this.learnByRule(own, layer, goal, error)
        : (layer, goal) => this.gradientDescent(layer, goal);
      this.act = plan.nonlinearities.map((name) => NONLINEARITIES[name]);
      this.function = this.act.map((act) => act.function);
      this.derivative = this.act.map((act) => (act.derivativeIsOne ? null : act.derivative));
    }

    /** One step of the book's algorithm on one batch: forward, error, learn, update. */
    step(layer0, goal) {
      const weights = this.weights, last = weights.length;
      // layer_k = act_k(layer_{k-1} · weights_{k-1}_k)
      const layer = [layer0], weightedSum = [null];
      for (let k = 1; k <= last; k++) {
        const [weighted, layerK] = forward(this.function[k - 1], layer[k - 1], weights[k - 1]);
        weightedSum.push(weighted);
        layer.push(layerK);
      }
      if (goal === null) return { layer, weightedSum, goal: null, error: null };
      // error = sum((prediction - goal) ** 2)
      const layerError = error(layer[last], goal);
      if (!this.learning) return { layer, weightedSum, goal, error: layerError };
      // the strategy's learning rule; by default the book's gradient descent
      const [weightDeltas, details, delta, derivative] = this.learn(layer, goal, layerError);
      // weights_{k-1}_k -= alpha * weight_delta, the last weights first
      for (let k = last; k > 0; k--) update(weights[k - 1], weightDeltas[k - 1], this.alpha, this.ascent, this.frozen[k - 1]);
      return { layer, weightedSum, goal, error: layerError, derivative, delta, weightDelta: weightDeltas,
        weights, details };
    }

    /** The book's learning rule: each layer's delta from the output back (through the
     * weights before this step's update), and each weight_delta, averaged over the batch. */
    gradientDescent(layer, goal) {
      const weights = this.weights, last = weights.length;
      const delta = new Array(last + 1).fill(null), derivative = new Array(last + 1).fill(null);
      const weightDeltas = new Array(last).fill(null);
      for (let k = last; k > 0; k--) {
        const relu2deriv = this.derivative[k - 1];
        const deriv = derivative[k] = relu2deriv === null ? null : map(layer[k], relu2deriv);
        if (k === last) delta[k] = outputDelta(layer[k], goal, this.ascent, deriv); // layer_2 - goal
        else delta[k] = hiddenDelta(delta[k + 1], weights[k], deriv); // layer_2_delta · w_1_2ᵀ * deriv
        weightDeltas[k - 1] = weightDelta(layer[k - 1], delta[k]); // layer_{k-1}ᵀ · layer_k_delta
      }
      return [weightDeltas, {}, delta, derivative];
    }

    /** A strategy's own learning rule on this step (own_rule.py's learn_by_rule). */
    learnByRule(learn, layer, goal, stepError) {
      const last = this.weights.length;
      const [weightDeltas, details] = learn({
        layer0: layer[0], goal, weights: this.weights, prediction: layer[last], error: stepError,
        options: this.options, predict: (other) => this.forward(layer[0], other)[last],
        errorOf: (guess) => error(guess, goal),
      });
      return [weightDeltas, details, [], []];
    }

    /** `layer_k = act_k(layer_{k-1} · weights_{k-1}_k)`, every layer, with other weights. */
    forward(layer0, weights) {
      const layer = [layer0];
      this.function.forEach((act, k) => layer.push(forward(act, layer[k], weights[k])[1]));
      return layer;
    }

    /** The error on held-out rows with the weights as they are, learning nothing: each
     * row's sum((prediction - goal) ** 2), added in order from 0. */
    heldOutError(inputs, goals) {
      const prediction = this.forward(inputs, this.weights)[this.weights.length];
      let summed = 0.0;
      for (let row = 0; row < inputs.rows; row++) {
        summed += error(pickRows(prediction, [row]), pickRows(goals, [row]));
      }
      return summed;
    }

    /** `iterations` passes over the data, batch by batch as the strategy planned; each
     * step to eachStep(pass, samples, step), each pass's error to eachPass(pass, error,
     * testError). Returns the passes' errors. */
    train(inputs, goals, iterations, eachStep, eachPass, heldOut) {
      const batches = this.plan.batches;
      const rows = batches.map((batch) => [pickRows(inputs, batch), goals === null ? null : pickRows(goals, batch)]);
      const errors = [];
      for (let iteration = 0; iteration < iterations; iteration++) {
        let errorForPass = goals === null ? null : 0.0;
        batches.forEach((samples, b) => {
          const step = this.step(rows[b][0], rows[b][1]);
          if (errorForPass !== null && step.error !== null) errorForPass += step.error;
          if (eachStep) eachStep(iteration, samples, step);
        });
        errors.push(errorForPass);
        if (eachPass) eachPass(iteration, errorForPass, heldOut ? this.heldOutError(heldOut[0], heldOut[1]) : null);
      }
      return errors;
    }
  }

  // -- emitter.py: a step as the records of a trace at detail "all" ----------------------------

  function ones(rows, cols) {
    return matrix(rows, cols, new Float64Array(rows * cols).fill(1.0));
  }

  class Emitter {
    constructor(config, plan, emit) {
      this.emit = emit;
      this.seq = 0;
      this.alpha = config.alpha;
      this.output = config.layers.length - 1;
      this.nonlinearity = [""].concat(plan.nonlinearities);
      this.everySample = [].concat(...plan.batches);
      this.rule = STRATEGIES[plan.strategy].learn ? plan.strategy : null;
    }

    step(epoch, samples, step) {
      const output = this.output;
      let seq = this.seq;
      for (let k = 1; k <= output; k++) {
        this.emit({ seq: seq++, epoch, samples, layer: k, kind: "forward", nonlinearity: this.nonlinearity[k],
          layer_in: jsonRows(step.layer[k - 1]), weighted_sum: jsonRows(step.weightedSum[k]),
          layer_out: jsonRows(step.layer[k]) });
      }
      if (step.error !== null) {
        this.emit({ seq: seq++, epoch, samples, layer: output, kind: "error",
          prediction: jsonRows(step.layer[output]), goal: jsonRows(step.goal), error: json(step.error) });
      }
      const delta = step.delta || [];
      for (let k = delta.length - 1; k > 0; k--) {
        const derivative = step.derivative[k];
        this.emit({ seq: seq++, epoch, samples, layer: k, kind: "delta", nonlinearity: this.nonlinearity[k],
          derivative: jsonRows(derivative === null ? ones(step.layer[k].rows, step.layer[k].cols) : derivative),
          delta: jsonRows(delta[k]) });
      }
      const weights = step.weights || [];
      for (let k = weights.length; k > 0; k--) {
        const record = { seq: seq++, epoch, samples, layer: k, kind: "update", alpha: json(this.alpha),
          weight_delta: jsonRows(step.weightDelta[k - 1]), weights: jsonRows(weights[k - 1]) };
        if (this.rule !== null) {
          record.rule = this.rule;
          record.details = {};
          for (const [name, value] of Object.entries(step.details)) record.details[name] = json(value);
        }
        this.emit(record);
      }
      this.seq = seq;
    }

    passEnd(epoch, error, testError) {
      const record = { seq: this.seq++, epoch, samples: this.everySample, layer: this.output, kind: "epoch_end" };
      if (error !== null) record.error = json(error);
      if (testError !== null) record.test_error = json(testError);
      this.emit(record);
    }
  }

  // -- checking a config ----------------------------------------------------------------------

  const fail = (message) => { throw new Error(message); };

  /** A number as Python's repr writes a float (1.0, 0.001, 1e-05, 1e+16): messages in its words. */
  function pyFloat(x) {
    if (!Number.isFinite(x)) return x !== x ? "nan" : x > 0 ? "inf" : "-inf";
    const [digits, exponent] = x.toExponential().split("e"), power = Number(exponent);
    if (power < -4 || power >= 16) return `${digits}e${power < 0 ? "-" : "+"}${String(Math.abs(power)).padStart(2, "0")}`;
    const text = String(x); // positional, the shortest digits, as Python's
    return text.includes(".") ? text : `${text}.0`;
  }

  /** A value in a message: strings quoted, numbers as Python writes floats. */
  const shown = (value) => (typeof value === "string" ? `'${value}'`
    : typeof value === "number" ? (Number.isInteger(value) && Math.abs(value) < 1e16 ? String(value) : pyFloat(value))
      : JSON.stringify(value));

  /** A config's matrix, checked: rows of finite numbers, `rows` × `cols` where given. */
  function checkedMatrix(name, value, rows, cols) {
    if (!value || typeof value !== "object") fail(`${name} must be rows of numbers, not ${shown(value)}`);
    let m;
    if (Array.isArray(value)) {
      if (!value.every((row) => Array.isArray(row) && row.length === value[0].length)) {
        fail(`${name} must be rows of numbers, each as long as the first`);
      }
      if (!value.every((row) => row.every((x) => typeof x === "number"))) fail(`${name} must hold numbers only`);
      m = fromJson(value);
    } else {
      const shape = value.shape;
      if (!(Array.isArray(shape) && shape.length === 2 && shape.every((n) => Number.isInteger(n) && n >= 0))) {
        fail(`${name}: a packed matrix's shape is [rows, columns]`);
      }
      m = unpack(value);
    }
    if (m.rows === 0) fail(`${name} is empty: give at least one row`);
    if (rows !== null && m.rows !== rows) fail(`${name} has ${m.rows} row(s), expected ${rows}`);
    if (m.cols !== cols) fail(`${name}[0] has ${m.cols} value(s), expected ${cols}`);
    const bad = m.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      fail(`${name}[${Math.floor(bad / m.cols)}][${bad % m.cols}] is ${m.data[bad]}: data must be finite`);
    }
    return m;
  }

  /** Everything run(config) needs, checked: an Error with one line for what it cannot run. */
  function prepare(config) {
    if (typeof config === "string") config = JSON.parse(config);
    if (!config || typeof config !== "object" || Array.isArray(config)) fail("an experiment must be an object");
    const layers = config.layers;
    if (!Array.isArray(layers) || !layers.every(Number.isInteger)) fail("layers must be a list of integers, e.g. [3, 4, 1]");
    if (layers.length < 2) fail("layers needs at least an input and an output size, e.g. [3, 1]");
    if (layers.some((size) => size < 1)) fail(`layers [${layers.join(", ")}]: every size must be at least 1`);
    const names = config.nonlinearities;
    if (!Array.isArray(names) || names.length !== layers.length - 1) {
      fail(`nonlinearities has ${Array.isArray(names) ? names.length : 0} name(s); layers [${layers.join(", ")}] `
        + `has ${layers.length - 1} weight layer(s): give one per weight layer`);
    }
    for (const name of names) {
      if (!Object.prototype.hasOwnProperty.call(NONLINEARITIES, name)) {
        fail(`nonlinearity ${shown(name)} is not one this engine runs: it runs ${Object.keys(NONLINEARITIES).join(", ")}`);
      }
    }
    const spec = typeof config.strategy === "string" ? { name: config.strategy } : config.strategy || { name: "stochastic" };
    const strategy = spec.name;
    if (!Object.prototype.hasOwnProperty.call(STRATEGIES, strategy)) {
      fail(`strategy ${shown(strategy)} is not one this engine runs: it runs ${Object.keys(STRATEGIES).join(", ")}`);
    }
    const declared = STRATEGIES[strategy].options, options = {};
    for (const [key, value] of Object.entries(spec)) {
      if (key === "name") continue;
      if (!(key in declared)) {
        const takes = Object.entries(declared).map(([name, doc]) => `${name} (${doc})`).join("; ");
        fail(`strategy ${strategy} has no option ${shown(key)}: its options: ${takes || "none"}`);
      }
      const integer = declared[key].startsWith("int");
      if (typeof value !== "number" || (integer && !Number.isInteger(value))) {
        fail(`strategy ${strategy}: option ${key} takes ${integer ? "an integer" : "a number"}, not ${shown(value)}`);
      }
      options[key] = value;
    }
    const arithmetic = config.arithmetic === undefined ? "exact" : config.arithmetic;
    if (arithmetic !== "exact") {
      fail(`arithmetic ${shown(arithmetic)}: this engine computes in exact arithmetic only (record ${arithmetic} `
        + "runs with steptrace)");
    }
    const delta = config.delta === undefined ? "prediction - goal" : config.delta;
    if (delta !== "prediction - goal" && delta !== "goal - prediction") {
      fail(`delta ${shown(delta)}: give 'prediction - goal' or 'goal - prediction'`);
    }
    if (typeof config.alpha !== "number" || !Number.isFinite(config.alpha)) {
      fail(`alpha must be a finite number, not ${shown(config.alpha)}`);
    }
    if (config.alpha < 0) fail(`alpha must be at least 0, not ${pyFloat(config.alpha)}`);
    if (!Number.isInteger(config.iterations) || config.iterations < 1) {
      fail(`iterations must be a whole number of passes, at least 1, not ${shown(config.iterations)}`);
    }
    const train = config.train === undefined ? true : config.train;
    if (typeof train !== "boolean") fail(`train must be true or false, not ${shown(train)}`);
    const inputs = checkedMatrix("inputs", config.inputs, null, layers[0]);
    const hasGoals = config.goals !== null && config.goals !== undefined;
    const goals = hasGoals ? checkedMatrix("goals", config.goals, inputs.rows, layers[layers.length - 1]) : null;
    if (!hasGoals && train) {
      fail("goals are missing: training needs one goal row per input row (or set train = false for forward "
        + "passes only)");
    }
    const given = (v) => v !== null && v !== undefined;
    if (given(config.test_inputs) && !given(config.test_goals)) {
      fail("test_goals are missing: the held-out rows test_inputs need one goal row each (or leave test_inputs out)");
    }
    if (given(config.test_goals) && !given(config.test_inputs)) {
      fail("test_inputs are missing: test_goals are the goals of held-out rows, one per test_inputs row (or leave "
        + "test_goals out)");
    }
    let heldOut = null;
    if (given(config.test_inputs)) {
      const testInputs = checkedMatrix("test_inputs", config.test_inputs, null, layers[0]);
      heldOut = [testInputs, checkedMatrix("test_goals", config.test_goals, testInputs.rows, layers[layers.length - 1])];
    }
    const frozen = config.frozen === undefined ? [] : config.frozen;
    if (!Array.isArray(frozen)) fail("frozen must be a list of [k, i, j] triples");
    for (const triple of frozen) {
      if (!(Array.isArray(triple) && triple.length === 3 && triple.every(Number.isInteger))) {
        fail(`frozen weight ${shown(triple)} must be [k, i, j]: three integers`);
      }
      const [k, i, j] = triple;
      if (!(k >= 0 && k < layers.length - 1 && i >= 0 && i < layers[k] && j >= 0 && j < layers[k + 1])) {
        fail(`frozen weight [${k}, ${i}, ${j}] is not in the network [${layers.join(", ")}]`);
      }
    }
    if (given(config.weights) === given(config.seed)) fail("give exactly one of 'weights' (explicit) and 'seed' (drawn)");
    let weights = null;
    if (given(config.seed) && !(Number.isInteger(config.seed) && config.seed >= 0 && config.seed <= 4294967295)) {
      fail(`seed must be an integer from 0 to 2**32 - 1, not ${shown(config.seed)}`);
    }
    if (given(config.weights)) {
      if (!Array.isArray(config.weights) || config.weights.length !== layers.length - 1) {
        fail(`weights has ${Array.isArray(config.weights) ? config.weights.length : 0} matri(ces); layers `
          + `[${layers.join(", ")}] need ${layers.length - 1}`);
      }
      weights = config.weights.map((w, k) => checkedMatrix(`weights_${k}_${k + 1}`, w, layers[k], layers[k + 1]));
    }
    let batches;
    try {
      batches = STRATEGIES[strategy].plan(inputs.rows, options);
    } catch (problem) {
      fail(`strategy ${strategy}: ${problem.message}`);
    }
    const checked = { layers, weights, seed: given(config.seed) ? config.seed : null, alpha: config.alpha,
      iterations: config.iterations, train, frozen, delta };
    const plan = { nonlinearities: names.slice(), strategy, batches, options };
    return { checked, plan, inputs, goals, heldOut };
  }

  /** Throws an Error with one line for a config this engine cannot run; else returns it. */
  function validate(config) {
    prepare(config);
    return config;
  }

  /** Train `config`'s network and return every event of its trace at detail "all". */
  function run(config) {
    const { checked, plan, inputs, goals, heldOut } = prepare(config);
    const network = new Network(checked, plan);
    const events = [];
    const emitter = new Emitter(checked, plan, (record) => events.push(record));
    network.train(inputs, goals, checked.iterations, (epoch, samples, step) => emitter.step(epoch, samples, step),
      (epoch, error, testError) => emitter.passEnd(epoch, error, testError), heldOut);
    return events;
  }

  const engine = {
    run, validate, prepare, Network, Emitter, RandomState, initialWeights, frozenMasks,
    NONLINEARITIES, STRATEGIES, PACK_ABOVE,
    matrix, fromJson, jsonRows, pack, unpack, transpose, dot, total,
    forward, squaredErrors, error, miss, outputDelta, transposed, back, hiddenDelta, summedWeightDelta,
    batchMean, weightDelta, updated, update,
    tanh, sigmoid, expParts, divide, split, exp2Table,
  };
  if (typeof module === "object" && module.exports) module.exports = engine;
  else root.steptraceEngine = engine;
})(typeof globalThis === "object" ? globalThis : this);
