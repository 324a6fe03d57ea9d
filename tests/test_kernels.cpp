// Fast Conv paths against the plain reference (conv_reference) on random shapes, determinism of
// every path across thread counts, the executor's plan-time BatchNormalization folding, and the
// thread pool and tensor buffer behaviour those rely on.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include "core/executor.h"
#include "core/ops/conv_kernels.h"
#include "core/ops/panel_gemm.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "tests/helpers.h"
#include "tests/test_util.h"

using namespace mc;
using mc::test::ints_attr;

namespace {

// One random conv problem: geometry plus data.
struct ConvCase {
  ConvGeometry geometry;
  std::vector<float> input, weight, bias;
  bool has_bias = false;
  std::optional<FusedActivation> clip;

  ConvData data(float* output) const {
    return ConvData{input.data(), weight.data(), has_bias ? bias.data() : nullptr, output, clip};
  }
  size_t output_size() const {
    const Window2d& w = geometry.window;
    return static_cast<size_t>(geometry.batch * geometry.out_channels * w.out_h * w.out_w);
  }
  std::string describe() const {
    const Window2d& w = geometry.window;
    std::string s = "batch " + std::to_string(geometry.batch) + " cin " + std::to_string(geometry.in_channels) +
                    " cout " + std::to_string(geometry.out_channels) + " groups " + std::to_string(geometry.groups) +
                    " in " + std::to_string(w.in_h) + "x" + std::to_string(w.in_w) + " kernel " +
                    std::to_string(w.kernel_h) + "x" + std::to_string(w.kernel_w) + " stride " +
                    std::to_string(w.stride_h) + "," + std::to_string(w.stride_w) + " dilation " +
                    std::to_string(w.dilation_h) + "," + std::to_string(w.dilation_w) + " pads " +
                    std::to_string(w.pad_top) + "," + std::to_string(w.pad_left) + "," + std::to_string(w.pad_bottom) +
                    "," + std::to_string(w.pad_right) + " out " + std::to_string(w.out_h) + "x" +
                    std::to_string(w.out_w) + (has_bias ? " bias" : "") + (clip ? " clip" : "");
    return s;
  }
};

struct Ranges {
  int64_t batch_max = 2;
  int64_t in_per_group_min = 1, in_per_group_max = 1;
  int64_t groups_min = 1, groups_max = 1;
  int64_t out_per_group_min = 1, out_per_group_max = 1;
  int64_t kernel_max = 3;
  int64_t stride_max = 2;
  int64_t dilation_max = 2;
  int64_t pad_max = 2;
  int64_t height_max = 12, width_min = 1, width_max = 40;
  bool one_d = true;  // sometimes a 1-D conv (height 1, kernel height 1)
};

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

// Out size of one axis, or 0 when the window does not fit.
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad_begin, int64_t pad_end) {
  const int64_t span = in + pad_begin + pad_end - ((k - 1) * d + 1);
  return span < 0 ? 0 : span / s + 1;
}

