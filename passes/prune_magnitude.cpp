// prune-magnitude: in every selected layer, the round(S x weights) weights of smallest magnitude
// become zero (ties: the earlier weight in the tensor's order goes first), with no compensation
// and no calibration data. The baseline the second-order passes (prune-obs, prune-nm) are
// measured against: ../shared/docs/RESEARCH.md found that it costs 3-5 points at 30% without
// retraining. The zeros are kept by later quantization passes (Initializer::pruned).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/text.h"
#include "passes/pass.h"
#include "passes/pruning.h"
#include "passes/weight_fit.h"

namespace mc {

void run_prune_magnitude(Model& model, const PassOptions& options, PassContext& ctx) {
  const double sparsity = options.number("sparsity");
  auto layers = pruning_layers(model, options);
  int64_t pruned_total = 0, weights_total = 0;
  for (const Node* node : layers) {
    const std::string name = node->inputs[1];
    Tensor& w = model.graph.values_to_change(name, "prune-magnitude");
    const size_t n = static_cast<size_t>(w.numel());
    const size_t count = static_cast<size_t>(std::clamp<int64_t>(std::llround(sparsity * static_cast<double>(n)), 0, static_cast<int64_t>(n)));
    weights_total += static_cast<int64_t>(n);
    if (count == 0) continue;  // nothing pruned: the layer stays as it was
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    float* p = w.data<float>();
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::fabs(p[a]) < std::fabs(p[b]); });
    std::vector<uint8_t> mask(n, 0);
    for (size_t i = 0; i < count; ++i) {
      p[order[i]] = 0.0f;
      mask[order[i]] = 1;
    }
    model.graph.set_pruned(name, std::move(mask));
    pruned_total += static_cast<int64_t>(count);
  }
  const std::string note = "prune-magnitude: " + with_commas(pruned_total) + " of " + count_of(weights_total, "weight") + " in " +
                           count_of(static_cast<int64_t>(layers.size()), "layer") + " pruned";
  if (ctx.log) ctx.log(note);
  if (ctx.note) ctx.note(note);
}

}  // namespace mc
