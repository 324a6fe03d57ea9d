// The ops of the MobileNetV3 / EfficientNet / MnasNet / GhostNet families (Sigmoid, HardSigmoid,
// HardSwish, LeakyRelu, PRelu, Tanh, Exp, the Reduce ops) and the forms opsets 18 to 21 introduced
// (Reduce axes as an input with noop_with_empty_axes, Split num_outputs, Pad axes and wrap,
// Quantize/DequantizeLinear block_size and output_dtype). ONNX 1.12's conformance cases
// (tests/test_onnx_conformance.cpp) stop at opset 17, so these forms are checked here twice: against
// values worked out by hand from the operator definitions, and against ONNX Runtime
// (../shared/tools/ort-eval, node) on graphs at opsets 18 to 21 that use every op with a kernel:
// one-node forms, and MobileNetV3, EfficientNet, GhostNet, ShuffleNetV1, SqueezeNet and ResNet
// blocks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <map>
#include <string>
#include <vector>

#include "core/executor.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"
#include "tests/helpers.h"
#include "tests/test_util.h"

using namespace mc;
using mc::test::string_attr;
using mc::test::float_attr;
using mc::test::int_attr;
using mc::test::ints_attr;
using mc::test::floats;
using mc::test::ints;

namespace {


// Deterministic values in [lo, hi] (a fixed linear congruential sequence).
Tensor ramp(Shape shape, float lo, float hi, uint32_t seed = 1) {
  Tensor t(DType::f32, shape);
  uint32_t s = seed;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.data<float>()[i] = lo + (hi - lo) * static_cast<float>(s >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}


// A small graph: float inputs fed at run time, constants as initializers, outputs declared float32.
struct Net {
  Model model;
  std::vector<Tensor> feeds;

  explicit Net(int64_t opset) {
    model.opset = opset;
    model.ir_version = 10;  // ONNX Runtime wants IR 10 for opset 21
  }
  Node& add(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
            std::map<std::string, Attribute> attrs = {}) {
    Node node;
    node.name = op + "_" + std::to_string(model.graph.nodes.size());
    node.op = op;
    node.inputs = std::move(inputs);
    node.outputs = std::move(outputs);
    node.attrs = std::move(attrs);
    model.graph.nodes.push_back(std::move(node));
    return model.graph.nodes.back();
  }
  void input(const std::string& name, Tensor t) {
    model.graph.inputs.push_back(ValueInfo{name, t.dtype(), t.shape(), std::vector<std::string>(t.rank()), true});
    feeds.push_back(std::move(t));
  }
  void constant(const std::string& name, Tensor t) { model.graph.initializers[name] = std::move(t); }
  void output(const std::string& name, DType dtype = DType::f32) {
    model.graph.outputs.push_back(ValueInfo{name, dtype, {}, {}, false});
  }
  std::vector<Tensor> run(int threads = 1, bool fuse = true) const {
    return Executor(model, ExecutorOptions{threads, fuse}).run(feeds);
  }
};

// One node reading "x" (and constants) and writing "y".
Net unary(int64_t opset, const std::string& op, Tensor x, std::map<std::string, Attribute> attrs = {},
          std::vector<std::string> extra_inputs = {}) {
  Net n(opset);
  std::vector<std::string> inputs{"x"};
  inputs.insert(inputs.end(), extra_inputs.begin(), extra_inputs.end());
  n.add(op, inputs, {"y"}, std::move(attrs));
  n.input("x", std::move(x));
  n.output("y");
  return n;
}

void check_values(const Tensor& got, const Shape& shape, const std::vector<float>& want, float tol = 1e-6f) {
  REQUIRE(got.shape() == shape);
  const auto g = got.to_float_vector();
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(g[i] - want[i]) <= tol * std::max(1.0f, std::fabs(want[i])));
  }
}

}  // namespace

TEST_CASE("test_ops: the family activations compute their ONNX definitions") {
  const Tensor x = floats({6}, {-4.0f, -1.0f, -0.0f, 0.5f, 2.0f, 4.0f});
  // Sigmoid 1 / (1 + e^-x); far negative inputs underflow to 0 without NaN.
  check_values(unary(13, "Sigmoid", x).run()[0], {6},
               {0.01798621f, 0.26894142f, 0.5f, 0.62245933f, 0.88079708f, 0.98201379f});
  const auto far = unary(13, "Sigmoid", floats({2}, {-200.0f, 200.0f})).run()[0].to_float_vector();
  CHECK(far[0] == 0.0f);
  CHECK(far[1] == 1.0f);
  // HardSigmoid max(0, min(1, alpha x + beta)): defaults 0.2 and 0.5, then alpha 0.5, beta 0.25.
  check_values(unary(6, "HardSigmoid", x).run()[0], {6}, {0.0f, 0.3f, 0.5f, 0.6f, 0.9f, 1.0f});
  check_values(unary(21, "HardSigmoid", x, {{"alpha", float_attr(0.5f)}, {"beta", float_attr(0.25f)}}).run()[0], {6},
               {0.0f, 0.0f, 0.25f, 0.5f, 1.0f, 1.0f});
  // HardSwish x * max(0, min(1, x / 6 + 0.5)).
  check_values(unary(14, "HardSwish", x).run()[0], {6},
               {0.0f, -1.0f / 3.0f, 0.0f, 0.5f * (0.5f / 6 + 0.5f), 2.0f * (2.0f / 6 + 0.5f), 4.0f});
  // LeakyRelu: default alpha 0.01, then 0.2.
  check_values(unary(16, "LeakyRelu", x).run()[0], {6}, {-0.04f, -0.01f, 0.0f, 0.5f, 2.0f, 4.0f});
  check_values(unary(6, "LeakyRelu", x, {{"alpha", float_attr(0.2f)}}).run()[0], {6}, {-0.8f, -0.2f, 0.0f, 0.5f, 2.0f, 4.0f});
  check_values(unary(13, "Tanh", x).run()[0], {6},
               {-0.99932930f, -0.76159416f, 0.0f, 0.46211716f, 0.96402758f, 0.99932930f});
  check_values(unary(13, "Exp", x).run()[0], {6},
               {0.01831564f, 0.36787944f, 1.0f, 1.64872127f, 7.38905610f, 54.59815003f});
  check_values(unary(13, "Erf", x).run()[0], {6},
               {-0.99999998f, -0.84270079f, 0.0f, 0.52049988f, 0.99532227f, 0.99999998f});
}

TEST_CASE("test_ops: the float arithmetic and the other activations exports use") {
  const Tensor x = floats({5}, {-2.0f, -0.5f, 0.0f, 0.25f, 4.0f});
  check_values(unary(13, "Neg", x).run()[0], {5}, {2.0f, 0.5f, -0.0f, -0.25f, -4.0f});
  check_values(unary(13, "Abs", x).run()[0], {5}, {2.0f, 0.5f, 0.0f, 0.25f, 4.0f});
  check_values(unary(13, "Reciprocal", floats({3}, {-2.0f, 0.25f, 4.0f})).run()[0], {3}, {-0.5f, 4.0f, 0.25f});
  const auto roots = unary(13, "Sqrt", floats({3}, {0.25f, 4.0f, -1.0f})).run()[0].to_float_vector();
  CHECK(roots[0] == 0.5f);
  CHECK(roots[1] == 2.0f);
  CHECK(std::isnan(roots[2]));
  // Softplus ln(1 + e^x), finite for large x.
  check_values(unary(13, "Softplus", floats({4}, {-2.0f, 0.0f, 3.0f, 100.0f})).run()[0], {4},
               {0.12692801f, 0.69314718f, 3.04858735f, 100.0f});
  // Elu alpha (e^x - 1) below 0 (default alpha 1, then 2).
  check_values(unary(6, "Elu", x).run()[0], {5}, {-0.86466472f, -0.39346934f, 0.0f, 0.25f, 4.0f});
  check_values(unary(6, "Elu", x, {{"alpha", float_attr(2.0f)}}).run()[0], {5}, {-1.72932943f, -0.78693868f, 0.0f, 0.25f, 4.0f});
  // Selu with ONNX's default alpha 1.67326 and gamma 1.0507.
  check_values(unary(6, "Selu", x).run()[0], {5}, {-1.52016647f, -0.69175116f, 0.0f, 0.26267526f, 4.20280409f}, 1e-5f);
  // Integer tensors are not computed: unsupported, naming the element type.
  test::expect_error([&] { unary(13, "Neg", ints({2}, {1, -1})).run(); }, ErrorKind::unsupported, "element type int64");
}

