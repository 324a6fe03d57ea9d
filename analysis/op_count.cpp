#include "analysis/op_count.h"

#include <set>

#include "core/ops/kernel_util.h"
#include "core/weighted_op.h"

namespace mc {

namespace {

// Learned parameters: float initializers, and integer weights a DequantizeLinear turns into float
// (a QDQ export's int8 weights); not a Clip's bounds nor quantizers' scales and zero points, which
// are hyperparameters of the representation rather than weights.
bool is_parameter_input(const Graph& g, const Node& node, size_t i) {
  const Tensor* t = g.initializer(node.inputs[i]);
  if (!t) return false;
  if (node.op == "QuantizeLinear") return false;
  if (node.op == "DequantizeLinear") return i == 0 && t->dtype() != DType::f32;
  // Integer layers (export --qdq): the weight only, not zero points or scales.
  if (const WeightedOpTraits* traits = weighted_op_traits(node.op); traits && !traits->float_weight) return i == traits->weight_input;
  // ConvInteger -> Cast -> Mul(scale): the per-channel scale is part of the representation.
  if (node.op == "Mul" && node.inputs.size() == 2) {
    const int p = g.producer(node.inputs[1 - i]);
    if (p >= 0 && g.nodes[static_cast<size_t>(p)].op == "Cast") return false;
  }
  if (t->dtype() != DType::f32) return false;
  return !(node.op == "Clip" && i >= 1);
}

}  // namespace

int64_t node_macs(const Node& node, const InferredGraph& shapes) {
  const WeightedOpTraits* traits = weighted_op_traits(node.op);
  return traits ? traits->macs(node, shapes) : 0;
}

std::set<std::string> parameter_tensors(const Graph& g) {
  std::set<std::string> out;
  for (const auto& node : g.nodes)
    for (size_t i = 0; i < node.inputs.size(); ++i)
      if (is_parameter_input(g, node, i)) out.insert(node.inputs[i]);
  return out;
}

OpCount count_ops(const Model& model) { return count_ops(model, infer_shapes(model, 1)); }

OpCount count_ops(const Model& model, const InferredGraph& shapes) {
  const Graph& g = model.graph;
  OpCount total;
  for (const auto& name : parameter_tensors(g)) total.params += g.initializer(name)->numel();
  // A tensor read by several nodes counts in the first, so the layers' parameters add up to the total.
  std::set<std::string> owned;
  for (const auto& node : g.nodes) {
    // A QDQ weight's DequantizeLinear is not a layer: its integer weight belongs to the node reading
    // its output (below).
    if (node.op == "DequantizeLinear") continue;
    LayerCount layer;
    layer.name = node.name;
    layer.op = node.op;
    for (size_t i = 0; i < node.inputs.size(); ++i)
      if (is_parameter_input(g, node, i) && owned.insert(node.inputs[i]).second) layer.params += g.initializer(node.inputs[i])->numel();
    if (node.op != "QuantizeLinear")
      for (const auto& in : node.inputs) {
        int p = in.empty() || g.initializer(in) ? -1 : g.producer(in);
        if (p < 0) continue;
        const Node& dq = g.nodes[static_cast<size_t>(p)];
        if (dq.op == "DequantizeLinear" && is_parameter_input(g, dq, 0) && owned.insert(dq.inputs[0]).second)
          layer.params += g.initializer(dq.inputs[0])->numel();
      }
    layer.macs = node_macs(node, shapes);
    if (layer.params == 0 && layer.macs == 0) continue;
    for (const auto& in : node.inputs)
      if (!in.empty() && !g.initializer(in)) {
        layer.input_shape = shapes.shape_of(in);
        break;
      }
    if (!node.outputs.empty()) layer.output_shape = shapes.shape_of(node.outputs[0]);
    total.macs += layer.macs;
    total.layers.push_back(std::move(layer));
  }
  return total;
}

}  // namespace mc
