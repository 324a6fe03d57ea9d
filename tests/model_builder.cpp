#include "tests/model_builder.h"

#include <cmath>

#include "tests/helpers.h"

namespace mc::test {

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


// ---------------------------------------------------------------------------------------------------
// Architecture families

namespace {

// Builds a classifier graph node by node; every node's output is named after the node.
struct FamilyBuilder {
  Model m;
  TestRandom random;

  FamilyBuilder(const std::string& name, int64_t opset, uint32_t seed, int64_t side) : random{seed} {
    m.opset = opset;
    m.ir_version = opset >= 21 ? 10 : opset >= 19 ? 9 : opset >= 15 ? 8 : opset >= 13 ? 7 : opset >= 11 ? 6 : opset >= 10 ? 5 : 4;
    m.graph.name = name;
    m.graph.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, side, side}, {"N", "", "", ""}, true});
  }

  Graph& g() { return m.graph; }

  Node& node(const std::string& name, const std::string& op, std::vector<std::string> inputs) {
    g().nodes.push_back(Node{name, op, std::move(inputs), {name}, {}});
    return g().nodes.back();
  }
  std::string constant_f(const std::string& name, Shape shape, std::vector<float> v) {
    g().initializers[name] = Tensor::from_vector<float>(std::move(shape), std::move(v));
    return name;
  }
  std::string constant_i(const std::string& name, std::vector<int64_t> v) {
    const int64_t n = static_cast<int64_t>(v.size());
    g().initializers[name] = Tensor::from_vector<int64_t>({n}, std::move(v));
    return name;
  }

  // Conv k x k, padding k/2, with a bias (unless the batch norm after it carries one); weights of
  // about unit gain so activations keep their scale through the blocks.
  std::string conv(const std::string& name, const std::string& in, int64_t cin, int64_t cout, int64_t k,
                   int64_t stride = 1, int64_t group = 1, bool bias = true) {
    const int64_t fan_in = cin / group * k * k;
    const float amplitude = 3.4f / std::sqrt(static_cast<float>(fan_in));
    std::vector<std::string> inputs{in, constant_f(name + "_w", {cout, cin / group, k, k},
                                                   random.values(static_cast<size_t>(cout * fan_in), amplitude))};
    if (bias) inputs.push_back(constant_f(name + "_b", {cout}, random.values(static_cast<size_t>(cout), 0.2f)));
    Node& n = node(name, "Conv", std::move(inputs));
    n.attrs["kernel_shape"] = ints_attr({k, k});
    n.attrs["pads"] = ints_attr({k / 2, k / 2, k / 2, k / 2});
    n.attrs["strides"] = ints_attr({stride, stride});
    if (group != 1) n.attrs["group"] = int_attr(group);
    return name;
  }
  // BatchNormalization with random statistics (variance in [0.5, 1.5]).
  std::string bn(const std::string& name, const std::string& in, int64_t c) {
    const size_t n = static_cast<size_t>(c);
    std::vector<float> scale = random.values(n, 0.6f), variance = random.values(n, 1.0f);
    for (auto& s : scale) s += 1.0f;
    for (auto& v : variance) v += 1.0f;
    node(name, "BatchNormalization",
         {in, constant_f(name + "_scale", {c}, scale), constant_f(name + "_bias", {c}, random.values(n, 0.4f)),
          constant_f(name + "_mean", {c}, random.values(n, 0.4f)), constant_f(name + "_var", {c}, variance)})
        .attrs["epsilon"] = float_attr(1e-5f);
    return name;
  }
  std::string act(const std::string& name, const std::string& op, const std::string& in) {
    node(name, op, {in});
    return name;
  }
  // Swish as exported from SiLU before opset 24: x * Sigmoid(x).
  std::string swish(const std::string& name, const std::string& in) {
    node(name + "_sigmoid", "Sigmoid", {in});
    node(name, "Mul", {in, name + "_sigmoid"});
    return name;
  }
  std::string concat(const std::string& name, std::vector<std::string> inputs) {
    node(name, "Concat", std::move(inputs)).attrs["axis"] = int_attr(1);
    return name;
  }
  // GlobalAveragePool -> Flatten -> Gemm (transB=1): the classifier every family ends in.
  // `gain` scales the classifier's weights so the outputs spread over a few units, like logits.
  void head(const std::string& in, int64_t c, int64_t classes, float gain) {
    node("head_pool", "GlobalAveragePool", {in});
    node("head_flat", "Flatten", {"head_pool"}).attrs["axis"] = int_attr(1);
    gemm("fc", "head_flat", c, classes, gain);
    g().nodes.back().outputs = {"y"};
    g().outputs.push_back(ValueInfo{"y", DType::f32, {-1, classes}, {"N", ""}, true});
  }
  std::string gemm(const std::string& name, const std::string& in, int64_t cin, int64_t cout, float gain = 1.0f) {
    const float amplitude = gain * 3.4f / std::sqrt(static_cast<float>(cin));
    Node& n = node(name, "Gemm",
                   {in, constant_f(name + "_w", {cout, cin}, random.values(static_cast<size_t>(cout * cin), amplitude)),
                    constant_f(name + "_b", {cout}, random.values(static_cast<size_t>(cout), 0.2f))});
    n.attrs["transB"] = int_attr(1);
    return name;
  }
};

}  // namespace

