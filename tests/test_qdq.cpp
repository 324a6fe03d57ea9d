// QuantizeLinear / DequantizeLinear kernels against a plain reference, the quantize-activations pass
// on small calibrated models, and the --qdq export of int8 .mcz tensors (bit-identical to the float
// export, through an ONNX round trip, and across an opset upgrade).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "core/executor.h"
#include "core/shape_inference.h"
#include "formats/mcz.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"
#include "passes/activation_quant.h"
#include "passes/pass.h"
#include "tests/model_builder.h"
#include "tests/helpers.h"
#include "tests/test_util.h"

using namespace mc;
using mc::test::round_half_even;
using mc::test::same_bits;
using mc::test::float_attr;
using mc::test::int_attr;
using mc::test::ints_attr;
using mc::test::floats;

namespace {


// A graph of one node: feeds become graph inputs, constants initializers.
struct QdqNode {
  Model model;
  std::vector<Tensor> feeds;

  QdqNode(int64_t opset, const std::string& op, std::vector<std::string> inputs) {
    model.opset = opset;
    model.graph.nodes.push_back(Node{op + "_0", op, std::move(inputs), {"y"}, {}});
    model.graph.outputs.push_back(ValueInfo{"y", DType::f32, {}, {}, false});
  }
  Node& node() { return model.graph.nodes[0]; }
  void feed(const std::string& name, Tensor t) {
    model.graph.inputs.push_back(ValueInfo{name, t.dtype(), t.shape(), std::vector<std::string>(t.rank()), true});
    feeds.push_back(std::move(t));
  }
  void constant(const std::string& name, Tensor t) { model.graph.initializers[name] = std::move(t); }
  Tensor run(int threads = 1) { return Executor(model, ExecutorOptions{threads, true}).run(feeds)[0]; }
};


// Round half to even without nearbyint (an independent reference for the kernel).
const auto& check_error = test::expect_error;

}  // namespace

TEST_CASE("test_qdq: QuantizeLinear rounds halves to even and saturates") {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4999f, 1000.0f, -1000.0f, 0.0f};
  QdqNode u8(13, "QuantizeLinear", {"x", "s", "z"});
  u8.feed("x", floats({10}, x));
  u8.constant("s", Tensor::scalar_f32(1.0f));
  u8.constant("z", Tensor::from_vector<uint8_t>({}, {128}));
  Tensor y = u8.run();
  REQUIRE(y.dtype() == DType::u8);
  CHECK(y.to_int64_vector() == std::vector<int64_t>{128, 130, 130, 128, 126, 126, 130, 255, 0, 128});

  QdqNode i8(13, "QuantizeLinear", {"x", "s", "z"});
  i8.feed("x", floats({10}, x));
  i8.constant("s", Tensor::scalar_f32(0.5f));
  i8.constant("z", Tensor::from_vector<int8_t>({}, {-1}));
  y = i8.run();
  REQUIRE(y.dtype() == DType::i8);
  // x / 0.5 = 1, 3, 5, -1, -3, -5, 4.9998, 2000, -2000, 0; then + (-1), saturated to [-128, 127].
  CHECK(y.to_int64_vector() == std::vector<int64_t>{0, 2, 4, -2, -4, -6, 4, 127, -128, -1});

  // No zero point: uint8 with zero point 0; negative values saturate to 0.
  QdqNode none(10, "QuantizeLinear", {"x", "s"});
  none.feed("x", floats({3}, {-3.0f, 3.0f, 600.0f}));
  none.constant("s", Tensor::scalar_f32(2.0f));
  y = none.run();
  CHECK(y.dtype() == DType::u8);
  CHECK(y.to_int64_vector() == std::vector<int64_t>{0, 2, 255});
}

TEST_CASE("test_qdq: DequantizeLinear computes (x - zero_point) * scale for uint8, int8 and int32") {
  QdqNode u8(10, "DequantizeLinear", {"x", "s", "z"});
  u8.feed("x", Tensor::from_vector<uint8_t>({4}, {0, 3, 128, 255}));
  u8.constant("s", Tensor::scalar_f32(2.0f));
  u8.constant("z", Tensor::from_vector<uint8_t>({}, {128}));
  CHECK(u8.run().to_float_vector() == std::vector<float>{-256, -250, 0, 254});

  QdqNode i8(13, "DequantizeLinear", {"x", "s"});
  i8.feed("x", Tensor::from_vector<int8_t>({3}, {-128, 0, 127}));
  i8.constant("s", Tensor::scalar_f32(0.5f));
  CHECK(i8.run().to_float_vector() == std::vector<float>{-64, 0, 63.5f});

  QdqNode i32(13, "DequantizeLinear", {"x", "s", "z"});
  i32.feed("x", Tensor::from_vector<int32_t>({2}, {-100000, 7}));
  i32.constant("s", Tensor::scalar_f32(0.25f));
  i32.constant("z", Tensor::from_vector<int32_t>({}, {0}));
  CHECK(i32.run().to_float_vector() == std::vector<float>{-25000, 1.75f});

  QdqNode bad_i32(13, "DequantizeLinear", {"x", "s", "z"});
  bad_i32.feed("x", Tensor::from_vector<int32_t>({1}, {1}));
  bad_i32.constant("s", Tensor::scalar_f32(1.0f));
  bad_i32.constant("z", Tensor::from_vector<int32_t>({}, {3}));
  check_error([&] { bad_i32.run(); }, ErrorKind::input, "DequantizeLinear_0");
}

