// ternarize: every filter of the selected layers (default: pointwise convolutions) becomes a sum of
// `terms` ternary terms, w ~ a1 T1 + a2 T2 (+ a3 T3), each T in {-1, 0, +1}: additions only, plus
// one scale multiplication per output per term. Fitted under the calibration covariance with GPTQ
// compensation over the term levels and least-squares scale refits; bias-corrected.
#include "passes/pass.h"
#include "passes/weight_fit.h"

namespace mc {

void run_ternarize(Model& model, const PassOptions& options, PassContext& ctx) {
  FitOptions fit = fit_options(WeightFormat::ternary, options);
  const CalibrationStats& stats = ctx.statistics(model);
  auto layers = select_layers(model, options.text("layers"), options.flag("skip-classifier"));
  if (layers.empty()) fail_unsupported("ternarize: the model has no " + options.text("layers") + " layers to make ternary");
  if (ctx.log) ctx.log("ternarize: " + std::to_string(layers.size()) + " layers, " + std::to_string(fit.terms) + " terms");
  quantize_layers(model, stats, layers, fit);
}

}  // namespace mc