TEST_CASE("test_ops: 8-bit integer arithmetic wraps like numpy; integer division truncates") {
  auto run2 = [](const std::string& op, Tensor a, Tensor b, DType out) {
    Net n(14);
    n.add(op, {"a", "b"}, {"y"});
    n.input("a", std::move(a));
    n.constant("b", std::move(b));
    n.output("y", out);
    return n.run()[0];
  };
  const Tensor ua = Tensor::from_vector<uint8_t>({3}, {250, 7, 200});
  const Tensor ub = Tensor::from_vector<uint8_t>({3}, {10, 2, 100});
  CHECK(run2("Add", ua, ub, DType::u8).to_int64_vector() == std::vector<int64_t>{4, 9, 44});
  CHECK(run2("Sub", ub, ua, DType::u8).to_int64_vector() == std::vector<int64_t>{16, 251, 156});
  CHECK(run2("Mul", ua, ub, DType::u8).to_int64_vector() == std::vector<int64_t>{196, 14, 32});
  CHECK(run2("Div", ua, ub, DType::u8).to_int64_vector() == std::vector<int64_t>{25, 3, 2});
  const Tensor ia = Tensor::from_vector<int8_t>({3}, {-7, 7, -128});
  const Tensor ib = Tensor::from_vector<int8_t>({1}, {2});
  CHECK(run2("Div", ia, ib, DType::i8).to_int64_vector() == std::vector<int64_t>{-3, 3, -64});
  CHECK(run2("Max", ia, ib, DType::i8).to_int64_vector() == std::vector<int64_t>{2, 7, 2});
  CHECK(run2("Min", ia, ib, DType::i8).to_int64_vector() == std::vector<int64_t>{-7, 2, -128});
  test::expect_error([&] { run2("Div", ia, Tensor::from_vector<int8_t>({1}, {0}), DType::i8); }, ErrorKind::input,
                     "integer division by zero");
  // Sum and Mean: three inputs broadcast together (opset 8 on).
  Net sum(13);
  sum.add("Sum", {"a", "b", "c"}, {"y"});
  sum.add("Mean", {"a", "b", "c"}, {"m"});
  sum.input("a", floats({2, 1}, {1, 2}));
  sum.constant("b", floats({3}, {10, 20, 30}));
  sum.constant("c", floats({1}, {0.5f}));
  sum.output("y");
  sum.output("m");
  const auto sm = sum.run();
  check_values(sm[0], {2, 3}, {11.5f, 21.5f, 31.5f, 12.5f, 22.5f, 32.5f});
  check_values(sm[1], {2, 3}, {11.5f / 3, 21.5f / 3, 31.5f / 3, 12.5f / 3, 22.5f / 3, 32.5f / 3});
  // Clip on integers from opset 12: bounds of the data's type, the type's range where omitted.
  Net clip(13);
  clip.add("Clip", {"a", "", "hi"}, {"y"});
  clip.input("a", ia);
  clip.constant("hi", Tensor::from_vector<int8_t>({}, {5}));
  clip.output("y", DType::i8);
  CHECK(clip.run()[0].to_int64_vector() == std::vector<int64_t>{-7, 5, -128});
  clip.model.opset = 11;
  test::expect_error([&] { clip.run(); }, ErrorKind::unsupported, "element type int8");
  clip.model.opset = 13;
  clip.constant("hi", Tensor::from_vector<int64_t>({}, {5}));
  test::expect_error([&] { clip.run(); }, ErrorKind::input, "max is int64, the data int8");
}

TEST_CASE("test_ops: PRelu's slope: one per channel at opset 6, numpy broadcasting from opset 7") {
  // X [1, 2, 2]: channel 0 {-1, 2}, channel 1 {-3, 4}; slopes 0.5 and 0.25.
  const Tensor x = floats({1, 2, 2}, {-1, 2, -3, 4});
  Net six = unary(6, "PRelu", x, {}, {"slope"});
  six.constant("slope", floats({2}, {0.5f, 0.25f}));
  check_values(six.run()[0], {1, 2, 2}, {-0.5f, 2, -0.75f, 4});
  // From 7 a [2] slope broadcasts along the last axis instead.
  Net seven = unary(9, "PRelu", x, {}, {"slope"});
  seven.constant("slope", floats({2}, {0.5f, 0.25f}));
  check_values(seven.run()[0], {1, 2, 2}, {-0.5f, 2, -1.5f, 4});
  Net per_channel = unary(16, "PRelu", x, {}, {"slope"});
  per_channel.constant("slope", floats({2, 1}, {0.5f, 0.25f}));
  check_values(per_channel.run()[0], {1, 2, 2}, {-0.5f, 2, -0.75f, 4});
  // A slope that does not broadcast to X is an input error naming the node.
  Net bad = unary(16, "PRelu", x, {}, {"slope"});
  bad.constant("slope", floats({3}, {1, 2, 3}));
  test::expect_error([&] { bad.run(); }, ErrorKind::input, "PRelu");
  // Opset 6 with a slope of another shape is not a form that opset defines clearly: unsupported.
  Net odd = unary(6, "PRelu", x, {}, {"slope"});
  odd.constant("slope", floats({2, 1}, {0.5f, 0.25f}));
  test::expect_error([&] { odd.run(); }, ErrorKind::unsupported, "before opset 7");
}

TEST_CASE("test_ops: Reduce axes: attribute before the input form, input from 13 (ReduceSum) or 18") {
  const Tensor x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  // Attribute form (ReduceMean-13).
  check_values(unary(13, "ReduceMean", x, {{"axes", ints_attr({1})}}).run()[0], {2, 1}, {2, 5});
  // Input form (ReduceMean-18), negative axis, keepdims 0.
  Net mean18 = unary(18, "ReduceMean", x, {{"keepdims", int_attr(0)}}, {"axes"});
  mean18.constant("axes", ints({1}, {-2}));
  check_values(mean18.run()[0], {3}, {2.5f, 3.5f, 4.5f});
  // No axes: every axis; with noop_with_empty_axes=1 the input itself.
  check_values(unary(18, "ReduceMean", x).run()[0], {1, 1}, {3.5f});
  check_values(unary(18, "ReduceSum", x, {{"noop_with_empty_axes", int_attr(1)}}).run()[0], {2, 3}, {1, 2, 3, 4, 5, 6});
  Net empty = unary(18, "ReduceMax", x, {{"noop_with_empty_axes", int_attr(1)}}, {"axes"});
  empty.constant("axes", ints({0}, {}));
  check_values(empty.run()[0], {2, 3}, {1, 2, 3, 4, 5, 6});
  // ReduceSum takes axes as an input from 13; Max and Min.
  Net sum13 = unary(13, "ReduceSum", x, {}, {"axes"});
  sum13.constant("axes", ints({1}, {0}));
  check_values(sum13.run()[0], {1, 3}, {5, 7, 9});
  check_values(unary(12, "ReduceSum", x, {{"axes", ints_attr({1})}, {"keepdims", int_attr(0)}}).run()[0], {2}, {6, 15});
  check_values(unary(17, "ReduceMax", x, {{"axes", ints_attr({0})}}).run()[0], {1, 3}, {4, 5, 6});
  Net min20 = unary(20, "ReduceMin", x, {{"keepdims", int_attr(0)}}, {"axes"});
  min20.constant("axes", ints({1}, {1}));
  check_values(min20.run()[0], {2}, {1, 4});
  // A middle axis of a rank-3 tensor (the general path).
  const Tensor cube = ramp({2, 3, 4}, -1, 1);
  Net middle = unary(18, "ReduceSum", cube, {}, {"axes"});
  middle.constant("axes", ints({1}, {1}));
  const auto c = cube.to_float_vector();
  std::vector<float> want;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) want.push_back(c[static_cast<size_t>(i * 12 + k)] + c[static_cast<size_t>(i * 12 + 4 + k)] + c[static_cast<size_t>(i * 12 + 8 + k)]);
  check_values(middle.run()[0], {2, 1, 4}, want, 1e-6f);

  // The wrong form for the opset is an input error naming the node.
  test::expect_error([&] { unary(18, "ReduceMean", x, {{"axes", ints_attr({1})}}).run(); }, ErrorKind::input,
                     "axes is an input from opset 18");
  Net early = unary(17, "ReduceMean", x, {}, {"axes"});
  early.constant("axes", ints({1}, {1}));
  test::expect_error([&] { early.run(); }, ErrorKind::input, "axes is an attribute before opset 18");
  test::expect_error([&] { unary(13, "ReduceMean", x, {{"axes", ints_attr({1, -1})}}).run(); }, ErrorKind::input,
                     "repeated axis");
}

