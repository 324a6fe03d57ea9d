// int8 layers as an int8 runtime computes them: the QLinearConv and ConvInteger kernels and the executor's fusion of
// DequantizeLinear -> Conv -> [Clip] -> QuantizeLinear into it, against a plain integer reference
// (int64 sums, ONNX Runtime's requantization written out), at several thread counts, including a
// layer whose sums are too large for exact float32 accumulation; and the fused ConvInteger -> Cast ->
// Mul -> Add chains (executor_integer_chain.cpp) against the unfused run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/executor.h"
#include "core/qdq_conv.h"
#include "core/ops/int8_pointwise.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::round_half_even;
using mc::test::int_attr;
using mc::test::ints_attr;

namespace {


struct Layer {
  int64_t batch = 2, in_channels = 8, out_channels = 6, height = 7, width = 6, kernel = 3, stride = 1, pad = 1, group = 1;
  float x_scale = 0.05f, y_scale = 0.04f;
  uint8_t x_zp = 3, y_zp = 0;
  bool clip = true;  // Clip(0, 6) between the Conv and the QuantizeLinear
  bool x_signed = false;  // x and x_zp read as int8 (input() and sums() only)
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  std::vector<float> w_scale, bias;

  int64_t cin_g() const { return in_channels / group; }
  int64_t out_h() const { return (height + 2 * pad - kernel) / stride + 1; }
  int64_t out_w() const { return (width + 2 * pad - kernel) / stride + 1; }

