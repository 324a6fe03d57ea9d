#!/usr/bin/env bash
# Installs every Debian package mcompress needs to build and test, if missing. Idempotent; needs root
# (or sudo) only when something is missing.
# Usage: scripts/setup.sh [--with-ort] [--with-fuzz] [--with-chromium] [--with-slurm] [--with-onednn] [--with-xnnpack]
#   --with-ort       also Node.js + npm, for ../shared/tools/ort-eval cross-checks and bench/
#   --with-fuzz      also clang and its runtime, for the libFuzzer targets
#   --with-chromium  also Chromium (headless) and Node.js, for scripts/check_html.sh: renders the HTML
#                    reports and checks the screenshot is not blank (the CLI tests do it when present)
#   --with-slurm     also Slurm and munge, for tests/slurm (a single-node cluster runs examples/slurm/)
#   --with-onednn    also oneDNN (libdnnl-dev) and the OpenCL headers its CMake package requires, for
#                    bench/onednn_layers (our conv kernels against oneDNN's; not built without it)
#   --with-xnnpack   also XNNPACK (libxnnpack-dev, libpthreadpool-dev), for bench/xnnpack_layers (our
#                    conv kernels against XNNPACK's; not built without it)
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libonnx-dev libonnx-testdata          # ONNX protobuf schema + CMake package; operator conformance cases
  libprotobuf-dev protobuf-compiler
  libeigen3-dev libcli11-dev libzstd-dev doctest-dev
  libturbojpeg0-dev                     # JPEG decoding for eval / calibration
  nlohmann-json3-dev                    # --json output and JSON data files
  parallel                              # GNU parallel: the sharded-sweep test runs its shards with it
  strace                                # tests/cli/run_fault_tests.sh: a signal at a chosen system call
)
for arg in "$@"; do
  case "$arg" in
    --with-ort) packages+=(nodejs npm) ;;
    --with-fuzz) packages+=(clang libclang-rt-14-dev) ;;
    --with-chromium) packages+=(chromium nodejs) ;;
    --with-slurm) packages+=(slurm-wlm munge) ;;
    --with-onednn) packages+=(libdnnl-dev ocl-icd-opencl-dev) ;;
    --with-xnnpack) packages+=(libxnnpack-dev libpthreadpool-dev) ;;
    *) echo "setup.sh: unknown option '$arg' (known: --with-ort, --with-fuzz, --with-chromium, --with-slurm, --with-onednn, --with-xnnpack)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  # npm may come from nodesource's nodejs package rather than Debian's npm: accept either.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup.sh: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