TEST_CASE("test_ops: Split num_outputs (opset 18): ceil-sized parts, the last one smaller") {
  Net n(18);
  n.add("Split", {"x"}, {"a", "b", "c"}, {{"num_outputs", int_attr(3)}, {"axis", int_attr(0)}});
  n.input("x", floats({7}, {0, 1, 2, 3, 4, 5, 6}));
  n.output("a");
  n.output("b");
  n.output("c");
  auto y = n.run();
  check_values(y[0], {3}, {0, 1, 2});
  check_values(y[1], {3}, {3, 4, 5});
  check_values(y[2], {1}, {6});
  Net wrong(18);
  wrong.add("Split", {"x"}, {"a", "b"}, {{"num_outputs", int_attr(3)}});
  wrong.input("x", floats({6}, {0, 1, 2, 3, 4, 5}));
  wrong.output("a");
  wrong.output("b");
  test::expect_error([&] { wrong.run(); }, ErrorKind::input, "num_outputs is 3 but the node has 2 outputs");
}

TEST_CASE("test_ops: Pad axes (opset 18) and wrap (opset 19)") {
  const Tensor x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Net axes = unary(18, "Pad", x, {}, {"pads", "", "axes"});
  axes.constant("pads", ints({2}, {1, 2}));
  axes.constant("axes", ints({1}, {-1}));
  check_values(axes.run()[0], {2, 6}, {0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0});
  Net wrap = unary(19, "Pad", x, {{"mode", string_attr("wrap")}}, {"pads", "", "axes"});
  wrap.constant("pads", ints({2}, {2, 1}));
  wrap.constant("axes", ints({1}, {1}));
  check_values(wrap.run()[0], {2, 6}, {2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4});
  Net early_wrap = unary(18, "Pad", x, {{"mode", string_attr("wrap")}}, {"pads"});
  early_wrap.constant("pads", ints({4}, {0, 1, 0, 1}));
  test::expect_error([&] { early_wrap.run(); }, ErrorKind::input, "'wrap' exists from opset 19");
  Net early_axes = unary(17, "Pad", x, {}, {"pads", "", "axes"});
  early_axes.constant("pads", ints({2}, {1, 2}));
  early_axes.constant("axes", ints({1}, {1}));
  test::expect_error([&] { early_axes.run(); }, ErrorKind::input, "axes input exists from opset 18");
}

TEST_CASE("test_ops: carried from opset 6 to 13 (export --qdq): ReduceSum's axes and PRelu-6's per-channel slope") {
  Net n(6);
  n.add("PRelu", {"x", "slope"}, {"p"});
  n.add("ReduceSum", {"p"}, {"y"}, {{"axes", ints_attr({2, 3})}, {"keepdims", int_attr(0)}});
  n.input("x", ramp({1, 3, 4, 4}, -2, 2, 5));
  n.constant("slope", floats({3}, {0.5f, 0.25f, 2.0f}));
  n.output("y");
  const Model up = upgraded_to_opset13(n.model);
  CHECK(up.opset == 13);
  const Node& prelu = up.graph.nodes.at(0);
  const Node& sum = up.graph.nodes.at(1);
  CHECK(up.graph.initializer(prelu.inputs.at(1))->shape() == Shape{3, 1, 1});
  CHECK_FALSE(sum.has("axes"));
  CHECK(up.graph.initializer(sum.inputs.at(1))->to_int64_vector() == std::vector<int64_t>{2, 3});
  const Tensor before = n.run()[0];
  const Tensor after = Executor(up).run(n.feeds)[0];
  CHECK(before.shape() == Shape{1, 3});
  CHECK(before.to_float_vector() == after.to_float_vector());
  if (const std::string ort = test::ort_runner(); !ort.empty()) {
    const Tensor theirs = test::ort_output(ort, up, n.feeds.at(0));
    if (theirs.numel() == 3)
      for (int i = 0; i < 3; ++i) CHECK(theirs.data<float>()[i] == doctest::Approx(before.data<float>()[i]).epsilon(1e-6));
  }
}

TEST_CASE("test_ops: opset 21 quantization: output_dtype is read, blocked quantization is refused") {
  Net q = unary(21, "QuantizeLinear", floats({4}, {-1.0f, 0.0f, 0.26f, 10.0f}),
                {{"output_dtype", int_attr(static_cast<int64_t>(DType::i8))}}, {"s"});
  q.constant("s", Tensor::scalar_f32(0.5f));
  q.model.graph.outputs[0].dtype = DType::i8;
  const Tensor y = q.run()[0];
  CHECK(y.dtype() == DType::i8);
  CHECK(y.to_int64_vector() == std::vector<int64_t>{-2, 0, 1, 20});
  Net blocked = unary(21, "QuantizeLinear", floats({1, 4}, {1, 2, 3, 4}), {{"block_size", int_attr(2)}}, {"s"});
  blocked.constant("s", floats({1, 2}, {0.5f, 0.5f}));
  test::expect_error([&] { blocked.run(); }, ErrorKind::unsupported, "blocked quantization (block_size=2)");
  Net float8 = unary(21, "QuantizeLinear", floats({1}, {1}), {{"output_dtype", int_attr(17)}}, {"s"});
  float8.constant("s", Tensor::scalar_f32(0.5f));
  test::expect_error([&] { float8.run(); }, ErrorKind::unsupported, "float8e4m3fn");
}

TEST_CASE("test_ops: opsets: 6 to 21 accepted, an op newer than the model's opset is invalid") {
  const Tensor x = floats({2}, {-1, 1});
  test::expect_error([&] { unary(13, "HardSwish", x).run(); }, ErrorKind::input, "does not exist before opset 14");
  test::expect_error([&] { unary(22, "Relu", x).run(); }, ErrorKind::unsupported, "opset 22 is not supported (supported: 6 to 21)");
  test::expect_error([&] { unary(5, "Relu", x).run(); }, ErrorKind::unsupported, "opset 5 is not supported");
  for (int64_t opset = 6; opset <= 21; ++opset) {
    CAPTURE(opset);
    check_values(unary(opset, "Relu", x).run()[0], {2}, {0, 1});
    check_values(unary(opset, "Sigmoid", floats({1}, {0})).run()[0], {1}, {0.5f});
  }
  test::expect_error([&] { unary(13, "Softsign", x).run(); }, ErrorKind::unsupported, "unsupported op 'Softsign'");
}