  void randomize(uint32_t seed, int w_max = 127) {
    std::mt19937 rng(seed);
    x.resize(static_cast<size_t>(batch * in_channels * height * width));
    for (auto& v : x) v = static_cast<uint8_t>(rng() % 256);
    w.resize(static_cast<size_t>(out_channels * cin_g() * kernel * kernel));
    for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % (2 * w_max + 1)) - w_max);
    std::uniform_real_distribution<float> scale(0.002f, 0.02f), b(-1.0f, 1.0f);
    w_scale.resize(static_cast<size_t>(out_channels));
    bias.resize(static_cast<size_t>(out_channels));
    for (auto& v : w_scale) v = scale(rng);
    for (auto& v : bias) v = b(rng);
  }

  // xq (uint8 input) -> DQ -> Conv(DQ(wq), bias) -> [Clip] -> Q -> yq (uint8 output).
  Model model() const {
    Model m;
    m.opset = 13;
    Graph& g = m.graph;
    g.inputs.push_back(ValueInfo{"xq", DType::u8, {batch, in_channels, height, width}, std::vector<std::string>(4), true});
    g.initializers["x_scale"] = Tensor::scalar_f32(x_scale);
    g.initializers["x_zp"] = Tensor::from_vector<uint8_t>({}, {x_zp});
    g.initializers["wq"] = Tensor::from_vector<int8_t>({out_channels, cin_g(), kernel, kernel}, w);
    g.initializers["w_scale"] = Tensor::from_vector<float>({out_channels}, w_scale);
    g.initializers["w_zp"] = Tensor::from_vector<int8_t>({out_channels}, std::vector<int8_t>(static_cast<size_t>(out_channels), 0));
    g.initializers["bias"] = Tensor::from_vector<float>({out_channels}, bias);
    g.initializers["y_scale"] = Tensor::scalar_f32(y_scale);
    g.initializers["y_zp"] = Tensor::from_vector<uint8_t>({}, {y_zp});
    g.initializers["lo"] = Tensor::scalar_f32(0.0f);
    g.initializers["hi"] = Tensor::scalar_f32(6.0f);
    g.nodes.push_back(Node{"dqx", "DequantizeLinear", {"xq", "x_scale", "x_zp"}, {"xd"}, {}});
    Node dqw{"dqw", "DequantizeLinear", {"wq", "w_scale", "w_zp"}, {"wd"}, {}};
    dqw.attrs["axis"] = int_attr(0);
    g.nodes.push_back(dqw);
    Node conv{"conv", "Conv", {"xd", "wd", "bias"}, {"c"}, {}};
    conv.attrs["strides"] = ints_attr({stride, stride});
    conv.attrs["pads"] = ints_attr({pad, pad, pad, pad});
    conv.attrs["group"] = int_attr(group);
    g.nodes.push_back(conv);
    if (clip) g.nodes.push_back(Node{"clip", "Clip", {"c", "lo", "hi"}, {"r"}, {}});
    g.nodes.push_back(Node{"q", "QuantizeLinear", {clip ? "r" : "c", "y_scale", "y_zp"}, {"yq"}, {}});
    g.outputs.push_back(ValueInfo{"yq", DType::u8, {}, {}, false});
    return m;
  }

  Tensor input() const {
    if (!x_signed) return Tensor::from_vector<uint8_t>({batch, in_channels, height, width}, x);
    return Tensor::from_vector<int8_t>({batch, in_channels, height, width}, std::vector<int8_t>(x.begin(), x.end()));
  }
  int64_t zero_point() const { return x_signed ? static_cast<int8_t>(x_zp) : x_zp; }
  Tensor zero_point_tensor() const {
    return x_signed ? Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(x_zp)}) : Tensor::from_vector<uint8_t>({}, {x_zp});
  }

  // int64 sums of (x - x_zp) * w over each window, [N, M, out_h, out_w].
  std::vector<int64_t> sums() const {
    const int64_t oh = out_h(), ow = out_w(), cout_g = out_channels / group;
    std::vector<int64_t> out(static_cast<size_t>(batch * out_channels * oh * ow));
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t m = 0; m < out_channels; ++m)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            int64_t sum = 0;
            for (int64_t c = 0; c < cin_g(); ++c)
              for (int64_t ky = 0; ky < kernel; ++ky)
                for (int64_t kx = 0; kx < kernel; ++kx) {
                  const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                  if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
                  const uint8_t byte = x[static_cast<size_t>(((n * in_channels + (m / cout_g) * cin_g() + c) * height + iy) * width + ix)];
                  const int64_t xv = x_signed ? static_cast<int8_t>(byte) : byte;
                  const int64_t wv = w[static_cast<size_t>(((m * cin_g() + c) * kernel + ky) * kernel + kx)];
                  sum += (xv - zero_point()) * wv;
                }
            out[static_cast<size_t>(((n * out_channels + m) * oh + oy) * ow + ox)] = sum;
          }
    return out;
  }

  // The integer reference: the sums plus the int32 bias as ONNX Runtime quantizes it, float32
  // requantization with halves rounded to even, the clip as bounds on the output.
  std::vector<uint8_t> reference() const {
    const int64_t oh = out_h(), ow = out_w();
    const std::vector<int64_t> all = sums();
    std::vector<uint8_t> y(static_cast<size_t>(batch * out_channels * oh * ow));
    const int32_t lo = clip ? std::max(0, static_cast<int>(y_zp)) : 0;
    const int32_t hi = clip ? std::min(255, static_cast<int>(round_half_even(6.0f / y_scale)) + y_zp) : 255;
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t m = 0; m < out_channels; ++m) {
        const float bias_scale = x_scale * w_scale[static_cast<size_t>(m)];
        // Out of int32's range: INT32_MIN, what ONNX Runtime's conversion gives on x86.
        const double r = round_half_even(bias[static_cast<size_t>(m)] / bias_scale);
        const auto b = std::isfinite(r) && std::fabs(r) <= 2147483647.0 ? static_cast<int64_t>(r) : int64_t{-2147483648LL};
        const float multiplier = x_scale * w_scale[static_cast<size_t>(m)] / y_scale;
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            const auto sum = static_cast<int32_t>(b + all[static_cast<size_t>(((n * out_channels + m) * oh + oy) * ow + ox)]);
            float f = static_cast<float>(sum) * multiplier;
            f = std::min(std::max(f, static_cast<float>(0 - y_zp)), static_cast<float>(255 - y_zp));
            const int32_t q = std::clamp(static_cast<int32_t>(round_half_even(f)) + y_zp, lo, hi);
            y[static_cast<size_t>(((n * out_channels + m) * oh + oy) * ow + ox)] = static_cast<uint8_t>(q);
          }
      }
    return y;
  }
};

std::vector<uint8_t> bytes_of(const Tensor& t) { return std::vector<uint8_t>(t.data<uint8_t>(), t.data<uint8_t>() + t.numel()); }

