#include "passes/analysis_manager.h"

#include "core/error.h"
#include "core/stage_timer.h"
#include "core/text.h"
#include "core/thread_pool.h"

namespace mc {

namespace {

// Identifies an image set for the reference cache: its files in order and how they are viewed.
std::string image_set_key(const CalibrationSet& images) {
  std::string key = image_config_key(images.image) + "|" + std::to_string(images.batch) + (images.mirrored ? "|mirrored|" : "|plain|");
  for (const auto& f : images.files) key += f + '\n';
  return key;
}

}  // namespace

const CalibrationStats& AnalysisManager::calibration_statistics(const Model& model) {
  if (settings_.calibration.files.empty()) fail_usage("this pass needs calibration images (--calib DIR)");
  if (!statistics_) {
    auto compute = [&] {
      TimedStage timed("calibration statistics");
      if (settings_.log) settings_.log("calibration statistics on " + count_of(static_cast<int64_t>(settings_.calibration.files.size()), "image"));
      ++computed_[AnalysisKind::calibration_statistics];
      return collect_calibration_stats(model, settings_.calibration, StatsOptions{settings_.threads, true, true, {}}, settings_.progress);
    };
    if (settings_.shared_statistics) {
      bool computed = false;
      statistics_ = settings_.shared_statistics->get(model, settings_.calibration, compute, &computed);
      if (!computed && settings_.log) settings_.log("calibration statistics reused (already computed for this model state, or read from --stats)");
    } else {
      statistics_ = std::make_shared<const CalibrationStats>(compute());
    }
  }
  return *statistics_;
}

const std::vector<LayerSensitivity>& AnalysisManager::filter_sensitivity(const Model& model) {
  if (!sensitivity_) {
    const CalibrationStats& stats = calibration_statistics(model);
    TimedStage timed("filter sensitivity");
    ThreadPool pool(settings_.threads);
    ++computed_[AnalysisKind::filter_sensitivity];
    sensitivity_ = std::make_unique<std::vector<LayerSensitivity>>(mc::filter_sensitivity(model, stats, pool));
  }
  return *sensitivity_;
}

void AnalysisManager::set_float_model(const Model& model) {
  float_model_ = std::make_unique<Model>(model);
  references_.clear();
}

const Model& AnalysisManager::float_model() const {
  if (!float_model_) fail_internal("float_model: no float model recorded");
  return *float_model_;
}

const ReferenceOutputs& AnalysisManager::float_reference(const CalibrationSet& images) {
  if (images.files.empty()) fail_usage("a budgeted pass needs held-out calibration images (--calib with enough images)");
  if (!float_model_) fail_internal("float_reference: no float model recorded");
  const std::string key = image_set_key(images);
  auto it = references_.find(key);
  if (it == references_.end()) {
    TimedStage timed("float reference outputs");
    ++computed_[AnalysisKind::float_reference];
    it = references_.emplace(key, reference_outputs(*float_model_, images, settings_.threads)).first;
  }
  return it->second;
}

void AnalysisManager::invalidate(PreservedAnalyses preserved) {
  if (!(preserved & preserves(AnalysisKind::calibration_statistics))) statistics_.reset();
  // Sensitivity is computed from the statistics: it cannot outlive them.
  if (!(preserved & preserves(AnalysisKind::filter_sensitivity)) || !statistics_) sensitivity_.reset();
}

int64_t AnalysisManager::computed(AnalysisKind kind) const {
  auto it = computed_.find(kind);
  return it == computed_.end() ? 0 : it->second;
}

}  // namespace mc
