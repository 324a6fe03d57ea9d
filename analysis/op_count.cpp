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

OpCount count_ops(const Model& model) { return count_ops(model, infer_shapes(model, 1)); }

OpCount count_ops(const Model& model, const InferredGraph& shapes) {
  const Graph& g = model.graph;
  OpCount total;
  std::set<std::string> parameters;
  for (const auto& node : g.nodes)
    for (size_t i = 0; i < node.inputs.size(); ++i)
      if (is_parameter_input(g, node, i)) parameters.insert(node.inputs[i]);
  for (const auto& name : parameters) total.params += g.initializer(name)->numel();
  for (const auto& node : g.nodes) {
    LayerCount layer;
    layer.name = node.name;
    layer.op = node.op;
    std::set<std::string> seen;
    for (size_t i = 0; i < node.inputs.size(); ++i)
      if (is_parameter_input(g, node, i) && seen.insert(node.inputs[i]).second) layer.params += g.initializer(node.inputs[i])->numel();
    // A weight stored as integers behind a DequantizeLinear (QDQ export) counts for its reader.
    if (node.op != "DequantizeLinear" && node.op != "QuantizeLinear")
      for (const auto& in : node.inputs) {
        int p = in.empty() || g.initializer(in) ? -1 : g.producer(in);
        if (p < 0) continue;
        const Node& dq = g.nodes[static_cast<size_t>(p)];
        const Tensor* q = dq.op == "DequantizeLinear" ? g.initializer(dq.inputs.at(0)) : nullptr;
        if (q && q->dtype() != DType::f32 && seen.insert(dq.inputs[0]).second) layer.params += q->numel();
      }
    layer.macs = node_macs(node, shapes);
    if (layer.params == 0 && layer.macs == 0) continue;
    if (node.op == "DequantizeLinear") {
      // A QDQ weight: its parameters belong to the layer that reads it, listed there.
      continue;
    }
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