bool runs(const Executor& e, const std::string& op) {
  const auto ops = e.planned_ops();
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

}  // namespace

TEST_CASE("test_integer_conv: a DequantizeLinear -> Conv -> Clip -> QuantizeLinear layer runs as integers, bit-exact") {
  Layer dense;
  Layer pointwise;
  pointwise.kernel = 1, pointwise.pad = 0, pointwise.in_channels = 32, pointwise.out_channels = 20, pointwise.clip = false;
  pointwise.y_zp = 120;
  Layer depthwise;
  depthwise.in_channels = depthwise.out_channels = depthwise.group = 12, depthwise.stride = 2;
  Layer grouped;
  grouped.group = 2, grouped.x_zp = 0, grouped.y_scale = 0.01f;
  uint32_t seed = 1;
  for (Layer* layer : {&dense, &pointwise, &depthwise, &grouped}) {
    layer->randomize(seed++);
    const Model model = layer->model();
    const std::vector<uint8_t> expected = layer->reference();
    for (int threads : {1, 3}) {
      Executor e(model, ExecutorOptions{threads, true});
      CHECK(runs(e, "QLinearConv"));
      CHECK_FALSE(runs(e, "Conv"));
      CHECK_FALSE(runs(e, "DequantizeLinear"));
      CHECK(bytes_of(e.run({layer->input()})[0]) == expected);
    }
    // The graph as written (float convolution, float bias) computes the same function up to
    // rounding: at most one step apart, and mostly equal.
    ExecutorOptions plain{1, true};
    plain.fuse_quantized = false;
    Executor e(model, plain);
    CHECK_FALSE(runs(e, "QLinearConv"));
    const std::vector<uint8_t> as_written = bytes_of(e.run({layer->input()})[0]);
    int64_t equal = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      CHECK(std::abs(expected[i] - as_written[i]) <= 1);
      equal += expected[i] == as_written[i];
    }
    CHECK(equal >= static_cast<int64_t>(expected.size()) * 9 / 10);
  }
}

TEST_CASE("test_integer_conv: sums beyond float32's exact integers are still exact") {
  // 2048 inputs of 200..255 times weights +127 (first half) and -127 (second half), the second half
  // of the inputs a copy of the first: every sum is exactly 0, but running sums pass 2^24, where
  // float32 accumulation rounds odd values, and one unit of error moves the output (scale 0.5).
  Layer big;
  big.batch = 1, big.in_channels = 2048, big.out_channels = 8, big.height = big.width = 8, big.kernel = 1, big.pad = 0;
  big.clip = false, big.x_zp = 0, big.y_zp = 128, big.y_scale = 0.001f;
  big.randomize(7);
  const size_t plane = 64;
  for (size_t i = 0; i < big.x.size(); ++i)
    big.x[i] = i < 1024 * plane ? static_cast<uint8_t>(201 + 2 * (big.x[i] % 27)) : big.x[i - 1024 * plane];
  for (size_t i = 0; i < big.w.size(); ++i) big.w[i] = static_cast<int8_t>(i % 2048 < 1024 ? 127 : -127);
  for (auto& s : big.w_scale) s = 0.01f;
  for (auto& b : big.bias) b = 0.0f;
  const std::vector<uint8_t> expected = big.reference();
  CHECK(std::all_of(expected.begin(), expected.end(), [](uint8_t v) { return v == 128; }));
  const Model model = big.model();
  Executor e(model, ExecutorOptions{2, true});
  CHECK(runs(e, "QLinearConv"));
  CHECK(bytes_of(e.run({big.input()})[0]) == expected);
}

TEST_CASE("test_integer_conv: a bias beyond int32 at a tiny weight scale becomes INT32_MIN (ORT on x86), and sums wrap as a runtime's do") {
  Layer layer;
  layer.clip = false;
  layer.y_zp = 128;
  layer.randomize(5);
  layer.w_scale[0] = 1e-20f;  // bias / (x_scale * w_scale) far beyond 2^31
  layer.bias[0] = -1.0f;
  layer.w_scale[1] = 1e-20f;
  layer.bias[1] = 1.0f;
  const Model model = layer.model();
  Executor e(model, ExecutorOptions{2, true});
  REQUIRE(runs(e, "QLinearConv"));
  // The reference's int64 sum converted to int32 is the same wraparound.
  CHECK(bytes_of(e.run({layer.input()})[0]) == layer.reference());
}

