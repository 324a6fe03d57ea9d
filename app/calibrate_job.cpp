#include "app/calibrate_job.h"

#include <algorithm>
#include <map>

#include "app/compress_job.h"
#include "app/profile_job.h"
#include "core/error.h"
#include "core/stage_timer.h"
#include "formats/input_convention.h"
#include "formats/labels.h"
#include "passes/analysis_manager.h"
#include "passes/recipe.h"

namespace mc {

namespace {

constexpr const char* profile_target = "profile";

std::vector<std::string> targets_of(const CalibrateJob& job) { return job.targets.empty() ? calibrate_targets() : job.targets; }

}  // namespace

std::vector<std::string> calibrate_targets() {
  std::vector<std::string> targets;
  for (const auto& r : recipe_names())
    if (recipe_needs_calibration(r, RecipeOptions{})) targets.push_back(r);
  targets.emplace_back(profile_target);
  return targets;
}

void validate_calibrate_job(const CalibrateJob& job) {
  const std::vector<std::string> valid = calibrate_targets();
  std::string names;
  for (const auto& v : valid) names += (names.empty() ? "" : ", ") + v;
  const std::vector<std::string> targets = targets_of(job);
  for (size_t i = 0; i < targets.size(); ++i) {
    const std::string& t = targets[i];
    if (std::find(valid.begin(), valid.end(), t) == valid.end()) {
      const std::vector<std::string> recipes = recipe_names();
      if (std::find(recipes.begin(), recipes.end(), t) != recipes.end())
        fail_usage("--for: recipe '" + t + "' needs no calibration images, so no statistics (valid: " + names + ")");
      fail_usage("--for: unknown target '" + t + "' (valid: " + names + ")");
    }
    if (std::find(targets.begin(), targets.begin() + static_cast<std::ptrdiff_t>(i), t) != targets.begin() + static_cast<std::ptrdiff_t>(i))
      fail_usage("--for: '" + t + "' is listed twice");
  }
  if (job.calib_dir.empty()) fail_usage("calibrate needs calibration images: give --calib DIR");
  const InputConvention convention = parse_input_spec(job.preprocess);
  const auto images = list_images(job.calib_dir);
  if (images.empty()) fail_input(job.calib_dir + ": no images (.jpg, .jpeg or .npy) for calibration");
  if (convention.preprocess.kind == Preprocess::Kind::none &&
      std::any_of(images.begin(), images.end(), [](const std::string& f) { return !is_npy_path(f); }))
    fail_usage("--preprocess is required with JPEG --calib (keras, torch, caffe, raw, unit, or --mean/--std); "
               "folders of preprocessed float32 .npy tensors need none");
  for (const auto& path : images) check_image_header(path);  // headers only: a whole folder in well under a second
}

CalibrateResult run_calibrate_job(const CalibrateJob& job, const ModelFile& file) {
  validate_calibrate_job(job);
  const Model source = profiled_source(file);
  const ImageConfig image = fit_image_config(parse_input_spec(job.preprocess), source, file.name);
  const CalibrationSample sample = [&] {
    TimedStage timed("calibration images");
    return sample_calibration(job.calib_dir, job.calib_count, job.held_out, job.seed, image, source, job.warn);
  }();
  auto cache = std::make_shared<StatisticsCache>();
  CalibrateResult result;
  result.fit_images = static_cast<int64_t>(sample.fit.files.size());
  {
    TimedStage timed("hashing the images");
    result.file.binding = statistics_binding(source, job.seed, job.calib_count, sample.fit, sample.held_out,
                                             [&](const std::string& f) { return cache->file_sha256(f); });
  }
  std::map<StatisticsKey, std::string> labels;  // what asks for each entry
  auto label = [&](const StatisticsKey& key, const std::string& what) {
    std::string& l = labels[key];
    l += (l.empty() ? "" : "; ") + what;
  };
  for (const auto& target : targets_of(job)) {
    auto progress = [&job, stage = "statistics for " + target](int64_t done, int64_t total) {
      if (job.progress) job.progress(stage, done, total);
    };
    if (target == profile_target) {
      // As `mcompress profile` with these settings and its default passes draws and asks.
      ProfileJob pj;
      pj.preprocess = job.preprocess;
      pj.calib_dir = job.calib_dir;
      pj.calib_count = job.calib_count;
      pj.seed = job.seed;
      pj.threads = job.threads;
      const ProfileInputs in = profile_inputs(pj, source, file.name);
      AnalysisManager analyses(AnalysisManager::Settings{job.threads, job.log, progress, in.images, cache});
      analyses.calibration_statistics(in.model);
      label(cache->key(in.model, in.images), "profile");
      continue;
    }
    RecipeOptions ro;
    ro.calibration = sample.fit;
    ro.held_out = sample.held_out;
    ro.threads = job.threads;
    ro.log = job.log;
    ro.progress = progress;
    ro.statistics_cache = cache;
    for (const auto& request : gather_recipe_statistics(target, source, ro))
      label(request.key, target + ": pass " + std::to_string(request.index + 1) + " (" + request.pass + ")");
  }
  for (auto& [key, stats] : cache->entries()) result.file.entries.push_back(StatisticsEntry{key, labels[key], stats});
  TimedStage timed("coding the file");
  result.bytes = write_statistics_file(result.file);
  return result;
}

}  // namespace mc
