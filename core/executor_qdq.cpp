// Plan-time fusion of int8 layers written in QDQ form (what `quantize-activations` and `export --qdq`
// produce, and what ONNX Runtime's QDQ optimizer rewrites into QLinearConv): a Conv that
// match_qdq_conv (core/qdq_conv.h, the one place that pattern's conditions live; the export uses
// it too) finds requantized,
//
//   Conv(DequantizeLinear(x_q, x_scale, x_zp), DequantizeLinear(w_q, w_scale, w_zp), bias)
//     -> [Relu | Clip] -> QuantizeLinear(y_scale, y_zp) -> y_q
//
// becomes one QLinearConv(x_q, x_scale, x_zp, w_q, w_scale, w_zp, y_scale, y_zp, B) writing y_q,
// with the float bias quantized as ONNX Runtime's BiasQuantization transformer does:
// B[m] = round_half_even(bias[m] / (x_scale * w_scale[m])), int32 (float32 arithmetic; INT32_MIN
// when out of range, as ORT's conversion gives on x86). A
// Relu/Clip in between is applied in the quantized domain (exact: see integer_conv.cpp).
// Everything else runs as written. DequantizeLinear steps left without readers are dropped.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/executor.h"
#include "core/qdq_conv.h"

namespace mc {

void Executor::fuse_quantized_convs() {
  const Graph& g = model_.graph;
  // The step running each graph node (a BatchNormalization folded at plan time runs as a new node).
  std::map<const Node*, size_t> step_of;
  for (size_t i = 0; i < steps_.size(); ++i) step_of[steps_[i].node] = i;
  auto live_step = [&](const Node* node) -> Step* {
    auto it = step_of.find(node);
    return it == step_of.end() || steps_[it->second].skipped ? nullptr : &steps_[it->second];
  };

  for (const Node& node : g.nodes) {
    Step* conv_step = live_step(&node);
    if (!conv_step) continue;
    Step& conv = *conv_step;
    const auto match = match_qdq_conv(g, node, model_.opset);
    if (!match || !match->quantize) continue;
    Step* dqx = live_step(match->x_dequantize);
    Step* dqw = live_step(match->w_dequantize);
    Step* act = match->activation ? live_step(match->activation) : nullptr;
    Step* q = live_step(match->quantize);
    if (!dqx || !dqw || !q || (match->activation && !act)) continue;
    const Tensor* w_scale = match->w_scale;
    const bool per_tensor = match->per_tensor;
    const int64_t channels = match->channels();
    const Tensor* bias = match->bias;
    const std::optional<FusedActivation> clip = match->clip;

    QuantizedConv& f = quantized_.emplace_back();
    f.node = *conv.node;
    f.node.op = "QLinearConv";
    f.node.outputs = {value_names_[static_cast<size_t>(q->outputs[0])]};
    const float x_scale = match->x_scale;
    std::vector<int> inputs = {dqx->inputs[0], dqx->inputs[1], dqx->inputs[2], dqw->inputs[0], dqw->inputs[1],
                               dqw->inputs[2], q->inputs[1], q->inputs[2], -1};
    if (bias) {
      f.bias = Tensor(DType::i32, {channels});
      for (int64_t m = 0; m < channels; ++m) {
        const float scale = x_scale * w_scale->data<float>()[per_tensor ? 0 : m];
        const double r = std::nearbyint(static_cast<double>(bias->data<float>()[m] / scale));
        // Out of int32's range (a filter whose weight scale is tiny), or not finite: INT32_MIN, what
        // ONNX Runtime's float-to-int32 conversion gives there on x86 (the "integer indefinite" of
        // cvttss2si; C++ leaves the conversion undefined). Saturating instead made sums near such a
        // bias wrap differently from ORT's (w4a8 MobileNetV1 0.75: 82 of 500 images' outputs apart).
        const double limit = std::numeric_limits<int32_t>::max();
        f.bias.data<int32_t>()[m] = std::isfinite(r) && std::fabs(r) <= limit ? static_cast<int32_t>(r) : std::numeric_limits<int32_t>::min();
      }
      inputs[8] = add_constant(conv.node->name + ":int32_bias", &f.bias);
    }
    f.node.inputs.clear();
    for (int v : inputs) f.node.inputs.push_back(v >= 0 ? value_names_[static_cast<size_t>(v)] : std::string());
    conv.node = &f.node;
    conv.kernel = find_kernel("QLinearConv");
    conv.inputs = inputs;
    conv.outputs = {q->outputs[0]};
    conv.fused_activation = clip;
    if (act) act->skipped = true;
    q->skipped = true;
  }

  // DequantizeLinear steps nobody reads any more.
  std::vector<int> read(value_names_.size(), 0);
  for (const auto& s : steps_)
    if (!s.skipped)
      for (int v : s.inputs)
        if (v >= 0) ++read[static_cast<size_t>(v)];
  for (auto& s : steps_) {
    if (s.skipped || s.node->op != "DequantizeLinear" || s.outputs.size() != 1 || s.outputs[0] < 0) continue;
    const auto v = static_cast<size_t>(s.outputs[0]);
    if (read[v] == 0 && !g.is_graph_output(value_names_[v])) s.skipped = true;
  }
}

}  // namespace mc
