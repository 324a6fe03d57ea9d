// The calibration statistics file (`.stats`, docs/STATS_FILE.md): what `mcompress calibrate` writes
// and `--stats FILE` reads: a header, the binding (the source model, the calibration settings and the
// images the statistics belong to), one entry per model state a pipeline asks statistics of (keyed
// like StatisticsCache), and a trailer with the whole-file CRC32C. Bytes only: which entries to
// compute, and whether a run may use a file, are decided by the callers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analysis/calibration_stats.h"
#include "analysis/statistics_binding.h"
#include "analysis/statistics_cache.h"

namespace mc {

inline constexpr uint16_t statistics_file_major_version = 1;
inline constexpr uint16_t statistics_file_minor_version = 0;

struct StatisticsEntry {
  StatisticsKey key;
  std::string label;  // what asks for it ("hybrid: pass 6 (split-hybrid)"); informational
  std::shared_ptr<const CalibrationStats> stats;
};

struct StatisticsFile {
  uint16_t major = statistics_file_major_version;
  uint16_t minor = statistics_file_minor_version;
  StatisticsBinding binding;
  std::vector<StatisticsEntry> entries;  // in strictly increasing key order
};

// The file's bytes; the same file gives the same bytes. Entries must be in strictly increasing key
// order (an internal error otherwise).
std::vector<std::byte> write_statistics_file(const StatisticsFile& file);

// Parses and verifies a file (magic, version, header and whole-file checksums, every count and
// length against the bytes present before anything is allocated, every value's range). Errors are
// input errors naming `name` (a newer major version: unsupported).
StatisticsFile read_statistics_file(std::span<const std::byte> bytes, const std::string& name);

}  // namespace mc
