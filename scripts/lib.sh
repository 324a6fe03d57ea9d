# Shell helpers shared by the comparison scripts (source it: . "$repo/scripts/lib.sh"). Needs node.

# json_field KEY < FILE.json: prints the top-level value KEY of a JSON document.
json_field() { node -e "const j=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log(j[process.argv[1]])" "$1"; }

# npy_max_abs_diff A.npy B.npy: the largest |a - b| over two float32 .npy files of the same size,
# as "DIFF / MAX" (MAX = the largest |b|, to judge DIFF against).
npy_max_abs_diff() {
  node -e "
    const fs=require('fs');
    const load=p=>{const b=fs.readFileSync(p);const v1=b[6]===1;const h=v1?b.readUInt16LE(8):b.readUInt32LE(8);
      const off=(v1?10:12)+h;return new Float32Array(b.buffer.slice(b.byteOffset+off,b.byteOffset+b.length));};
    const a=load(process.argv[1]), o=load(process.argv[2]);
    if(a.length!==o.length){console.error('npy_max_abs_diff: '+a.length+' and '+o.length+' values');process.exit(2);}
    let d=0,m=0;
    for(let i=0;i<a.length;i++){d=Math.max(d,Math.abs(a[i]-o[i]));m=Math.max(m,Math.abs(o[i]));}
    console.log(d.toExponential(2)+' / '+m.toFixed(3));" "$1" "$2"
}
