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
  const std::vector<float> w = TestRandom{12345}.values(4 * 3 * 3 * 3, 1.0f);
  std::vector<float> b(4);
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

Model tiny_pointwise_model() {
  Model m;
  m.opset = 13;
  m.ir_version = 7;
  Graph& g = m.graph;
  g.name = "tiny_pointwise";
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 4}, {"N", ""}, true});
  TestRandom random{777};
  g.initializers["w1"] = Tensor::from_vector<float>({8, 3, 3, 3}, random.values(8 * 27, 1.0f));
  g.initializers["b1"] = Tensor::from_vector<float>({8}, random.values(8, 0.2f));
  g.initializers["w2"] = Tensor::from_vector<float>({8, 8, 1, 1}, random.values(64, 1.0f));
  g.initializers["b2"] = Tensor::from_vector<float>({8}, random.values(8, 0.2f));
  g.initializers["w3"] = Tensor::from_vector<float>({4, 8}, random.values(32, 2.0f));
  g.initializers["b3"] = Tensor::from_vector<float>({4}, random.values(4, 0.2f));
  Node conv{"conv", "Conv", {"x", "w1", "b1"}, {"c1"}, {}};
  conv.attrs["pads"] = ints_attr({1, 1, 1, 1});
  conv.attrs["kernel_shape"] = ints_attr({3, 3});
  g.nodes.push_back(conv);
  g.nodes.push_back(Node{"relu1", "Relu", {"c1"}, {"r1"}, {}});
  Node pw{"pointwise", "Conv", {"r1", "w2", "b2"}, {"c2"}, {}};
  pw.attrs["kernel_shape"] = ints_attr({1, 1});
  g.nodes.push_back(pw);
  g.nodes.push_back(Node{"relu2", "Relu", {"c2"}, {"r2"}, {}});
  g.nodes.push_back(Node{"gap", "GlobalAveragePool", {"r2"}, {"p"}, {}});
  g.nodes.push_back(Node{"flatten", "Flatten", {"p"}, {"f"}, {}});
  Node fc{"fc", "Gemm", {"f", "w3", "b3"}, {"y"}, {}};
  fc.attrs["transB"] = Attribute{AttrType::integer, 0, 1, {}, {}, {}, {}, {}};
  g.nodes.push_back(fc);
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
