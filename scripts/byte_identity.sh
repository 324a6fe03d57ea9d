#!/usr/bin/env bash
# Are files written by two mcompress binaries the same model? Compresses the bundled MobileNetV1 0.25 with
# every recipe and a set of --passes pipelines using OLD and NEW, then compares each pair of .mcz files
# section by section (`mcompress info --json`: kind, length, CRC32C of the graph (1), tensor table (2) and
# payload (3) sections) and says whether the metadata section (4) differs too (it records the tool's
# version, the report's keys and the output path, so it is expected to).
# Usage: scripts/byte_identity.sh OLD_MCOMPRESS NEW_MCOMPRESS [WORK_DIR]
# e.g. build an older commit in a worktree (git worktree add /tmp/old 564780c && cmake -S /tmp/old -B /tmp/old/b
#      -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/old/b), then
#      scripts/byte_identity.sh /tmp/old/b/mcompress build/mcompress
# Exit: 0 every file's graph, tensor table and payload are identical; 1 some differ; 2 usage error.
set -u
[ $# -ge 2 ] || { echo "usage: byte_identity.sh OLD_MCOMPRESS NEW_MCOMPRESS [WORK_DIR]" >&2; exit 2; }
old="$1" new="$2" work="${3:-$(mktemp -d)}"
cd "$(dirname "$0")/.." || exit 2
mkdir -p "$work/old" "$work/new"
model=examples/mobilenet_v1_0.25_224.onnx
common=(--calib examples/images --preprocess keras --eval-images examples/images --threads 2 --force --quiet)
runs=(
  "lossless|--recipe lossless" "fp16|--recipe fp16" "int8|--recipe int8" "prom|--recipe prom"
  "hybrid|--recipe hybrid" "sparse|--recipe sparse"
  "hybrid_fraction|--recipe hybrid --ternary-fraction 0.3 --activations float"
  "sparse_s|--recipe sparse --sparsity 0.3"
  "rtn|--recipe int8 --passes fold-bn,quantize-int8<method=rtn>"
  "equalize|--recipe int8 --passes fold-bn,equalize,quantize-int8"
  "magnitude|--recipe int8 --passes fold-constants,fold-bn,prune-magnitude<sparsity=0.5>"
  "nm|--recipe int8 --passes fold-constants,fold-bn,fc-to-gemm,prune-nm<n=2;m=4>,quantize-int8"
  "ternarize|--recipe int8 --passes fold-constants,fold-bn,ternarize<terms=2>,quantize-int8"
  "obs|--recipe int8 --passes fold-constants,fold-bn,fc-to-gemm,prune-obs<sparsity=0.3>,quantize-int8<bits=4>"
  "activations|--recipe int8 --passes fold-constants,fold-bn,quantize-activations<method=minmax>,quantize-int8"
)
sections() {  # sections FILE BINARY: "kind:length:crc" per section, one line
  "$2" info "$1" --json | tr -d ' \n' | grep -o '"kind":[0-9]*,"offset":[0-9]*,"length":[0-9]*,"crc32c":[0-9]*' |
    sed 's/"kind":\([0-9]*\),"offset":[0-9]*,"length":\([0-9]*\),"crc32c":\([0-9]*\)/\1:\2:\3/' | tr '\n' ' '
}
differ=0
for run in "${runs[@]}"; do
  name="${run%%|*}"
  read -r -a args <<<"${run#*|}"
  for side in old new; do
    bin="$old"; [ "$side" = new ] && bin="$new"
    # Before issue 13 --passes needed a --recipe beside it; since, --passes alone is the recipe 'custom' and
    # --recipe with --passes is refused: a binary that refuses one form gets the other.
    if ! "$bin" compress "$model" -o "$work/$side/$name.mcz" "${args[@]}" "${common[@]}" 2>"$work/$side/$name.err"; then
      alt=("${args[@]}")
      [ "${alt[0]}" = --recipe ] && [ "${alt[2]:-}" = --passes ] && alt=("${alt[@]:2}")
      "$bin" compress "$model" -o "$work/$side/$name.mcz" "${alt[@]}" "${common[@]}" 2>"$work/$side/$name.err" ||
        { echo "$name: $side binary failed: $(tail -1 "$work/$side/$name.err")"; differ=1; continue 2; }
    fi
  done
  a="$(sections "$work/old/$name.mcz" "$new")" b="$(sections "$work/new/$name.mcz" "$new")"
  same="" meta="metadata identical"
  for k in 1 2 3; do
    [ "$(echo "$a" | grep -o "\b$k:[0-9]*:[0-9]*")" = "$(echo "$b" | grep -o "\b$k:[0-9]*:[0-9]*")" ] || same="$same $k"
  done
  [ "$(echo "$a" | grep -o '\b4:[0-9]*:[0-9]*')" = "$(echo "$b" | grep -o '\b4:[0-9]*:[0-9]*')" ] || meta="metadata differs"
  if [ -z "$same" ]; then echo "$name: graph, tensor table and payload identical; $meta"
  else echo "$name: sections$same DIFFER; $meta"; differ=1; fi
done
exit "$differ"