TEST_CASE("test_qdq: per-axis quantization matches a plain reference at any thread count") {
  // x [2, 3, 5, 7] with per-channel parameters along each axis (negative axes included).
  Tensor x(DType::f32, {2, 3, 5, 7});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 3.0f * std::sin(0.7f * static_cast<float>(i)) + 0.25f * static_cast<float>(i % 5);
  for (int64_t axis : {0, 1, 2, 3, -1, -3}) {
    CAPTURE(axis);
    const int64_t a = axis < 0 ? axis + 4 : axis;
    const int64_t channels = x.dim(static_cast<size_t>(a));
    std::vector<float> scales;
    std::vector<int8_t> zps;
    for (int64_t c = 0; c < channels; ++c) {
      scales.push_back(0.02f + 0.01f * static_cast<float>(c));
      zps.push_back(static_cast<int8_t>(c * 7 - 10));
    }
    QdqNode q(13, "QuantizeLinear", {"x", "s", "z"});
    q.feed("x", x);
    q.constant("s", floats({channels}, scales));
    q.constant("z", Tensor::from_vector<int8_t>({channels}, zps));
    q.node().attrs["axis"] = int_attr(axis);
    Tensor y1 = q.run(1), y3 = q.run(3);
    REQUIRE(y1.dtype() == DType::i8);
    CHECK(std::memcmp(y1.raw(), y3.raw(), y1.byte_size()) == 0);

    QdqNode dq(13, "DequantizeLinear", {"q", "s", "z"});
    dq.feed("q", y1);
    dq.constant("s", floats({channels}, scales));
    dq.constant("z", Tensor::from_vector<int8_t>({channels}, zps));
    dq.node().attrs["axis"] = int_attr(axis);
    Tensor back = dq.run(2);

    const int64_t inner = std::accumulate(x.shape().begin() + a + 1, x.shape().end(), int64_t{1}, std::multiplies<>());
    int mismatches = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = (i / inner) % channels;
      const float s = scales[static_cast<size_t>(c)];
      const int z = zps[static_cast<size_t>(c)];
      double r = round_half_even(static_cast<double>(x.data<float>()[i] / s)) + z;
      const int want = static_cast<int>(std::clamp(r, -128.0, 127.0));
      mismatches += y1.data<int8_t>()[i] != want;
      mismatches += back.data<float>()[i] != static_cast<float>(want - z) * s;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("test_qdq: invalid scale and zero point shapes and types are errors naming the node") {
  auto make = [](int64_t opset, Tensor scale, Tensor zp) {
    QdqNode g(opset, "QuantizeLinear", {"x", "s", "z"});
    g.feed("x", Tensor(DType::f32, {2, 3}));
    g.constant("s", std::move(scale));
    g.constant("z", std::move(zp));
    return g;
  };
  // Per-axis needs opset 13.
  auto old = make(10, floats({3}, {1, 1, 1}), Tensor::from_vector<uint8_t>({3}, {0, 0, 0}));
  check_error([&] { old.run(); }, ErrorKind::input, "QuantizeLinear_0");
  // The scale must match the dim along axis (default 1: 3 values).
  auto wrong_length = make(13, floats({2}, {1, 1}), Tensor::from_vector<uint8_t>({2}, {0, 0}));
  check_error([&] { wrong_length.run(); }, ErrorKind::input, "y_scale has 2 values");
  // Zero point and scale shapes must agree.
  auto mismatch = make(13, floats({3}, {1, 1, 1}), Tensor::from_vector<uint8_t>({}, {0}));
  check_error([&] { mismatch.run(); }, ErrorKind::input, "y_zero_point has shape");
  // A float zero point is not an allowed output type.
  auto float_zp = make(13, Tensor::scalar_f32(1), Tensor::scalar_f32(0));
  check_error([&] { float_zp.run(); }, ErrorKind::input, "y_zero_point must be uint8 or int8");
  // DequantizeLinear: zero point type must match x.
  QdqNode dq(13, "DequantizeLinear", {"x", "s", "z"});
  dq.feed("x", Tensor::from_vector<int8_t>({1}, {1}));
  dq.constant("s", Tensor::scalar_f32(1));
  dq.constant("z", Tensor::from_vector<uint8_t>({}, {0}));
  check_error([&] { dq.run(); }, ErrorKind::input, "DequantizeLinear_0");
  // The ops do not exist before opset 10.
  QdqNode old_dq(9, "DequantizeLinear", {"x", "s"});
  old_dq.feed("x", Tensor::from_vector<uint8_t>({1}, {1}));
  old_dq.constant("s", Tensor::scalar_f32(1));
  check_error([&] { old_dq.run(); }, ErrorKind::input, "before opset 10");
  // Per-tensor on a 1-element 1-D scale (as ONNX Runtime accepts) ignores the axis.
  auto one = make(13, floats({1}, {0.5f}), Tensor::from_vector<uint8_t>({1}, {10}));
  one.node().attrs["axis"] = int_attr(7);
  std::vector<float> values = {0, 1, 2, 3, 4, 5};
  one.feeds[0] = floats({2, 3}, values);
  CHECK(one.run().to_int64_vector() == std::vector<int64_t>{10, 12, 14, 16, 18, 20});
}

// --- quantize-activations ------------------------------------------------------------------------

namespace {

Tensor batch_of(const std::vector<Tensor>& images) {
  Tensor b(DType::f32, {static_cast<int64_t>(images.size()), 3, 8, 8});
  for (size_t i = 0; i < images.size(); ++i)
    std::memcpy(b.data<float>() + i * 192, images[i].data<float>(), 192 * sizeof(float));
  return b;
}

// tiny_conv_model with two 1x1 convs reading the Relu output (one activation, two layers) whose
// sum is pooled: x -> conv -> relu -> r -> {pw_a, pw_b} -> add -> gap -> flatten.
Model two_reader_model() {
  Model m = test::tiny_conv_model();
  Graph& g = m.graph;
  std::vector<float> wa(16), wb(16);
  for (size_t i = 0; i < 16; ++i) {
    wa[i] = 0.1f * static_cast<float>(static_cast<int>(i % 5) - 2);
    wb[i] = 0.05f * static_cast<float>(static_cast<int>(i % 7) - 3);
  }
  g.initializers["wa"] = Tensor::from_vector<float>({4, 4, 1, 1}, wa);
  g.initializers["wb"] = Tensor::from_vector<float>({4, 4, 1, 1}, wb);
  std::vector<Node> nodes;
  const std::string sum = "s";  // (a named string: GCC 12 warns falsely on assigning the literal)
  for (auto& n : g.nodes) {
    if (n.op == "GlobalAveragePool") {
      nodes.push_back(Node{"pw_a", "Conv", {"r", "wa"}, {"a"}, {}});
      nodes.push_back(Node{"pw_b", "Conv", {"r", "wb"}, {"b2"}, {}});
      nodes.push_back(Node{"add", "Add", {"a", "b2"}, {"s"}, {}});
      n.inputs[0] = sum;
    }
    nodes.push_back(n);
  }
  g.nodes = nodes;
  return m;
}


// Q then DQ of `values` with the parameters of `dq` (a DequantizeLinear the pass inserted).
std::vector<float> round_trip(const Model& m, const Node& dq, const std::vector<float>& values) {
  QdqNode q(13, "QuantizeLinear", {"x", "s", "z"});
  q.feed("x", floats({static_cast<int64_t>(values.size())}, values));
  q.constant("s", *m.graph.initializer(dq.inputs[1]));
  q.constant("z", *m.graph.initializer(dq.inputs[2]));
  QdqNode d(13, "DequantizeLinear", {"q", "s", "z"});
  d.feed("q", q.run());
  d.constant("s", *m.graph.initializer(dq.inputs[1]));
  d.constant("z", *m.graph.initializer(dq.inputs[2]));
  return d.run().to_float_vector();
}

}  // namespace

TEST_CASE("test_qdq: uint8 parameters keep 0.0 exact and cover the range") {
  auto q = uint8_quantization(0.0, 6.0);
  CHECK(q.zero_point == 0);
  CHECK(q.scale == doctest::Approx(6.0 / 255));
  q = uint8_quantization(-1.0, 3.0);
  CHECK(q.zero_point == 64);  // round(1 / (4/255)) = round(63.75)
  CHECK(static_cast<double>(q.scale) == doctest::Approx(4.0 / 255));
  q = uint8_quantization(0.5, 2.0);  // widened to hold 0
  CHECK(q.zero_point == 0);
  CHECK(static_cast<double>(q.scale) == doctest::Approx(2.0 / 255));
  q = uint8_quantization(-2.0, -0.5);
  CHECK(q.zero_point == 255);
  q = uint8_quantization(0.0, 0.0);  // an all-zero tensor
  CHECK(q.scale == 1.0f);
  CHECK(q.zero_point == 0);
}

TEST_CASE("test_qdq: quantize-activations inserts calibrated uint8 QDQ pairs before each layer") {
  test::TempDir dir;
  auto images = test::write_small_inputs(dir.path, 6);
  const Model original = two_reader_model();
  for (const std::string method : {"mse", "minmax"}) {
    CAPTURE(method);
    Model m = original;
    PassContext ctx;
    ctx.threads = 2;
    ctx.calibration = calibration_set(dir.path.string(), 6, 0, test::small_image_config(), m);
    run_pipeline(m, parse_pipeline("quantize-activations<method=" + method + ">"), ctx);

    // One pair for x (read by conv) and one for r (shared by pw_a and pw_b).
    CHECK(test::count_op(m, "QuantizeLinear") == 2);
    CHECK(test::count_op(m, "DequantizeLinear") == 2);
    for (const char* layer : {"conv", "pw_a", "pw_b"}) {
      CAPTURE(layer);
      REQUIRE(m.graph.node(layer));
      CHECK(input_is_quantized(m, *m.graph.node(layer)));
    }
    CHECK(m.graph.node("pw_a")->inputs[0] == m.graph.node("pw_b")->inputs[0]);
    CHECK_FALSE(input_is_quantized(original, *original.graph.node("conv")));
    // The Add still reads float values (only layer inputs are quantized).
    CHECK(m.graph.node("add")->inputs == std::vector<std::string>{"a", "b2"});

    const Graph& g = m.graph;
    const Node& dq_x = g.nodes[static_cast<size_t>(g.producer(m.graph.node("conv")->inputs[0]))];
    const Node& dq_r = g.nodes[static_cast<size_t>(g.producer(m.graph.node("pw_a")->inputs[0]))];
    const Node& q_x = g.nodes[static_cast<size_t>(g.producer(dq_x.inputs[0]))];
    CHECK(q_x.op == "QuantizeLinear");
    CHECK(q_x.inputs[0] == "x");
    // Everything is uint8; x has negative values (zero point > 0), the Relu output does not (0).
    CHECK(g.initializer(dq_x.inputs[2])->dtype() == DType::u8);
    CHECK(g.initializer(dq_x.inputs[2])->to_int64_vector()[0] > 0);
    CHECK(g.initializer(dq_r.inputs[2])->to_int64_vector()[0] == 0);
    // 0.0 is exact, and a value inside the range comes back within half a step.
    const float step = g.initializer(dq_x.inputs[1])->data<float>()[0];
    auto back = round_trip(m, dq_x, {0.0f, 0.3f, -0.4f});
    CHECK(back[0] == 0.0f);
    CHECK(std::fabs(back[1] - 0.3f) <= 0.5f * step * 1.0001f);
    CHECK(std::fabs(back[2] + 0.4f) <= 0.5f * step * 1.0001f);
    // The .mcz writer gets the new initializers' encodings.
    CHECK(g.is_encoded(dq_x.inputs[1]));
    CHECK(g.is_encoded(dq_x.inputs[2]));

    // Still topologically ordered, and close to the float model.
    Model sorted = m;
    sorted.graph.sort();
    for (size_t i = 0; i < g.nodes.size(); ++i) CHECK(sorted.graph.nodes[i].name == g.nodes[i].name);
    const double err = test::relative_change(original, m, batch_of(images));
    MESSAGE("relative output error with uint8 activations (" << method << "): " << err);
    CHECK(err < 0.02);

    // Idempotent: layers whose input is already quantized are left alone.
    run_pipeline(m, parse_pipeline("quantize-activations"), ctx);
    CHECK(test::count_op(m, "QuantizeLinear") == 2);
  }
}

TEST_CASE("test_qdq: quantize-activations needs calibration images and a known method") {
  Model m = test::tiny_conv_model();
  PassContext ctx;
  check_error([&] { run_pipeline(m, parse_pipeline("quantize-activations"), ctx); }, ErrorKind::usage, "--calib");
  check_error([&] { run_pipeline(m, parse_pipeline("quantize-activations<method=p99>"), ctx); }, ErrorKind::usage, "p99");
  check_error([&] { parse_pipeline("quantize-activations<bits=4>"); }, ErrorKind::usage, "unknown option 'bits'");
  // Refused before it runs, whatever the model: the pipeline is checked before its first pass.
  Model relu = test::relu_only_model();
  check_error([&] { run_pipeline(relu, parse_pipeline("fold-bn,quantize-activations"), ctx); }, ErrorKind::usage,
              "pass 'quantize-activations' needs calibration images");
  CHECK(relu.graph.nodes.size() == 1);
}

// --- --qdq export --------------------------------------------------------------------------------

namespace {

// An int8 encoding of `w` per output channel (symmetric scale, zero point `zp[c]`), as a weight
// quantizer would store it.
EncodedTensor int8_encoding(const Tensor& w, const std::vector<int32_t>& zp) {
  EncodedTensor e;
  e.dtype = DType::f32;
  e.shape = w.shape();
  EncodedPart p;
  p.encoding = Encoding::int8;
  p.channel_begin = 0;
  p.channel_end = e.channels();
  const int64_t inner = e.channel_size();
  p.streams.resize(1);
  for (int64_t c = 0; c < e.channels(); ++c) {
    float max_abs = 0;
    for (int64_t k = 0; k < inner; ++k) max_abs = std::max(max_abs, std::fabs(w.data<float>()[c * inner + k]));
    const float scale = max_abs > 0 ? max_abs / 100.0f : 1.0f;
    p.scales.push_back(scale);
    const int32_t z = zp.empty() ? 0 : zp[static_cast<size_t>(c)];
    for (int64_t k = 0; k < inner; ++k) {
      int32_t q = static_cast<int32_t>(std::nearbyint(w.data<float>()[c * inner + k] / scale)) + z;
      q = std::clamp(q, -128, 127);
      p.streams[0].push_back(static_cast<uint8_t>(q + 128));
    }
  }
  if (!zp.empty()) p.zero_points = zp;
  p.symbol_bits = {8};
  e.parts.push_back(std::move(p));
  return e;
}

EncodedTensor lossless(const Tensor& t) { return t.dtype() == DType::f32 ? encode_fp32_planes(t) : encode_raw(t); }

struct Exported {
  std::vector<std::byte> bytes;
  McFile file;
  Model float_model;
  Model qdq_model;
};

Exported export_both(const Model& m, const std::map<std::string, EncodedTensor>& encoded) {
  Exported x;
  x.bytes = write_mcz(test::with_encodings(m, encoded), nlohmann::ordered_json::object(), 1);
  x.file = read_mcz(x.bytes, "test.mcz");
  x.float_model = decode_mcz(x.file, "test.mcz");
  x.qdq_model = with_qdq_weights(x.float_model);
  return x;
}

// The value a model computes for `name` (made a graph output of a copy of the model).
Tensor value_of(const Model& m, const std::string& name, const Tensor& input) {
  Model copy = m;
  copy.graph.outputs = {ValueInfo{name, DType::f32, {}, {}, false}};
  return Executor(copy).run({input})[0];
}

Tensor test_input(int64_t n) {
  Tensor x(DType::f32, {n, 3, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::cos(0.11f * static_cast<float>(i));
  return x;
}

}  // namespace

TEST_CASE("test_qdq: --qdq export keeps int8 weights as int8 and computes bit-identical values") {
  const Model m = test::tiny_conv_model();
  std::map<std::string, EncodedTensor> encoded;
  encoded["w"] = int8_encoding(*m.graph.initializer("w"), {0, 3, -5, 127});
  encoded["b"] = lossless(*m.graph.initializer("b"));
  Exported x = export_both(m, encoded);
  const Graph& g = x.qdq_model.graph;

  // "w" is now the output of a DequantizeLinear (axis 0) of an int8 initializer; "b" stays float.
  CHECK_FALSE(g.initializer("w"));
  const int p = g.producer("w");
  REQUIRE(p >= 0);
  const Node& dq = g.nodes[static_cast<size_t>(p)];
  CHECK(dq.op == "DequantizeLinear");
  CHECK(dq.attr_int("axis", 1) == 0);
  const Tensor& q = *g.initializer(dq.inputs[0]);
  CHECK(q.dtype() == DType::i8);
  CHECK(q.shape() == Shape{4, 3, 3, 3});
  for (int64_t i = 0; i < q.numel(); ++i)
    CHECK(static_cast<int>(q.data<int8_t>()[i]) == static_cast<int>(encoded["w"].parts[0].streams[0][static_cast<size_t>(i)]) - 128);
  CHECK(g.initializer(dq.inputs[1])->to_float_vector() == encoded["w"].parts[0].scales);
  CHECK(g.initializer(dq.inputs[2])->dtype() == DType::i8);
  CHECK(g.initializer(dq.inputs[2])->to_int64_vector() == std::vector<int64_t>{0, 3, -5, 127});
  CHECK(same_bits(*g.initializer("b"), *x.float_model.graph.initializer("b")));
  CHECK(x.qdq_model.opset == 13);

  // The DequantizeLinear gives exactly the decoded floats, and both models the same outputs.
  const Tensor input = test_input(2);
  CHECK(same_bits(value_of(x.qdq_model, "w", input), *x.float_model.graph.initializer("w")));
  const Tensor y_float = Executor(x.float_model).run({input})[0];
  const Tensor y_qdq = Executor(x.qdq_model).run({input})[0];
  CHECK(same_bits(y_float, y_qdq));

  // Through ONNX bytes and back: the int8 initializers and the outputs survive.
  const std::string onnx = serialize_onnx(x.qdq_model);
  Model reread = parse_onnx(std::span<const std::byte>(reinterpret_cast<const std::byte*>(onnx.data()), onnx.size()), "qdq.onnx");
  infer_shapes(reread, 1);
  CHECK(same_bits(*reread.graph.initializer(dq.inputs[0]), q));
  CHECK(same_bits(Executor(reread).run({input})[0], y_float));
}

TEST_CASE("test_qdq: --qdq export leaves float and out-of-range tensors float, exports sparse and multi-part int8") {
  const Model m = test::tiny_conv_model();
  const Tensor& w = *m.graph.initializer("w");
  SUBCASE("fp16 weight") {
    std::map<std::string, EncodedTensor> encoded{{"w", encode_fp16(w)}, {"b", lossless(*m.graph.initializer("b"))}};
    Exported x = export_both(m, encoded);
    CHECK(test::count_op(x.qdq_model, "DequantizeLinear") == 0);
    CHECK(x.qdq_model.opset == m.opset);
  }
  SUBCASE("int8 with a zero point outside int8") {
    std::map<std::string, EncodedTensor> encoded{{"w", int8_encoding(w, {0, 200, 0, 0})}, {"b", lossless(*m.graph.initializer("b"))}};
    Exported x = export_both(m, encoded);
    CHECK(test::count_op(x.qdq_model, "DequantizeLinear") == 0);
    CHECK(same_bits(*x.qdq_model.graph.initializer("w"), *x.float_model.graph.initializer("w")));
  }
  SUBCASE("sparse int8 and a two-part (hybrid) tensor") {
    EncodedTensor sparse = int8_encoding(w, {});
    EncodedPart& p = sparse.parts[0];
    std::vector<uint8_t> mask(p.streams[0].size()), values;
    for (size_t i = 0; i < mask.size(); ++i) {
      mask[i] = p.streams[0][i] != 128;
      if (mask[i]) values.push_back(p.streams[0][i]);
    }
    p.sparse = true;
    p.streams = {mask, values};
    p.symbol_bits = {1, 8};
    EncodedTensor hybrid = int8_encoding(w, {});
    EncodedPart second = hybrid.parts[0];
    const size_t per_channel = static_cast<size_t>(hybrid.channel_size());
    hybrid.parts[0].channel_end = 2;
    hybrid.parts[0].scales.resize(2);
    hybrid.parts[0].streams[0].resize(2 * per_channel);
    second.channel_begin = 2;
    second.scales.erase(second.scales.begin(), second.scales.begin() + 2);
    second.streams[0].erase(second.streams[0].begin(), second.streams[0].begin() + static_cast<std::ptrdiff_t>(2 * per_channel));
    hybrid.parts.push_back(second);
    // A sparse int8 part and two int8 parts are each one int8 tensor: exported as such, bit-identical.
    for (const EncodedTensor* e : {&sparse, &hybrid}) {
      std::map<std::string, EncodedTensor> encoded{{"w", *e}, {"b", lossless(*m.graph.initializer("b"))}};
      Exported x = export_both(m, encoded);
      CHECK(test::count_op(x.qdq_model, "DequantizeLinear") == 1);
      CHECK(same_bits(value_of(x.qdq_model, "w", test_input(1)), *x.float_model.graph.initializer("w")));
    }
  }
}

namespace {

// A hybrid encoding of `w` [4, ...]: stored channels 0-1 (tensor channels 3 and 1) int8, stored
// channels 2-3 (tensor channels 0 and 2) two-term residual ternary.
EncodedTensor hybrid_encoding(const Tensor& w) {
  const int64_t inner = w.numel() / w.shape()[0];
  const std::vector<uint32_t> order = {3, 1, 0, 2};
  Tensor stored(DType::f32, w.shape());
  for (int64_t i = 0; i < 4; ++i)
    std::memcpy(stored.data<float>() + i * inner, w.data<float>() + order[static_cast<size_t>(i)] * inner, static_cast<size_t>(inner) * sizeof(float));
  EncodedTensor e = int8_encoding(stored, {});
  e.permutation = order;
  EncodedPart& bank = e.parts[0];
  bank.channel_end = 2;
  bank.scales.resize(2);
  bank.streams[0].resize(static_cast<size_t>(2 * inner));
  EncodedPart t;
  t.encoding = Encoding::ternary;
  t.channel_begin = 2;
  t.channel_end = 4;
  t.terms = 2;
  t.streams.resize(2);
  t.symbol_bits = {2, 2};
  for (int64_t c = 2; c < 4; ++c) {
    // Term 1: sign of w above a threshold; term 2: sign of the remainder.
    const float* row = stored.data<float>() + c * inner;
    float max_abs = 0;
    for (int64_t k = 0; k < inner; ++k) max_abs = std::max(max_abs, std::fabs(row[k]));
    const float a1 = 0.6f * max_abs, a2 = 0.25f * max_abs;
    t.scales.push_back(a1);
    t.scales.push_back(a2);
    for (int64_t k = 0; k < inner; ++k) {
      const float v = row[k];
      const uint8_t s1 = v > 0.4f * max_abs ? 1 : (v < -0.4f * max_abs ? 2 : 0);
      const float r = v - (s1 == 1 ? a1 : (s1 == 2 ? -a1 : 0.0f));
      const uint8_t s2 = r > 0.12f * max_abs ? 1 : (r < -0.12f * max_abs ? 2 : 0);
      t.streams[0].push_back(s1);
      t.streams[1].push_back(s2);
    }
  }
  e.parts.push_back(std::move(t));
  return e;
}

}  // namespace

TEST_CASE("test_qdq: --qdq export writes a hybrid (int8 + ternary) weight as a sum of int8 terms") {
  const Model m = test::tiny_conv_model();
  std::map<std::string, EncodedTensor> encoded{{"w", hybrid_encoding(*m.graph.initializer("w"))},
                                               {"b", lossless(*m.graph.initializer("b"))}};
  Exported x = export_both(m, encoded);
  const Graph& g = x.qdq_model.graph;
  CHECK_FALSE(g.initializer("w"));
  CHECK(test::count_op(x.qdq_model, "Conv") == 2);  // one per term
  CHECK(test::count_op(x.qdq_model, "DequantizeLinear") == 2);
  CHECK(test::count_op(x.qdq_model, "Add") == 1);
  // Every weight is an int8 constant; term 1 is ternary, and the terms add up to the file's values.
  Tensor sum(DType::f32, encoded["w"].shape);
  int terms = 0;
  for (const auto& node : g.nodes) {
    if (node.op != "DequantizeLinear") continue;
    const Tensor& q = *g.initializer(node.inputs[0]);
    CHECK(q.dtype() == DType::i8);
    const Tensor& scale = *g.initializer(node.inputs[1]);
    const int64_t inner = q.numel() / q.shape()[0];
    for (int64_t i = 0; i < q.numel(); ++i) {
      if (terms == 1) CHECK(std::abs(static_cast<int>(q.data<int8_t>()[i])) <= 1);
      sum.data<float>()[i] += static_cast<float>(q.data<int8_t>()[i]) * scale.data<float>()[i / inner];
    }
    ++terms;
  }
  CHECK(terms == 2);
  CHECK(same_bits(sum, *x.float_model.graph.initializer("w")));  // two terms at most: the sum is exact
  // The same function: equal up to float summation order, through ONNX bytes too.
  const Tensor input = test_input(2);
  const Tensor y_float = Executor(x.float_model).run({input})[0];
  const std::string onnx = serialize_onnx(x.qdq_model);
  Model reread = parse_onnx(std::span<const std::byte>(reinterpret_cast<const std::byte*>(onnx.data()), onnx.size()), "qdq.onnx");
  infer_shapes(reread, 1);
  for (const Model* model : {&x.qdq_model, &reread}) {
    const Tensor y = Executor(*model).run({input})[0];
    REQUIRE(y.numel() == y_float.numel());
    for (int64_t i = 0; i < y.numel(); ++i) CHECK(y.data<float>()[i] == doctest::Approx(y_float.data<float>()[i]).epsilon(1e-5));
  }
  // A weight some other node reads as data cannot be split: it stays float.
  Model shared = m;
  shared.graph.nodes.push_back(Node{"reads_w", "Identity", {"w"}, {"w_copy"}, {}});
  shared.graph.outputs.push_back(ValueInfo{"w_copy", DType::f32, {}, {}, false});
  Exported y = export_both(shared, encoded);
  CHECK(y.qdq_model.graph.initializer("w"));
}

TEST_CASE("test_qdq: --qdq export raises an old opset to 13 and keeps the model's function") {
  // x -> Conv(int8 w) -> Clip(attrs 0, 6) -> GlobalAveragePool -> Squeeze(axes attr) -> Softmax(axis 1)
  Model m = test::tiny_conv_model();
  m.opset = 9;
  m.ir_version = 4;
  Graph& g = m.graph;
  g.nodes.resize(1);  // keep the conv
  Node clip{"clip", "Clip", {"c"}, {"r"}, {}};
  clip.attrs["min"] = float_attr(0.0f);
  clip.attrs["max"] = float_attr(0.05f);  // small, so that it clips
  g.nodes.push_back(clip);
  g.nodes.push_back(Node{"gap", "GlobalAveragePool", {"r"}, {"p"}, {}});
  Node squeeze{"squeeze", "Squeeze", {"p"}, {"s"}, {}};
  squeeze.attrs["axes"] = ints_attr({2, 3});
  g.nodes.push_back(squeeze);
  Node softmax{"softmax", "Softmax", {"s"}, {"y"}, {}};
  softmax.attrs["axis"] = int_attr(1);
  g.nodes.push_back(softmax);
  std::map<std::string, EncodedTensor> encoded;
  encoded["w"] = int8_encoding(*g.initializer("w"), {});
  encoded["b"] = lossless(*g.initializer("b"));
  Exported x = export_both(m, encoded);

  CHECK(x.qdq_model.opset == 13);
  CHECK(x.qdq_model.ir_version >= 7);
  const Node* sq = nullptr;
  const Node* cl = nullptr;
  for (const auto& n : x.qdq_model.graph.nodes) {
    if (n.op == "Squeeze") sq = &n;
    if (n.op == "Clip") cl = &n;
  }
  REQUIRE(sq);
  REQUIRE(cl);
  CHECK_FALSE(sq->has("axes"));
  CHECK(x.qdq_model.graph.initializer(sq->inputs.at(1))->to_int64_vector() == std::vector<int64_t>{2, 3});
  CHECK_FALSE(cl->has("min"));
  CHECK(x.qdq_model.graph.initializer(cl->inputs.at(2))->to_float_vector() == std::vector<float>{0.05f});
  const Tensor input = test_input(3);
  CHECK(same_bits(Executor(x.float_model).run({input})[0], Executor(x.qdq_model).run({input})[0]));

  // A Softmax over several flattened dims has no opset-13 form: refused, naming the node.
  Model wide = x.float_model;
  for (auto& n : wide.graph.nodes)
    if (n.op == "Squeeze") n.attrs["axes"] = ints_attr({3});  // s is [N, 4, 1]: still fine
  CHECK(upgraded_to_opset13(wide).opset == 13);
  for (auto& n : wide.graph.nodes)
    if (n.op == "Softmax") n.attrs["axis"] = int_attr(0);  // over [N, 4, 1] flattened from axis 0
  check_error([&] { upgraded_to_opset13(wide); }, ErrorKind::unsupported, "'softmax'");
}

TEST_CASE("test_qdq: --qdq export writes int8 layers ONNX Runtime would run in float as ConvInteger, same function") {
  // x -> QuantizeLinear -> DequantizeLinear -> conv(int8 w) -> relu -> [QuantizeLinear -> DequantizeLinear] -> pool
  for (bool requantized : {false, true}) {
    CAPTURE(requantized);
    Model m = test::tiny_conv_model();
    Graph& g = m.graph;
    g.initializers["s"] = Tensor::scalar_f32(0.01f);
    g.initializers["z"] = Tensor::from_vector<uint8_t>({}, {128});
    g.initializers["s2"] = Tensor::scalar_f32(0.02f);
    g.initializers["z2"] = Tensor::from_vector<uint8_t>({}, {0});
    std::vector<Node> nodes = {Node{"q", "QuantizeLinear", {"x", "s", "z"}, {"xq"}, {}}, Node{"dq", "DequantizeLinear", {"xq", "s", "z"}, {"xd"}, {}}};
    for (Node n : g.nodes) {
      if (n.op == "Conv") n.inputs[0] = "xd";
      if (requantized && n.op == "GlobalAveragePool") {
        nodes.push_back(Node{"q2", "QuantizeLinear", {"r", "s2", "z2"}, {"rq"}, {}});
        nodes.push_back(Node{"dq2", "DequantizeLinear", {"rq", "s2", "z2"}, {"rd"}, {}});
        n.inputs[0] = "rd";
      }
      nodes.push_back(n);
    }
    g.nodes = nodes;
    std::map<std::string, EncodedTensor> encoded;
    for (const auto& [name, t] : g.initializers) encoded[name] = lossless(t.values);
    encoded["w"] = int8_encoding(*g.initializer("w"), {});
    Exported x = export_both(m, encoded);
    std::map<std::string, int> ops;
    for (const auto& n : x.qdq_model.graph.nodes) ++ops[n.op];
    if (requantized) {
      // DequantizeLinear -> Conv -> Relu -> QuantizeLinear: left for the runtime to run as QLinearConv.
      CHECK(ops["Conv"] == 1);
      CHECK(ops["ConvInteger"] == 0);
    } else {
      CHECK(ops["Conv"] == 0);
      CHECK(ops["ConvInteger"] == 1);
      CHECK(ops["Cast"] == 1);
      CHECK(ops["Mul"] == 1);
      CHECK(ops["DequantizeLinear"] == 0);  // ConvInteger reads the uint8 activation and the int8 weight
      const Tensor input = test_input(2);
      const Tensor y_float = Executor(x.float_model).run({input})[0];
      const Tensor y_qdq = Executor(x.qdq_model).run({input})[0];
      REQUIRE(y_float.shape() == y_qdq.shape());
      for (int64_t i = 0; i < y_float.numel(); ++i)
        CHECK(y_qdq.data<float>()[i] == doctest::Approx(y_float.data<float>()[i]).epsilon(1e-5));
      // Through ONNX bytes and back.
      const std::string onnx = serialize_onnx(x.qdq_model);
      Model reread = parse_onnx(std::span<const std::byte>(reinterpret_cast<const std::byte*>(onnx.data()), onnx.size()), "qdq.onnx");
      CHECK(same_bits(Executor(reread).run({input})[0], y_qdq));
    }
  }
}

TEST_CASE("test_qdq: invalid QLinearConv, ConvInteger and Cast inputs are errors naming the problem") {
  auto w = Tensor::from_vector<int8_t>({2, 1, 1, 1}, {1, -1});
  auto x = Tensor::from_vector<uint8_t>({1, 1, 2, 2}, {1, 2, 3, 4});
  SUBCASE("a per-channel x_zero_point") {
    QdqNode n(13, "QLinearConv", {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz"});
    n.feed("x", x);
    n.constant("xs", Tensor::scalar_f32(0.1f));
    n.constant("xz", Tensor::from_vector<uint8_t>({2}, {0, 0}));
    n.constant("w", w);
    n.constant("ws", Tensor::scalar_f32(0.1f));
    n.constant("wz", Tensor::from_vector<int8_t>({}, {0}));
    n.constant("ys", Tensor::scalar_f32(0.1f));
    n.constant("yz", Tensor::from_vector<uint8_t>({}, {0}));
    check_error([&] { n.run(); }, ErrorKind::input, "x_zero_point has shape [2]");
  }
  SUBCASE("a float x") {
    QdqNode n(13, "ConvInteger", {"x", "w"});
    n.feed("x", floats({1, 1, 2, 2}, {1, 2, 3, 4}));
    n.constant("w", w);
    check_error([&] { n.run(); }, ErrorKind::unsupported, "x and w must be uint8 or int8");
  }
  SUBCASE("a weight zero point of the wrong type") {
    QdqNode n(13, "ConvInteger", {"x", "w", "", "wz"});
    n.feed("x", x);
    n.constant("w", w);
    n.constant("wz", Tensor::from_vector<uint8_t>({}, {0}));
    check_error([&] { n.run(); }, ErrorKind::input, "w_zero_point must have the type");
  }
  SUBCASE("Cast to an integer type") {
    QdqNode n(13, "Cast", {"x"});
    n.node().attrs["to"] = int_attr(static_cast<int64_t>(DType::i32));
    n.feed("x", floats({2}, {1, 2}));
    check_error([&] { n.run(); }, ErrorKind::unsupported, "cast to int32 (ONNX type 6) is not supported");
  }
}