Model mobilenet_v3_model() {
  FamilyBuilder b("mobilenet_v3", 18, 3003, 16);
  b.act("stem_act", "HardSwish", b.conv("stem", "x", 3, 8, 3, 2));
  // Inverted residual, stride 1: expand -> hard-swish -> depthwise -> hard-swish -> SE through
  // GlobalAveragePool (1x1 convs, Relu, HardSigmoid, broadcasting Mul) -> project -> Add.
  b.act("b1_expand_act", "HardSwish", b.conv("b1_expand", "stem_act", 8, 16, 1));
  b.act("b1_dw_act", "HardSwish", b.conv("b1_dw", "b1_expand_act", 16, 16, 3, 1, 16));
  b.node("b1_se_pool", "GlobalAveragePool", {"b1_dw_act"});
  b.act("b1_se_reduce_act", "Relu", b.conv("b1_se_reduce", "b1_se_pool", 16, 8, 1));
  Node& gate1 = b.node("b1_se_gate", "HardSigmoid", {b.conv("b1_se_expand", "b1_se_reduce_act", 8, 16, 1)});
  gate1.attrs["alpha"] = float_attr(1.0f / 6.0f);
  gate1.attrs["beta"] = float_attr(0.5f);
  b.node("b1_se_scaled", "Mul", {"b1_dw_act", "b1_se_gate"});
  b.node("b1_add", "Add", {b.conv("b1_project", "b1_se_scaled", 16, 8, 1), "stem_act"});
  // Inverted residual, stride 2, Relu, SE through ReduceMean (axes as an input from opset 18).
  b.act("b2_expand_act", "Relu", b.conv("b2_expand", "b1_add", 8, 24, 1));
  b.act("b2_dw_act", "Relu", b.conv("b2_dw", "b2_expand_act", 24, 24, 3, 2, 24));
  b.node("b2_se_pool", "ReduceMean", {"b2_dw_act", b.constant_i("b2_se_axes", {2, 3})}).attrs["keepdims"] = int_attr(1);
  b.act("b2_se_reduce_act", "Relu", b.conv("b2_se_reduce", "b2_se_pool", 24, 8, 1));
  Node& gate2 = b.node("b2_se_gate", "HardSigmoid", {b.conv("b2_se_expand", "b2_se_reduce_act", 8, 24, 1)});
  gate2.attrs["alpha"] = float_attr(1.0f / 6.0f);
  gate2.attrs["beta"] = float_attr(0.5f);
  b.node("b2_se_scaled", "Mul", {"b2_dw_act", "b2_se_gate"});
  b.conv("b2_project", "b2_se_scaled", 24, 16, 1);
  // torchvision's head: last 1x1 conv -> hard-swish, pool, Linear -> hard-swish -> Linear.
  b.act("last_act", "HardSwish", b.conv("last", "b2_project", 16, 32, 1));
  b.node("head_pool", "GlobalAveragePool", {"last_act"});
  b.node("head_flat", "Flatten", {"head_pool"}).attrs["axis"] = int_attr(1);
  b.act("pre_fc_act", "HardSwish", b.gemm("pre_fc", "head_flat", 32, 24, 4.0f));
  b.gemm("fc", "pre_fc_act", 24, 10, 20.0f);
  b.g().nodes.back().outputs = {"y"};
  b.g().outputs.push_back(ValueInfo{"y", DType::f32, {-1, 10}, {"N", ""}, true});
  return b.m;
}