TEST_CASE("test_integer_conv: layers that do not have the int8 form run as written") {
  Layer layer;
  layer.randomize(3);
  SUBCASE("the conv output is also read elsewhere") {
    Model m = layer.model();
    m.graph.outputs.push_back(ValueInfo{"c", DType::f32, {}, {}, false});
    Executor e(m, ExecutorOptions{1, true});
    CHECK_FALSE(runs(e, "QLinearConv"));
    CHECK(runs(e, "Conv"));
  }
  SUBCASE("a float weight") {
    Model m = layer.model();
    Tensor wf(DType::f32, m.graph.initializer("wq")->shape());
    for (int64_t i = 0; i < wf.numel(); ++i) wf.data<float>()[i] = 0.01f * m.graph.initializer("wq")->data<int8_t>()[i];
    m.graph.initializers["wf"] = wf;
    m.graph.nodes[2].inputs[1] = "wf";
    Executor e(m, ExecutorOptions{1, true});
    CHECK_FALSE(runs(e, "QLinearConv"));
  }
  SUBCASE("no QuantizeLinear after the conv") {
    Model m = layer.model();
    m.graph.nodes.pop_back();
    m.graph.outputs = {ValueInfo{"r", DType::f32, {}, {}, false}};
    Executor e(m, ExecutorOptions{1, true});
    CHECK_FALSE(runs(e, "QLinearConv"));
  }
  SUBCASE("an observer sees every value") {
    const Model m = layer.model();
    Executor e(m, ExecutorOptions{1, true});
    e.set_observer([](const Node&, const std::vector<const Tensor*>&, const std::vector<const Tensor*>&) {});
    CHECK_FALSE(runs(e, "QLinearConv"));
  }
}

TEST_CASE("test_integer_conv: match_qdq_conv is what the executor fuses") {
  Layer layer;
  layer.randomize(5);
  auto check = [](const Model& m, bool matched, bool requantized) {
    const Node& conv = m.graph.nodes[2];
    REQUIRE(conv.op == "Conv");
    const auto match = match_qdq_conv(m.graph, conv, m.opset);
    CHECK(match.has_value() == matched);
    CHECK((match && match->quantize) == requantized);
    Executor e(m, ExecutorOptions{1, true});
    CHECK(runs(e, "QLinearConv") == requantized);
  };
  SUBCASE("the int8 layer, through a Clip") {
    const Model m = layer.model();
    check(m, true, true);
    const auto match = match_qdq_conv(m.graph, m.graph.nodes[2], m.opset);
    REQUIRE(match);
    CHECK(match->activation == &m.graph.nodes[3]);
    CHECK(match->quantize == &m.graph.nodes[4]);
    CHECK_FALSE(match->per_tensor);
    CHECK(match->channels() == layer.out_channels);
  }
  SUBCASE("a negative axis naming the output channels") {
    Model m = layer.model();
    m.graph.nodes[1].attrs["axis"] = int_attr(-4);
    check(m, true, true);
  }
  SUBCASE("per-channel scales along the input channels") {
    Model m = layer.model();
    m.graph.nodes[1].attrs["axis"] = int_attr(1);
    check(m, false, false);
  }
  SUBCASE("the output also read elsewhere: an int8 conv that is not requantized") {
    Model m = layer.model();
    m.graph.outputs.push_back(ValueInfo{"c", DType::f32, {}, {}, false});
    check(m, true, false);
  }
  SUBCASE("a Clip whose bound is computed at run time") {
    Model m = layer.model();
    m.graph.initializers.erase("hi");
    m.graph.inputs.push_back(ValueInfo{"hi", DType::f32, {}, {}, false});
    check(m, true, false);
  }
}

