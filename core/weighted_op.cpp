#include "core/weighted_op.h"

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

std::optional<WeightGeometry> conv_geometry(const Node& node, const Shape& w) {
  WeightGeometry g;
  g.groups = node.attr_int("group", 1);
  if (w.size() < 3 || g.groups <= 0 || w[0] <= 0 || w[0] % g.groups != 0) return std::nullopt;
  g.filters = w[0];
  g.inputs_per_filter = dims_product(w, 1, w.size());
  g.kernel_positions = dims_product(w, 2, w.size());
  return g;
}

std::optional<WeightGeometry> gemm_geometry(const Node& node, const Shape& w) {
  if (w.size() != 2 || node.attr_int("transA", 0) != 0) return std::nullopt;
  const bool trans_b = node.attr_int("transB", 0) != 0;
  WeightGeometry g;
  g.filters = trans_b ? w[0] : w[1];
  g.inputs_per_filter = trans_b ? w[1] : w[0];
  g.filter_columns = !trans_b;
  return g;
}

std::optional<WeightGeometry> matmul_geometry(const Node&, const Shape& w) {
  if (w.size() != 2) return std::nullopt;
  WeightGeometry g;
  g.filters = w[1];
  g.inputs_per_filter = w[0];
  g.filter_columns = true;
  return g;
}

// Per output element, (Cin / groups) * kernel positions multiply-accumulates: the weight's
// per-filter size, whatever the weight's element type.
template <size_t weight_input> int64_t conv_macs(const Node& node, const InferredGraph& shapes) {
  const Shape& w = shapes.shape_of(node.inputs.at(weight_input));
  const Shape& y = shapes.shape_of(node.outputs.at(0));
  if (w.size() < 3 || y.size() < 3) return 0;
  return dims_product(w, 1, w.size()) * dims_product(y, 1, y.size());
}

int64_t gemm_macs(const Node& node, const InferredGraph& shapes) {
  const Shape& a = shapes.shape_of(node.inputs.at(0));
  const Shape& y = shapes.shape_of(node.outputs.at(0));
  if (a.size() != 2 || y.size() != 2) return 0;
  const int64_t k = node.attr_int("transA", 0) ? a[0] : a[1];
  return y[0] * y[1] * k;
}

int64_t matmul_macs(const Node& node, const InferredGraph& shapes) {
  const Shape& a = shapes.shape_of(node.inputs.at(0));
  const Shape& y = shapes.shape_of(node.outputs.at(0));
  if (a.empty()) return 0;
  return shape_numel(y) * a.back();
}

const WeightedOpTraits rows[] = {
    // op, data, weight, bias, convolution, float weight, geometry, MACs
    {"Conv", 0, 1, 2, true, true, conv_geometry, conv_macs<1>},
    {"Gemm", 0, 1, 2, false, true, gemm_geometry, gemm_macs},
    {"MatMul", 0, 1, -1, false, true, matmul_geometry, matmul_macs},
    // Integer convolutions (a QDQ export's int8 layers): counted, never fitted.
    {"ConvInteger", 0, 1, -1, true, false, conv_geometry, conv_macs<1>},
    {"QLinearConv", 0, 3, 8, true, false, conv_geometry, conv_macs<3>},
};

}  // namespace

const WeightedOpTraits* weighted_op_traits(const std::string& op) {
  for (const auto& r : rows)
    if (op == r.op) return &r;
  return nullptr;
}

std::optional<WeightedLayer> weighted_layer(const Graph& graph, const Node& node) {
  const WeightedOpTraits* traits = weighted_op_traits(node.op);
  if (!traits || !traits->float_weight || !node.has_input(traits->weight_input)) return std::nullopt;
  const Tensor* w = graph.initializer(node.inputs[traits->weight_input]);
  if (!w || w->dtype() != DType::f32) return std::nullopt;
  auto geometry = traits->geometry(node, w->shape());
  if (!geometry) return std::nullopt;
  WeightedLayer l;
  l.node = &node;
  l.traits = traits;
  l.weight = node.inputs[traits->weight_input];
  if (traits->bias_input >= 0 && node.has_input(static_cast<size_t>(traits->bias_input))) l.bias = node.inputs[static_cast<size_t>(traits->bias_input)];
  l.geometry = *geometry;
  return l;
}

std::string layer_kind(const WeightedLayer& layer, const Tensor& weight) {
  if (!layer.traits->convolution) return "fc";
  const bool one_by_one = weight.rank() == 4 && weight.dim(2) == 1 && weight.dim(3) == 1;
  if (layer.geometry.groups > 1 && weight.dim(1) == 1) return "depthwise";
  // A grouped 1x1 conv (ShuffleNetV1's "pointwise group convolution") is pointwise too: each filter
  // is a 1x1 filter over its group's channels, fitted with that group's statistics.
  if (one_by_one) return "pointwise";
  return "conv";
}

void write_filter(Tensor& weight, const WeightGeometry& geometry, int64_t filter, std::span<const double> values) {
  float* p = weight.data<float>();
  for (int64_t k = 0; k < geometry.inputs_per_filter; ++k) p[geometry.element(filter, k)] = static_cast<float>(values[static_cast<size_t>(k)]);
}

}  // namespace mc
