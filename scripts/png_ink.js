// node png_ink.js FILE.png: prints "<non-white pixels> <total pixels>" of an 8-bit RGB/RGBA PNG
// (what headless Chromium writes), decoding it with Node's zlib: no extra package.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const buf = fs.readFileSync(process.argv[2]);
if (buf.toString('latin1', 1, 4) !== 'PNG') { console.error('png_ink: not a PNG'); process.exit(2); }
let pos = 8, width = 0, height = 0, depth = 0, colour = 0;
const idat = [];
while (pos < buf.length) {
  const len = buf.readUInt32BE(pos), type = buf.toString('latin1', pos + 4, pos + 8);
  const data = buf.subarray(pos + 8, pos + 8 + len);
  if (type === 'IHDR') { width = data.readUInt32BE(0); height = data.readUInt32BE(4); depth = data[8]; colour = data[9]; }
  else if (type === 'IDAT') idat.push(data);
  else if (type === 'IEND') break;
  pos += 12 + len;
}
const channels = { 2: 3, 6: 4 }[colour];
if (depth !== 8 || !channels) { console.error(`png_ink: unsupported PNG (depth ${depth}, colour type ${colour})`); process.exit(2); }
const raw = zlib.inflateSync(Buffer.concat(idat));
const stride = width * channels;
let prev = Buffer.alloc(stride), ink = 0;
for (let y = 0; y < height; y++) {
  const filter = raw[y * (stride + 1)];
  const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
  for (let i = 0; i < stride; i++) {
    const a = i >= channels ? line[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
    let p = 0;
    if (filter === 1) p = a; else if (filter === 2) p = b; else if (filter === 3) p = (a + b) >> 1;
    else if (filter === 4) { const q = a + b - c, pa = Math.abs(q - a), pb = Math.abs(q - b), pc = Math.abs(q - c); p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
    line[i] = (line[i] + p) & 255;
  }
  for (let x = 0; x < width; x++) {
    const o = x * channels;
    if (line[o] < 245 || line[o + 1] < 245 || line[o + 2] < 245) ink++;
  }
  prev = line;
}
console.log(`${ink} ${width * height}`);