TEST_CASE("test_ops: activations fused into a Conv give the values of their own kernels, at 1 and 2 threads") {
  struct Geometry { int64_t cin, cout, k, group; };
  // The conv algorithms: direct (27 taps), pointwise GEMM, depthwise, im2col GEMM (72 taps).
  const Geometry geometries[] = {{3, 4, 3, 1}, {8, 6, 1, 1}, {8, 8, 3, 8}, {8, 6, 3, 1}};
  for (const char* act : {"Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "LeakyRelu", "Tanh"}) {
    for (const auto& geo : geometries) {
      CAPTURE(act);
      CAPTURE(geo.cin);
      CAPTURE(geo.k);
      CAPTURE(geo.group);
      Net n(14);
      const int64_t pad = geo.k / 2;
      n.add("Conv", {"x", "w", "b"}, {"c"}, {{"pads", ints_attr({pad, pad, pad, pad})}, {"group", int_attr(geo.group)}});
      Node& a = n.add(act, {"c"}, {"y"});
      if (std::string(act) == "Clip") a.inputs = {"c", "lo", "hi"};
      if (std::string(act) == "HardSigmoid") a.attrs = {{"alpha", float_attr(0.25f)}, {"beta", float_attr(0.4f)}};
      if (std::string(act) == "LeakyRelu") a.attrs = {{"alpha", float_attr(0.125f)}};
      n.constant("lo", Tensor::scalar_f32(-0.5f));
      n.constant("hi", Tensor::scalar_f32(1.5f));
      n.input("x", ramp({2, geo.cin, 6, 7}, -2, 2, 7));
      n.constant("w", ramp({geo.cout, geo.cin / geo.group, geo.k, geo.k}, -0.5f, 0.5f, 11));
      n.constant("b", ramp({geo.cout}, -0.3f, 0.3f, 13));
      n.output("y");
      // Fused: the plan is the Conv alone.
      CHECK(Executor(n.model, ExecutorOptions{1, true}).planned_ops() == std::vector<std::string>{"Conv"});
      const Tensor fused = n.run(1, true)[0];
      const Tensor fused2 = n.run(2, true)[0];
      const Tensor plain = n.run(2, false)[0];
      REQUIRE(fused.shape() == plain.shape());
      CHECK(fused.to_float_vector() == plain.to_float_vector());
      CHECK(fused2.to_float_vector() == plain.to_float_vector());
    }
  }
  // Not fused: an activation reading a value something else reads too.
  Net shared(14);
  shared.add("Conv", {"x", "w"}, {"c"});
  shared.add("HardSwish", {"c"}, {"h"});
  shared.add("Add", {"c", "h"}, {"y"});
  shared.input("x", ramp({1, 2, 3, 3}, -2, 2));
  shared.constant("w", ramp({2, 2, 1, 1}, -1, 1));
  shared.output("y");
  CHECK(Executor(shared.model, ExecutorOptions{1, true}).planned_ops() == std::vector<std::string>{"Conv", "HardSwish", "Add"});
}

TEST_CASE("test_ops: a residual Add fused into the Conv before it gives the Add's values, at 1 and 2 threads") {
  struct Case {
    const char* name;
    int64_t k, group;
    const char* act;  // activation between the conv and the Add, or nullptr
    bool conv_first;  // the conv output is the Add's first input
    bool broadcast;   // the other input is [1, C, 1, 1]: not fusable at run time, the Add runs on its own
  };
  const Case cases[] = {
      {"pointwise", 1, 1, nullptr, true, false},      {"pointwise, second input", 1, 1, nullptr, false, false},
      {"pointwise + Relu", 1, 1, "Relu", true, false}, {"pointwise + HardSwish", 1, 1, "HardSwish", false, false},
      {"depthwise", 3, 8, nullptr, true, false},       {"im2col + Relu", 3, 1, "Relu", false, false},
      {"pointwise, broadcast", 1, 1, nullptr, true, true},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    Net n(14);
    const int64_t pad = c.k / 2;
    n.add("Relu", {"x"}, {"skip"});
    std::string other = "skip";
    if (c.broadcast) {
      n.add("GlobalAveragePool", {"skip"}, {"pooled"});
      other = "pooled";
    }
    n.add("Conv", {"x", "w", "b"}, {"c"}, {{"pads", ints_attr({pad, pad, pad, pad})}, {"group", int_attr(c.group)}});
    std::string conv_out = "c";
    if (c.act) {
      n.add(c.act, {"c"}, {"a"});
      conv_out = "a";
    }
    if (c.conv_first) n.add("Add", {conv_out, other}, {"y"});
    else n.add("Add", {other, conv_out}, {"y"});
    n.input("x", ramp({2, 8, 9, 11}, -2, 2, 7));
    n.constant("w", ramp({8, 8 / c.group, c.k, c.k}, -0.5f, 0.5f, 11));
    n.constant("b", ramp({8}, -0.3f, 0.3f, 13));
    n.output("y");
    const std::vector<std::string> ops = Executor(n.model, ExecutorOptions{1, true}).planned_ops();
    CHECK(std::count(ops.begin(), ops.end(), "Add") == 0);
    const Tensor plain = n.run(2, false)[0];
    for (int threads : {1, 2}) {
      const Tensor fused = n.run(threads, true)[0];
      REQUIRE(fused.shape() == plain.shape());
      CHECK(fused.to_float_vector() == plain.to_float_vector());
    }
  }
  // Not fused: the conv output read twice, a constant on the other side (which may broadcast), or
  // the other side computed after the conv.
  for (int variant : {0, 1, 2}) {
    CAPTURE(variant);
    Net n(14);
    n.add("Conv", {"x", "w"}, {"c"});
    if (variant == 0) n.add("Add", {"c", "c"}, {"y"});
    if (variant == 1) {
      n.add("Add", {"c", "k"}, {"y"});
      n.constant("k", ramp({1, 2, 1, 1}, -1, 1));
    }
    if (variant == 2) {
      n.add("Relu", {"x"}, {"later"});
      n.add("Add", {"later", "c"}, {"y"});
    }
    n.input("x", ramp({1, 2, 3, 3}, -2, 2));
    n.constant("w", ramp({2, 2, 1, 1}, -1, 1));
    n.output("y");
    const std::vector<std::string> ops = Executor(n.model, ExecutorOptions{1, true}).planned_ops();
    CHECK(std::count(ops.begin(), ops.end(), "Add") == 1);
    CHECK(n.run(2, true)[0].to_float_vector() == n.run(1, false)[0].to_float_vector());
  }
}

TEST_CASE("test_ops: a one-row MatMul or Gemm split into column blocks gives each output the bits of any other split") {
  // A classifier at batch 1: [1, 300] x [300, 1000] runs as four blocks of 256 columns
  // (core/ops/matmul.cpp); 200 of its columns as a product of their own (one block of 200) must
  // give the same bits.
  const Tensor a = ramp({1, 300}, -2, 2, 3), w = ramp({300, 1000}, -0.5f, 0.5f, 5), wt = ramp({1000, 300}, -0.5f, 0.5f, 7);
  const Tensor bias = ramp({1000}, -0.3f, 0.3f, 9);
  auto product = [&](bool gemm, int64_t c0, int64_t cols, int threads) {
    Net n(14);
    if (gemm) {
      Tensor ws(DType::f32, {cols, 300}), bs(DType::f32, {cols});
      std::memcpy(ws.data<float>(), wt.data<float>() + c0 * 300, static_cast<size_t>(cols * 300) * sizeof(float));
      std::memcpy(bs.data<float>(), bias.data<float>() + c0, static_cast<size_t>(cols) * sizeof(float));
      n.add("Gemm", {"a", "w", "b"}, {"y"}, {{"transB", int_attr(1)}});
      n.constant("w", ws);
      n.constant("b", bs);
    } else {
      Tensor ws(DType::f32, {300, cols});
      for (int64_t k = 0; k < 300; ++k)
        std::memcpy(ws.data<float>() + k * cols, w.data<float>() + k * 1000 + c0, static_cast<size_t>(cols) * sizeof(float));
      n.add("MatMul", {"a", "w"}, {"y"});
      n.constant("w", ws);
    }
    n.input("a", a);
    n.output("y");
    return n.run(threads, true)[0].to_float_vector();
  };
  for (bool gemm : {false, true}) {
    CAPTURE(gemm);
    const std::vector<float> whole = product(gemm, 0, 1000, 2);
    REQUIRE(whole.size() == 1000);
    CHECK(whole == product(gemm, 0, 1000, 1));
    for (int64_t c0 : {0, 230, 800}) {
      CAPTURE(c0);
      const std::vector<float> part = product(gemm, c0, 200, 1);
      CHECK(std::equal(part.begin(), part.end(), whole.begin() + c0));
    }
  }
}

TEST_CASE("test_ops: a classifier's row has the same bits at any batch and thread count") {
  // MatMul, Gemm in each layout and a 1x1 conv on 1x1 inputs: an image of a batch of 5 must get the
  // bits it gets alone (the executor runs a batch in parts and relies on this, executor.h).
  const int64_t k = 300, n = 1000, batch = 5;
  const Tensor images = ramp({batch, k}, -2, 2, 31), w = ramp({k, n}, -0.5f, 0.5f, 32), wt = ramp({n, k}, -0.5f, 0.5f, 33);
  const Tensor bias = ramp({n}, -0.3f, 0.3f, 34);
  enum Kind { matmul, gemm, gemm_trans_b, gemm_trans_a, conv };
  auto run = [&](Kind kind, int64_t first, int64_t rows, int threads) {
    Net net(14);
    Tensor x(DType::f32, {rows, k});
    std::memcpy(x.data<float>(), images.data<float>() + first * k, static_cast<size_t>(rows * k) * sizeof(float));
    if (kind == gemm_trans_a) {  // A stored as [k, rows]
      Tensor xt(DType::f32, {k, rows});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < k; ++c) xt.data<float>()[c * rows + r] = x.data<float>()[r * k + c];
      x = std::move(xt);
    }
    switch (kind) {
      case matmul: net.add("MatMul", {"x", "w"}, {"y"}); net.constant("w", w); break;
      case gemm: net.add("Gemm", {"x", "w", "b"}, {"y"}, {{"alpha", float_attr(0.5f)}}); net.constant("w", w); break;
      case gemm_trans_b: net.add("Gemm", {"x", "w", "b"}, {"y"}, {{"transB", int_attr(1)}}); net.constant("w", wt); break;
      case gemm_trans_a: net.add("Gemm", {"x", "w", "b"}, {"y"}, {{"transA", int_attr(1)}}); net.constant("w", w); break;
      case conv: {
        x.reshape({rows, k, 1, 1});
        Tensor w4 = wt;
        w4.reshape({n, k, 1, 1});
        net.add("Conv", {"x", "w", "b"}, {"c"});
        net.add("Relu", {"c"}, {"y"});
        net.constant("w", w4);
        break;
      }
    }
    net.constant("b", bias);
    net.input("x", std::move(x));
    net.output("y");
    return net.run(threads, true)[0].to_float_vector();
  };
  for (Kind kind : {matmul, gemm, gemm_trans_b, gemm_trans_a, conv}) {
    CAPTURE(kind);
    for (int threads : {1, 3}) {
      CAPTURE(threads);
      const std::vector<float> all = run(kind, 0, batch, threads);
      REQUIRE(all.size() == static_cast<size_t>(batch * n));
      for (int64_t i = 0; i < batch; ++i) {
        CAPTURE(i);
        const std::vector<float> alone = run(kind, i, 1, threads);
        CHECK(std::equal(alone.begin(), alone.end(), all.begin() + i * n));
      }
      const std::vector<float> pair = run(kind, 3, 2, threads);
      CHECK(std::equal(pair.begin(), pair.end(), all.begin() + 3 * n));
    }
  }
}

