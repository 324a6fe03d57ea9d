// equalize (cross-layer equalization, Nagel et al. 2019, section 4.1) keeps the network's function
// up to float rounding, equalizes the per-channel weight ranges of each pair, rewrites ReLU6 into
// Relu + per-channel Min with the right constants, and skips the pairs it must not touch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/executor.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "passes/pass.h"
#include "tests/helpers.h"
#include "tests/test_util.h"

using namespace mc;
using mc::test::int_attr;
using mc::test::ints_attr;

namespace {


const Node* find_node(const Model& m, const std::string& op, int nth = 0) {
  for (const auto& node : m.graph.nodes)
    if (node.op == op && nth-- == 0) return &node;
  return nullptr;
}



std::vector<std::string> run_logged(Model& m, const std::string& pipeline) {
  std::vector<std::string> lines;
  PassContext ctx;
  ctx.log = [&](const std::string& line) { lines.push_back(line); };
  run_pipeline(m, parse_pipeline(pipeline), ctx);
  return lines;
}

std::vector<std::string> pair_lines(const std::vector<std::string>& log) {
  std::vector<std::string> out;
  for (const auto& l : log)
    if (l.rfind("equalize: pair ", 0) == 0) out.push_back(l.substr(15));
  return out;
}

// max |w| of each output channel (the whole filter) of a weight tensor [O, ...].
std::vector<double> filter_ranges(const Tensor& w) {
  const int64_t per = w.numel() / w.dim(0);
  std::vector<double> r(static_cast<size_t>(w.dim(0)), 0.0);
  for (int64_t o = 0; o < w.dim(0); ++o)
    for (int64_t k = 0; k < per; ++k)
      r[static_cast<size_t>(o)] = std::max(r[static_cast<size_t>(o)], static_cast<double>(std::fabs(w.data<float>()[o * per + k])));
  return r;
}

// max |w| over input channel i of a dense Conv weight [O, I, kh, kw].
std::vector<double> input_ranges(const Tensor& w) {
  const int64_t in = w.dim(1), k = w.numel() / (w.dim(0) * w.dim(1));
  std::vector<double> r(static_cast<size_t>(in), 0.0);
  for (int64_t o = 0; o < w.dim(0); ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < k; ++j)
        r[static_cast<size_t>(i)] = std::max(r[static_cast<size_t>(i)], static_cast<double>(std::fabs(w.data<float>()[(o * in + i) * k + j])));
  return r;
}

// Per depthwise Conv (group == channels > 1), how unevenly per-tensor quantization treats its
// filters: max over filters of max|w| divided by the median filter's max|w| (with a per-tensor
// grid, the median filter gets 1/spread of the levels the largest one gets). The median, not the
// minimum: MobileNetV1 has dead channels (filters ~1e-12 after fold-bn) whose ranges equalization
// rightly shrinks further, which would make max/min meaningless.
std::vector<double> depthwise_spreads(const Model& m) {
  std::vector<double> spreads;
  for (const auto& node : m.graph.nodes) {
    if (node.op != "Conv") continue;
    const Tensor& w = *m.graph.initializer(node.inputs[1]);
    if (node.attr_int("group", 1) != w.dim(0) || w.dim(1) != 1 || w.dim(0) <= 1) continue;
    auto r = filter_ranges(w);
    std::sort(r.begin(), r.end());
    spreads.push_back(r.back() / r[r.size() / 2]);
  }
  return spreads;
}

double geometric_mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += std::log(x);
  return std::exp(s / static_cast<double>(v.size()));
}


// Deterministic values in [-0.5, 0.5).
std::vector<float> pseudo_random(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  return v;
}

