// Decoded images kept in memory between passes over the same files. Calibration and held-out images
// go through the model again for every budget and allocation probe, and decoding, resizing and
// cropping a JPEG costs about as much as a small network's inference (2 ms against 3 ms for
// MobileNetV1 0.25 on one core), so the passes that repeat (analysis/calibration.h
// for_each_calibration_batch) keep the cropped pixels, before preprocessing. An entry is used only
// when the file's bytes equal those it was made from: a file rewritten under the same name is decoded
// again. Beyond the capacity the least recently used entries are dropped. Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/image.h"

namespace mc {

class ImageCache {
 public:
  explicit ImageCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The image `make` gives for `path` whose contents are `bytes`, resized to `resize` and cropped to
  // `crop`: the kept copy when there is one for these bytes and sizes, else `make()`'s (then kept).
  ImageU8 get(const std::string& path, const std::vector<std::byte>& bytes, int resize, int crop, const std::function<ImageU8()>& make);

  // Bytes held (file contents and pixels) and entries.
  size_t bytes() const;
  size_t entries() const;

 private:
  struct Entry {
    std::string key;
    std::vector<std::byte> file;
    ImageU8 image;
    size_t size() const { return file.size() + image.rgb.size() + key.size(); }
  };
  size_t capacity_;
  size_t bytes_ = 0;
  mutable std::mutex mutex_;
  std::list<Entry> order_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_key_;
};

// The process's cache for repeated passes (256 MB).
ImageCache& repeated_pass_images();

}  // namespace mc