// --- ONNX Runtime ------------------------------------------------------------------------------

namespace {

struct OrtCase {
  std::string name;
  Net net;
};

// The graphs: the opset 18-21 forms, and the new ops at the newest opset with their family patterns.
std::vector<OrtCase> ort_cases() {
  std::vector<OrtCase> cases;
  const Tensor image = ramp({2, 4, 5, 6}, -4, 4, 3);
  auto add_unary = [&](const std::string& name, int64_t opset, const std::string& op, std::map<std::string, Attribute> attrs = {},
                       std::vector<std::pair<std::string, Tensor>> constants = {}) {
    std::vector<std::string> extra;
    for (const auto& c : constants) extra.push_back(c.first);
    Net n = unary(opset, op, image, std::move(attrs), extra);
    for (auto& c : constants) n.constant(c.first, c.second);
    cases.push_back({name, std::move(n)});
  };
  add_unary("ReduceMean-18 axes [2,3] keepdims", 18, "ReduceMean", {}, {{"axes", ints({2}, {2, 3})}});
  add_unary("ReduceMean-18 axes [-1] keepdims 0", 18, "ReduceMean", {{"keepdims", int_attr(0)}}, {{"axes", ints({1}, {-1})}});
  add_unary("ReduceMean-18 no axes", 18, "ReduceMean");
  add_unary("ReduceMean-18 noop_with_empty_axes", 18, "ReduceMean", {{"noop_with_empty_axes", int_attr(1)}});
  add_unary("ReduceSum-13 axes [1]", 13, "ReduceSum", {}, {{"axes", ints({1}, {1})}});
  add_unary("ReduceSum-21 axes [0,2] keepdims 0", 21, "ReduceSum", {{"keepdims", int_attr(0)}}, {{"axes", ints({2}, {0, 2})}});
  add_unary("ReduceMax-18 axes [1,3]", 18, "ReduceMax", {}, {{"axes", ints({2}, {1, 3})}});
  add_unary("ReduceMin-20 axes [2]", 20, "ReduceMin", {}, {{"axes", ints({1}, {2})}});
  add_unary("Pad-18 axes [2,3] constant", 18, "Pad", {},
            {{"pads", ints({4}, {1, 0, 2, 1})}, {"value", Tensor::scalar_f32(0.5f)}, {"axes", ints({2}, {2, 3})}});
  add_unary("Pad-19 wrap axes [-1]", 19, "Pad", {{"mode", string_attr("wrap")}},
            {{"pads", ints({2}, {2, 3})}, {"", Tensor()}, {"axes", ints({1}, {-1})}});
  add_unary("Pad-21 reflect", 21, "Pad", {{"mode", string_attr("reflect")}}, {{"pads", ints({8}, {0, 0, 1, 2, 0, 0, 2, 1})}});
  add_unary("Pad-21 edge", 21, "Pad", {{"mode", string_attr("edge")}}, {{"pads", ints({8}, {0, 1, 1, 0, 0, 0, 2, 1})}});
  add_unary("HardSwish-21", 21, "HardSwish");
  add_unary("HardSigmoid-21 alpha beta", 21, "HardSigmoid", {{"alpha", float_attr(0.3f)}, {"beta", float_attr(0.4f)}});
  add_unary("Sigmoid-21", 21, "Sigmoid");
  add_unary("Tanh-21", 21, "Tanh");
  add_unary("Exp-21", 21, "Exp");
  add_unary("Erf-21", 21, "Erf");
  add_unary("LeakyRelu-21", 21, "LeakyRelu", {{"alpha", float_attr(0.1f)}});
  add_unary("Softplus-21", 21, "Softplus");
  add_unary("Elu-21", 21, "Elu", {{"alpha", float_attr(0.7f)}});
  add_unary("Selu-21", 21, "Selu");
  add_unary("Neg-21", 21, "Neg");
  add_unary("Abs-21", 21, "Abs");
  add_unary("Reciprocal-21", 21, "Reciprocal");
  add_unary("PRelu-21 per channel", 21, "PRelu", {}, {{"slope", ramp({4, 1, 1}, 0, 0.5f, 5)}});
  add_unary("Clip-21 min max", 21, "Clip", {}, {{"min", Tensor::scalar_f32(-1)}, {"max", Tensor::scalar_f32(2.5f)}});
  add_unary("Softmax-21", 21, "Softmax", {{"axis", int_attr(1)}});
  add_unary("Max-21 broadcast", 21, "Max", {}, {{"m", ramp({4, 1, 1}, -1, 1, 9)}});
  add_unary("Min-21 broadcast", 21, "Min", {}, {{"m", ramp({6}, -1, 1, 9)}});
  add_unary("Div-21 broadcast", 21, "Div", {}, {{"d", ramp({1, 4, 1, 1}, 0.5f, 2, 9)}});
  add_unary("Sub-21 broadcast", 21, "Sub", {}, {{"d", ramp({5, 1}, -1, 1, 9)}});
  add_unary("Unsqueeze-21", 21, "Unsqueeze", {}, {{"axes", ints({2}, {0, -1})}});
  add_unary("Reshape-21 allowzero", 21, "Reshape", {{"allowzero", int_attr(0)}}, {{"shape", ints({3}, {0, -1, 3})}});
  add_unary("Transpose-21", 21, "Transpose", {{"perm", ints_attr({0, 2, 3, 1})}});
  add_unary("Flatten-21", 21, "Flatten", {{"axis", int_attr(2)}});
  add_unary("AveragePool-19 dilations", 19, "AveragePool",
            {{"kernel_shape", ints_attr({2, 2})}, {"dilations", ints_attr({2, 1})}, {"pads", ints_attr({1, 0, 1, 1})}});
  add_unary("MaxPool-21", 21, "MaxPool", {{"kernel_shape", ints_attr({3, 3})}, {"strides", ints_attr({2, 2})}, {"pads", ints_attr({1, 1, 1, 1})}});
  add_unary("GlobalAveragePool-21", 21, "GlobalAveragePool");

  {  // Sqrt of |x| (Sqrt's domain).
    Net n(21);
    n.add("Abs", {"x"}, {"a"});
    n.add("Sqrt", {"a"}, {"y"});
    n.input("x", image);
    n.output("y");
    cases.push_back({"Abs -> Sqrt-21", std::move(n)});
  }
  {  // Sum and Mean at 21 (Caffe2-era residual additions).
    Net n(21);
    n.add("Sum", {"x", "s1", "s2"}, {"s"});
    n.add("Mean", {"s", "x", "s1"}, {"y"});
    n.input("x", image);
    n.constant("s1", ramp({4, 1, 1}, -1, 1, 40));
    n.constant("s2", ramp({6}, -1, 1, 41));
    n.output("y");
    cases.push_back({"Sum, Mean-21", std::move(n)});
  }
  {  // Split-18 num_outputs (uneven: 7 into ceil(7 / 4) = 2, 2, 2 and 1) and a Concat in reverse order.
    Net n(18);
    n.add("Split", {"x"}, {"a", "b", "c", "d"}, {{"num_outputs", int_attr(4)}, {"axis", int_attr(3)}});
    n.add("Concat", {"d", "b", "c", "a"}, {"y"}, {{"axis", int_attr(3)}});
    n.input("x", ramp({2, 4, 5, 7}, -1, 1, 3));
    n.output("y");
    cases.push_back({"Split-18 num_outputs 4 of 7", std::move(n)});
  }
  {  // QuantizeLinear-21 with output_dtype int8 -> DequantizeLinear-21.
    Net n(21);
    n.add("QuantizeLinear", {"x", "s"}, {"q"}, {{"output_dtype", int_attr(static_cast<int64_t>(DType::i8))}});
    n.add("DequantizeLinear", {"q", "s"}, {"y"});
    n.input("x", image);
    n.constant("s", Tensor::scalar_f32(0.03f));
    n.output("y");
    cases.push_back({"Quantize/DequantizeLinear-21 output_dtype int8", std::move(n)});
  }
  {  // Per-axis QDQ at 19 with a uint8 zero point.
    Net n(19);
    n.add("QuantizeLinear", {"x", "s", "z"}, {"q"}, {{"axis", int_attr(1)}});
    n.add("DequantizeLinear", {"q", "s", "z"}, {"y"}, {{"axis", int_attr(1)}});
    n.input("x", image);
    n.constant("s", ramp({4}, 0.02f, 0.05f, 4));
    n.constant("z", Tensor::from_vector<uint8_t>({4}, {128, 100, 140, 128}));
    n.output("y");
    cases.push_back({"Quantize/DequantizeLinear-19 per axis", std::move(n)});
  }
  // The other ops at opset 21, in the patterns of the families that use them.
  auto conv21 = [](Net& n, const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k,
                   int64_t group, uint32_t seed) {
    n.add("Conv", {in, out + "_w", out + "_b"}, {out},
          {{"pads", ints_attr({k / 2, k / 2, k / 2, k / 2})}, {"group", int_attr(group)}});
    n.constant(out + "_w", ramp({cout, cin / group, k, k}, -0.4f, 0.4f, seed));
    n.constant(out + "_b", ramp({cout}, -0.2f, 0.2f, seed + 1));
  };
  {  // GhostNet ghost module: primary conv, cheap depthwise conv, Concat, Slice to the output channels.
    Net n(21);
    n.input("x", image);
    conv21(n, "x", "primary", 4, 3, 1, 1, 100);
    conv21(n, "primary", "cheap", 3, 3, 3, 3, 110);
    n.add("Concat", {"primary", "cheap"}, {"ghost"}, {{"axis", int_attr(1)}});
    n.add("Slice", {"ghost", "starts", "ends", "axes"}, {"y"});
    n.constant("starts", ints({1}, {0}));
    n.constant("ends", ints({1}, {5}));
    n.constant("axes", ints({1}, {1}));
    n.output("y");
    cases.push_back({"GhostNet module (Concat, Slice), opset 21", std::move(n)});
  }
  {  // ShuffleNetV1 unit: grouped 1x1 conv and channel shuffle (Reshape, Transpose, Reshape).
    Net n(21);
    n.input("x", image);
    conv21(n, "x", "gconv", 4, 4, 1, 2, 120);
    n.add("Reshape", {"gconv", "split_shape"}, {"r"});
    n.add("Transpose", {"r"}, {"t"}, {{"perm", ints_attr({0, 2, 1, 3, 4})}});
    n.add("Reshape", {"t", "merged_shape"}, {"y"});
    n.constant("split_shape", ints({5}, {2, 2, 2, 5, 6}));
    n.constant("merged_shape", ints({4}, {2, 4, 5, 6}));
    n.output("y");
    cases.push_back({"ShuffleNetV1 channel shuffle, opset 21", std::move(n)});
  }
  {  // SqueezeNet Fire module after a ceil-mode MaxPool.
    Net n(21);
    n.input("x", image);
    n.add("MaxPool", {"x"}, {"pool"}, {{"kernel_shape", ints_attr({3, 3})}, {"strides", ints_attr({2, 2})}, {"ceil_mode", int_attr(1)}});
    conv21(n, "pool", "squeeze", 4, 2, 1, 1, 130);
    n.add("Relu", {"squeeze"}, {"squeeze_act"});
    conv21(n, "squeeze_act", "e1", 2, 3, 1, 1, 140);
    conv21(n, "squeeze_act", "e3", 2, 3, 3, 1, 150);
    n.add("Relu", {"e1"}, {"e1_act"});
    n.add("Relu", {"e3"}, {"e3_act"});
    n.add("Concat", {"e1_act", "e3_act"}, {"y"}, {{"axis", int_attr(1)}});
    n.output("y");
    cases.push_back({"SqueezeNet Fire module, opset 21", std::move(n)});
  }
  {  // ResNet basic block with BatchNormalization-15.
    Net n(21);
    n.input("x", image);
    auto bn = [&](const std::string& in, const std::string& out, uint32_t seed) {
      n.add("BatchNormalization", {in, out + "_s", out + "_b", out + "_m", out + "_v"}, {out}, {{"epsilon", float_attr(1e-3f)}});
      n.constant(out + "_s", ramp({4}, 0.5f, 1.5f, seed));
      n.constant(out + "_b", ramp({4}, -0.2f, 0.2f, seed + 1));
      n.constant(out + "_m", ramp({4}, -0.1f, 0.1f, seed + 2));
      n.constant(out + "_v", ramp({4}, 0.5f, 2.0f, seed + 3));
    };
    conv21(n, "x", "c1", 4, 4, 3, 1, 160);
    bn("c1", "n1", 170);
    n.add("Relu", {"n1"}, {"r1"});
    conv21(n, "r1", "c2", 4, 4, 3, 1, 180);
    bn("c2", "n2", 190);
    n.add("Add", {"n2", "x"}, {"sum"});
    n.add("Relu", {"sum"}, {"y"});
    n.output("y");
    cases.push_back({"ResNet basic block with BatchNormalization, opset 21", std::move(n)});
  }
  {  // Gather, Identity, Dropout (inference), ReduceMean, Squeeze with axes input, MatMul, Gemm (alpha, beta).
    Net n(21);
    n.input("x", image);
    n.add("Gather", {"x", "idx"}, {"g"}, {{"axis", int_attr(1)}});
    n.constant("idx", ints({3}, {3, 0, 2}));
    n.add("Identity", {"g"}, {"i"});
    n.add("Dropout", {"i"}, {"d"});
    n.add("ReduceMean", {"d", "hw"}, {"m"});
    n.constant("hw", ints({2}, {2, 3}));
    n.add("Squeeze", {"m", "sq_axes"}, {"s"});
    n.constant("sq_axes", ints({2}, {2, 3}));
    n.add("MatMul", {"s", "mm_w"}, {"mm"});
    n.constant("mm_w", ramp({3, 5}, -1, 1, 200));
    n.add("Gemm", {"mm", "gemm_w", "gemm_c"}, {"y"}, {{"alpha", float_attr(0.5f)}, {"beta", float_attr(2.0f)}});
    n.constant("gemm_w", ramp({5, 7}, -1, 1, 201));
    n.constant("gemm_c", ramp({7}, -1, 1, 202));
    n.output("y");
    cases.push_back({"Gather, Identity, Dropout, Squeeze, MatMul, Gemm, opset 21", std::move(n)});
  }
  {  // Shape-21 with start/end, Cast-21 to float, Constant-21, Unsqueeze: a shape computed at run time.
    Net n(21);
    n.input("x", image);
    n.add("Shape", {"x"}, {"shape"}, {{"start", int_attr(1)}, {"end", int_attr(3)}});
    n.add("Cast", {"shape"}, {"shape_f"}, {{"to", int_attr(static_cast<int64_t>(DType::f32))}});
    n.add("Constant", {}, {"c"}, {{"value", Attribute{AttrType::tensor, 0, 0, {}, floats({2}, {0.5f, -1.0f}), {}, {}, {}}}});
    n.add("Mul", {"shape_f", "c"}, {"y"});
    n.output("y");
    cases.push_back({"Shape start/end, Cast, Constant, opset 21", std::move(n)});
  }
  {  // QLinearConv and ConvInteger in an opset-21 graph (what export --qdq and ORT's quantizer write).
    Net n(21);
    n.input("x", image);
    n.add("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
    n.constant("xs", Tensor::scalar_f32(0.04f));
    n.constant("xz", Tensor::from_vector<uint8_t>({}, {128}));
    n.add("QLinearConv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"}, {"yq"}, {{"pads", ints_attr({1, 1, 1, 1})}});
    std::vector<uint8_t> w(4 * 4 * 9);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    n.constant("w", Tensor::from_vector<uint8_t>({4, 4, 3, 3}, w));
    n.constant("ws", Tensor::scalar_f32(0.01f));
    n.constant("wz", Tensor::from_vector<uint8_t>({}, {128}));
    n.constant("ys", Tensor::scalar_f32(0.05f));
    n.constant("yz", Tensor::from_vector<uint8_t>({}, {100}));
    n.constant("bias", Tensor::from_vector<int32_t>({4}, {100, -200, 0, 50}));
    n.add("DequantizeLinear", {"yq", "ys", "yz"}, {"y"});
    n.output("y");
    cases.push_back({"QuantizeLinear, QLinearConv, DequantizeLinear, opset 21", std::move(n)});
    Net m(21);
    m.input("x", image);
    m.add("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
    m.constant("xs", Tensor::scalar_f32(0.04f));
    m.constant("xz", Tensor::from_vector<uint8_t>({}, {128}));
    m.add("ConvInteger", {"xq", "w", "xz", "wz"}, {"acc"});
    m.constant("w", Tensor::from_vector<uint8_t>({4, 4, 3, 3}, w));
    m.constant("wz", Tensor::from_vector<uint8_t>({}, {128}));
    m.add("Cast", {"acc"}, {"y"}, {{"to", int_attr(static_cast<int64_t>(DType::f32))}});
    m.output("y");
    cases.push_back({"QuantizeLinear, ConvInteger, Cast, opset 21", std::move(m)});
  }
  // Family blocks at opset 21 (and 18 for the SE form PyTorch 2 writes).
  auto conv = [](Net& n, const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k,
                 int64_t group, uint32_t seed) {
    const std::string w = out + "_w", b = out + "_b";
    n.add("Conv", {in, w, b}, {out},
          {{"pads", ints_attr({k / 2, k / 2, k / 2, k / 2})}, {"group", int_attr(group)}, {"kernel_shape", ints_attr({k, k})}});
    n.constant(w, ramp({cout, cin / group, k, k}, -0.4f, 0.4f, seed));
    n.constant(b, ramp({cout}, -0.2f, 0.2f, seed + 1));
  };
  for (int64_t opset : {18, 21}) {
    // MobileNetV3: pointwise -> HardSwish -> depthwise -> HardSwish -> SE (ReduceMean, 1x1 Conv, Relu,
    // 1x1 Conv, HardSigmoid, Mul) -> pointwise -> residual Add.
    Net n(opset);
    n.input("x", ramp({1, 8, 7, 7}, -2, 2, 21));
    conv(n, "x", "e", 8, 16, 1, 1, 30);
    n.add("HardSwish", {"e"}, {"e_act"});
    conv(n, "e_act", "d", 16, 16, 3, 16, 40);
    n.add("HardSwish", {"d"}, {"d_act"});
    n.add("ReduceMean", {"d_act", "se_axes"}, {"se_pool"});
    n.constant("se_axes", ints({2}, {2, 3}));
    conv(n, "se_pool", "se_r", 16, 4, 1, 1, 50);
    n.add("Relu", {"se_r"}, {"se_r_act"});
    conv(n, "se_r_act", "se_e", 4, 16, 1, 1, 60);
    n.add("HardSigmoid", {"se_e"}, {"se_gate"}, {{"alpha", float_attr(1.0f / 6)}, {"beta", float_attr(0.5f)}});
    n.add("Mul", {"d_act", "se_gate"}, {"se_out"});
    conv(n, "se_out", "p", 16, 8, 1, 1, 70);
    n.add("Add", {"p", "x"}, {"y"});
    n.output("y");
    cases.push_back({"MobileNetV3 block with SE, opset " + std::to_string(opset), std::move(n)});
  }
  {  // EfficientNet MBConv: Swish as x * Sigmoid(x), SE with GlobalAveragePool and Sigmoid; a Gemm head.
    Net n(21);
    n.input("x", ramp({1, 8, 6, 6}, -2, 2, 23));
    conv(n, "x", "e", 8, 24, 1, 1, 31);
    n.add("Sigmoid", {"e"}, {"e_sig"});
    n.add("Mul", {"e", "e_sig"}, {"e_act"});
    conv(n, "e_act", "d", 24, 24, 5, 24, 41);
    n.add("Sigmoid", {"d"}, {"d_sig"});
    n.add("Mul", {"d", "d_sig"}, {"d_act"});
    n.add("GlobalAveragePool", {"d_act"}, {"se_pool"});
    conv(n, "se_pool", "se_r", 24, 6, 1, 1, 51);
    n.add("Sigmoid", {"se_r"}, {"se_r_sig"});
    n.add("Mul", {"se_r", "se_r_sig"}, {"se_r_act"});
    conv(n, "se_r_act", "se_e", 6, 24, 1, 1, 61);
    n.add("Sigmoid", {"se_e"}, {"se_gate"});
    n.add("Mul", {"d_act", "se_gate"}, {"se_out"});
    conv(n, "se_out", "p", 24, 8, 1, 1, 71);
    n.add("Add", {"p", "x"}, {"r"});
    n.add("GlobalAveragePool", {"r"}, {"pool"});
    n.add("Flatten", {"pool"}, {"flat"});
    n.add("Gemm", {"flat", "fc_w", "fc_b"}, {"logits"}, {{"transB", int_attr(1)}});
    n.constant("fc_w", ramp({10, 8}, -0.5f, 0.5f, 81));
    n.constant("fc_b", ramp({10}, -0.1f, 0.1f, 82));
    n.add("Softmax", {"logits"}, {"y"}, {{"axis", int_attr(-1)}});
    n.output("y");
    cases.push_back({"EfficientNet MBConv with Swish and SE, opset 21", std::move(n)});
  }
  return cases;
}

}  // namespace

TEST_CASE("test_ops: ONNX Runtime computes what the executor computes at opsets 18 to 21") {
  const std::string ort = test::ort_runner();
  if (ort.empty()) return;
  int compared = 0;
  auto cases = ort_cases();
  for (auto& c : cases) {
    CAPTURE(c.name);
    // Cases with an omitted optional input in the middle: the empty constant name is not a value.
    c.net.model.graph.initializers.erase("");
    const Tensor ours = c.net.run(1, true)[0];
    const Tensor unfused = c.net.run(2, false)[0];
    // Fused activations compute bit for bit what their nodes do; a BatchNormalization folded into
    // its Conv (fused runs only) rounds differently.
    if (test::count_op(c.net.model, "BatchNormalization") == 0) CHECK(ours.to_float_vector() == unfused.to_float_vector());
    const Tensor theirs = test::ort_output(ort, c.net.model, c.net.feeds.at(0));
    if (theirs.numel() == 0 && ours.numel() != 0) continue;
    REQUIRE(theirs.shape() == ours.shape());
    const auto a = ours.to_float_vector(), b = theirs.to_float_vector();
    float range = 0, diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      range = std::max(range, std::fabs(b[i]));
      diff = std::max(diff, std::fabs(a[i] - b[i]));
    }
    // Within 1e-5 of the output range (1e-4 is the bar for whole models).
    CHECK(diff <= 1e-5f * std::max(1.0f, range));
    ++compared;
  }
  MESSAGE(compared << " graphs agree with ONNX Runtime");
  CHECK(compared == static_cast<int>(cases.size()));
}