void add_conv(Graph& g, const std::string& name, const std::string& in, const std::string& out, Shape w_shape,
              std::vector<float> filter_gain, int64_t group, uint32_t seed) {
  const int64_t per = shape_numel(w_shape) / w_shape[0];
  auto w = pseudo_random(static_cast<size_t>(shape_numel(w_shape)), seed);
  for (int64_t o = 0; o < w_shape[0]; ++o)
    for (int64_t k = 0; k < per; ++k) w[static_cast<size_t>(o * per + k)] *= filter_gain[static_cast<size_t>(o)];
  auto b = pseudo_random(static_cast<size_t>(w_shape[0]), seed + 7);
  const int64_t kh = w_shape[2], kw = w_shape[3];
  g.initializers[name + "_w"] = Tensor::from_vector<float>(w_shape, w);
  g.initializers[name + "_b"] = Tensor::from_vector<float>({w_shape[0]}, b);
  Node conv{name, "Conv", {in, name + "_w", name + "_b"}, {out}, {}};
  conv.attrs["kernel_shape"] = ints_attr({kh, kw});
  conv.attrs["pads"] = ints_attr({kh / 2, kw / 2, kh / 2, kw / 2});
  conv.attrs["group"] = int_attr(group);
  g.nodes.push_back(conv);
}

void add_clip(Graph& g, const std::string& name, const std::string& in, const std::string& out, float lo, float hi) {
  g.initializers[name + "_lo"] = Tensor::scalar_f32(lo);
  g.initializers[name + "_hi"] = Tensor::scalar_f32(hi);
  g.nodes.push_back(Node{name, "Clip", {in, name + "_lo", name + "_hi"}, {out}, {}});
}

// x [N,3,8,8] -> pw (4 filters, 3x3) -> ReLU6 -> dw (4 filters 3x3, group 4) -> ReLU6 -> pw (5 filters, 1x1) -> y.
// Filter magnitudes differ by up to 100x so the pairs need real rescaling and ReLU6 saturates.
Model relu6_chain_model() {
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.name = "relu6_chain";
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 5, 8, 8}, {"N", "", "", ""}, true});
  add_conv(g, "conv1", "x", "c1", {4, 3, 3, 3}, {0.2f, 2.0f, 20.0f, 6.0f}, 1, 11);
  add_clip(g, "relu6_1", "c1", "a1", 0.0f, 6.0f);
  add_conv(g, "dw", "a1", "c2", {4, 1, 3, 3}, {3.0f, 0.05f, 1.0f, 0.4f}, 4, 23);
  add_clip(g, "relu6_2", "c2", "a2", 0.0f, 6.0f);
  add_conv(g, "conv3", "a2", "y", {5, 4, 1, 1}, {1.0f, 0.5f, 2.0f, 1.0f, 1.5f}, 1, 37);
  return m;
}

Tensor random_input(Shape shape, uint32_t seed) {
  auto v = pseudo_random(static_cast<size_t>(shape_numel(shape)), seed);
  for (auto& x : v) x *= 2.0f;  // [-1, 1)
  return Tensor::from_vector<float>(std::move(shape), v);
}

}  // namespace

TEST_CASE("test_equalize: Min and Max broadcast like Add and take any number of inputs") {
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {2, 3, 1, 2}, {"", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"lo", DType::f32, {2, 3, 1, 2}, {"", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"hi", DType::f32, {2, 3, 1, 2}, {"", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"three", DType::f32, {2, 3, 1, 2}, {"", "", "", ""}, true});
  g.initializers["c"] = Tensor::from_vector<float>({3, 1, 1}, {0.0f, 1.0f, 2.0f});
  g.initializers["d"] = Tensor::from_vector<float>({2}, {0.5f, 1.5f});
  g.nodes.push_back(Node{"min", "Min", {"x", "c"}, {"lo"}, {}});
  g.nodes.push_back(Node{"max", "Max", {"c", "x"}, {"hi"}, {}});
  g.nodes.push_back(Node{"min3", "Min", {"x", "c", "d"}, {"three"}, {}});
  std::vector<float> xv(12);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(i) * 0.25f - 1.0f;
  auto out = Executor(m).run({Tensor::from_vector<float>({2, 3, 1, 2}, xv)});
  REQUIRE(out.size() == 3);
  auto lo = out[0].to_float_vector(), hi = out[1].to_float_vector(), three = out[2].to_float_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    const float c = static_cast<float>((i / 2) % 3), d = i % 2 == 0 ? 0.5f : 1.5f;
    CHECK(lo[i] == std::min(xv[i], c));
    CHECK(hi[i] == std::max(xv[i], c));
    CHECK(three[i] == std::min({xv[i], c, d}));
  }
}

