#include "analysis/statistics_cache.h"

#include <span>

#include "formats/checksum.h"
#include "formats/onnx_model.h"

namespace mc {

std::string statistics_key(const Model& model, const CalibrationSet& set) {
  std::string serialized = serialize_onnx(model);
  std::string key = sha256_hex(std::as_bytes(std::span<const char>(serialized.data(), serialized.size())));
  key += '|' + image_config_key(set.image) + '|' + std::to_string(set.batch);
  for (const auto& f : set.files) {
    key += '|';
    key += f;
  }
  return key;
}

std::shared_ptr<const CalibrationStats> StatisticsCache::get(const Model& model, const CalibrationSet& set,
                                                             const std::function<CalibrationStats()>& compute) {
  const std::string key = statistics_key(model, set);
  std::promise<std::shared_ptr<const CalibrationStats>> promise;
  std::shared_future<std::shared_ptr<const CalibrationStats>> entry;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      entry = promise.get_future().share();
      entries_.emplace(key, entry);
      first = true;
    } else {
      entry = it->second;
    }
  }
  if (first) {
    try {
      promise.set_value(std::make_shared<const CalibrationStats>(compute()));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  }
  return entry.get();  // rethrows what `compute` threw
}

int64_t StatisticsCache::computed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(entries_.size());
}

}  // namespace mc
