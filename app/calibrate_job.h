// The calibrate job: the calibration statistics that compress, sweep and profile would compute on
// a model with given calibration settings, computed once and written as a `.stats` file
// (docs/STATS_FILE.md) that `--stats FILE` reads back. What `mcompress calibrate` runs.
//
// Which statistics: each target recipe's pipeline (with the recipe's default flags) is run only as
// far as its last request for statistics (passes/pipeline_statistics.h), and every request is one
// entry, keyed like StatisticsCache by the model's content at that point and the images; requests
// of several recipes for the same model state share an entry (the canonicalized float model, after
// fold-constants, fold-bn and fc-to-gemm, is asked for by every recipe). The target "profile" adds
// the statistics profile asks for (the model after its default passes, on the whole sample). A run
// whose pipeline reaches a model state the file does not hold (other recipe flags, --passes)
// computes that entry itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/statistics_file.h"
#include "formats/model_file.h"

namespace mc {

struct CalibrateJob {
  std::string preprocess;  // the input convention ("" when not given)
  std::string calib_dir;
  int64_t calib_count = 256, held_out = 0;  // as compress: held_out 0 is half the sample, at most 128
  uint64_t seed = 0;
  std::vector<std::string> targets;  // recipes and "profile"; empty: calibrate_targets()
  int threads = 0;
  std::function<void(const std::string&)> log;   // detail (--verbose)
  std::function<void(const std::string&)> warn;  // non-fatal notes
  std::function<void(const std::string&, int64_t, int64_t)> progress;  // (stage, done, total)
};

// The default targets: every recipe that needs calibration images, in --help order, then "profile".
std::vector<std::string> calibrate_targets();
// Fails (usage) on an unknown or duplicate target, a recipe that needs no calibration images, a
// bad input convention, or JPEG calibration images without --preprocess; an input error on a
// calibration folder without images. Before any work.
void validate_calibrate_job(const CalibrateJob& job);

struct CalibrateResult {
  StatisticsFile file;
  std::vector<std::byte> bytes;  // the .stats file
  int64_t fit_images = 0;        // images the recipes' statistics are gathered on
};

CalibrateResult run_calibrate_job(const CalibrateJob& job, const ModelFile& file);

}  // namespace mc
