// The Conv kernels behind run_Conv, exposed so tests can run every fast path against the plain
// reference on the same data. All kernels compute the same function:
//   y[n][m][oy][ox] = f(bias[m] + sum_{c,ky,kx} w[m][c][ky][kx] * x[n][g*cin_g + c][iy][ix])
// with iy = oy*stride_h - pad_top + ky*dilation_h (likewise ix), zero outside the input, g = m / cout_g.
// Every kernel splits work into tasks whose boundaries depend on the shapes only, never on the
// thread count, and sums each output in a fixed order, so outputs are bit-identical at any --threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/ops/kernel_util.h"

namespace mc {

// What a Conv kernel needs to know besides the data: the sizes and the window.
struct ConvGeometry {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t groups = 1;
  Window2d window;
};

ConvGeometry conv_geometry(const Node& node, int64_t opset, const Shape& x, const Shape& w);
// Conv's output shape [N, M, spatial...] from input x [N, C, spatial...] and weight w [M, C/group,
// kernel...] (and bias [M] if given), failing naming the node on inconsistent shapes or attributes.
// Shared by Conv and QLinearConv.
Shape conv_output_shape(const InferContext& ctx, const Shape& x, const Shape& w, const Shape* bias);

struct ConvData {
  const float* input = nullptr;   // [batch, in_channels, in_h, in_w]
  const float* weight = nullptr;  // [out_channels, in_channels / groups, kernel_h, kernel_w]
  const float* bias = nullptr;    // [out_channels], or nullptr for none
  float* output = nullptr;        // [batch, out_channels, out_h, out_w]
  std::optional<FusedActivation> activation;  // an activation fused into the conv
  // Depthwise only (conv_depthwise): the input as 8-bit integers instead of `input`, read as
  // x - input_zero_point (integer_conv.cpp's exact sums, without a float copy of the whole input).
  const void* input_8bit = nullptr;
  bool input_8bit_signed = false;
  int32_t input_zero_point = 0;
  // Depthwise only: called with each output plane (index n * out_channels + m, its values) as soon as
  // it is computed, on the thread that computed it, while it is still in cache (integer_conv.cpp
  // requantizes int8 layers there).
  std::function<void(int64_t plane, const float* values)> plane_done = nullptr;
  // Laid out like `output` and added to every output after the activation (a residual Add fused
  // into the conv), or nullptr. The pointwise GEMM adds it in registers, other algorithms in a
  // pass after the conv.
  const float* residual = nullptr;
};

enum class ConvAlgorithm {
  reference,        // conv_reference: the definition, loop by loop (tests only)
  depthwise,        // one input channel per group: direct polyphase kernel (conv_direct.cpp)
  direct,           // any conv, meant for few input channels per group: direct polyphase kernel
  pointwise,        // 1x1, stride 1, no padding: GEMM reading the input in place
  single_position,  // 1x1 kernel on a 1x1 input, one group: one GEMM over the whole batch
  im2col,           // anything: im2col per column block, then GEMM
};

const char* conv_algorithm_name(ConvAlgorithm algorithm);
// Whether `algorithm` can run `geometry` (reference, im2col and direct run everything).
bool conv_algorithm_applies(ConvAlgorithm algorithm, const ConvGeometry& geometry);
// The fastest applicable algorithm.
ConvAlgorithm choose_conv_algorithm(const ConvGeometry& geometry);
// Runs `algorithm`, which must apply (internal error otherwise).
void run_conv(ConvAlgorithm algorithm, const ConvGeometry& geometry, const ConvData& data, ThreadPool& pool);

// The plain reference: the formula above with a double accumulator, one thread.
void conv_reference(const ConvGeometry& geometry, const ConvData& data);
void conv_depthwise(const ConvGeometry& geometry, const ConvData& data, ThreadPool& pool);
// conv_depthwise without its 3x3 paths (rows read in place, a masked flat row, interleaved channel
// blocks): every shape through phase planes. Same bits; for tests.
void conv_depthwise_polyphase(const ConvGeometry& geometry, const ConvData& data, ThreadPool& pool);
void conv_direct(const ConvGeometry& geometry, const ConvData& data, ThreadPool& pool);

}  // namespace mc