Model efficientnet_model() {
  FamilyBuilder b("efficientnet", 13, 3013, 16);
  b.swish("stem_act", b.conv("stem", "x", 3, 8, 3, 2));
  // MBConv1 (no expansion): depthwise -> Swish -> SE (Swish, Sigmoid gate) -> project -> Add.
  b.swish("m1_dw_act", b.conv("m1_dw", "stem_act", 8, 8, 3, 1, 8));
  b.node("m1_se_pool", "GlobalAveragePool", {"m1_dw_act"});
  b.swish("m1_se_reduce_act", b.conv("m1_se_reduce", "m1_se_pool", 8, 2, 1));
  b.act("m1_se_gate", "Sigmoid", b.conv("m1_se_expand", "m1_se_reduce_act", 2, 8, 1));
  b.node("m1_se_scaled", "Mul", {"m1_dw_act", "m1_se_gate"});
  b.node("m1_add", "Add", {b.conv("m1_project", "m1_se_scaled", 8, 8, 1), "stem_act"});
  // MBConv6, 5x5 depthwise, stride 2.
  b.swish("m2_expand_act", b.conv("m2_expand", "m1_add", 8, 32, 1));
  b.swish("m2_dw_act", b.conv("m2_dw", "m2_expand_act", 32, 32, 5, 2, 32));
  b.node("m2_se_pool", "GlobalAveragePool", {"m2_dw_act"});
  b.swish("m2_se_reduce_act", b.conv("m2_se_reduce", "m2_se_pool", 32, 4, 1));
  b.act("m2_se_gate", "Sigmoid", b.conv("m2_se_expand", "m2_se_reduce_act", 4, 32, 1));
  b.node("m2_se_scaled", "Mul", {"m2_dw_act", "m2_se_gate"});
  b.conv("m2_project", "m2_se_scaled", 32, 12, 1);
  b.swish("top_act", b.conv("top", "m2_project", 12, 32, 1));
  b.head("top_act", 32, 10, 60.0f);
  return b.m;
}

Model resnet_model() {
  FamilyBuilder b("resnet", 9, 3009, 16);
  // Stem: conv -> BatchNormalization -> Relu -> MaxPool 3x3 stride 2.
  b.act("stem_relu", "Relu", b.bn("stem_bn", b.conv("stem", "x", 3, 8, 3, 1, 1, false), 8));
  Node& pool = b.node("stem_pool", "MaxPool", {"stem_relu"});
  pool.attrs["kernel_shape"] = ints_attr({3, 3});
  pool.attrs["strides"] = ints_attr({2, 2});
  pool.attrs["pads"] = ints_attr({1, 1, 1, 1});
  // Basic block: 3x3 -> BN -> Relu -> 3x3 -> BN, Add the identity, Relu.
  b.act("basic_relu1", "Relu", b.bn("basic_bn1", b.conv("basic_conv1", "stem_pool", 8, 8, 3, 1, 1, false), 8));
  b.bn("basic_bn2", b.conv("basic_conv2", "basic_relu1", 8, 8, 3, 1, 1, false), 8);
  b.act("basic_out", "Relu", b.node("basic_add", "Add", {"basic_bn2", "stem_pool"}).name);
  // Bottleneck with a projection shortcut: 1x1 -> 3x3 stride 2 -> 1x1 (x4), shortcut 1x1 stride 2.
  b.act("bott_relu1", "Relu", b.bn("bott_bn1", b.conv("bott_conv1", "basic_out", 8, 4, 1, 1, 1, false), 4));
  b.act("bott_relu2", "Relu", b.bn("bott_bn2", b.conv("bott_conv2", "bott_relu1", 4, 4, 3, 2, 1, false), 4));
  b.bn("bott_bn3", b.conv("bott_conv3", "bott_relu2", 4, 16, 1, 1, 1, false), 16);
  b.bn("down_bn", b.conv("down", "basic_out", 8, 16, 1, 2, 1, false), 16);
  b.act("bott_out", "Relu", b.node("bott_add", "Add", {"bott_bn3", "down_bn"}).name);
  b.head("bott_out", 16, 10, 3.0f);
  return b.m;
}