TEST_CASE("test_equalize: a pw -> ReLU6 -> dw -> ReLU6 -> pw chain stays exact and gets per-channel clips") {
  Model original = relu6_chain_model();
  Model eq = original;
  auto log = run_logged(eq, "equalize");
  auto pairs = pair_lines(log);
  REQUIRE(pairs.size() == 2);
  CHECK(pairs[0] == "conv1 -> Clip -> dw");
  CHECK(pairs[1] == "dw -> Clip -> conv3");

  // ReLU6 became Relu + Min with a [C,1,1] constant; nothing else was added.
  CHECK(test::count_op(eq, "Clip") == 0);
  CHECK(test::count_op(eq, "Relu") == 2);
  CHECK(test::count_op(eq, "Min") == 2);
  CHECK(test::count_op(eq, "Conv") == 3);

  // Exact up to float rounding, on inputs that saturate the clips.
  Tensor x = random_input({2, 3, 8, 8}, 99);
  CHECK(test::relative_change(original, eq, x) <= 1e-5);

  // The scale s_i of a pair is read off layer 1's filter i (old range * its input scale / new
  // range); Min's constant must be 6 / s_i and the bias b_i / s_i.
  const Graph& g0 = original.graph;
  const Graph& g1 = eq.graph;
  const char* first_layers[] = {"conv1", "dw"};
  std::vector<double> input_scale(4, 1.0);  // conv1 reads the graph input; dw reads pair 0's channels
  for (int pair = 0; pair < 2; ++pair) {
    CAPTURE(pair);
    const Node* conv = eq.graph.node(first_layers[pair]);
    REQUIRE(conv);
    const Tensor& w_old = *g0.initializer(std::string(first_layers[pair]) + "_w");
    const Tensor& w_new = *g1.initializer(conv->inputs[1]);
    const Tensor& b_old = *g0.initializer(std::string(first_layers[pair]) + "_b");
    const Tensor& b_new = *g1.initializer(conv->inputs[2]);
    auto r_old = filter_ranges(w_old), r_new = filter_ranges(w_new);
    // The Min reading this layer's Relu output.
    const Node* relu = nullptr;
    for (const auto& n : g1.nodes)
      if (n.op == "Relu" && n.inputs[0] == conv->outputs[0]) relu = &n;
    REQUIRE(relu);
    const Node* min = nullptr;
    for (const auto& n : g1.nodes)
      if (n.op == "Min" && n.inputs[0] == relu->outputs[0]) min = &n;
    REQUIRE(min);
    const Tensor& c = *g1.initializer(min->inputs[1]);
    REQUIRE(c.shape() == Shape{4, 1, 1});
    bool some_scaled = false;
    std::vector<double> scale(4);
    for (size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      const double s = scale[i] = r_old[i] * input_scale[i] / r_new[i];
      some_scaled |= std::fabs(std::log(s)) > 0.1;
      CHECK(c.data<float>()[i] == doctest::Approx(6.0 / s).epsilon(1e-5));
      CHECK(b_new.data<float>()[i] == doctest::Approx(b_old.data<float>()[i] / s).epsilon(1e-5));
    }
    CHECK(some_scaled);
    input_scale = scale;
  }

  // Converged: on both sides of each intermediate tensor the channel ranges now agree.
  const Tensor& w1 = *g1.initializer(eq.graph.node("conv1")->inputs[1]);
  const Tensor& w2 = *g1.initializer(eq.graph.node("dw")->inputs[1]);
  const Tensor& w3 = *g1.initializer(eq.graph.node("conv3")->inputs[1]);
  auto r1 = filter_ranges(w1), r2 = filter_ranges(w2), r3 = input_ranges(w3);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(r1[i] == doctest::Approx(r2[i]).epsilon(1e-4));  // dw: input channel i is filter i
    CHECK(r2[i] == doctest::Approx(r3[i]).epsilon(1e-4));
  }

  // Running the pass again composes with the existing Min constants and changes nothing more.
  Model again = eq;
  run_logged(again, "equalize");
  CHECK(test::count_op(again, "Min") == 2);
  CHECK(test::count_op(again, "Relu") == 2);
  CHECK(test::relative_change(original, again, x) <= 1e-5);
  const Tensor& c_before = *g1.initializer(find_node(eq, "Min")->inputs[1]);
  const Tensor& c_after = *again.graph.initializer(find_node(again, "Min")->inputs[1]);
  for (int64_t i = 0; i < 4; ++i)
    CHECK(c_after.data<float>()[i] == doctest::Approx(c_before.data<float>()[i]).epsilon(1e-5));
}

