#!/usr/bin/env bash
# Throughput of mcompress's float executor against ONNX Runtime on the shared models: same input
# batch, same thread count, measured the same way (bench/executor_throughput.cpp, bench/ort_throughput.js),
# run alternately in this one script so machine drift hits both sides alike. Prints a markdown table;
# "ORT/mcompress" is ORT's images/s over ours, i.e. how many times longer we take per batch.
#
#   bench/executor_vs_ort.sh [BUILD_DIR] [--threads "T..."] [--batch B] [--seconds S] [--rounds R]
#                            [--models "NAME..."]
#
# BUILD_DIR defaults to <repo>/build. --threads takes one count or a quoted list (default 2); --batch
# defaults to 8, --seconds (per measurement) to 5, --rounds to 1 (with R > 1 each pair is run R times,
# alternating, and the median of each side is reported). Models are names in ../shared/models (or paths
# to .onnx files); each runs on the reference input ../shared/reference/index.json lists for it. A
# path to a .mcz file runs as `mcompress eval` runs it on our side, and ORT runs its QDQ export,
# which must sit next to it as NAME.qdq.onnx (bench/int8_vs_ort.sh makes both).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
die() { echo "executor_vs_ort: error: $1" >&2; exit "${2:-2}"; }  # message, exit code (2: usage/setup)
usage() { sed -n '7,8p' "${BASH_SOURCE[0]}" | sed 's/^# //'; }

shared="$(cd "$repo/../shared" 2>/dev/null && pwd)" || die "$repo/../shared not found"

build_dir="$repo/build"
threads_list="2"
batch=8
seconds=5
rounds=1
models="mobilenet_v1_0.75_224 mobilenet_v1_0.25_224 mobilenet_v2_1_0 shufflenet_v2_x1_0"
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) [ $# -ge 2 ] || die "--threads needs a value"; threads_list="$2"; shift 2 ;;
    --batch) [ $# -ge 2 ] || die "--batch needs a value"; batch="$2"; shift 2 ;;
    --seconds) [ $# -ge 2 ] || die "--seconds needs a value"; seconds="$2"; shift 2 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; rounds="$2"; shift 2 ;;
    --models) [ $# -ge 2 ] || die "--models needs a value"; models="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown flag '$1'" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -le 1 ] || die "at most one BUILD_DIR, got: ${positional[*]}"
[ ${#positional[@]} -eq 0 ] || build_dir="${positional[0]}"
for t in $threads_list; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "--threads expects positive integers, got '$t'"; done
[[ "$batch" =~ ^[1-9][0-9]*$ ]] || die "--batch expects a positive integer, got '$batch'"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds expects a positive integer, got '$rounds'"
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--seconds expects a number, got '$seconds'"

ours="$build_dir/bench/executor_throughput"
[ -x "$ours" ] || die "$ours not found; build it first:
  cmake -S $repo -B $build_dir -G Ninja && cmake --build $build_dir --target executor_throughput"
command -v node >/dev/null || die "node is required for the ONNX Runtime baseline (Debian: apt-get install nodejs npm)"

# The ort-eval tool installs onnxruntime-node into its cache on first use; any of its commands does.
ort_run="$shared/tools/ort-eval/run"
ort_cache="${MCOMPRESS_ORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcompress-ort-eval}"
"$ort_run" ort-npy --help >/dev/null || die "installing onnxruntime-node with $ort_run failed"
[ -f "$ort_cache/node_modules/onnxruntime-node/package.json" ] || die "onnxruntime-node is not in $ort_cache"
export NODE_PATH="$ort_cache/node_modules${NODE_PATH:+:$NODE_PATH}"
ort_version="$(node -p "require('onnxruntime-node/package.json').version")"

# Reference input for a model: from index.json, else by family (Keras preprocessing for MobileNetV1).
input_for() {
  local name="$1" listed
  listed="$(node -e '
    const idx = require(process.argv[1]);
    const m = (idx.models || {})[process.argv[2]];
    if (m && m.input) console.log(m.input);' "$shared/reference/index.json" "$name" 2>/dev/null || true)"
  if [ -n "$listed" ]; then echo "$shared/reference/$listed"
  elif [[ "$name" == mobilenet_v1* ]]; then echo "$shared/reference/input_keras.npy"
  else echo "$shared/reference/input_torch.npy"; fi
}

# A model argument: a path to an .onnx file, or a name in ../shared/models.
model_path() {
  if [[ "$1" == */* || "$1" == *.onnx || "$1" == *.mcz ]]; then echo "$1"; else echo "$shared/models/$1.onnx"; fi
}
# What ORT runs for a model: the file itself, or a .mcz file's QDQ export next to it.
ort_model() {
  if [[ "$1" == *.mcz ]]; then echo "${1%.mcz}.qdq.onnx"; else echo "$1"; fi
}
for model in $models; do
  [ -f "$(model_path "$model")" ] || die "model $(model_path "$model") not found"
  [ -f "$(ort_model "$(model_path "$model")")" ] || die "$(ort_model "$(model_path "$model")") not found (export --qdq of the .mcz)"
done

# images_per_second from one --json line.
ips_of() { sed -n 's/.*"images_per_second":\([0-9.eE+-]*\).*/\1/p' <<<"$1"; }
median() {
  tr ' ' '\n' | sed '/^$/d' | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)"
echo "mcompress executor vs ONNX Runtime $ort_version (CPU), $(nproc) cores: $cpu"
echo "batch $batch, >= ${seconds}s and >= 5 runs per measurement after 2 warm-up runs, $rounds alternating" \
     "round(s); img/s = median over runs; 1-min load average at start $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| model | threads | batch | mcompress img/s | ORT img/s | ratio ORT/mcompress |"
echo "|---|---:|---:|---:|---:|---:|"
for threads in $threads_list; do
  for model in $models; do
    path="$(model_path "$model")"
    name="$(basename "$(basename "$path" .onnx)" .mcz)"
    input="$(input_for "$name")"
    ours_all="" ort_all=""
    for ((r = 0; r < rounds; r++)); do
      line="$("$ours" "$path" "$input" --threads "$threads" --batch "$batch" --seconds "$seconds" --json)" ||
        die "executor_throughput failed on $name" 1
      ours_all+=" $(ips_of "$line")"
      line="$(node "$here/ort_throughput.js" "$(ort_model "$path")" "$input" --threads "$threads" --batch "$batch" \
                --seconds "$seconds" --json)" || die "ort_throughput.js failed on $name" 1
      ort_all+=" $(ips_of "$line")"
      echo "executor_vs_ort: $name threads $threads round $((r + 1))/$rounds:" \
           "mcompress ${ours_all##* } img/s, ORT ${ort_all##* } img/s" >&2
    done
    ours_ips="$(median <<<"$ours_all")"
    ort_ips="$(median <<<"$ort_all")"
    ratio="$(awk -v a="$ort_ips" -v b="$ours_ips" 'BEGIN {printf "%.2f", a / b}')"
    printf '| %s | %s | %s | %.1f | %.1f | %s |\n' "$name" "$threads" "$batch" "$ours_ips" "$ort_ips" "$ratio"
  done
done
echo
echo "1-min load average at end $(cut -d' ' -f1 /proc/loadavg) (other processes on these cores skew both sides)"
