'use strict';
// The .npy reader and writer shared by the Node scripts (ort_outputs.js, npy_topk.js, and
// npy_max_abs_diff in lib.sh): little-endian float32, C order, format versions 1 and 2.
const fs = require('fs');

// { shape, values: Float32Array } of a float32 .npy file; throws an Error naming the file otherwise.
function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.length < 10 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const version = buf[6];
  const headerLength = version === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const dataStart = (version === 1 ? 10 : 12) + headerLength;
  const header = buf.toString('latin1', dataStart - headerLength, dataStart);
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True")) throw new Error(`${path}: expected C-order float32`);
  const match = header.match(/'shape':\s*\(([^)]*)\)/);
  if (!match) throw new Error(`${path}: no shape in the header`);
  const shape = match[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (buf.length - dataStart !== 4 * count) throw new Error(`${path}: ${buf.length - dataStart} data bytes for shape (${shape})`);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = buf.readFloatLE(dataStart + 4 * i);
  return { shape, values };
}

// The bytes of a float32 .npy (version 1) holding `values` with `shape`.
function npyBytes(shape, values) {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + 4 * values.length);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], 10 + header.length + 4 * i);
  return out;
}

module.exports = { readNpy, npyBytes };
