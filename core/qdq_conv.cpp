#include "core/qdq_conv.h"

namespace mc {

namespace {

bool is_scalar(const Tensor* t, DType type) { return t && t->dtype() == type && t->numel() == 1 && t->rank() <= 1; }
bool is_8bit_scalar(const Tensor* t) { return is_scalar(t, DType::u8) || is_scalar(t, DType::i8); }

// The DequantizeLinear producing `value`, with all three inputs and one output, whose x is an
// initializer (`constant_x`) or a runtime value (otherwise).
const Node* dequantize_of(const Graph& g, const std::string& value, bool constant_x) {
  const int p = g.producer(value);
  if (p < 0) return nullptr;
  const Node& n = g.nodes[static_cast<size_t>(p)];
  if (n.op != "DequantizeLinear" || n.inputs.size() != 3 || n.inputs[2].empty() || n.outputs.size() != 1) return nullptr;
  if ((g.initializer(n.inputs[0]) != nullptr) != constant_x) return nullptr;
  return &n;
}

// The one node reading `value` (as its first input), when `value` is not a graph output.
const Node* only_reader(const Graph& g, const std::string& value) {
  if (value.empty() || g.is_graph_output(value)) return nullptr;
  const auto readers = g.consumers(value);
  if (readers.size() != 1) return nullptr;
  const Node& next = g.nodes[static_cast<size_t>(readers[0])];
  return next.inputs.empty() || next.inputs[0] != value ? nullptr : &next;
}

}  // namespace

std::optional<QdqConv> match_qdq_conv(const Graph& g, const Node& conv, int64_t opset) {
  if (conv.op != "Conv" || conv.inputs.size() < 2 || conv.outputs.size() != 1) return std::nullopt;
  QdqConv m;
  // Activation: a runtime 8-bit tensor, per-tensor parameters.
  m.x_dequantize = dequantize_of(g, conv.inputs[0], false);
  if (!m.x_dequantize || !is_scalar(g.initializer(m.x_dequantize->inputs[1]), DType::f32) ||
      !is_8bit_scalar(g.initializer(m.x_dequantize->inputs[2])))
    return std::nullopt;
  m.x_scale = g.initializer(m.x_dequantize->inputs[1])->data<float>()[0];
  // Weight: a constant int8 tensor, per-tensor or per-output-channel along axis 0.
  m.w_dequantize = dequantize_of(g, conv.inputs[1], true);
  if (!m.w_dequantize) return std::nullopt;
  m.w_q = g.initializer(m.w_dequantize->inputs[0]);
  m.w_scale = g.initializer(m.w_dequantize->inputs[1]);
  m.w_zero_point = g.initializer(m.w_dequantize->inputs[2]);
  if (m.w_q->dtype() != DType::i8 || m.w_q->rank() < 3 || !m.w_scale || m.w_scale->dtype() != DType::f32 || !m.w_zero_point ||
      m.w_zero_point->dtype() != DType::i8 || m.w_zero_point->shape() != m.w_scale->shape())
    return std::nullopt;
  m.per_tensor = m.w_scale->numel() == 1 && m.w_scale->rank() <= 1;
  if (!m.per_tensor) {
    int64_t axis = m.w_dequantize->attr_int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(m.w_q->rank());
    if (axis != 0 || m.w_scale->shape() != Shape{m.channels()}) return std::nullopt;
  }
  // Bias: constant float [M], or none.
  if (conv.inputs.size() > 2 && !conv.inputs[2].empty()) {
    m.bias = g.initializer(conv.inputs[2]);
    if (!m.bias || m.bias->dtype() != DType::f32 || m.bias->shape() != Shape{m.channels()}) return std::nullopt;
  }
  // Output: straight into a QuantizeLinear, or through one Relu/Clip; otherwise not requantized.
  const Node* next = only_reader(g, conv.outputs[0]);
  if (!next) return m;
  const Node* activation = nullptr;
  std::optional<FusedActivation> clip;
  if (next->op == "Relu" || next->op == "Clip") {
    clip = clip_as_fusable(*next, opset, g);
    if (!clip || next->outputs.size() != 1) return m;
    activation = next;
    next = only_reader(g, activation->outputs[0]);
    if (!next) return m;
  }
  if (next->op != "QuantizeLinear" || next->inputs.size() != 3 || next->outputs.size() != 1 || next->outputs[0].empty() ||
      !is_scalar(g.initializer(next->inputs[1]), DType::f32) || !is_8bit_scalar(g.initializer(next->inputs[2])))
    return m;
  m.activation = activation;
  m.clip = clip;
  m.quantize = next;
  return m;
}

}  // namespace mc
