#!/usr/bin/env bash
# Checks an HTML report mcompress wrote: one self-contained file (no script, no external reference:
# no http(s) URL, src=, href=, url(...) or @import) with inline SVG charts; then, when headless
# Chromium is installed (scripts/setup.sh --with-chromium), renders it and checks the screenshot is
# not blank (at least 2% of its pixels non-white; counted by scripts/png_ink.js with node).
# Usage: scripts/check_html.sh FILE.html [SCREENSHOT.png]   Exit: 0 ok, 1 check failed, 77 rendering skipped.
set -u
html="${1:?usage: check_html.sh FILE.html [SCREENSHOT.png]}"
shot="${2:-}"
here="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "check_html: $html: $*" >&2; exit 1; }

[ -s "$html" ] || fail "missing or empty"
head -c 15 "$html" | grep -q '<!DOCTYPE html>' || fail "does not start with <!DOCTYPE html>"
grep -q '<svg' "$html" || fail "has no inline SVG chart"
if grep -Eio '(https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/|src=|href=|url\(|@import|<script|<link|<iframe|<img)' "$html" | head -3 | grep -q .; then
  fail "has an external reference or a script: $(grep -Eio '(https?:|ftp:|src=|href=|url\(|@import|<script|<link|<iframe|<img)' "$html" | sort -u | tr '\n' ' ')"
fi

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "check_html: $html: self-contained; rendering skipped (no chromium: scripts/setup.sh --with-chromium)"
  exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[ -n "$shot" ] || shot="$tmp/shot.png"
# A fresh profile, no network: --host-resolver-rules makes any lookup fail, so a missed reference
# could not load anything either.
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$tmp/profile" --host-resolver-rules="MAP * ~NOTFOUND" --window-size=1200,1600 \
  --screenshot="$shot" "file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log" >&2; fail "chromium failed to render it"; }
[ -s "$shot" ] || fail "chromium wrote no screenshot"
read -r ink total < <(node "$here/png_ink.js" "$shot") || fail "cannot read the screenshot"
[ "${total:-0}" -gt 0 ] || fail "empty screenshot"
if [ $((ink * 50)) -lt "$total" ]; then fail "renders (almost) blank: $ink of $total pixels non-white"; fi
echo "check_html: $html: self-contained, renders in $(basename "$browser") ($ink of $total pixels non-white)"