ConvCase random_case(std::mt19937& rng, const Ranges& r) {
  for (;;) {
    ConvCase c;
    ConvGeometry& g = c.geometry;
    Window2d& w = g.window;
    g.batch = pick(rng, 1, r.batch_max);
    g.groups = pick(rng, r.groups_min, r.groups_max);
    const int64_t cin_g = pick(rng, r.in_per_group_min, r.in_per_group_max);
    const int64_t cout_g = pick(rng, r.out_per_group_min, r.out_per_group_max);
    g.in_channels = g.groups * cin_g;
    g.out_channels = g.groups * cout_g;
    const bool one_d = r.one_d && pick(rng, 0, 5) == 0;
    w.in_h = one_d ? 1 : pick(rng, 1, r.height_max);
    w.in_w = pick(rng, r.width_min, r.width_max);
    w.kernel_h = one_d ? 1 : pick(rng, 1, r.kernel_max);
    w.kernel_w = pick(rng, 1, r.kernel_max);
    w.stride_h = one_d ? 1 : pick(rng, 1, r.stride_max);
    w.stride_w = pick(rng, 1, r.stride_max);
    w.dilation_h = one_d ? 1 : pick(rng, 1, r.dilation_max);
    w.dilation_w = pick(rng, 1, r.dilation_max);
    w.pad_top = one_d ? 0 : pick(rng, 0, r.pad_max);
    w.pad_bottom = one_d ? 0 : pick(rng, 0, r.pad_max);
    w.pad_left = pick(rng, 0, r.pad_max);
    w.pad_right = pick(rng, 0, r.pad_max);
    w.out_h = out_size(w.in_h, w.kernel_h, w.stride_h, w.dilation_h, w.pad_top, w.pad_bottom);
    w.out_w = out_size(w.in_w, w.kernel_w, w.stride_w, w.dilation_w, w.pad_left, w.pad_right);
    if (w.out_h == 0 || w.out_w == 0) continue;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    c.input.resize(static_cast<size_t>(g.batch * g.in_channels * w.in_h * w.in_w));
    c.weight.resize(static_cast<size_t>(g.out_channels * cin_g * w.kernel_h * w.kernel_w));
    c.bias.resize(static_cast<size_t>(g.out_channels));
    for (auto& v : c.input) v = normal(rng);
    for (auto& v : c.weight) v = normal(rng);
    for (auto& v : c.bias) v = normal(rng);
    c.has_bias = pick(rng, 0, 2) != 0;
    const int64_t clip = pick(rng, 0, 4);
    if (clip == 1) c.clip = FusedActivation{0.0f, std::numeric_limits<float>::infinity()};  // Relu
    if (clip == 2) c.clip = FusedActivation{-1.0f, 1.5f};
    if (clip == 3) c.clip = FusedActivation{.kind = FusedActivation::Kind::hard_swish};
    if (clip == 4) c.clip = FusedActivation{.kind = FusedActivation::Kind::sigmoid};
    return c;
  }
}

// Per element: |got - want| <= 1e-5 * (|b| + sum |w x|), the scale of float rounding in any order.
void check_against_reference(const ConvCase& c, ConvAlgorithm algorithm, ThreadPool& pool) {
  INFO(conv_algorithm_name(algorithm) << ": " << c.describe());
  std::vector<float> want(c.output_size()), got(c.output_size(), std::nanf("")), scale(c.output_size());
  conv_reference(c.geometry, c.data(want.data()));
  ConvCase magnitude = c;
  for (auto* v : {&magnitude.input, &magnitude.weight, &magnitude.bias})
    for (auto& x : *v) x = std::fabs(x);
  magnitude.clip.reset();
  conv_reference(magnitude.geometry, magnitude.data(scale.data()));
  run_conv(algorithm, c.geometry, c.data(got.data()), pool);
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= 1e-5 * scale[i] + 1e-30)) {
      ++bad;
      worst = std::max(worst, std::isnan(err) ? INFINITY : err);
    }
  }
  INFO(bad << " of " << want.size() << " outputs off, worst " << worst);
  CHECK(bad == 0);
}

// The same case through `algorithm` at 1, 2 and 3 threads: identical bytes.
void check_thread_invariance(const ConvCase& c, ConvAlgorithm algorithm) {
  INFO(conv_algorithm_name(algorithm) << ": " << c.describe());
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> out(c.output_size());
    run_conv(algorithm, c.geometry, c.data(out.data()), pool);
    if (first.empty()) first = out;
    else CHECK(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)) == 0);
  }
}

}  // namespace

