#include "analysis/statistics_binding.h"

#include "analysis/statistics_cache.h"
#include "core/error.h"
#include "core/text.h"
#include "formats/image.h"

namespace mc {

std::string describe_image_settings(const ImageConfig& image) {
  return preprocess_name(image.preprocess) + ", resize " + std::to_string(image.resize_short) + ", crop " + std::to_string(image.crop) + ", " +
         layout_name(image.layout);
}

StatisticsBinding statistics_binding(const Model& source, uint64_t seed, int64_t calib_count, const CalibrationSet& fit,
                                     const CalibrationSet& held_out, const std::function<std::string(const std::string&)>& file_sha256) {
  StatisticsBinding b;
  b.model_sha256 = model_sha256(source);
  b.seed = seed;
  b.calib_count = calib_count;
  b.held_out = static_cast<int64_t>(held_out.files.size());
  b.image_settings = describe_image_settings(fit.image);
  for (const auto& f : fit.files) b.images.push_back(file_sha256(f));
  for (const auto& f : held_out.files) b.images.push_back(file_sha256(f));
  return b;
}

void check_statistics_binding(const std::string& file_name, const StatisticsBinding& stored, const StatisticsBinding& run,
                              const std::string& model_name, const std::vector<std::string>& run_files, bool split_matters) {
  auto short_digest = [](const std::string& hex) { return hex.substr(0, 12); };
  if (stored.model_sha256 != run.model_sha256)
    fail_input(file_name + ": calibration statistics of another model (sha256 " + short_digest(stored.model_sha256) + "..., " + model_name +
               " is " + short_digest(run.model_sha256) + "...): run 'mcompress calibrate' on this model");
  const std::string settings = file_name + ": calibration statistics for other settings: ";
  if (stored.seed != run.seed)
    fail_input(settings + "--seed " + std::to_string(stored.seed) + ", this run --seed " + std::to_string(run.seed));
  const auto stored_images = static_cast<int64_t>(stored.images.size()), run_images = static_cast<int64_t>(run.images.size());
  if (stored_images != run_images) {
    if (stored.calib_count != run.calib_count)
      fail_input(settings + "--calib-count " + std::to_string(stored.calib_count) + " (a sample of " + count_of(stored_images, "image") +
                 "), this run --calib-count " + std::to_string(run.calib_count) + " (" + count_of(run_images, "image") + ")");
    fail_input(file_name + ": calibration statistics of other images: a sample of " + count_of(stored_images, "image") +
               ", this run's --calib folder gives " + std::to_string(run_images));
  }
  if (stored.image_settings != run.image_settings)
    fail_input(settings + "images as '" + stored.image_settings + "', this run '" + run.image_settings +
               "' (--preprocess and the input convention flags)");
  if (split_matters && stored.held_out != run.held_out)
    fail_input(settings + std::to_string(stored.held_out) + " of the " + count_of(stored_images, "image") +
               " held out of fitting, this run " + std::to_string(run.held_out) + " (--held-out)");
  int64_t differing = 0, first = -1;
  for (int64_t i = 0; i < run_images; ++i)
    if (stored.images[static_cast<size_t>(i)] != run.images[static_cast<size_t>(i)] && differing++ == 0) first = i;
  if (differing)
    fail_input(file_name + ": calibration statistics of other images: " + std::to_string(differing) + " of the " +
               count_of(run_images, "sample image") + (differing == 1 ? " differs" : " differ") + " by content (first: image " + std::to_string(first + 1) +
               (static_cast<size_t>(first) < run_files.size() ? ", " + run_files[static_cast<size_t>(first)] : std::string()) + ")");
}

}  // namespace mc
