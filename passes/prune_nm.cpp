// prune-nm: structured N:M sparsity (e.g. 2:4, the pattern sparse tensor cores execute): at every
// kernel position, of each group of M consecutive input channels only N weights stay. With
// method=obs (default) the choice and the compensation of the kept weights use the layer's input
// covariance in one sweep (core/gptq.h PruneSpec groups: each group decided, by OBS saliency, when
// the sweep reaches its first column), then bias correction; method=magnitude keeps the N largest
// and needs no calibration. A layer whose input channels (per group) M does not divide is an
// error naming the layer; the default layers are the pointwise convolutions and fully connected
// layers (a depthwise filter has one input channel).
#include <algorithm>
#include <cmath>

#include "passes/pass.h"
#include "passes/pruning.h"
#include "passes/weight_fit.h"
#include "core/weighted_op.h"

namespace mc {

void run_prune_nm(Model& model, const PassOptions& options, PassContext& ctx) {
  const int64_t n = options.integer("n"), m = options.integer("m");
  const std::string method = options.text("method");
  auto selected = pruning_layers(model, options);
  if (selected.empty()) fail_unsupported("prune-nm: the model has no " + options.text("layers") + " layers to prune");
  FitOptions fit;
  fit.format = WeightFormat::float32;
  fit.damping = options.number("damping");
  fit.pruning.nm_keep = n;
  fit.pruning.nm_group = m;
  fit.threads = ctx.threads;
  std::vector<std::string> names;
  for (const Node* node : selected) names.push_back(node->name);
  for (const auto& name : names) {
    const Node* node = model.graph.node(name);
    const std::string weight_name = node->inputs[1];
    Tensor& w = model.graph.values_to_change(weight_name, "prune-nm");
    // Geometry: K inputs per filter = channels x spatial, filters as rows (Conv, Gemm transB=1).
    const WeightGeometry geometry = weighted_layer(model.graph, *node)->geometry;
    const int64_t filters = geometry.filters, k = geometry.inputs_per_filter;
    const int64_t spatial = geometry.kernel_positions;
    const int64_t channels = k / spatial;
    if (channels % m != 0)
      fail_usage("layer '" + name + "': N:M pruning with M=" + std::to_string(m) + " needs M to divide its " + std::to_string(channels) +
                 " input channels per group");
    std::vector<uint8_t> mask(static_cast<size_t>(w.numel()), 0);
    if (method == "magnitude") {
      float* p = w.data<float>();
      std::vector<int64_t> idx(static_cast<size_t>(m));
      for (int64_t f = 0; f < filters; ++f)
        for (int64_t g = 0; g < channels / m; ++g)
          for (int64_t s = 0; s < spatial; ++s) {
            for (int64_t i = 0; i < m; ++i) idx[static_cast<size_t>(i)] = f * k + (g * m + i) * spatial + s;
            std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return std::fabs(p[a]) < std::fabs(p[b]); });
            for (int64_t i = 0; i < m - n; ++i) {
              p[idx[static_cast<size_t>(i)]] = 0.0f;
              mask[static_cast<size_t>(idx[static_cast<size_t>(i)])] = 1;
            }
          }
    } else {
      const CalibrationStats& stats = ctx.statistics(model);
      const LayerGram& gram = stats.layers.at(name);
      apply_layer_fits(model, gram, fit_layer(model, gram, fit), &mask);
    }
    model.graph.set_pruned(weight_name, std::move(mask));
    if (ctx.log) ctx.log("prune-nm: " + name + " " + std::to_string(n) + ":" + std::to_string(m));
  }
}

}  // namespace mc