Model squeezenet_model() {
  FamilyBuilder b("squeezenet", 11, 3011, 16);
  b.act("stem_relu", "Relu", b.conv("stem", "x", 3, 16, 3, 2));
  Node& pool = b.node("stem_pool", "MaxPool", {"stem_relu"});  // SqueezeNet 1.1: 3x3 stride 2, ceil mode
  pool.attrs["kernel_shape"] = ints_attr({3, 3});
  pool.attrs["strides"] = ints_attr({2, 2});
  pool.attrs["ceil_mode"] = int_attr(1);
  // Fire modules: squeeze 1x1 -> Relu, then expand 1x1 and expand 3x3 (each -> Relu) concatenated.
  auto fire = [&](const std::string& name, const std::string& in, int64_t cin, int64_t squeeze, int64_t expand) {
    b.act(name + "_squeeze_relu", "Relu", b.conv(name + "_squeeze", in, cin, squeeze, 1));
    b.act(name + "_e1_relu", "Relu", b.conv(name + "_e1", name + "_squeeze_relu", squeeze, expand, 1));
    b.act(name + "_e3_relu", "Relu", b.conv(name + "_e3", name + "_squeeze_relu", squeeze, expand, 3));
    return b.concat(name + "_concat", {name + "_e1_relu", name + "_e3_relu"});
  };
  fire("fire2", "stem_pool", 16, 4, 8);
  fire("fire3", "fire2_concat", 16, 6, 12);
  b.node("dropout", "Dropout", {"fire3_concat"}).attrs["ratio"] = float_attr(0.5f);  // inference: identity
  b.head("dropout", 24, 10, 3.0f);
  return b.m;
}

Model shufflenet_v1_model() {
  FamilyBuilder b("shufflenet_v1", 15, 3015, 16);
  constexpr int64_t groups = 3;
  b.act("stem_relu", "Relu", b.conv("stem", "x", 3, 12, 3, 2));  // 8x8
  // Channel shuffle as exported: Reshape [N, g, C/g, H, W] -> Transpose (swap g and C/g) -> Reshape back.
  auto shuffle = [&](const std::string& name, const std::string& in, int64_t c, int64_t side) {
    b.node(name + "_split", "Reshape", {in, b.constant_i(name + "_shape5", {0, groups, c / groups, side, side})});
    b.node(name + "_transpose", "Transpose", {name + "_split"}).attrs["perm"] = ints_attr({0, 2, 1, 3, 4});
    b.node(name, "Reshape", {name + "_transpose", b.constant_i(name + "_shape4", {0, -1, side, side})});
    return name;
  };
  // Stride-2 unit (the first of its stage: its first 1x1 conv is not grouped, as in the paper) ->
  // Relu -> shuffle -> depthwise 3x3 stride 2 -> grouped 1x1, Concat with the 3x3 average-pooled
  // input, Relu.
  b.act("u1_g1_relu", "Relu", b.conv("u1_g1", "stem_relu", 12, 6, 1));
  shuffle("u1_shuffle", "u1_g1_relu", 6, 8);
  b.conv("u1_g2", b.conv("u1_dw", "u1_shuffle", 6, 6, 3, 2, 6), 6, 12, 1, 1, groups);
  Node& avg = b.node("u1_shortcut", "AveragePool", {"stem_relu"});
  avg.attrs["kernel_shape"] = ints_attr({3, 3});
  avg.attrs["strides"] = ints_attr({2, 2});
  avg.attrs["pads"] = ints_attr({1, 1, 1, 1});
  avg.attrs["count_include_pad"] = int_attr(1);
  b.act("u1_out", "Relu", b.concat("u1_concat", {"u1_shortcut", "u1_g2"}));  // 24 channels, 4x4
  // Stride-1 unit: the same with an Add residual.
  b.act("u2_g1_relu", "Relu", b.conv("u2_g1", "u1_out", 24, 6, 1, 1, groups));
  shuffle("u2_shuffle", "u2_g1_relu", 6, 4);
  b.conv("u2_g2", b.conv("u2_dw", "u2_shuffle", 6, 6, 3, 1, 6), 6, 24, 1, 1, groups);
  b.act("u2_out", "Relu", b.node("u2_add", "Add", {"u2_g2", "u1_out"}).name);
  b.head("u2_out", 24, 10, 8.0f);
  return b.m;
}