TEST_CASE("test_kernels: depthwise kernel matches the reference on random shapes") {
  std::mt19937 rng(101);
  ThreadPool pool(2);
  Ranges r;
  r.groups_min = 1;
  r.groups_max = 5;
  r.out_per_group_max = 3;  // channel multiplier up to 3
  r.kernel_max = 5;
  r.stride_max = 3;
  for (int i = 0; i < 300; ++i) {
    ConvCase c = random_case(rng, r);
    if (!conv_algorithm_applies(ConvAlgorithm::depthwise, c.geometry)) continue;  // one group: not depthwise
    check_against_reference(c, ConvAlgorithm::depthwise, pool);
  }
  // The 3x3 fast path, stride 1 and 2, narrow (flattened) and wide (row by row) planes.
  r.kernel_max = 3;
  r.groups_min = 2;
  r.dilation_max = 1;
  r.one_d = false;
  r.width_max = 70;
  for (int i = 0; i < 200; ++i) {
    ConvCase c = random_case(rng, r);
    c.geometry.window.kernel_h = c.geometry.window.kernel_w = 3;
    Window2d& w = c.geometry.window;
    w.out_h = out_size(w.in_h, 3, w.stride_h, 1, w.pad_top, w.pad_bottom);
    w.out_w = out_size(w.in_w, 3, w.stride_w, 1, w.pad_left, w.pad_right);
    if (w.out_h == 0 || w.out_w == 0) continue;
    c.weight.resize(static_cast<size_t>(c.geometry.out_channels * 9), 0.25f);
    check_against_reference(c, ConvAlgorithm::depthwise, pool);
  }
}

// The 3x3 paths that replace phase planes (rows of 16 or more read in place, stride 1 or 2; narrower
// planes of stride 2 as blocks of 16 interleaved channels; with AVX-512, planes of stride 1 under 64
// wide whose output is as wide as the input as one masked flat row) against the phase-plane path: identical
// bits, for float inputs and for 8-bit inputs read as x - zero_point, with the per-plane callback
// seeing every finished plane once. Up to 40 channels, so channel blocks of 16 are full and partial.
TEST_CASE("test_kernels: in-place 3x3 depthwise path gives the phase-plane path's bits") {
  std::mt19937 rng(404);
  ThreadPool pool(3);
  Ranges r;
  r.groups_min = 1;
  r.groups_max = 40;
  r.out_per_group_max = 1;
  r.kernel_max = 3;
  r.stride_max = 2;
  r.dilation_max = 1;
  r.one_d = false;
  r.width_min = 1;
  r.width_max = 40;
  int in_place = 0, narrow_same_width = 0, narrow_stride2 = 0;
  for (int i = 0; i < 480; ++i) {
    ConvCase c = random_case(rng, r);
    Window2d& w = c.geometry.window;
    w.kernel_h = w.kernel_w = 3;
    w.stride_h = w.stride_w;
    w.out_h = out_size(w.in_h, 3, w.stride_h, 1, w.pad_top, w.pad_bottom);
    w.out_w = out_size(w.in_w, 3, w.stride_w, 1, w.pad_left, w.pad_right);
    if (w.out_h == 0 || w.out_w == 0) continue;
    c.weight.resize(static_cast<size_t>(c.geometry.out_channels * 9), 0.25f);
    if (w.out_w >= 16) ++in_place;
    if (w.out_w < 16 && w.stride_w == 1 && w.out_w == w.in_w) ++narrow_same_width;
    if (w.out_w < 16 && w.stride_w == 2) ++narrow_stride2;
    const int mode = i % 3;  // float, uint8, int8 input
    std::vector<uint8_t> u8(c.input.size());
    for (auto& v : u8) v = static_cast<uint8_t>(pick(rng, 0, 255));
    INFO(c.describe() << " input mode " << mode);
    std::vector<float> want(c.output_size()), got(c.output_size());
    std::vector<int> seen_want(c.output_size() / static_cast<size_t>(w.out_h * w.out_w)), seen_got(seen_want.size());
    auto run = [&](bool direct, std::vector<float>& out, std::vector<int>& seen) {
      ConvData d = c.data(out.data());
      if (mode != 0) {
        d.input = nullptr;
        d.input_8bit = u8.data();
        d.input_8bit_signed = mode == 2;
        d.input_zero_point = mode == 2 ? -3 : 128;
      }
      d.plane_done = [&seen](int64_t plane, const float*) { ++seen[static_cast<size_t>(plane)]; };
      if (direct) conv_depthwise(c.geometry, d, pool);
      else conv_depthwise_polyphase(c.geometry, d, pool);
    };
    run(false, want, seen_want);
    run(true, got, seen_got);
    CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
    CHECK(seen_got == seen_want);
    CHECK(std::all_of(seen_got.begin(), seen_got.end(), [](int n) { return n == 1; }));
  }
  CHECK(in_place > 40);
  CHECK(narrow_same_width > 20);
  CHECK(narrow_stride2 > 40);
}

