#include "analysis/statistics_cache.h"

#include <chrono>
#include <span>

#include "formats/checksum.h"
#include "formats/file_io.h"
#include "formats/image.h"
#include "formats/onnx_model.h"

namespace mc {

namespace {

std::string sha256_of_text(const std::string& text) {
  return sha256_hex(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

}  // namespace

std::string model_sha256(const Model& model) { return sha256_of_text(serialize_onnx(model)); }

std::string file_content_sha256(const std::string& path) { return sha256_hex(read_binary_file(path)); }

std::string image_set_sha256(const CalibrationSet& set, const std::function<std::string(const std::string&)>& file_sha256) {
  std::string text = "images " + image_config_key(set.image) + "\nbatch " + std::to_string(set.batch) +
                     (set.mirrored ? "\nmirrored\n" : "\nplain\n");
  for (const auto& f : set.files) text += file_sha256(f) + '\n';
  return sha256_of_text(text);
}

std::string StatisticsCache::file_sha256(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = file_digests_.find(path);
    if (it != file_digests_.end()) return it->second;
  }
  std::string digest = file_content_sha256(path);  // outside the lock: other points need not wait
  std::lock_guard<std::mutex> lock(mutex_);
  file_digests_.emplace(path, digest);
  return digest;
}

StatisticsKey StatisticsCache::key(const Model& model, const CalibrationSet& set) {
  return StatisticsKey{model_sha256(model), image_set_sha256(set, [this](const std::string& f) { return file_sha256(f); })};
}

std::shared_ptr<const CalibrationStats> StatisticsCache::get(const Model& model, const CalibrationSet& set,
                                                             const std::function<CalibrationStats()>& compute, bool* computed) {
  const StatisticsKey k = key(model, set);
  std::promise<std::shared_ptr<const CalibrationStats>> promise;
  std::shared_future<std::shared_ptr<const CalibrationStats>> entry;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(k);
    if (it == entries_.end()) {
      entry = promise.get_future().share();
      entries_.emplace(k, entry);
      ++computed_;
      first = true;
    } else {
      entry = it->second;
    }
  }
  if (computed) *computed = first;
  if (first) {
    try {
      promise.set_value(std::make_shared<const CalibrationStats>(compute()));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  }
  return entry.get();  // rethrows what `compute` threw
}

void StatisticsCache::add(const StatisticsKey& k, std::shared_ptr<const CalibrationStats> stats) {
  std::promise<std::shared_ptr<const CalibrationStats>> ready;
  ready.set_value(std::move(stats));
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.emplace(k, ready.get_future().share()).second) ++added_;
}

std::vector<std::pair<StatisticsKey, std::shared_ptr<const CalibrationStats>>> StatisticsCache::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<StatisticsKey, std::shared_ptr<const CalibrationStats>>> out;
  for (const auto& [k, entry] : entries_) {
    if (entry.wait_for(std::chrono::seconds(0)) != std::future_status::ready) continue;
    try {
      out.emplace_back(k, entry.get());
    } catch (...) {
      // A computation that failed is no entry (its caller got the error).
    }
  }
  return out;
}

int64_t StatisticsCache::computed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return computed_;
}

int64_t StatisticsCache::added() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return added_;
}

}  // namespace mc
