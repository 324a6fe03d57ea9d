#!/usr/bin/env node
'use strict';
// How closely a compressed model's outputs follow the float model's on the same images, without
// labels: top-1 agreement and the mean KL divergence KL(float || compressed) of the output
// distributions (softmax of the scores, unless the rows already are probabilities). Both are far
// less noisy than a top-1 difference on a few hundred images (every image counts, not only the
// ones whose label flips), which is what choosing between two fitting methods needs.
//   node scripts/output_fidelity.js FLOAT_SCORES.npy COMPRESSED_SCORES.npy   (from eval --save-scores)
// Prints {"images": N, "agreement": percent, "kl": mean nats}.
const { readNpy } = require('./npy.js');

function fail(message) { process.stderr.write(`output_fidelity: error: ${message}\n`); process.exit(2); }

function load(path) {
  let npy;
  try { npy = readNpy(path); } catch (e) { fail(e.message); }
  if (npy.shape.length !== 2) fail(`${path}: expected [N, classes] scores, got shape (${npy.shape})`);
  return { rows: npy.shape[0], cols: npy.shape[1], values: npy.values };
}

// Row r as a probability distribution (float64).
function distribution(s, r) {
  const row = Array.from(s.values.subarray(r * s.cols, (r + 1) * s.cols));
  const sum = row.reduce((a, b) => a + b, 0);
  if (row.every(v => v >= 0) && Math.abs(sum - 1) < 1e-3) return row.map(v => v / sum);
  const max = Math.max(...row);
  const e = row.map(v => Math.exp(v - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map(v => v / z);
}

const argmax = p => p.reduce((best, v, i) => (v > p[best] ? i : best), 0);

const [a, b] = process.argv.slice(2);
if (!a || !b) fail('usage: output_fidelity.js FLOAT_SCORES.npy COMPRESSED_SCORES.npy');
const f = load(a), c = load(b);
if (f.rows !== c.rows || f.cols !== c.cols) fail(`shapes differ: [${f.rows}, ${f.cols}] and [${c.rows}, ${c.cols}]`);
let agree = 0, kl = 0;
for (let r = 0; r < f.rows; r++) {
  const p = distribution(f, r), q = distribution(c, r);
  if (argmax(p) === argmax(q)) agree++;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) kl += p[i] * Math.log(p[i] / Math.max(q[i], 1e-30));
}
console.log(JSON.stringify({ images: f.rows, agreement: +(100 * agree / f.rows).toFixed(2), kl: +(kl / f.rows).toFixed(5) }));
