# Shell helpers shared by the comparison scripts (source it: . "$repo/scripts/lib.sh"). Needs node.

# json_field KEY < FILE.json: prints the top-level value KEY of a JSON document.
json_field() { node -e "const j=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log(j[process.argv[1]])" "$1"; }

# json_path A.B.C < FILE.json: prints the value at a dotted path of a JSON document (objects as JSON);
# fails (exit 1, message on stderr) if a key on the path is missing, rather than printing 'undefined'.
json_path() {
  node -e "
    let v = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    for (const k of process.argv[1].split('.')) {
      if (v === null || typeof v !== 'object' || !(k in v)) { console.error('json_path: no ' + process.argv[1] + ' (missing ' + k + ')'); process.exit(1); }
      v = v[k];
    }
    console.log(typeof v === 'object' ? JSON.stringify(v) : v);" "$1"
}

# This folder, resolved when the file is sourced (callers may change directory later).
mcompress_scripts_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# npy_max_abs_diff A.npy B.npy: the largest |a - b| over two float32 .npy files of the same size,
# as "DIFF / MAX" (MAX = the largest |b|, to judge DIFF against).
npy_max_abs_diff() {
  node -e "
    const { readNpy } = require(process.argv[1]);
    const a = readNpy(process.argv[2]).values, o = readNpy(process.argv[3]).values;
    if (a.length !== o.length) { console.error('npy_max_abs_diff: ' + a.length + ' and ' + o.length + ' values'); process.exit(2); }
    let d = 0, m = 0;
    for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - o[i])); m = Math.max(m, Math.abs(o[i])); }
    console.log(d.toExponential(2) + ' / ' + m.toFixed(3));" "$mcompress_scripts_dir/npy.js" "$1" "$2"
}