TEST_CASE("test_equalize: Gemm -> Relu -> Gemm in both weight layouts") {
  for (int64_t trans_b : {0, 1}) {
    CAPTURE(trans_b);
    Model m;
    m.opset = 13;
    Graph& g = m.graph;
    g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 6}, {"N", ""}, true});
    g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 3}, {"N", ""}, true});
    // Layer 1: 6 -> 4 with row/column magnitudes spread out; layer 2: 4 -> 3.
    auto w1 = pseudo_random(24, 5), w2 = pseudo_random(12, 6);
    const float gains[] = {0.1f, 1.0f, 10.0f, 3.0f};
    for (int64_t k = 0; k < 6; ++k)
      for (int64_t n = 0; n < 4; ++n) w1[static_cast<size_t>(trans_b ? n * 6 + k : k * 4 + n)] *= gains[n];
    g.initializers["w1"] = Tensor::from_vector<float>(trans_b ? Shape{4, 6} : Shape{6, 4}, w1);
    g.initializers["b1"] = Tensor::from_vector<float>({4}, {0.1f, -0.2f, 0.3f, 0.05f});
    g.initializers["w2"] = Tensor::from_vector<float>(trans_b ? Shape{3, 4} : Shape{4, 3}, w2);
    g.initializers["b2"] = Tensor::from_vector<float>({3}, {0.0f, 0.1f, 0.2f});
    Node gemm1{"gemm1", "Gemm", {"x", "w1", "b1"}, {"h"}, {}};
    gemm1.attrs["transB"] = int_attr(trans_b);
    Node gemm2{"gemm2", "Gemm", {"r", "w2", "b2"}, {"y"}, {}};
    gemm2.attrs["transB"] = int_attr(trans_b);
    g.nodes.push_back(gemm1);
    g.nodes.push_back(Node{"relu6", "Clip", {"h", "lo", "hi"}, {"r"}, {}});
    g.initializers["lo"] = Tensor::scalar_f32(0.0f);
    g.initializers["hi"] = Tensor::scalar_f32(6.0f);
    g.nodes.push_back(gemm2);
    Model eq = m;
    auto pairs = pair_lines(run_logged(eq, "equalize"));
    REQUIRE(pairs.size() == 1);
    CHECK(pairs[0] == "gemm1 -> Clip -> gemm2");
    const Node* min = find_node(eq, "Min");
    REQUIRE(min);
    CHECK(eq.graph.initializer(min->inputs[1])->shape() == Shape{4});
    CHECK(test::relative_change(m, eq, random_input({5, 6}, 3)) <= 1e-5);
  }
}

