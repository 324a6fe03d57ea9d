// The per-stage timing of a command (core/stage_timer.h) as users read it: `--verbose` lines on
// stderr and the `timing` object of `compress --json` (docs/KEYS.md).
#pragma once

#include <nlohmann/json.hpp>

#include "core/stage_timer.h"

namespace mc::cli {

// "  time      pass split-hybrid         41.20 s  58.3%  (1x)" per stage, then the total and the
// peak resident memory, on stderr.
void print_timing(const StageTimer::Snapshot& timing);

// {"total_seconds", "peak_rss_bytes", "stages": [{"stage", "seconds", "share", "count"}]}.
nlohmann::ordered_json timing_json(const StageTimer::Snapshot& timing);

}  // namespace mc::cli
