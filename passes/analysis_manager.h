// What passes consume but do not change, computed on demand and cached (in the manner of LLVM's
// new pass manager): calibration statistics of the model, the float model's outputs on a set of
// images, per-filter sensitivity. A pass asks; the manager computes once and keeps the result until
// a pass that does not preserve it has run: each row of passes/pass_list.def declares what its pass
// preserves, and run_pipeline invalidates the rest after the pass. No pass invalidates by hand.
//
// What "preserves" means here is a modelling choice, stated per analysis:
//  - calibration statistics are those of the model when a pass first asked for them since the last
//    invalidation. The weight-quantization and pruning passes preserve them on purpose: each fits
//    its layers to the statistics of the model before it (GPTQ-style layer-wise fitting), not to
//    the statistics re-measured after every layer. Passes that change what the statistics describe
//    (activation quantization, BatchNorm folding, equalization, graph rewrites) do not preserve them.
//  - the float reference is the float model's output distribution on an image set: it depends only
//    on the float model (fixed when the pipeline starts) and on the images, so it is cached by the
//    image set (its files and views) and never invalidated.
//  - filter sensitivity depends on the current weights: only passes that change nothing preserve it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "analysis/statistics_cache.h"
#include "core/graph.h"

namespace mc {

enum class AnalysisKind : uint32_t {
  calibration_statistics = 1u << 0,
  filter_sensitivity = 1u << 1,
  float_reference = 1u << 2,  // cached by image set, never invalidated (see above)
};
// A set of analyses (bit mask of AnalysisKind).
using PreservedAnalyses = uint32_t;
inline constexpr PreservedAnalyses preserves_none = 0;
inline constexpr PreservedAnalyses preserves(AnalysisKind a) { return static_cast<PreservedAnalyses>(a); }

class AnalysisManager {
 public:
  struct Settings {
    int threads = 0;
    std::function<void(const std::string&)> log;
    std::function<void(int64_t, int64_t)> progress;
    CalibrationSet calibration;  // the fit images
    // Statistics shared with other pipeline runs on the same images (mcompress sweep); used only
    // for a model byte-identical to the one an entry was computed for.
    std::shared_ptr<StatisticsCache> shared_statistics;
  };
  AnalysisManager() = default;
  explicit AnalysisManager(Settings settings) : settings_(std::move(settings)) {}

  // Statistics of `model` on the calibration images (cached: see above). Fails (usage) when no
  // calibration images were given.
  const CalibrationStats& calibration_statistics(const Model& model);
  // Per-filter relative output error of every weighted layer of `model` (analysis/sensitivity.h).
  const std::vector<LayerSensitivity>& filter_sensitivity(const Model& model);

  // The float model the reference outputs come from (the model as the pipeline received it).
  void set_float_model(const Model& model);
  bool has_float_model() const { return float_model_ != nullptr; }
  // The recorded float model (internal error when none was recorded).
  const Model& float_model() const;
  // The float model's output distributions on `images` (cached by the image set). Fails (usage)
  // when `images` is empty.
  const ReferenceOutputs& float_reference(const CalibrationSet& images);

  // Drops every cached analysis not in `preserved`.
  void invalidate(PreservedAnalyses preserved);
  // How many times an analysis was computed (for logs and tests).
  int64_t computed(AnalysisKind kind) const;

  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
  std::shared_ptr<const CalibrationStats> statistics_;
  std::unique_ptr<std::vector<LayerSensitivity>> sensitivity_;
  std::unique_ptr<Model> float_model_;
  std::map<std::string, ReferenceOutputs> references_;  // by image-set key
  std::map<AnalysisKind, int64_t> computed_;
};

}  // namespace mc