TEST_CASE("test_equalize: pairs it must not touch are left alone") {
  auto expect_no_pairs = [](Model m, const char* why) {
    CAPTURE(why);
    Model eq = m;
    auto pairs = pair_lines(run_logged(eq, "equalize"));
    CHECK(pairs.empty());
    CHECK(test::count_op(eq, "Min") == 0);
    for (const auto& [name, t_init] : m.graph.initializers) {
    const Tensor& t = t_init.values;
      CAPTURE(name);
      REQUIRE(eq.graph.initializer(name));
      CHECK(std::memcmp(eq.graph.initializer(name)->raw(), t.raw(), t.byte_size()) == 0);
    }
  };
  auto two_convs = [](float clip_lo) {
    Model m;
    m.opset = 13;
    Graph& g = m.graph;
    g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
    g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 4, 8, 8}, {"N", "", "", ""}, true});
    add_conv(g, "conv1", "x", "c1", {4, 3, 3, 3}, {0.2f, 2.0f, 20.0f, 6.0f}, 1, 11);
    add_clip(g, "clip", "c1", "a1", clip_lo, 6.0f);
    add_conv(g, "dw", "a1", "y", {4, 1, 3, 3}, {3.0f, 0.05f, 1.0f, 0.4f}, 4, 23);
    return m;
  };
  expect_no_pairs(two_convs(-1.0f), "Clip with a negative lower bound");
  {
    // Min-6 does not broadcast, so before opset 8 ReLU6 cannot become a per-channel clip.
    Model m = two_convs(0.0f);
    m.opset = 7;
    Node& clip = m.graph.nodes[1];
    clip.inputs.resize(1);
    Attribute lo, hi;
    lo.type = hi.type = AttrType::floating;
    lo.f = 0.0f;
    hi.f = 6.0f;
    clip.attrs["min"] = lo;
    clip.attrs["max"] = hi;
    m.graph.initializers.erase("clip_lo");
    m.graph.initializers.erase("clip_hi");
    expect_no_pairs(m, "ReLU6 at opset 7");
  }
  expect_no_pairs(two_convs(0.5f), "Clip with a positive lower bound");
  {
    Model m = two_convs(0.0f);
    m.graph.outputs.push_back(ValueInfo{"c1", DType::f32, {-1, 4, 8, 8}, {"N", "", "", ""}, true});
    expect_no_pairs(m, "intermediate value is a graph output");
  }
  {
    Model m = two_convs(0.0f);
    m.graph.outputs.push_back(ValueInfo{"z", DType::f32, {-1, 4, 8, 8}, {"N", "", "", ""}, true});
    m.graph.nodes.push_back(Node{"extra", "Relu", {"a1"}, {"z"}, {}});
    expect_no_pairs(m, "intermediate value has two readers");
  }
  {
    Model m = two_convs(0.0f);
    Graph& g = m.graph;
    g.nodes[1].inputs[0] = "bn_out";
    for (const char* p : {"scale", "shift", "mean", "var"})
      g.initializers[std::string("bn_") + p] = Tensor::from_vector<float>({4}, {1.0f, 1.0f, 1.0f, 1.0f});
    g.nodes.insert(g.nodes.begin() + 1,
                   Node{"bn", "BatchNormalization", {"c1", "bn_scale", "bn_shift", "bn_mean", "bn_var"}, {"bn_out"}, {}});
    expect_no_pairs(m, "BatchNormalization between the layers");
  }
}

