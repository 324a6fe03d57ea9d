// fold-bn: Conv followed by BatchNormalization (inference) becomes one Conv. With
// a = scale / sqrt(var + eps) per output channel: W' = W * a, b' = (b - mean) * a + B.
// Computed in double and rounded once, so the folded layer differs from the pair by float32
// rounding only.
#include <cmath>

#include "core/shape_inference.h"
#include "passes/pass.h"

namespace mc {

namespace {

bool foldable(const Graph& g, const Node& conv, const Node& bn) {
  if (conv.op != "Conv" || conv.outputs.size() != 1 || !g.initializer(conv.inputs.at(1))) return false;
  if (conv.has_input(2) && !g.initializer(conv.inputs[2])) return false;
  if (g.consumers(conv.outputs[0]).size() != 1 || g.is_graph_output(conv.outputs[0])) return false;
  if (bn.outputs.size() != 1 || bn.attr_int("training_mode", 0) != 0) return false;
  for (size_t i = 1; i <= 4; ++i)
    if (!bn.has_input(i) || !g.initializer(bn.inputs[i])) return false;
  return true;
}

}  // namespace

void run_fold_batchnorm(Model& model, const PassOptions&, PassContext&) {
  Graph& g = model.graph;
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& bn = g.nodes[i];
    if (bn.op != "BatchNormalization" || bn.inputs.empty()) continue;
    int p = g.producer(bn.inputs[0]);
    if (p < 0) continue;
    Node& conv = g.nodes[static_cast<size_t>(p)];
    if (!foldable(g, conv, bn)) continue;
    g.check_not_encoded(conv.inputs[1], "fold-bn");
    if (conv.has_input(2)) g.check_not_encoded(conv.inputs[2], "fold-bn");
    const Tensor& w = *g.initializer(conv.inputs[1]);
    const int64_t channels = w.dim(0);
    const float* scale = g.initializer(bn.inputs[1])->data<float>();
    const float* shift = g.initializer(bn.inputs[2])->data<float>();
    const float* mean = g.initializer(bn.inputs[3])->data<float>();
    const float* var = g.initializer(bn.inputs[4])->data<float>();
    const double eps = bn.attr_float("epsilon", 1e-5f);
    if (g.initializer(bn.inputs[1])->numel() != channels) continue;
    Tensor folded_w(DType::f32, w.shape());
    Tensor folded_b(DType::f32, {channels});
    const int64_t per_channel = w.numel() / channels;
    const float* bias = conv.has_input(2) ? g.initializer(conv.inputs[2])->data<float>() : nullptr;
    for (int64_t c = 0; c < channels; ++c) {
      double a = static_cast<double>(scale[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
      for (int64_t k = 0; k < per_channel; ++k)
        folded_w.data<float>()[c * per_channel + k] = static_cast<float>(w.data<float>()[c * per_channel + k] * a);
      double b = bias ? bias[c] : 0.0;
      folded_b.data<float>()[c] = static_cast<float>((b - mean[c]) * a + shift[c]);
    }
    // New initializer names: the originals may be shared with other nodes.
    std::string w_name = g.fresh_name(conv.name + "_folded_weight");
    g.initializers[w_name] = std::move(folded_w);
    std::string b_name = g.fresh_name(conv.name + "_folded_bias");
    g.initializers[b_name] = std::move(folded_b);
    conv.inputs.resize(3);
    conv.inputs[1] = w_name;
    conv.inputs[2] = b_name;
    conv.outputs[0] = bn.outputs[0];
    remove[i] = true;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!remove[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  g.remove_dead();
}

}  // namespace mc
