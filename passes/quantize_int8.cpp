// quantize-int8: per-channel symmetric int8 weights (levels -127..127, one scale per output
// filter) for every selected layer not encoded yet, fitted under the calibration covariance with
// GPTQ error compensation (method=gptq), round-to-nearest with an MSE-searched scale (method=rtn) or
// learned rounding too (method=adaround), then bias-corrected. See passes/weight_fit.h. With
// sequential=on the layers are fitted one at a time in graph order, each to the partly quantized
// network's own inputs against the float network's output (passes/sequential_fit.h). edge-bits
// gives the first and last weighted layers of the model (the stem and the classifier) another grid
// than bits; images=all fits the sequential layers on the held-out calibration images too (for a
// pipeline deciding nothing on them).
#include "core/text.h"
#include "passes/pass.h"
#include "passes/sequential_fit.h"
#include "passes/weight_fit.h"

namespace mc {

void run_quantize_int8(Model& model, const PassOptions& options, PassContext& ctx) {
  FitOptions fit = fit_options(WeightFormat::int8, options);
  fit.threads = ctx.threads;
  const auto layers = select_layers(model, options.text("layers"));
  if (ctx.log) ctx.log("quantize-int8: " + count_of(static_cast<int64_t>(layers.size()), "layer"));
  const auto all = select_layers(model, "all");
  const int edge_bits = options.given("edge-bits") ? static_cast<int>(options.integer("edge-bits")) : 0;
  fit_selected_layers(
      model, layers,
      [&](const Node* node) {
        FitOptions o = fit;
        if (edge_bits && !all.empty() && (node == all.front() || node == all.back())) o.bits = edge_bits;
        return o;
      },
      options, ctx);
}

}  // namespace mc
