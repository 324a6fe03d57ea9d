// What a calibration statistics file is tied to (docs/STATS_FILE.md, "Binding"): the source model,
// the calibration settings and the images, by content. A run may use a file only when all of it
// matches the run's own; otherwise the file is refused, saying which of the three differs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "core/graph.h"

namespace mc {

struct StatisticsBinding {
  std::string model_sha256;         // model_sha256() of the source model as read, before any pass
  uint64_t seed = 0;                // --seed of the sample
  int64_t calib_count = 0;          // --calib-count as given (the sample may be smaller: a small folder)
  int64_t held_out = 0;             // images of the sample held out of fitting (compress and sweep)
  std::string image_settings;       // describe_image_settings() of the sample
  std::vector<std::string> images;  // SHA-256 (hex) of each image file of the sample, in sample order
};

// How images become inputs, as one line that is equal for two configs exactly when their
// image_config_key is: "keras, resize 256, crop 224, nchw".
std::string describe_image_settings(const ImageConfig& image);

// The binding of a run whose calibration sample (as drawn: fit images, then held-out images) is
// `fit` + `held_out`. `file_sha256` hashes one image file (StatisticsCache::file_sha256 shares the
// work with the cache's keys).
StatisticsBinding statistics_binding(const Model& source, uint64_t seed, int64_t calib_count, const CalibrationSet& fit,
                                     const CalibrationSet& held_out, const std::function<std::string(const std::string&)>& file_sha256);

// Refuses (input error, exit 3) a file whose binding `stored` differs from the run's, naming the
// file and what differs, in this order: the model ("another model"), a setting (--seed, the sample
// size from --calib-count, the image settings, and when `split_matters` the held-out split: "other
// settings"), the images ("other images", naming the first differing one of `run_files`).
void check_statistics_binding(const std::string& file_name, const StatisticsBinding& stored, const StatisticsBinding& run,
                              const std::string& model_name, const std::vector<std::string>& run_files, bool split_matters);

}  // namespace mc