TEST_CASE("test_kernels: direct and im2col paths (first conv, few input channels) match the reference") {
  std::mt19937 rng(202);
  ThreadPool pool(2);
  Ranges r;
  r.in_per_group_max = 4;
  r.groups_max = 2;
  r.out_per_group_max = 9;  // several blocks of 4 output channels and a partial one
  r.kernel_max = 5;
  r.stride_max = 3;
  for (int i = 0; i < 200; ++i) {
    ConvCase c = random_case(rng, r);
    check_against_reference(c, ConvAlgorithm::direct, pool);
    check_against_reference(c, ConvAlgorithm::im2col, pool);
  }
  // Planes of more than one column block (512 positions, blocks starting mid-row) and of more
  // than one band of output rows, narrow and wide rows.
  r.height_max = 70;
  r.width_min = 20;
  r.width_max = 90;
  r.batch_max = 1;
  r.one_d = false;
  r.out_per_group_min = 5;
  r.out_per_group_max = 40;
  for (int i = 0; i < 20; ++i) {
    ConvCase c = random_case(rng, r);
    check_against_reference(c, ConvAlgorithm::direct, pool);
    check_against_reference(c, ConvAlgorithm::im2col, pool);
  }
  // The direct kernel also runs depthwise shapes (one input channel per group).
  Ranges depthwise;
  depthwise.groups_min = 2;
  depthwise.groups_max = 5;
  depthwise.out_per_group_max = 3;
  depthwise.kernel_max = 4;
  for (int i = 0; i < 50; ++i) check_against_reference(random_case(rng, depthwise), ConvAlgorithm::direct, pool);
}

TEST_CASE("test_kernels: 1x1 GEMM paths match the reference") {
  std::mt19937 rng(303);
  ThreadPool pool(2);
  Ranges r;
  r.kernel_max = 1;
  r.stride_max = 1;
  r.dilation_max = 1;
  r.pad_max = 0;
  r.in_per_group_max = 40;
  r.groups_max = 2;
  r.out_per_group_max = 150;  // more than one block of 96 output channels
  r.height_max = 30;
  r.width_max = 40;  // up to 1200 positions: several column blocks
  for (int i = 0; i < 60; ++i) {
    ConvCase c = random_case(rng, r);
    REQUIRE(conv_algorithm_applies(ConvAlgorithm::pointwise, c.geometry));
    check_against_reference(c, ConvAlgorithm::pointwise, pool);
    check_against_reference(c, ConvAlgorithm::im2col, pool);
  }
  // 1x1 inputs: the whole batch in one GEMM.
  r.height_max = r.width_max = 1;
  r.one_d = false;
  r.groups_max = 1;
  r.batch_max = 9;
  for (int i = 0; i < 30; ++i) {
    ConvCase c = random_case(rng, r);
    REQUIRE(conv_algorithm_applies(ConvAlgorithm::single_position, c.geometry));
    CHECK(choose_conv_algorithm(c.geometry) == ConvAlgorithm::single_position);
    check_against_reference(c, ConvAlgorithm::single_position, pool);
  }
}