TEST_CASE("test_integer_conv: ConvInteger gives the exact int32 sums") {
  // The depthwise kernel reads the 8-bit input itself: stride 2 and 1, odd widths, uint8 and int8.
  Layer depthwise;
  depthwise.in_channels = depthwise.out_channels = depthwise.group = 6, depthwise.stride = 2;
  Layer depthwise_odd;
  depthwise_odd.in_channels = depthwise_odd.out_channels = depthwise_odd.group = 5, depthwise_odd.width = 9, depthwise_odd.height = 5;
  Layer depthwise_signed = depthwise;
  depthwise_signed.x_signed = true, depthwise_signed.width = 11, depthwise_signed.x_zp = 250;  // int8 zero point -6
  Layer depthwise_odd_signed = depthwise_odd;
  depthwise_odd_signed.x_signed = true;
  Layer dense;
  for (Layer* layer : {&dense, &depthwise, &depthwise_odd, &depthwise_signed, &depthwise_odd_signed}) {
    CAPTURE(layer->group);
    CAPTURE(layer->x_signed);
    layer->randomize(11);
    Model m;
    m.opset = 13;
    Graph& g = m.graph;
    g.inputs.push_back(ValueInfo{"xq", layer->x_signed ? DType::i8 : DType::u8, {layer->batch, layer->in_channels, layer->height, layer->width},
                                 std::vector<std::string>(4), true});
    g.initializers["wq"] = Tensor::from_vector<int8_t>({layer->out_channels, layer->cin_g(), layer->kernel, layer->kernel}, layer->w);
    g.initializers["x_zp"] = layer->zero_point_tensor();
    g.initializers["w_zp"] = Tensor::from_vector<int8_t>({}, {0});
    Node conv{"conv", "ConvInteger", {"xq", "wq", "x_zp", "w_zp"}, {"y"}, {}};
    conv.attrs["strides"] = ints_attr({layer->stride, layer->stride});
    conv.attrs["pads"] = ints_attr({layer->pad, layer->pad, layer->pad, layer->pad});
    conv.attrs["group"] = int_attr(layer->group);
    g.nodes.push_back(conv);
    g.outputs.push_back(ValueInfo{"y", DType::i32, {}, {}, false});
    const std::vector<int64_t> expected = layer->sums();
    for (int threads : {1, 3}) {
      const Tensor y = Executor(m, ExecutorOptions{threads, true}).run({layer->input()})[0];
      REQUIRE(y.dtype() == DType::i32);
      REQUIRE(y.numel() == static_cast<int64_t>(expected.size()));
      for (int64_t i = 0; i < y.numel(); ++i) CHECK(y.data<int32_t>()[i] == expected[static_cast<size_t>(i)]);
    }
  }
}