TEST_CASE("test_equalize: degenerate channels keep scale 1 and the output stays finite") {
  Model m = relu6_chain_model();
  // Filter 1 of conv1 is all zero: r1 = 0, so its channel is not rescaled.
  Tensor& w = m.graph.initializers["conv1_w"].values;
  for (int64_t k = 0; k < 27; ++k) w.data<float>()[27 + k] = 0.0f;
  Model eq = m;
  run_logged(eq, "equalize");
  const Tensor& c = *eq.graph.initializer(find_node(eq, "Min")->inputs[1]);
  CHECK(c.data<float>()[1] == 6.0f);
  for (int64_t i = 0; i < c.numel(); ++i) CHECK(std::isfinite(c.data<float>()[i]));
  Tensor x = random_input({2, 3, 8, 8}, 99);
  CHECK(test::relative_change(m, eq, x) <= 1e-5);
}

TEST_CASE("test_equalize: iterations option parses and 0 sweeps changes nothing") {
  auto p = parse_pipeline("equalize<iterations=3>");
  CHECK(pipeline_string(p) == "equalize<iterations=3>");
  Model m = relu6_chain_model();
  Model eq = m;
  run_logged(eq, "equalize<iterations=0>");
  CHECK(test::count_op(eq, "Clip") == 2);
  CHECK(test::count_op(eq, "Min") == 0);
  try {
    parse_pipeline("equalize<steps=3>");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
  }
}

TEST_CASE("test_equalize: every shared model keeps its outputs") {
  if (!test::need_shared()) return;
  for (const test::SharedModel c : test::float_shared_models) {
    CAPTURE(c.model);
    Model m = load_onnx((test::shared_dir() / "models" / (std::string(c.model) + ".onnx")).string());
    Model folded = m;
    run_logged(folded, "fold-constants,fold-bn");
    Model eq = folded;
    auto log = run_logged(eq, "equalize");
    auto pairs = pair_lines(log);
    for (const auto& l : log)
      if (l.rfind("equalize: pair ", 0) != 0) MESSAGE(std::string(c.model) << ": " << l);
    CHECK(!pairs.empty());
    auto before = depthwise_spreads(folded), after = depthwise_spreads(eq);
    MESSAGE(std::string(c.model) << ": depthwise max/median filter-range ratio, geometric mean over " << before.size()
                                 << " layers: " << geometric_mean(before) << " -> " << geometric_mean(after));
    CHECK(geometric_mean(after) < geometric_mean(before));
    Tensor x = test::first_reference_images(c.input, 2);
    const double change = test::relative_change(m, eq, x);
    MESSAGE(std::string(c.model) << ": relative output change " << change);
    CHECK(change <= 1e-4);
  }
}

TEST_CASE("test_equalize: MobileNetV1 0.25 depthwise ranges become much more uniform") {
  if (!test::need_shared()) return;
  Model m = load_onnx((test::shared_dir() / "models" / "mobilenet_v1_0.25_224.onnx").string());
  run_logged(m, "fold-constants,fold-bn");
  Model eq = m;
  auto pairs = pair_lines(run_logged(eq, "equalize"));
  // 27 convs in a chain (conv0, then dw/pw x 13) joined by ReLU6: 26 pairs; the classifier
  // after global pooling is not paired.
  CHECK(pairs.size() == 26);
  CHECK(test::count_op(eq, "Clip") == test::count_op(m, "Clip") - 26);
  auto before = depthwise_spreads(m), after = depthwise_spreads(eq);
  REQUIRE(before.size() == 13);
  REQUIRE(after.size() == 13);
  // Measured: 2.4 to 170 before (geometric mean 12.4; six layers above 10), 1.03 to 4.8 after
  // (geometric mean 1.40).
  int wide_before = 0, wide_after = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    CAPTURE(i);
    MESSAGE("dw layer " << i << ": max/median filter range " << before[i] << " -> " << after[i]);
    CHECK(after[i] < before[i]);
    CHECK(after[i] < 5.0);
    wide_before += before[i] > 10.0;
    wide_after += after[i] > 10.0;
  }
  CHECK(wide_before >= 5);
  CHECK(wide_after == 0);
  CHECK(geometric_mean(before) / geometric_mean(after) > 5.0);
}