// What panel_gemm promises for one output: the products summed in depth order by fused
// multiply-adds from zero, then the bias, then the activation.
float panel_gemm_model(const std::vector<float>& w, const std::vector<float>& x, int64_t depth, int64_t x_stride,
                       int64_t r, int64_t j, const float* bias, const std::optional<FusedActivation>& activation) {
  float acc = 0.0f;
  for (int64_t c = 0; c < depth; ++c)
    acc = std::fma(w[static_cast<size_t>(r * depth + c)], x[static_cast<size_t>(c * x_stride + j)], acc);
  acc += bias ? bias[r] : 0.0f;
  return activation ? (*activation)(acc) : acc;
}

TEST_CASE("test_kernels: panel GEMM sums every output in depth order, whatever its tile") {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  FusedActivation relu6{0.0f, 6.0f};
  FusedActivation hard_swish;
  hard_swish.kind = FusedActivation::Kind::hard_swish;
  const std::optional<FusedActivation> activations[] = {std::nullopt, relu6, FusedActivation{0.0f},
                                                        hard_swish};
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t rows = pick(1, trial % 2 ? 3 * panel_rows + 1 : 150), depth = pick(1, 40), cols = pick(1, 150);
    const int64_t x_stride = cols + pick(0, 5), out_stride = cols + pick(0, 3);
    std::vector<float> w(static_cast<size_t>(rows * depth)), x(static_cast<size_t>(depth * x_stride)),
        bias(static_cast<size_t>(rows));
    for (float& v : w) v = u(rng);
    for (float& v : x) v = u(rng) * 4.0f;
    for (float& v : bias) v = u(rng);
    // A NaN and signed zeros, to check that a clip in registers treats them as std::min/max do.
    x[static_cast<size_t>(pick(0, static_cast<int64_t>(x.size()) - 1))] = std::nanf("");
    bias[0] = -0.0f;
    const bool with_bias = trial % 3 != 0;
    const auto& activation = activations[trial % 4];
    std::vector<float> out(static_cast<size_t>(rows * out_stride), -5.0f);
    panel_gemm(w.data(), rows, depth, x.data(), x_stride, cols, out.data(), out_stride,
               with_bias ? bias.data() : nullptr, activation);
    CAPTURE(trial);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < out_stride; ++j) {
        const float got = out[static_cast<size_t>(r * out_stride + j)];
        if (j >= cols) {
          REQUIRE(got == -5.0f);  // nothing written past the block
          continue;
        }
        const float want = panel_gemm_model(w, x, depth, x_stride, r, j, with_bias ? bias.data() : nullptr, activation);
        // A clip is exact; other activations are inlined here and in the library, whose build may
        // fuse their multiply-adds differently from this file's.
        const bool clip = !activation || activation->kind == FusedActivation::Kind::clip;
        if (panel_gemm_fuses() && clip) {
          REQUIRE(std::memcmp(&got, &want, sizeof got) == 0);
        } else if (std::isnan(want)) {
          REQUIRE(std::isnan(got));
        } else {
          REQUIRE(std::fabs(got - want) <= 1e-5f * (1.0f + std::fabs(want)));
        }
      }
    }
  }
}

TEST_CASE("test_kernels: every path is bit-identical at 1, 2 and 3 threads") {
  std::mt19937 rng(404);
  Ranges depthwise;
  depthwise.groups_min = 8;
  depthwise.groups_max = 40;
  depthwise.out_per_group_max = 2;
  depthwise.batch_max = 3;
  depthwise.width_max = 60;
  depthwise.height_max = 60;
  Ranges dense;
  dense.in_per_group_max = 3;
  dense.out_per_group_max = 140;
  dense.height_max = 40;
  dense.width_max = 40;
  Ranges pointwise = dense;
  pointwise.kernel_max = pointwise.stride_max = pointwise.dilation_max = 1;
  pointwise.pad_max = 0;
  pointwise.in_per_group_max = 64;
  for (int i = 0; i < 6; ++i) {
    ConvCase c = random_case(rng, depthwise);
    check_thread_invariance(c, ConvAlgorithm::depthwise);
    check_thread_invariance(random_case(rng, dense), ConvAlgorithm::direct);
    check_thread_invariance(random_case(rng, dense), ConvAlgorithm::im2col);
    check_thread_invariance(random_case(rng, pointwise), ConvAlgorithm::pointwise);
  }
}