TEST_CASE("test_integer_conv: pointwise layers give the same sums on the VNNI kernel and the portable path") {
  if (!cpu_has_vnni()) MESSAGE("this CPU has no AVX-512 VNNI: only the portable path runs");
  struct Case {
    int64_t batch, cin, cout, h, w;
    bool x_signed;
    int32_t x_zp;
  };
  // Channel counts not multiples of 4, positions not multiples of 16 or 64, rows not multiples of 4,
  // and a layer whose sums exceed float32's exact integers (the portable path's int64 loop).
  for (const Case c : {Case{2, 8, 6, 7, 6, false, 3}, Case{1, 13, 70, 9, 11, true, -5}, Case{1, 96, 130, 14, 14, false, 128},
                       Case{3, 5, 3, 1, 1, true, 0}, Case{1, 1030, 9, 2, 3, false, 255}}) {
    CAPTURE(c.cin);
    CAPTURE(c.cout);
    std::mt19937 rng(static_cast<uint32_t>(c.cin * 31 + c.cout));
    const int64_t positions = c.h * c.w;
    std::vector<uint8_t> xb(static_cast<size_t>(c.batch * c.cin * positions));
    for (auto& v : xb) v = static_cast<uint8_t>(rng() % 256);
    std::vector<int8_t> w(static_cast<size_t>(c.cout * c.cin));
    for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);  // -128 included
    Model m;
    m.opset = 13;
    Graph& g = m.graph;
    const DType xt = c.x_signed ? DType::i8 : DType::u8;
    g.inputs.push_back(ValueInfo{"xq", xt, {c.batch, c.cin, c.h, c.w}, std::vector<std::string>(4), true});
    g.initializers["wq"] = Tensor::from_vector<int8_t>({c.cout, c.cin, 1, 1}, w);
    g.initializers["x_zp"] = c.x_signed ? Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(c.x_zp)})
                                        : Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(c.x_zp)});
    g.initializers["w_zp"] = Tensor::from_vector<int8_t>({}, {0});
    g.nodes.push_back(Node{"conv", "ConvInteger", {"xq", "wq", "x_zp", "w_zp"}, {"y"}, {}});
    g.outputs.push_back(ValueInfo{"y", DType::i32, {}, {}, false});
    const Tensor input = c.x_signed ? Tensor::from_vector<int8_t>({c.batch, c.cin, c.h, c.w}, std::vector<int8_t>(xb.begin(), xb.end()))
                                    : Tensor::from_vector<uint8_t>({c.batch, c.cin, c.h, c.w}, xb);
    // The definition in int64, wrapped to int32.
    auto definition = [&](const std::vector<int8_t>& weights) {
      std::vector<int32_t> sums(static_cast<size_t>(c.batch * c.cout * positions));
      for (int64_t n = 0; n < c.batch; ++n)
        for (int64_t o = 0; o < c.cout; ++o)
          for (int64_t p = 0; p < positions; ++p) {
            int64_t sum = 0;
            for (int64_t k = 0; k < c.cin; ++k) {
              const uint8_t byte = xb[static_cast<size_t>((n * c.cin + k) * positions + p)];
              const int64_t xv = c.x_signed ? static_cast<int8_t>(byte) : byte;
              sum += (xv - c.x_zp) * weights[static_cast<size_t>(o * c.cin + k)];
            }
            sums[static_cast<size_t>((n * c.cout + o) * positions + p)] = static_cast<int32_t>(static_cast<uint32_t>(sum));
          }
      return sums;
    };
    const std::vector<int32_t> expected = definition(w);
    for (Int8Kernels kernels : {Int8Kernels::automatic, Int8Kernels::portable}) {
      set_int8_kernels(kernels);
      for (int threads : {1, 3}) {
        const Tensor y = Executor(m, ExecutorOptions{threads, true}).run({input})[0];
        REQUIRE(y.numel() == static_cast<int64_t>(expected.size()));
        CHECK(std::equal(expected.begin(), expected.end(), y.data<int32_t>()));
      }
    }
    // The VNNI kernel keeps packed weights by their address (int8_pointwise.cpp): new weights written
    // at the same address, one byte changed or all, must be packed again.
    set_int8_kernels(Int8Kernels::automatic);
    Tensor& stored = g.initializers["wq"].values;
    const void* address = stored.raw();
    std::vector<int8_t> changed = w;
    for (int round = 0; round < 2; ++round) {
      if (round == 0) changed[changed.size() / 2] = static_cast<int8_t>(changed[changed.size() / 2] ^ 1);
      else
        for (auto& v : changed) v = static_cast<int8_t>(v ^ 0x55);
      std::memcpy(stored.raw(), changed.data(), changed.size());
      REQUIRE(stored.raw() == address);
      const std::vector<int32_t> want = definition(changed);
      const Tensor y = Executor(m, ExecutorOptions{2, true}).run({input})[0];
      CHECK(std::equal(want.begin(), want.end(), y.data<int32_t>()));
    }
  }
  // The fused DequantizeLinear -> Conv -> Clip -> QuantizeLinear form of a pointwise layer: the
  // requantized bytes equal the integer reference on both paths.
  Layer pointwise;
  pointwise.kernel = 1, pointwise.pad = 0, pointwise.in_channels = 37, pointwise.out_channels = 19, pointwise.height = 9;
  pointwise.randomize(5);
  for (Int8Kernels kernels : {Int8Kernels::automatic, Int8Kernels::portable}) {
    set_int8_kernels(kernels);
    const Model model = pointwise.model();
    Executor e(model, ExecutorOptions{2, true});
    CHECK(runs(e, "QLinearConv"));
    CHECK(bytes_of(e.run({pointwise.input()})[0]) == pointwise.reference());
  }
  set_int8_kernels(Int8Kernels::automatic);
}