TEST_CASE("test_ops: QuantizeLinear rounds halves to even and saturates exactly as nearbyint and clamp do") {
  std::mt19937 rng(2024);
  std::vector<float> xs{0.0f, -0.0f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                        std::numeric_limits<float>::quiet_NaN(), 8388607.5f, 4194304.5f, -4194303.5f};
  const float scale = 0.37f;
  for (int k = -300; k <= 300; ++k) xs.push_back((static_cast<float>(k) + 0.5f) * scale);  // halves (up to float rounding)
  std::uniform_real_distribution<float> wide(-200.0f, 200.0f);
  for (int i = 0; i < 4000; ++i) xs.push_back(wide(rng));
  for (DType out : {DType::u8, DType::i8}) {
    const int32_t zp = out == DType::u8 ? 37 : -11;
    Net q = unary(13, "QuantizeLinear", floats({static_cast<int64_t>(xs.size())}, xs), {}, {"s", "z"});
    q.constant("s", Tensor::scalar_f32(scale));
    q.constant("z", out == DType::u8 ? Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(zp)})
                                     : Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(zp)}));
    q.model.graph.outputs[0].dtype = out;
    const std::vector<int64_t> y = q.run()[0].to_int64_vector();
    const double lo = out == DType::u8 ? 0 : -128, hi = out == DType::u8 ? 255 : 127;
    for (size_t i = 0; i < xs.size(); ++i) {
      const float v = xs[i] / scale;
      const double r = std::isnan(v) ? zp : std::clamp(static_cast<double>(std::nearbyint(v)) + zp, lo, hi);
      CAPTURE(xs[i]);
      CHECK(y[i] == static_cast<int64_t>(r));
    }
  }
}