// A pointwise conv over few positions splits its output channels finer when the batch is small (so
// both threads have work); each image's outputs must still be the bits it gets inside a large batch,
// where the channels are split in blocks of 128. Depths above the GEMM's depth block (a few hundred)
// are included, and channel counts that are not multiples of 4.
TEST_CASE("test_kernels: a pointwise conv gives an image the same bits in any batch") {
  std::mt19937 rng(505);
  ThreadPool pool(2);
  for (int i = 0; i < 12; ++i) {
    ConvCase big;
    ConvGeometry& g = big.geometry;
    g.batch = 16;
    g.in_channels = pick(rng, 8, 600);
    g.out_channels = pick(rng, 20, 400);
    Window2d& w = g.window;
    // Small planes, and planes over a column block (512 positions).
    w.in_h = w.out_h = pick(rng, 1, i < 10 ? 9 : 24);
    w.in_w = w.out_w = pick(rng, 2, i < 10 ? 9 : 24);
    w.kernel_h = w.kernel_w = w.stride_h = w.stride_w = w.dilation_h = w.dilation_w = 1;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t plane = w.in_h * w.in_w;
    big.input.resize(static_cast<size_t>(g.batch * g.in_channels * plane));
    big.weight.resize(static_cast<size_t>(g.out_channels * g.in_channels));
    big.bias.resize(static_cast<size_t>(g.out_channels));
    for (auto* v : {&big.input, &big.weight, &big.bias})
      for (auto& x : *v) x = normal(rng);
    big.has_bias = true;
    big.clip = FusedActivation{0.0f, 6.0f};
    if (i % 3 == 2) big.clip->kind = FusedActivation::Kind::hard_swish;  // applied after the sums, not in registers
    INFO(big.describe());
    REQUIRE(choose_conv_algorithm(g) == ConvAlgorithm::pointwise);
    std::vector<float> all(big.output_size());
    run_conv(ConvAlgorithm::pointwise, g, big.data(all.data()), pool);
    for (int64_t n : {int64_t{0}, g.batch - 1}) {
      ConvCase one = big;
      one.geometry.batch = 1;
      one.input.assign(big.input.begin() + n * g.in_channels * plane, big.input.begin() + (n + 1) * g.in_channels * plane);
      std::vector<float> out(one.output_size());
      run_conv(ConvAlgorithm::pointwise, one.geometry, one.data(out.data()), pool);
      CHECK(std::memcmp(out.data(), all.data() + n * g.out_channels * plane, out.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("test_kernels: the chosen algorithm for MobileNet-style layers") {
  auto geometry = [](int64_t cin, int64_t cout, int64_t groups, int64_t size, int64_t k, int64_t stride) {
    ConvGeometry g;
    g.batch = 8;
    g.in_channels = cin;
    g.out_channels = cout;
    g.groups = groups;
    Window2d& w = g.window;
    w.in_h = w.in_w = size;
    w.kernel_h = w.kernel_w = k;
    w.stride_h = w.stride_w = stride;
    w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = k / 2;
    w.out_h = w.out_w = out_size(size, k, stride, 1, k / 2, k / 2);
    return g;
  };
  CHECK(choose_conv_algorithm(geometry(3, 24, 1, 224, 3, 2)) == ConvAlgorithm::direct);
  CHECK(choose_conv_algorithm(geometry(3, 64, 1, 224, 7, 2)) == ConvAlgorithm::im2col);
  CHECK(choose_conv_algorithm(geometry(16, 16, 1, 56, 3, 1)) == ConvAlgorithm::im2col);
  CHECK(choose_conv_algorithm(geometry(24, 24, 24, 112, 3, 1)) == ConvAlgorithm::depthwise);
  CHECK(choose_conv_algorithm(geometry(24, 48, 24, 112, 3, 2)) == ConvAlgorithm::depthwise);
  CHECK(choose_conv_algorithm(geometry(24, 48, 1, 112, 1, 1)) == ConvAlgorithm::pointwise);
  CHECK(choose_conv_algorithm(geometry(768, 1000, 1, 1, 1, 1)) == ConvAlgorithm::single_position);
  CHECK(choose_conv_algorithm(geometry(24, 48, 12, 112, 3, 1)) == ConvAlgorithm::direct);  // 2 per group
  CHECK(choose_conv_algorithm(geometry(24, 48, 2, 112, 3, 1)) == ConvAlgorithm::im2col);
}

namespace {

Tensor random_tensor(std::mt19937& rng, Shape shape, float lo, float hi) {
  Tensor t(DType::f32, std::move(shape));
  std::uniform_real_distribution<float> u(lo, hi);
  for (auto& v : t.span<float>()) v = u(rng);
  return t;
}

// x [N,4,9,9] -> Conv(6, 3x3, stride `stride`, pads 1, bias optional) -> BatchNormalization ->
// Clip(0, 6) -> y; with `tap_conv_output` the conv output is also a graph output.
Model conv_bn_clip_model(bool conv_bias, bool tap_conv_output) {
  std::mt19937 rng(7);
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 4, 9, 9}, {"N", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 6, 9, 9}, {"N", "", "", ""}, true});
  if (tap_conv_output) g.outputs.push_back(ValueInfo{"c", DType::f32, {-1, 6, 9, 9}, {"N", "", "", ""}, true});
  g.initializers["w"] = random_tensor(rng, {6, 4, 3, 3}, -1, 1);
  g.initializers["b"] = random_tensor(rng, {6}, -1, 1);
  g.initializers["scale"] = random_tensor(rng, {6}, 0.5f, 2);
  g.initializers["shift"] = random_tensor(rng, {6}, -1, 1);
  g.initializers["mean"] = random_tensor(rng, {6}, -1, 1);
  g.initializers["var"] = random_tensor(rng, {6}, 0.1f, 3);
  g.initializers["lo"] = Tensor::scalar_f32(0.0f);
  g.initializers["hi"] = Tensor::scalar_f32(6.0f);
  Node conv{"conv", "Conv", {"x", "w"}, {"c"}, {}};
  if (conv_bias) conv.inputs.push_back("b");
  conv.attrs["pads"] = ints_attr({1, 1, 1, 1});
  g.nodes.push_back(conv);
  g.nodes.push_back(Node{"bn", "BatchNormalization", {"c", "scale", "shift", "mean", "var"}, {"n"}, {}});
  g.nodes.push_back(Node{"clip", "Clip", {"n", "lo", "hi"}, {"y"}, {}});
  return m;
}

}  // namespace

TEST_CASE("test_kernels: executor folds Conv -> BatchNormalization -> Clip") {
  std::mt19937 rng(8);
  const Tensor x = random_tensor(rng, {2, 4, 9, 9}, -2, 2);
  for (bool conv_bias : {false, true}) {
    for (bool tap : {false, true}) {
      INFO("conv bias " << conv_bias << ", conv output is a graph output " << tap);
      Model model = conv_bn_clip_model(conv_bias, tap);
      Executor fused(model, ExecutorOptions{1, true});
      Executor plain(model, ExecutorOptions{1, false});
      auto a = fused.run({x});
      auto b = plain.run({x});
      REQUIRE(a.size() == b.size());
      for (size_t o = 0; o < a.size(); ++o) {
        REQUIRE(a[o].shape() == b[o].shape());
        auto va = a[o].to_float_vector(), vb = b[o].to_float_vector();
        double worst = 0;
        for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(va[i]) - vb[i]));
        CHECK(worst <= 1e-5);
      }
      // Running twice reuses buffers and gives the same bytes.
      auto again = fused.run({x});
      CHECK(std::memcmp(again[0].raw(), a[0].raw(), a[0].byte_size()) == 0);

      // With an observer nothing is fused: every node is seen, with its declared output.
      std::vector<std::string> seen;
      fused.set_observer([&](const Node& node, const std::vector<const Tensor*>&, const std::vector<const Tensor*>&) {
        seen.push_back(node.name);
      });
      auto c = fused.run({x});
      CHECK(seen == std::vector<std::string>{"conv", "bn", "clip"});
      CHECK(std::memcmp(c[0].raw(), b[0].raw(), b[0].byte_size()) == 0);
    }
  }
}