namespace {

// A hybrid layer as `export --qdq` writes it: per term, ConvInteger -> Cast -> Mul(per-channel scale),
// the bias added to term 0 and the terms summed by a chain of Adds, then Relu. `variant` 1 puts the
// running sum first in the Adds and the scales first in the Muls (term 2's a scalar), 2 adds a
// broadcasting (rank-5) constant, written first, to the last term's scaled output, 3 gives term 1's
// scaled output a second reader (a graph output), 4 ends in HardSigmoid instead of Relu (an
// activation with arithmetic, left to its own kernel): each must equal the unfused run bit for bit.
// Variant 5 writes the bias as int32: an invalid model, refused fused or not.
Model hybrid_chain_model(const Layer& layer, int variant) {
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"xq", DType::u8, {layer.batch, layer.in_channels, layer.height, layer.width}, std::vector<std::string>(4), true});
  g.initializers["x_zp"] = Tensor::from_vector<uint8_t>({}, {layer.x_zp});
  g.initializers["w_zp"] = Tensor::from_vector<int8_t>({}, {0});
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> scale(1e-4f, 3e-3f), bias(-1.0f, 1.0f);
  auto per_channel = [&](auto& dist) {
    std::vector<float> v(static_cast<size_t>(layer.out_channels));
    for (auto& x : v) x = dist(rng);
    return Tensor::from_vector<float>({1, layer.out_channels, 1, 1}, v);
  };
  g.initializers["bias"] = per_channel(bias);
  if (variant == 5) {
    g.initializers["bias"] = Tensor::from_vector<int32_t>({1, layer.out_channels, 1, 1}, std::vector<int32_t>(static_cast<size_t>(layer.out_channels), 3));
  }
  std::string sum;
  for (int t = 0; t < 3; ++t) {
    const std::string k = std::to_string(t);
    std::vector<int8_t> w = layer.w;
    if (t > 0) {
      for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);  // ternary term
      // A hybrid layer's int8 channels have no ternary terms: rows of zeros, left out of the sums
      // (variant 1: every other filter; variant 2: all of term 2).
      const size_t row = w.size() / static_cast<size_t>(layer.out_channels);
      for (size_t f = 0; f < static_cast<size_t>(layer.out_channels); ++f)
        if ((variant == 1 && f % 2 == 0) || (variant == 2 && t == 2))
          std::fill(w.begin() + static_cast<std::ptrdiff_t>(f * row), w.begin() + static_cast<std::ptrdiff_t>((f + 1) * row), int8_t{0});
    }
    g.initializers["w" + k] = Tensor::from_vector<int8_t>({layer.out_channels, layer.cin_g(), layer.kernel, layer.kernel}, w);
    g.initializers["s" + k] = per_channel(scale);
    if (variant == 1 && t == 2) g.initializers["s" + k] = Tensor::scalar_f32(scale(rng));
    Node conv{"conv" + k, "ConvInteger", {"xq", "w" + k, "x_zp", "w_zp"}, {"i" + k}, {}};
    conv.attrs["strides"] = ints_attr({layer.stride, layer.stride});
    conv.attrs["pads"] = ints_attr({layer.pad, layer.pad, layer.pad, layer.pad});
    conv.attrs["group"] = int_attr(layer.group);
    g.nodes.push_back(conv);
    Node cast{"cast" + k, "Cast", {"i" + k}, {"f" + k}, {}};
    cast.attrs["to"] = int_attr(static_cast<int64_t>(DType::f32));
    g.nodes.push_back(cast);
    g.nodes.push_back(Node{"mul" + k, "Mul", variant == 1 ? std::vector<std::string>{"s" + k, "f" + k} : std::vector<std::string>{"f" + k, "s" + k},
                           {"m" + k}, {}});
    if (t == 0) {
      g.nodes.push_back(Node{"bias_add", "Add", {"m0", "bias"}, {"sum0"}, {}});
      sum = "sum0";
      continue;
    }
    std::string term = "m" + k;
    if (variant == 2 && t == 2) {
      g.initializers["wide"] = Tensor::from_vector<float>({2, 1, 1, 1, 1}, {0.25f, -0.75f});
      g.nodes.push_back(Node{"wide_add", "Add", {"wide", term}, {"wide" + k}, {}});
      g.initializers["first"] = Tensor::from_vector<int64_t>({1}, {0});
      Node gather{"pick", "Gather", {"wide" + k, "first"}, {"picked"}, {}};
      g.nodes.push_back(gather);
      g.initializers["shape"] = Tensor::from_vector<int64_t>({4}, {layer.batch, layer.out_channels, layer.out_h(), layer.out_w()});
      g.nodes.push_back(Node{"back", "Reshape", {"picked", "shape"}, {"term2"}, {}});
      term = "term2";
    }
    if (variant == 3 && t == 1) g.outputs.push_back(ValueInfo{"m1", DType::f32, {}, {}, false});
    const std::string out = "sum" + k;
    g.nodes.push_back(Node{"add" + k, "Add", variant == 1 ? std::vector<std::string>{sum, term} : std::vector<std::string>{term, sum}, {out}, {}});
    sum = out;
  }
  Node last{"act", variant == 4 ? "HardSigmoid" : "Relu", {sum}, {"y"}, {}};
  if (variant == 4) last.attrs["alpha"] = test::float_attr(0.3f);
  g.nodes.push_back(last);
  g.outputs.insert(g.outputs.begin(), ValueInfo{"y", DType::f32, {}, {}, false});
  return m;
}

}  // namespace

