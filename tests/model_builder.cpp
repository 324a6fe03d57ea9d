#include "tests/model_builder.h"

#include <cmath>

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

Model se_family_model(int64_t opset) {
  Model m;
  m.opset = opset;
  m.ir_version = opset >= 21 ? 10 : opset >= 19 ? 9 : opset >= 18 ? 8 : 7;
  Graph& g = m.graph;
  g.name = "se_family";
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 10}, {"N", ""}, true});
  TestRandom random{4242};
  auto node = [&](const std::string& name, const std::string& op, std::vector<std::string> in) {
    g.nodes.push_back(Node{name, op, std::move(in), {name}, {}});
    return &g.nodes.back();
  };
  auto conv = [&](const std::string& name, const std::string& in, int64_t cin, int64_t cout, int64_t k, int64_t group) {
    const int64_t fan_in = cin / group * k * k;
    g.initializers[name + "_w"] =
        Tensor::from_vector<float>({cout, cin / group, k, k}, random.values(static_cast<size_t>(cout * fan_in), 4.0f / std::sqrt(static_cast<float>(fan_in))));
    g.initializers[name + "_b"] = Tensor::from_vector<float>({cout}, random.values(static_cast<size_t>(cout), 0.2f));
    Node* n = node(name, "Conv", {in, name + "_w", name + "_b"});
    n->attrs["kernel_shape"] = ints_attr({k, k});
    n->attrs["pads"] = ints_attr({k / 2, k / 2, k / 2, k / 2});
    n->attrs["group"] = Attribute{AttrType::integer, 0, group, {}, {}, {}, {}, {}};
  };
  auto swish = [&](const std::string& name, const std::string& in) {
    node(name + "_sigmoid", "Sigmoid", {in});
    node(name, "Mul", {in, name + "_sigmoid"});
  };
  conv("stem", "x", 3, 8, 3, 1);
  node("stem_act", "HardSwish", {"stem"});
  // Inverted residual with SE and hard-swish (MobileNetV3).
  conv("expand", "stem_act", 8, 16, 1, 1);
  node("expand_act", "HardSwish", {"expand"});
  conv("depthwise", "expand_act", 16, 16, 3, 16);
  node("depthwise_act", "Relu", {"depthwise"});
  Node* pool = node("se_pool", "ReduceMean", {"depthwise_act"});
  if (opset >= 18) {
    g.initializers["se_axes"] = Tensor::from_vector<int64_t>({2}, {2, 3});
    pool->inputs.push_back("se_axes");
  } else {
    pool->attrs["axes"] = ints_attr({2, 3});
  }
  conv("se_reduce", "se_pool", 16, 4, 1, 1);
  node("se_reduce_act", "Relu", {"se_reduce"});
  conv("se_expand", "se_reduce_act", 4, 16, 1, 1);
  Node* gate = node("se_gate", "HardSigmoid", {"se_expand"});
  gate->attrs["alpha"] = Attribute{AttrType::floating, 1.0f / 6.0f, 0, {}, {}, {}, {}, {}};
  node("se_scaled", "Mul", {"depthwise_act", "se_gate"});
  conv("project", "se_scaled", 16, 8, 1, 1);
  node("residual", "Add", {"project", "stem_act"});
  // MBConv with Swish (EfficientNet).
  conv("mb_expand", "residual", 8, 16, 1, 1);
  swish("mb_expand_act", "mb_expand");
  node("mb_pool", "GlobalAveragePool", {"mb_expand_act"});
  conv("mb_se_reduce", "mb_pool", 16, 4, 1, 1);
  swish("mb_se_reduce_act", "mb_se_reduce");
  conv("mb_se_expand", "mb_se_reduce_act", 4, 16, 1, 1);
  node("mb_se_gate", "Sigmoid", {"mb_se_expand"});
  node("mb_se_scaled", "Mul", {"mb_expand_act", "mb_se_gate"});
  conv("mb_project", "mb_se_scaled", 16, 8, 1, 1);
  Node* leaky = node("leaky", "LeakyRelu", {"mb_project"});
  leaky->attrs["alpha"] = Attribute{AttrType::floating, 0.1f, 0, {}, {}, {}, {}, {}};
  g.initializers["prelu_slope"] = Tensor::from_vector<float>({8, 1, 1}, random.values(8, 0.5f));
  node("prelu", "PRelu", {"leaky", "prelu_slope"});
  // Head.
  node("head_pool", "GlobalAveragePool", {"prelu"});
  node("head_flat", "Flatten", {"head_pool"});
  g.initializers["fc_w"] = Tensor::from_vector<float>({10, 8}, random.values(80, 2.0f));
  g.initializers["fc_b"] = Tensor::from_vector<float>({10}, random.values(10, 0.2f));
  Node* fc = node("fc", "Gemm", {"head_flat", "fc_w", "fc_b"});
  fc->attrs["transB"] = Attribute{AttrType::integer, 0, 1, {}, {}, {}, {}, {}};
  fc->outputs = {"y"};
  return m;
}

}  // namespace mc::test
