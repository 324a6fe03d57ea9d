#!/usr/bin/env node
'use strict';
/**
 * ort_throughput.js: images per second of ONNX Runtime (onnxruntime-node, CPU) on one float32 NCHW
 * input batch; the baseline that bench/executor_throughput.cpp is compared with.
 *
 *   NODE_PATH=<ort-eval cache>/node_modules node ort_throughput.js MODEL.onnx INPUT.npy \
 *       [--threads T] [--batch B] [--seconds S] [--json]
 *
 * Same measurement as executor_throughput: the .npy images repeated or truncated to B, 2 warm-up
 * runs, then at least S seconds (default 5) and at least 5 timed runs; images/second is the median of
 * batch/run_time, ms_per_batch the mean. Session: intraOpNumThreads = T, interOpNumThreads = 1,
 * sequential execution, graph optimizations left at ONNX Runtime's default (all).
 * Exit codes follow mcompress: 2 usage, 3 bad input, 1 anything else.
 */
const fs = require('fs');

const USAGE = 'usage: ort_throughput.js MODEL.onnx INPUT.npy [--threads T] [--batch B] [--seconds S] [--json]';
const WARMUP_RUNS = 2;
const MIN_TIMED_RUNS = 5;

class BenchError extends Error {
  constructor(exitCode, message) { super(message); this.exitCode = exitCode; }
}
const usageError = msg => new BenchError(2, msg);
const inputError = msg => new BenchError(3, msg);

function parseNumber(flag, text, lo, hi, integer) {
  const v = text === undefined || text.trim() === '' ? NaN : Number(text);
  if (!(v >= lo && v <= hi) || (integer && !Number.isInteger(v))) {
    throw usageError(`${flag} expects ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got '${text}'`);
  }
  return v;
}

function parseArgs(argv) {
  const o = { threads: 1, batch: 0, seconds: 5, json: false, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw usageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else if (a === '--threads') o.threads = parseNumber(a, value(), 1, 1024, true);
    else if (a === '--batch') o.batch = parseNumber(a, value(), 1, 4096, true);
    else if (a === '--seconds') o.seconds = parseNumber(a, value(), 0, 3600, false);
    else if (a === '--json') o.json = true;
    else if (a.length > 1 && a.startsWith('-')) throw usageError(`unknown flag '${a}'\n${USAGE}`);
    else o.positional.push(a);
  }
  if (o.positional.length !== 2) throw usageError(USAGE);
  [o.modelPath, o.inputPath] = o.positional;
  return o;
}

// A little-endian float32, C-order .npy (format 1.x, 2.x or 3.x); every field is checked before use.
function loadFloat32Npy(path) {
  let bytes;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw inputError(e.code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${e.code || e.message})`);
  }
  const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);  // "\x93NUMPY"
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(magic)) throw inputError(`${path}: not a .npy file`);
  const version = bytes[6];
  if (version < 1 || version > 3) throw inputError(`${path}: .npy format version ${version}, supported 1 to 3`);
  const lengthBytes = version === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw inputError(`${path}: truncated header`);
  const headerLength = version === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > bytes.length) throw inputError(`${path}: header of ${headerLength} bytes runs past the end`);
  const header = bytes.toString('latin1', 8 + lengthBytes, dataStart);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  if (!descr || descr[1] !== '<f4') {
    throw inputError(`${path}: element type ${descr ? `'${descr[1]}'` : 'missing'}, expected float32 '<f4'`);
  }
  if (!/'fortran_order'\s*:\s*False/.test(header)) throw inputError(`${path}: only C-order arrays are supported`);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeText) throw inputError(`${path}: header has no shape`);
  const shape = shapeText[1].split(',').map(s => s.trim()).filter(s => s !== '').map(Number);
  if (shape.some(d => !Number.isSafeInteger(d) || d < 0)) throw inputError(`${path}: bad shape (${shapeText[1]})`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * 4) {
    throw inputError(`${path}: ${bytes.length - dataStart} data bytes, shape [${shape}] needs ${count * 4}`);
  }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new BenchError(1, 'this reader assumes a little-endian host');
  }
  // Copy into a fresh (aligned) buffer; the file buffer's data offset need not be a multiple of 4.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart, dataStart + count * 4));
  return { shape, data };
}

// The first `batch` images, repeating them cyclically when the file holds fewer (as executor_throughput).
function imagesAsBatch(images, batch, path) {
  if (images.shape.length !== 4) throw inputError(`${path}: expected an NCHW tensor, got shape [${images.shape}]`);
  const have = images.shape[0];
  if (have === 0) throw inputError(`${path}: the tensor holds no images`);
  if (batch === have) return images;
  const imageSize = images.data.length / have;
  const data = new Float32Array(batch * imageSize);
  for (let i = 0; i < batch; i++) {
    data.set(images.data.subarray((i % have) * imageSize, (i % have + 1) * imageSize), i * imageSize);
  }
  return { shape: [batch, ...images.shape.slice(1)], data };
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let ort;
  try { ort = require('onnxruntime-node'); } catch (e) {
    throw new BenchError(1, 'cannot load onnxruntime-node: set NODE_PATH to the ort-eval cache\'s node_modules ' +
      '(bench/executor_vs_ort.sh does this)');
  }
  const images = loadFloat32Npy(o.inputPath);
  const batch = o.batch > 0 ? o.batch : images.shape[0];
  const input = imagesAsBatch(images, batch, o.inputPath);
  if (!fs.existsSync(o.modelPath)) throw inputError(`${o.modelPath}: no such file`);
  let session;
  try {
    session = await ort.InferenceSession.create(o.modelPath, {
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (e) { throw inputError(`${o.modelPath}: ${e.message}`); }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.shape) };

  for (let i = 0; i < WARMUP_RUNS; i++) await session.run(feeds);
  const runSeconds = [];
  const start = process.hrtime.bigint();
  for (;;) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    runSeconds.push(Number(t1 - t0) / 1e9);
    if (Number(t1 - start) / 1e9 >= o.seconds && runSeconds.length >= MIN_TIMED_RUNS) break;
  }
  const imagesPerSecond = median(runSeconds.map(s => batch / s));
  const msPerBatch = 1000 * runSeconds.reduce((a, b) => a + b, 0) / runSeconds.length;
  if (o.json) {
    console.log(JSON.stringify({
      images_per_second: Number(imagesPerSecond.toFixed(3)),
      ms_per_batch: Number(msPerBatch.toFixed(3)),
      threads: o.threads,
      batch,
    }));
  } else {
    console.log(`${o.modelPath}: ${imagesPerSecond.toFixed(1)} images/s, ${msPerBatch.toFixed(2)} ms per batch ` +
      `(threads ${o.threads}, batch ${batch}, ${runSeconds.length} runs)`);
  }
}

main().catch(e => {
  process.stderr.write(`ort_throughput: error: ${e.message}\n`);
  process.exit(e instanceof BenchError ? e.exitCode : 1);
});