TEST_CASE("test_ops: MaxPool and AveragePool give each output its window's taps in order, inside and at the borders") {
  // The kernel computes windows entirely inside the input a row of outputs at a time and the others
  // one by one; both must give what one output at a time gives, to the bit (NaN and -0 included).
  struct Geometry {
    int64_t h, w, k, stride, pad, dilation;
    bool ceil, count_pad;
  };
  const std::vector<Geometry> geometries = {
      {112, 112, 3, 2, 1, 1, false, false}, {9, 13, 3, 1, 1, 1, false, true}, {10, 11, 2, 2, 0, 1, true, false},
      {7, 7, 3, 2, 0, 1, true, true},        {12, 9, 3, 1, 2, 2, false, true}, {5, 17, 5, 3, 2, 1, true, true},
      {4, 4, 5, 1, 2, 1, false, true},       {1, 9, 1, 1, 0, 1, false, false}};
  for (const Geometry& g : geometries) {
    for (const char* op : {"MaxPool", "AveragePool"}) {
      CAPTURE(op);
      CAPTURE(g.h);
      CAPTURE(g.w);
      const bool is_max = std::string(op) == "MaxPool";
      Tensor x = ramp({2, 3, g.h, g.w}, -2.0f, 2.0f, static_cast<uint32_t>(g.h * 31 + g.w));
      float* xv = x.data<float>();
      xv[5] = std::numeric_limits<float>::quiet_NaN();
      xv[x.numel() / 2] = -0.0f;
      xv[x.numel() / 2 + 1] = 0.0f;
      std::map<std::string, Attribute> attrs{{"kernel_shape", ints_attr({g.k, g.k})},
                                            {"strides", ints_attr({g.stride, g.stride})},
                                            {"pads", ints_attr({g.pad, g.pad, g.pad, g.pad})},
                                            {"ceil_mode", int_attr(g.ceil ? 1 : 0)}};
      if (is_max) attrs["dilations"] = ints_attr({g.dilation, g.dilation});
      else attrs["count_include_pad"] = int_attr(g.count_pad ? 1 : 0);
      const int64_t dilation = is_max ? g.dilation : 1;
      const int64_t span = (g.k - 1) * dilation + 1;
      auto out_size = [&](int64_t n) {
        const int64_t room = n + 2 * g.pad - span;
        int64_t o = (g.ceil ? (room + g.stride - 1) / g.stride : room / g.stride) + 1;
        if (g.ceil && (o - 1) * g.stride >= n + g.pad) --o;  // a last window starting in the end padding is dropped
        return o;
      };
      const int64_t oh = out_size(g.h), ow = out_size(g.w);
      std::vector<float> want;
      for (int64_t plane = 0; plane < 6; ++plane)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
            int64_t count = 0;
            for (int64_t ky = 0; ky < g.k; ++ky)
              for (int64_t kx = 0; kx < g.k; ++kx) {
                const int64_t iy = oy * g.stride - g.pad + ky * dilation, ix = ox * g.stride - g.pad + kx * dilation;
                if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
                  const float v = xv[(plane * g.h + iy) * g.w + ix];
                  acc = is_max ? std::max(acc, v) : acc + v;
                  ++count;
                } else if (g.count_pad && iy < g.h + g.pad && ix < g.w + g.pad) {
                  ++count;
                }
              }
            want.push_back(is_max ? acc : acc / static_cast<float>(count));
          }
      for (int threads : {1, 2}) {
        const Tensor y = unary(13, op, x, attrs).run(threads)[0];
        REQUIRE(y.shape() == Shape{2, 3, oh, ow});
        CHECK(std::memcmp(y.data<float>(), want.data(), want.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("test_ops: Transpose moves every element where its perm says, for any element size") {
  // The kernel merges dims the source walks together and copies whole rows when it can: check it
  // element by element against the definition, for every perm of rank 4 and a shuffle's rank 5.
  auto check = [](const Shape& shape, const std::vector<int64_t>& perm, DType dtype) {
    CAPTURE(shape_str(shape));
    CAPTURE(shape_str(perm));
    CAPTURE(dtype_name(dtype));
    Tensor x(dtype, shape);
    auto* bytes = static_cast<uint8_t*>(x.raw());
    for (size_t i = 0; i < static_cast<size_t>(x.numel()) * dtype_size(dtype); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + i / 251);
    Net n(13);
    n.add("Transpose", {"x"}, {"y"}, {{"perm", ints_attr(perm)}});
    n.input("x", x);
    n.output("y", dtype);
    const size_t rank = shape.size(), elem = dtype_size(dtype);
    Shape out(rank);
    for (size_t d = 0; d < rank; ++d) out[d] = shape[static_cast<size_t>(perm[d])];
    std::vector<int64_t> in_strides(rank, 1);
    for (size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * shape[d];
    std::vector<uint8_t> want;
    std::vector<int64_t> idx(rank, 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t off = 0;
      for (size_t d = 0; d < rank; ++d) off += idx[d] * in_strides[static_cast<size_t>(perm[d])];
      want.insert(want.end(), bytes + off * static_cast<int64_t>(elem), bytes + (off + 1) * static_cast<int64_t>(elem));
      for (size_t d = rank; d-- > 0;) {
        if (++idx[d] < out[d]) break;
        idx[d] = 0;
      }
    }
    for (int threads : {1, 3}) {
      const Tensor y = n.run(threads)[0];
      REQUIRE(y.shape() == out);
      CHECK(std::memcmp(y.raw(), want.data(), want.size()) == 0);
    }
  };
  std::vector<int64_t> perm{0, 1, 2, 3};
  do {
    for (DType dtype : {DType::f32, DType::u8, DType::i64}) {
      check({2, 3, 1, 5}, perm, dtype);
      check({3, 40, 37, 2}, perm, dtype);
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
  check({8, 2, 58, 28, 28}, {0, 2, 1, 3, 4}, DType::f32);  // ShuffleNet's channel shuffle
  check({1, 1, 1}, {2, 0, 1}, DType::f32);
  check({}, {}, DType::f32);
}
