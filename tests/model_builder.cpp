#include "tests/model_builder.h"

namespace mc::test {

namespace {
Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.type = AttrType::integers;
  a.ints = std::move(v);
  return a;
}
}  // namespace

Model tiny_conv_model() {
  Model m;
  m.opset = 13;
  m.ir_version = 7;
  Graph& g = m.graph;
  g.name = "tiny";
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 4}, {"N", ""}, true});
  std::vector<float> w(4 * 3 * 3 * 3), b(4);
  uint32_t state = 12345;
  for (auto& v : w) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.1f * static_cast<float>(i);
  g.initializers["w"] = Tensor::from_vector<float>({4, 3, 3, 3}, w);
  g.initializers["b"] = Tensor::from_vector<float>({4}, b);
  Node conv{"conv", "Conv", {"x", "w", "b"}, {"c"}, {}};
  conv.attrs["pads"] = ints_attr({1, 1, 1, 1});
  conv.attrs["kernel_shape"] = ints_attr({3, 3});
  g.nodes.push_back(conv);
  g.nodes.push_back(Node{"relu", "Relu", {"c"}, {"r"}, {}});
  g.nodes.push_back(Node{"gap", "GlobalAveragePool", {"r"}, {"p"}, {}});
  g.nodes.push_back(Node{"flatten", "Flatten", {"p"}, {"y"}, {}});
  return m;
}

Model relu_only_model() {
  Model m;
  m.opset = 13;
  m.graph.name = "relu";
  m.graph.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  m.graph.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  m.graph.nodes.push_back(Node{"relu", "Relu", {"x"}, {"y"}, {}});
  return m;
}

}  // namespace mc::test
