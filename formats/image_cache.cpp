#include "formats/image_cache.h"

namespace mc {

ImageU8 ImageCache::get(const std::string& path, const std::vector<std::byte>& bytes, int resize, int crop, const std::function<ImageU8()>& make) {
  const std::string key = std::to_string(resize) + "/" + std::to_string(crop) + "/" + path;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) {
      if (it->second->file == bytes) {
        order_.splice(order_.begin(), order_, it->second);
        return it->second->image;
      }
      bytes_ -= it->second->size();  // the file changed: decode it again
      order_.erase(it->second);
      by_key_.erase(it);
    }
  }
  ImageU8 image = make();  // outside the lock: other threads decode meanwhile
  Entry entry{key, bytes, image};
  if (entry.size() > capacity_) return image;
  std::lock_guard<std::mutex> lock(mutex_);
  if (by_key_.count(key)) return image;  // another thread kept it meanwhile
  bytes_ += entry.size();
  order_.push_front(std::move(entry));
  by_key_[key] = order_.begin();
  while (bytes_ > capacity_) {
    bytes_ -= order_.back().size();
    by_key_.erase(order_.back().key);
    order_.pop_back();
  }
  return image;
}

size_t ImageCache::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

size_t ImageCache::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return order_.size();
}

ImageCache& repeated_pass_images() {
  static ImageCache cache(size_t{256} << 20);
  return cache;
}

}  // namespace mc
