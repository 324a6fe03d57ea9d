// --stats FILE on compress, profile and sweep: calibration statistics computed once by
// `mcompress calibrate` (docs/STATS_FILE.md) instead of by every run. The file is read and checked
// against the run (the source model, the calibration settings and the images, by content) before any
// work; a file made for anything else is refused, saying what differs. Its entries then seed the
// run's statistics cache: a pipeline asking for statistics the file holds (same model state, same
// images) gets them, and computes any others itself, so the results are those of a run without it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "analysis/calibration.h"
#include "analysis/statistics_cache.h"
#include "core/graph.h"

namespace mc {

// The run a file must belong to.
struct StatisticsRun {
  const Model* source = nullptr;  // the source model as read, before any pass
  std::string model_name;         // as messages name it
  uint64_t seed = 0;              // --seed
  int64_t calib_count = 0;        // --calib-count
  const CalibrationSet* fit = nullptr;       // the sample's fit images (profile: the whole sample)
  const CalibrationSet* held_out = nullptr;  // its held-out images; null when the run draws none (profile)
};

// Reads PATH ("-": standard input), checks it against `run` (input errors naming PATH: corrupt,
// truncated, or made for another model, other settings or other images) and returns a cache holding
// its entries.
std::shared_ptr<StatisticsCache> statistics_for_run(const std::string& path, const StatisticsRun& run);

}  // namespace mc
