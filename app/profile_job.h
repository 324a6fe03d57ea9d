// The profile job: per-filter and per-layer quantization sensitivity of a model on calibration
// images (what `mcompress profile` prints). The model's canonicalizing passes run first; the
// statistics and the per-filter sensitivity come from the pass pipeline's analysis manager
// (passes/analysis_manager.h), so they are the same numbers the recipes see.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "formats/model_file.h"

namespace mc {

struct ProfileJob {
  std::string passes = "fold-constants,fold-bn";  // run before profiling
  std::string preprocess;
  std::string calib_dir;
  int64_t calib_count = 256;
  uint64_t seed = 0;
  std::vector<std::string> end_to_end_formats;  // ternary, ternary2, ternary3, int4, int8
  int64_t end_to_end_images = 32;
  std::string stats_file;  // --stats: calibration statistics read from this file when they match ("" : none)
  int threads = 0;
  std::function<void(const std::string&)> warn;
  std::function<void(const std::string&, int64_t, int64_t)> progress;  // (stage, done, total)
};

struct ProfileResult {
  CalibrationSet images;
  CalibrationStats statistics;
  std::vector<LayerSensitivity> layers;
};

// Fails (usage) on a bad pipeline, format or missing preprocessing before any work.
void validate_profile_job(const ProfileJob& job);
// What profile measures: the model after job.passes (`decoded`: the file's model as read, weights
// in float) and the calibration sample drawn for it. `mcompress calibrate` gathers the statistics
// profile will ask for from the same two.
struct ProfileInputs {
  Model model;
  CalibrationSet images;
};
ProfileInputs profile_inputs(const ProfileJob& job, const Model& decoded, const std::string& name);
// The file's model as profile (and calibrate) read it: decoded, every weight as float values.
Model profiled_source(const ModelFile& file);
ProfileResult run_profile_job(const ProfileJob& job, const ModelFile& file);

}  // namespace mc
