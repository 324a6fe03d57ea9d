// Plan-time fusion of int8 layers written in QDQ form (what `quantize-activations` and `export --qdq`
// produce, and what ONNX Runtime's QDQ optimizer rewrites into QLinearConv):
//
//   Conv(DequantizeLinear(x_q, x_scale, x_zp), DequantizeLinear(w_q, w_scale, w_zp), bias)
//     -> [Relu | Clip] -> QuantizeLinear(y_scale, y_zp) -> y_q
//
// becomes one QLinearConv(x_q, x_scale, x_zp, w_q, w_scale, w_zp, y_scale, y_zp, B) writing y_q,
// with the float bias quantized as ONNX Runtime's BiasQuantization transformer does:
// B[m] = round_half_even(bias[m] / (x_scale * w_scale[m])), int32 (float32 arithmetic). The
// conditions mirror that optimizer's selector: per-tensor 8-bit activation scales and zero points,
// a constant int8 weight with per-tensor or per-output-channel (axis 0) scales, a constant float
// bias or none, and the Conv output (or the Relu/Clip output) read by the QuantizeLinear alone. A
// Relu/Clip in between is applied in the quantized domain (exact: see integer_conv.cpp).
// Everything else runs as written. DequantizeLinear steps left without readers are dropped.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/executor.h"

namespace mc {

void Executor::fuse_quantized_convs(const std::vector<int>& readers, const std::vector<size_t>& reader_step) {
  const Graph& g = model_.graph;
  std::vector<int> producer(value_names_.size(), -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].skipped) continue;
    for (int v : steps_[i].outputs)
      if (v >= 0) producer[static_cast<size_t>(v)] = static_cast<int>(i);
  }
  auto constant = [&](int v) -> const Tensor* { return v >= 0 ? constant_[static_cast<size_t>(v)] : nullptr; };
  auto scalar = [&](int v, DType type) {
    const Tensor* t = constant(v);
    return t && t->dtype() == type && t->numel() == 1 && t->rank() <= 1;
  };
  auto is_8bit_scalar = [&](int v) { return scalar(v, DType::u8) || scalar(v, DType::i8); };
  // The step producing value v if it is a (non-skipped) DequantizeLinear with all three inputs.
  auto dequantize_of = [&](int v) -> Step* {
    if (v < 0 || producer[static_cast<size_t>(v)] < 0) return nullptr;
    Step& s = steps_[static_cast<size_t>(producer[static_cast<size_t>(v)])];
    if (s.node->op != "DequantizeLinear" || s.inputs.size() != 3 || s.inputs[2] < 0 || s.outputs.size() != 1) return nullptr;
    return &s;
  };
  // The single non-skipped reader of v (not a graph output), or nullptr.
  auto only_reader = [&](int v) -> Step* {
    if (v < 0 || readers[static_cast<size_t>(v)] != 1 || g.is_graph_output(value_names_[static_cast<size_t>(v)])) return nullptr;
    Step& s = steps_[reader_step[static_cast<size_t>(v)]];
    return s.skipped || s.inputs.empty() || s.inputs[0] != v ? nullptr : &s;
  };

  for (auto& conv : steps_) {
    if (conv.skipped || conv.node->op != "Conv" || conv.inputs.size() < 2 || conv.outputs.size() != 1) continue;
    // Activation: a runtime 8-bit tensor, per-tensor parameters.
    Step* dqx = dequantize_of(conv.inputs[0]);
    if (!dqx || constant(dqx->inputs[0]) || !scalar(dqx->inputs[1], DType::f32) || !is_8bit_scalar(dqx->inputs[2]))
      continue;
    // Weight: a constant int8 tensor, per-tensor or per-output-channel along axis 0.
    Step* dqw = dequantize_of(conv.inputs[1]);
    if (!dqw) continue;
    const Tensor* wq = constant(dqw->inputs[0]);
    const Tensor* w_scale = constant(dqw->inputs[1]);
    const Tensor* w_zp = constant(dqw->inputs[2]);
    if (!wq || wq->dtype() != DType::i8 || wq->rank() < 3 || !w_scale || w_scale->dtype() != DType::f32 || !w_zp ||
        w_zp->dtype() != DType::i8 || w_zp->shape() != w_scale->shape())
      continue;
    const int64_t channels = wq->dim(0);
    const bool per_tensor = w_scale->numel() == 1 && w_scale->rank() <= 1;
    if (!per_tensor) {
      int64_t axis = dqw->node->attr_int("axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(wq->rank());
      if (axis != 0 || w_scale->shape() != Shape{channels}) continue;
    }
    // Bias: constant float [M], or none.
    const bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
    const Tensor* bias = has_bias ? constant(conv.inputs[2]) : nullptr;
    if (has_bias && (!bias || bias->dtype() != DType::f32 || bias->shape() != Shape{channels})) continue;
    // Output: straight into a QuantizeLinear, or through one Relu/Clip.
    Step* next = only_reader(conv.outputs[0]);
    if (!next) continue;
    Step* act = nullptr;
    std::optional<FusedClip> clip;
    if (next->node->op == "Relu" || next->node->op == "Clip") {
      clip = clip_as_fusable(*next->node, model_.opset, g);
      if (!clip || next->outputs.size() != 1) continue;
      act = next;
      next = only_reader(act->outputs[0]);
      if (!next) continue;
    }
    Step* q = next;
    if (q->node->op != "QuantizeLinear" || q->inputs.size() != 3 || q->outputs.size() != 1 || q->outputs[0] < 0 ||
        !scalar(q->inputs[1], DType::f32) || !is_8bit_scalar(q->inputs[2]))
      continue;

    QuantizedConv& f = quantized_.emplace_back();
    f.node = *conv.node;
    f.node.op = "QLinearConv";
    f.node.outputs = {value_names_[static_cast<size_t>(q->outputs[0])]};
    const float x_scale = constant(dqx->inputs[1])->data<float>()[0];
    std::vector<int> inputs = {dqx->inputs[0], dqx->inputs[1], dqx->inputs[2], dqw->inputs[0], dqw->inputs[1],
                               dqw->inputs[2], q->inputs[1], q->inputs[2], -1};
    if (bias) {
      f.bias = Tensor(DType::i32, {channels});
      for (int64_t m = 0; m < channels; ++m) {
        const float scale = x_scale * w_scale->data<float>()[per_tensor ? 0 : m];
        const double r = std::nearbyint(static_cast<double>(bias->data<float>()[m] / scale));
        const double limit = std::numeric_limits<int32_t>::max();
        f.bias.data<int32_t>()[m] = static_cast<int32_t>(std::isfinite(r) ? std::clamp(r, -limit, limit) : 0.0);
      }
      inputs[8] = add_constant(conv.node->name + ":int32_bias", &f.bias);
    }
    f.node.inputs.clear();
    for (int v : inputs) f.node.inputs.push_back(v >= 0 ? value_names_[static_cast<size_t>(v)] : std::string());
    conv.node = &f.node;
    conv.kernel = find_kernel("QLinearConv");
    conv.inputs = inputs;
    conv.outputs = {q->outputs[0]};
    conv.fused_clip = clip;
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
