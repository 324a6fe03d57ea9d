#include "analysis/calibration.h"

#include "core/text.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <random>

#include "formats/checksum.h"
#include "formats/image_cache.h"
#include "formats/file_io.h"
#include "formats/labels.h"

namespace mc {

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    // Unbiased draw in [0, i] by rejection.
    uint64_t bound = static_cast<uint64_t>(i) + 1;
    uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
    uint64_t r;
    do r = rng();
    while (r >= limit);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(r % bound)]);
  }
  return p;
}

namespace {

// The crop follows the model's input when it is static and square, so the images always fit it.
ImageConfig fitted_to(ImageConfig image, const Model& model) {
  if (model.graph.inputs.size() == 1) {
    const Shape& s = model.graph.inputs[0].shape;
    const size_t h = image.layout == Layout::nhwc ? 1 : 2;
    if (s.size() == 4 && s[h] > 0 && s[h] == s[h + 1]) {
      image.crop = static_cast<int>(s[h]);
      if (image.resize_short < image.crop) image.resize_short = image.crop;
    }
  }
  return image;
}

}  // namespace

LabelledSet labelled_set(const std::string& dir, ImageConfig image, const Model& model, int64_t label_offset) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail_input(dir + ": no such directory");
  const std::string labels_path = (fs::path(dir) / "labels.tsv").string();
  if (!fs::exists(labels_path)) fail_input(labels_path + ": no such file (a labelled folder has labels.tsv: filename<TAB>class per line)");
  LabelledSet out;
  for (const auto& li : read_labels_tsv(labels_path)) {
    out.images.files.push_back((fs::path(dir) / li.file).string());
    out.labels.push_back(li.class_index + label_offset);
  }
  if (out.labels.empty()) fail_input(labels_path + ": no labelled images");
  out.images.image = fitted_to(image, model);
  return out;
}

std::vector<std::string> shared_images(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::set<std::string> hashes;
  for (const auto& f : b) hashes.insert(sha256_hex(read_binary_file(f)));
  std::vector<std::string> out;
  for (const auto& f : a)
    if (hashes.count(sha256_hex(read_binary_file(f)))) out.push_back(f);
  return out;
}

CalibrationSet calibration_set(const std::string& dir, int64_t count, uint64_t seed, ImageConfig image, const Model& model,
                               const std::function<void(const std::string&)>& warn) {
  if (count <= 0) fail_usage("--calib-count must be at least 1");
  auto files = list_images(dir);
  if (files.empty()) fail_input(dir + ": no calibration images (.jpg, .jpeg or .npy files)");
  if (static_cast<int64_t>(files.size()) < count && warn)
    warn(dir + " has " + count_of(static_cast<int64_t>(files.size()), "image") + ", fewer than the " + std::to_string(count) + " asked for: using all of them");
  auto order = seeded_permutation(static_cast<int64_t>(files.size()), seed);
  CalibrationSet set;
  for (int64_t i = 0; i < std::min<int64_t>(count, static_cast<int64_t>(files.size())); ++i) set.files.push_back(files[static_cast<size_t>(order[static_cast<size_t>(i)])]);
  set.image = fitted_to(image, model);
  return set;
}

std::pair<CalibrationSet, CalibrationSet> split_held_out(const CalibrationSet& set, int64_t held_out) {
  const int64_t n = static_cast<int64_t>(set.files.size());
  if (held_out < 1 || held_out >= n)
    fail_usage("cannot hold out " + std::to_string(held_out) + " of " + std::to_string(n) + " calibration images (need at least one on each side)");
  CalibrationSet fit = set, check = set;
  fit.files.assign(set.files.begin(), set.files.end() - held_out);
  check.files.assign(set.files.end() - held_out, set.files.end());
  return {fit, check};
}

void for_each_calibration_batch(const CalibrationSet& set, const std::function<void(const Tensor&, int64_t)>& visit) {
  const int64_t n = static_cast<int64_t>(set.files.size());
  for (int64_t first = 0; first < n; first += set.batch) {
    int64_t count = std::min(set.batch, n - first);
    std::vector<std::string> paths(set.files.begin() + first, set.files.begin() + first + count);
    Tensor batch = load_image_batch(paths, set.image, &repeated_pass_images());
    if (!set.mirrored) {
      visit(batch, first);
      continue;
    }
    const int64_t h = batch.dim(2), w = batch.dim(3), per_image = batch.numel() / count;
    Tensor views(DType::f32, {2 * count, batch.dim(1), h, w});
    const float* src = batch.data<float>();
    float* dst = views.data<float>();
    for (int64_t i = 0; i < count; ++i) {
      std::copy_n(src + i * per_image, per_image, dst + 2 * i * per_image);
      float* mirror = dst + (2 * i + 1) * per_image;
      for (int64_t row = 0; row < per_image / w; ++row)
        for (int64_t x = 0; x < w; ++x) mirror[row * w + x] = src[i * per_image + row * w + (w - 1 - x)];
    }
    visit(views, 2 * first);
  }
}

}  // namespace mc