Model ghostnet_model() {
  FamilyBuilder b("ghostnet", 21, 3021, 16);
  b.act("stem_relu", "Relu", b.conv("stem", "x", 3, 8, 3, 2));  // 8x8
  // Ghost module: a primary 1x1 conv and a cheap depthwise 3x3 on its output, concatenated and cut
  // to the wanted channels (Slice, as exported from out[:, :oup]).
  auto ghost = [&](const std::string& name, const std::string& in, int64_t cin, int64_t cout, bool relu) {
    const int64_t half = cout / 2;
    std::string primary = b.conv(name + "_primary", in, cin, half, 1);
    if (relu) primary = b.act(name + "_primary_relu", "Relu", primary);
    std::string cheap = b.conv(name + "_cheap", primary, half, half, 3, 1, half);
    if (relu) cheap = b.act(name + "_cheap_relu", "Relu", cheap);
    b.concat(name + "_concat", {primary, cheap});
    b.node(name, "Slice", {name + "_concat", b.constant_i(name + "_starts", {0}), b.constant_i(name + "_ends", {cout}),
                           b.constant_i(name + "_axes", {1})});
    return name;
  };
  // Ghost bottleneck, stride 1, with SE: GhostNet's hard sigmoid is relu6(x + 3) / 6 (Add, Clip, Div).
  ghost("g1_ghost1", "stem_relu", 8, 16, true);
  b.node("g1_se_pool", "GlobalAveragePool", {"g1_ghost1"});
  b.act("g1_se_reduce_relu", "Relu", b.conv("g1_se_reduce", "g1_se_pool", 16, 4, 1));
  b.conv("g1_se_expand", "g1_se_reduce_relu", 4, 16, 1);
  b.node("g1_se_plus3", "Add", {"g1_se_expand", b.constant_f("three", {}, {3.0f})});
  b.node("g1_se_relu6", "Clip", {"g1_se_plus3", b.constant_f("zero", {}, {0.0f}), b.constant_f("six", {}, {6.0f})});
  b.node("g1_se_gate", "Div", {"g1_se_relu6", "six"});
  b.node("g1_se_scaled", "Mul", {"g1_ghost1", "g1_se_gate"});
  ghost("g1_ghost2", "g1_se_scaled", 16, 8, false);
  b.node("g1_add", "Add", {"g1_ghost2", "stem_relu"});
  // Ghost bottleneck, stride 2: ghost -> depthwise stride 2 -> ghost; shortcut depthwise stride 2 -> 1x1.
  ghost("g2_ghost1", "g1_add", 8, 16, true);
  b.conv("g2_dw", "g2_ghost1", 16, 16, 3, 2, 16);
  ghost("g2_ghost2", "g2_dw", 16, 12, false);
  b.conv("g2_short_pw", b.conv("g2_short_dw", "g1_add", 8, 8, 3, 2, 8), 8, 12, 1);
  b.node("g2_add", "Add", {"g2_ghost2", "g2_short_pw"});
  // GhostNet's head: 1x1 conv -> Relu, pool, conv_head 1x1 -> Relu, Flatten, Linear.
  b.act("last_relu", "Relu", b.conv("last", "g2_add", 12, 32, 1));
  b.node("head_pool", "GlobalAveragePool", {"last_relu"});
  b.act("conv_head_relu", "Relu", b.conv("conv_head", "head_pool", 32, 40, 1));
  b.node("head_flat", "Flatten", {"conv_head_relu"}).attrs["axis"] = int_attr(1);
  b.gemm("fc", "head_flat", 40, 10, 10.0f);
  b.g().nodes.back().outputs = {"y"};
  b.g().outputs.push_back(ValueInfo{"y", DType::f32, {-1, 10}, {"N", ""}, true});
  return b.m;
}

const std::vector<FamilyModel>& family_models() {
  static const std::vector<FamilyModel> families = {
      {"mobilenet_v3", mobilenet_v3_model}, {"efficientnet", efficientnet_model}, {"resnet", resnet_model},
      {"squeezenet", squeezenet_model},     {"shufflenet_v1", shufflenet_v1_model}, {"ghostnet", ghostnet_model}};
  return families;
}

}  // namespace mc::test