TEST_CASE("test_integer_conv: ConvInteger -> Cast -> Mul -> Add chains run as one step, bit-identical") {
  Layer dense;
  dense.randomize(23);
  Layer pointwise;  // the VNNI kernel's sums where the CPU has it
  pointwise.kernel = 1, pointwise.pad = 0, pointwise.in_channels = 37, pointwise.out_channels = 19, pointwise.height = 9;
  pointwise.randomize(29);
  Layer depthwise;
  depthwise.in_channels = depthwise.out_channels = depthwise.group = 6, depthwise.stride = 2;
  depthwise.randomize(31);
  for (const Layer* layer : {&dense, &pointwise, &depthwise}) {
    for (int variant : {0, 1, 2, 3, 4}) {
      CAPTURE(layer->kernel);
      CAPTURE(variant);
      const Model m = hybrid_chain_model(*layer, variant);
      ExecutorOptions unfused{1, true};
      unfused.fuse_quantized = false;
      const std::vector<Tensor> expected = Executor(m, unfused).run({layer->input()});
      for (int threads : {1, 3}) {
        Executor e(m, ExecutorOptions{threads, true});
        const auto ops = e.planned_ops();
        const auto fused = std::count(ops.begin(), ops.end(), "ConvIntegerScaled");
        CHECK(fused == 3);
        CHECK(std::count(ops.begin(), ops.end(), "Cast") == 0);
        if (variant != 2) CHECK(std::count(ops.begin(), ops.end(), "Relu") == 0);  // fused into the last chain
        CHECK(std::count(ops.begin(), ops.end(), "HardSigmoid") == (variant == 4 ? 1 : 0));
        for (int run = 0; run < 2; ++run) {  // the first run plans the activation arena, the second uses it
          const std::vector<Tensor> got = e.run({layer->input()});
          REQUIRE(got.size() == expected.size());
          for (size_t o = 0; o < got.size(); ++o) CHECK(test::same_bits(got[o], expected[o]));
        }
      }
    }
  }
}

TEST_CASE("test_integer_conv: a fused chain whose addend is not float32 is refused as the unfused Add is") {
  Layer pointwise;
  pointwise.kernel = 1, pointwise.pad = 0, pointwise.in_channels = 37, pointwise.out_channels = 19, pointwise.height = 9;
  pointwise.randomize(29);
  const Model m = hybrid_chain_model(pointwise, 5);
  ExecutorOptions unfused{1, true};
  unfused.fuse_quantized = false;
  CHECK_THROWS_WITH_AS(Executor(m, unfused).run({pointwise.input()}), doctest::Contains("int32"), Error);
  Executor fused(m, ExecutorOptions{2, true});
  const auto ops = fused.planned_ops();
  CHECK(std::count(ops.begin(), ops.end(), "ConvIntegerScaled") == 3);  // the bias Add is in term 0's step
  CHECK_THROWS_WITH_AS(fused.run({pointwise.input()}), doctest::Contains("int32"), Error);
}
