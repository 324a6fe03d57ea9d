#!/usr/bin/env node
'use strict';
// Summarizes scripts/budget_coverage.sh's TSV as a markdown table: per run (model, recipe) and mode
// (labels / no labels), the number of splits, how often the budget was declared met, how often the
// top-1 drop on the test images exceeded the budget (all files, and among files declared within it),
// the mean and largest test drop, how often the test images contradict the budget (the paired 90%
// interval of the test drop lies wholly above it: rows with test_drop_low only), and the mean size and
// MULs (what being safe costs).
//   node scripts/coverage_summary.js coverage.tsv [more.tsv ...] [--max-drop P] [--rows]
// --rows prints one line per file instead (the README's labelled / label-free recipe table).
const fs = require('fs');

function fail(message) { process.stderr.write(`coverage_summary: error: ${message}\n`); process.exit(2); }

const args = process.argv.slice(2);
let maxDrop = 1;
let perRow = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--max-drop') maxDrop = Number(args[++i]);
  else if (args[i] === '--rows') perRow = true;
  else files.push(args[i]);
}
if (files.length < 1 || !(maxDrop >= 0)) fail('usage: coverage_summary.js coverage.tsv [more.tsv ...] [--max-drop P] [--rows]');
// Several files (e.g. the labelled and label-free halves of a study, run as two processes) are read as one.
const rows = [];
for (const file of files) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const header = lines.shift().split('\t');
  for (const l of lines) rows.push(Object.fromEntries(l.split('\t').map((v, i) => [header[i], v])));
}
if (perRow) {
  console.log('| model | recipe | decisions | .mcz bytes | MULs | budget met | decision: estimate / bound (points) | ' +
    'top-1 on T: float -> file | drop on T |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const sorted = [...rows].sort((a, b) => `${a.model}\t${a.recipe}\t${a.mode}`.localeCompare(`${b.model}\t${b.recipe}\t${b.mode}`));
  for (const r of sorted) {
    const how = r.mode === 'labels' ? `--val V (${r.decision_images} labelled)` : `no labels (${r.decision_images} held out)`;
    const interval = r.test_drop_low !== undefined && r.test_drop_low !== '' ? ` [${r.test_drop_low}, ${r.test_drop_high}]` : '';
    console.log(`| ${r.model} | ${r.recipe} | ${how} | ${Number(r.bytes).toLocaleString('en-US')} | ${(Number(r.muls) / 1e6).toFixed(1)}M | ` +
      `${r.met === 'true' ? 'yes' : r.within === 'true' ? 'not decidable' : 'no'} | ${r.estimate} / ${r.bound} | ${r.top1_float_test} -> ${r.top1_test} | ${r.drop_test}${interval} |`);
  }
  process.exit(0);
}
const groups = new Map();
for (const r of rows) {
  const key = `${r.model}\t${r.recipe}\t${r.mode}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}
// Among rows that carry the test drop's interval: how many have it wholly above the budget.
function contradicted(g) {
  const withInterval = g.filter((r) => r.test_drop_low !== undefined && r.test_drop_low !== '');
  if (!withInterval.length) return 'n/a';
  const n = withInterval.filter((r) => Number(r.test_drop_low) > maxDrop).length;
  return `${n} of ${withInterval.length}`;
}
const pct = (a, b) => (b ? `${(100 * a / b).toFixed(0)}%` : 'n/a');
console.log('| model | recipe | mode | splits | budget met | test drop > budget: all | among met | mean test drop | largest | ' +
  'test interval wholly above budget (90%) | mean .mcz bytes | mean MULs |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const [key, g] of [...groups].sort()) {
  const [model, recipe, mode] = key.split('\t');
  const met = g.filter((r) => r.met === 'true');
  const over = (rs) => rs.filter((r) => Number(r.drop_test) > maxDrop).length;
  const mean = (rs, f) => rs.reduce((s, r) => s + Number(r[f]), 0) / rs.length;
  const largest = Math.max(...g.map((r) => Number(r.drop_test)));
  console.log(`| ${model} | ${recipe} | ${mode.replace('_', ' ')} | ${g.length} | ${pct(met.length, g.length)} | ` +
    `${pct(over(g), g.length)} | ${met.length ? pct(over(met), met.length) : 'n/a'} | ${mean(g, 'drop_test').toFixed(2)} | ` +
    `${largest.toFixed(2)} | ${contradicted(g)} | ${Math.round(mean(g, 'bytes')).toLocaleString('en-US')} | ${(mean(g, 'muls') / 1e6).toFixed(1)}M |`);
}