TEST_CASE("test_kernels: MobileNetV1 with folded BatchNormalization is bit-identical at 1, 2 and 3 threads") {
  if (!test::need_shared()) return;
  auto dir = test::shared_dir();
  Model model = load_onnx((dir / "models" / "mobilenet_v1_0.25_224.onnx").string());
  Tensor input = read_npy((dir / "reference" / "input_keras.npy").string());
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    Executor exec(model, ExecutorOptions{threads, true});
    auto out = exec.run({input})[0].to_float_vector();
    if (first.empty()) first = out;
    else CHECK(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("test_kernels: thread pool runs every index once, nests, and rethrows") {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t count : {0, 1, 2, 7, 100, 5000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      pool.parallel_for(count, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
      for (auto& h : hits) CHECK(h.load() == 1);
    }
    // A parallel_for inside a task runs inline.
    std::atomic<int64_t> sum{0};
    pool.parallel_for(8, [&](int64_t i) { pool.parallel_for(10, [&](int64_t j) { sum += i * 10 + j; }); });
    CHECK(sum.load() == 79 * 80 / 2);
    // The pool stays usable after a task throws.
    CHECK_THROWS_AS(pool.parallel_for(50, [](int64_t i) { if (i == 17) throw std::runtime_error("task 17"); }),
                    std::runtime_error);
    std::atomic<int> after{0};
    pool.parallel_for(20, [&](int64_t) { ++after; });
    CHECK(after.load() == 20);
    // Each thread owns a share of the indices; the others finish a share whose owner is held up.
    // Index 0 (the caller's share) waits for the 29 others, its share's 1.. included (a loop this
    // short is claimed one index at a time).
    if (threads > 1) {
      std::atomic<int> others{0};
      bool all_done = false;
      pool.parallel_for(30, [&](int64_t i) {
        if (i != 0) {
          ++others;
          return;
        }
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (others.load() < 29 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        all_done = others.load() == 29;
      });
      CHECK(all_done);
    }
  }
}

TEST_CASE("test_kernels: tensors keep their capacity and start zeroed") {
  Tensor t(DType::f32, {4, 100});
  for (float v : t.span<float>()) CHECK(v == 0.0f);
  const size_t capacity = t.capacity_bytes();
  CHECK(capacity == 1600);
  t.reset(DType::f32, {2});
  CHECK(t.byte_size() == 8);
  CHECK(t.capacity_bytes() == capacity);  // shrinking keeps the buffer
  t.data<float>()[0] = 1.0f;
  t.data<float>()[1] = 2.0f;
  Tensor copy = t;  // a copy holds just the elements
  CHECK(copy.capacity_bytes() == 8);
  CHECK(copy.to_float_vector() == std::vector<float>{1.0f, 2.0f});
  t.reset(DType::f32, {4, 100});
  CHECK(t.capacity_bytes() == capacity);
}
