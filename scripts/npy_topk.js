#!/usr/bin/env node
'use strict';
// Top-1 / top-5 of a float32 scores .npy [N, classes] against the first N lines of a labels.tsv;
// prints {"top1": .., "top5": .., "images": N} (percent). Ties go to the lower class index, as in
// mcompress. Used by scripts/accuracy_vs_ort.sh to score ONNX Runtime outputs.
//   node scripts/npy_topk.js SCORES.npy LABELS.tsv
const fs = require('fs');
const { readNpy } = require('./npy.js');

function fail(message) { process.stderr.write(`npy_topk: error: ${message}\n`); process.exit(2); }

// { rows, cols, values } of a 2-D float32 scores file.
function loadScores(path) {
  let npy;
  try { npy = readNpy(path); } catch (e) { fail(e.message); }
  if (npy.shape.length !== 2) fail(`${path}: expected a 2-D shape, got (${npy.shape})`);
  return { rows: npy.shape[0], cols: npy.shape[1], values: npy.values };
}

const [scoresPath, labelsPath] = process.argv.slice(2);
if (!scoresPath || !labelsPath) fail('usage: npy_topk.js SCORES.npy LABELS.tsv');
const scores = loadScores(scoresPath);
const labels = fs.readFileSync(labelsPath, 'utf8').split('\n').filter(l => l.length).map(l => Number(l.split('\t')[1]));
if (labels.length < scores.rows) fail(`${labelsPath} has ${labels.length} labels for ${scores.rows} rows`);
let top1 = 0, top5 = 0;
for (let r = 0; r < scores.rows; r++) {
  const row = scores.values.subarray(r * scores.cols, (r + 1) * scores.cols);
  const label = labels[r];
  // Rank of the label: how many classes beat it (higher score, or equal score at a lower index).
  let better = 0;
  for (let c = 0; c < scores.cols; c++)
    if (row[c] > row[label] || (row[c] === row[label] && c < label)) better++;
  if (better === 0) top1++;
  if (better < 5) top5++;
}
console.log(JSON.stringify({ top1: 100 * top1 / scores.rows, top5: 100 * top5 / scores.rows, images: scores.rows }));
