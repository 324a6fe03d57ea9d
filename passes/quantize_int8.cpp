// quantize-int8: per-channel symmetric int8 weights (levels -127..127, one scale per output
// filter) for every selected layer not encoded yet, fitted under the calibration covariance with
// GPTQ error compensation (method=gptq) or round-to-nearest with an MSE-searched scale
// (method=rtn), then bias-corrected. See passes/weight_fit.h.
#include "core/text.h"
#include "passes/pass.h"
#include "passes/weight_fit.h"

namespace mc {

void run_quantize_int8(Model& model, const PassOptions& options, PassContext& ctx) {
  FitOptions fit = fit_options(WeightFormat::int8, options);
  const CalibrationStats& stats = ctx.statistics(model);
  auto layers = select_layers(model, options.text("layers"));
  if (ctx.log) ctx.log("quantize-int8: " + count_of(static_cast<int64_t>(layers.size()), "layer"));
  quantize_layers(model, stats, layers, fit);
}

}  // namespace mc
