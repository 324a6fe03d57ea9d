#!/usr/bin/env node
'use strict';
// Runs an ONNX model in ONNX Runtime on a float32 .npy input [N, ...] in chunks and writes its first
// output as a float32 .npy [N, ...], with a chosen graph optimization level:
//   node scripts/ort_outputs.js MODEL.onnx INPUT.npy OUTPUT.npy [--optimization disabled|basic|extended|all]
//                               [--chunk N] [--threads T]
// Why the level matters: at 'basic' and above ONNX Runtime rewrites a Conv/Gemm that reads a
// DequantizeLinear output and has a float weight into a quantized layer with int8 weights of its
// own choosing, i.e. it runs a different model than the file describes. 'disabled' runs the graph
// exactly as written (the ONNX semantics). Needs onnxruntime-node on NODE_PATH (see
// ../shared/tools/ort-eval/run, which installs it; scripts/compressed_vs_ort.sh sets NODE_PATH).
const fs = require('fs');
const { readNpy, npyBytes } = require('./npy.js');

function fail(message) { process.stderr.write(`ort_outputs: error: ${message}\n`); process.exit(2); }

async function main() {
  const positional = [];
  let optimization = 'all', chunk = 25, threads = 0;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--optimization') optimization = args[++i];
    else if (args[i] === '--chunk') chunk = Number(args[++i]);
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i].startsWith('-')) fail(`unknown option ${args[i]}`);
    else positional.push(args[i]);
  }
  if (positional.length !== 3) fail('usage: ort_outputs.js MODEL.onnx INPUT.npy OUTPUT.npy [--optimization LEVEL] [--chunk N] [--threads T]');
  if (!['disabled', 'basic', 'extended', 'all'].includes(optimization)) fail(`--optimization ${optimization}: expected disabled, basic, extended or all`);
  if (!(chunk >= 1)) fail('--chunk must be a positive integer');
  const [modelPath, inputPath, outputPath] = positional;
  const ort = require('onnxruntime-node');
  const options = { graphOptimizationLevel: optimization };
  if (threads > 0) options.intraOpNumThreads = threads;
  let session;
  try { session = await ort.InferenceSession.create(modelPath, options); } catch (e) { fail(`${modelPath}: ${e.message}`); }
  let input;
  try { input = readNpy(inputPath); } catch (e) { fail(e.message); }
  const n = input.shape[0], per = input.values.length / n;
  const parts = [];
  let outShape = null;
  for (let first = 0; first < n; first += chunk) {
    const rows = Math.min(chunk, n - first);
    const tensor = new ort.Tensor('float32', input.values.subarray(first * per, (first + rows) * per), [rows, ...input.shape.slice(1)]);
    const result = await session.run({ [session.inputNames[0]]: tensor });
    const out = result[session.outputNames[0]];
    outShape = out.dims.slice(1);
    parts.push(Float32Array.from(out.data));
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Float32Array(total);
  let offset = 0;
  for (const p of parts) { all.set(p, offset); offset += p.length; }
  fs.writeFileSync(outputPath, npyBytes([n, ...outShape], all));
}

main().catch(e => fail(e.message));
