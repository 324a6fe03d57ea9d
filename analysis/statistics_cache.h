// Calibration statistics shared between several pipeline runs on the same images (`mcompress sweep`
// runs a grid of recipes whose canonicalizing prefix is the same, so every point would otherwise
// stream the calibration images through the same float model again). Entries are keyed by the
// content of the model as it is when a pass first asks (SHA-256 of its ONNX serialization) and by
// the calibration sample, so a run whose model differs at that point (another prefix, equalize, a
// pruned graph) computes and caches its own: sharing never changes a result, only its cost.
#pragma once

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "analysis/calibration.h"
#include "analysis/calibration_stats.h"
#include "core/graph.h"

namespace mc {

class StatisticsCache {
 public:
  // The statistics of `model` on `set`; computed by the first caller (the others wait for it).
  // `compute` runs outside the lock; an exception it throws reaches every caller of that key.
  std::shared_ptr<const CalibrationStats> get(const Model& model, const CalibrationSet& set,
                                              const std::function<CalibrationStats()>& compute);
  int64_t computed() const;  // how many distinct entries were computed (for logs and tests)

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_future<std::shared_ptr<const CalibrationStats>>> entries_;
};

// The cache key: SHA-256 of the model's ONNX serialization, the calibration files in order and the
// image settings.
std::string statistics_key(const Model& model, const CalibrationSet& set);

}  // namespace mc
