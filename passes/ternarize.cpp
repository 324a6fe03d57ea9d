// ternarize: every filter of the selected layers (default: pointwise convolutions) becomes a sum of
// `terms` ternary terms, w ~ a1 T1 + a2 T2 (+ a3 T3), each T in {-1, 0, +1}: additions only, plus
// one scale multiplication per output per term. Fitted under the calibration covariance with GPTQ
// compensation over the term levels (or learned rounding too: method=adaround) and least-squares
// scale refits; bias-corrected. sequential=on fits the layers one at a time to the partly quantized
// network's inputs against the float network's output (passes/sequential_fit.h).
#include "passes/pass.h"
#include "passes/sequential_fit.h"
#include "passes/weight_fit.h"

namespace mc {

void run_ternarize(Model& model, const PassOptions& options, PassContext& ctx) {
  FitOptions fit = fit_options(WeightFormat::ternary, options);
  fit.threads = ctx.threads;
  auto layers = select_layers(model, options.text("layers"), options.flag("skip-classifier"));
  if (layers.empty()) fail_unsupported("ternarize: the model has no " + options.text("layers") + " layers to make ternary");
  if (ctx.log) ctx.log("ternarize: " + std::to_string(layers.size()) + " layers, " + std::to_string(fit.terms) + " terms");
  fit_selected_layers(model, layers, [&](const Node*) { return fit; }, options, ctx);
}

}  // namespace mc
