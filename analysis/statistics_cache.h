// Calibration statistics shared between several pipeline runs on the same images (`mcompress sweep`
// runs a grid of recipes whose canonicalizing prefix is the same, so every point would otherwise
// stream the calibration images through the same float model again) and between processes (a
// `.stats` file, docs/STATS_FILE.md, seeds a cache with what `mcompress calibrate` computed).
// Entries are keyed by the content of the model as it is when a pass first asks (SHA-256 of its
// ONNX serialization) and by the content of the calibration sample (SHA-256 of each image file, in
// order, with the image settings and the batch size), so a run whose model or images differ at that
// point (another prefix, equalize, a pruned graph, other files) computes and caches its own: sharing
// never changes a result, only its cost.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/calibration_stats.h"
#include "core/graph.h"

namespace mc {

// What one set of statistics was computed on: both SHA-256 digests as 64 lowercase hex digits.
struct StatisticsKey {
  std::string model_sha256;   // model_sha256() of the model the statistics describe
  std::string images_sha256;  // image_set_sha256() of the images they were gathered on
  auto operator<=>(const StatisticsKey&) const = default;
};

class StatisticsCache {
 public:
  // The statistics of `model` on `set`; computed by the first caller (the others wait for it).
  // `compute` runs outside the lock; an exception it throws reaches every caller of that key.
  // `*computed` (if given) says whether this call ran `compute`.
  std::shared_ptr<const CalibrationStats> get(const Model& model, const CalibrationSet& set,
                                              const std::function<CalibrationStats()>& compute, bool* computed = nullptr);
  // The key `get` files `model` on `set` under (image files are hashed once per cache).
  StatisticsKey key(const Model& model, const CalibrationSet& set);
  // Seeds the cache with statistics computed elsewhere (read from a .stats file); a key already
  // present keeps its entry.
  void add(const StatisticsKey& key, std::shared_ptr<const CalibrationStats> stats);
  // Every entry computed or added and finished without error, in key order.
  std::vector<std::pair<StatisticsKey, std::shared_ptr<const CalibrationStats>>> entries() const;
  int64_t computed() const;  // how many distinct entries `get` computed (for logs and tests)
  int64_t added() const;     // how many entries `add` seeded
  // file_content_sha256 of an image file, computed once per path for this cache.
  std::string file_sha256(const std::string& path);

 private:

  mutable std::mutex mutex_;
  std::map<StatisticsKey, std::shared_future<std::shared_ptr<const CalibrationStats>>> entries_;
  std::map<std::string, std::string> file_digests_;  // image path -> SHA-256 of its bytes
  int64_t computed_ = 0, added_ = 0;
};

// SHA-256 (hex) of the model's ONNX serialization: equal for models whose graph and weight values
// are equal, whatever their encodings.
std::string model_sha256(const Model& model);
// SHA-256 (hex) of what identifies an image set's statistics: the image settings, the batch size,
// whether mirrored views are added, and `file_sha256` of each file in order.
std::string image_set_sha256(const CalibrationSet& set, const std::function<std::string(const std::string&)>& file_sha256);
// SHA-256 (hex) of a file's bytes.
std::string file_content_sha256(const std::string& path);

}  // namespace mc
