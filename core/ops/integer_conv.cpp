// QLinearConv and ConvInteger (ONNX opset 10): convolutions on 8-bit integers, as an int8 runtime
// computes them. ConvInteger returns the int32 sums; QLinearConv requantizes them to 8 bits:
//   inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B (optional)
//   acc[n][m][p] = B[m] + sum (x - x_zero_point) * (w - w_zero_point[m])      exactly, in integers
//   y = saturate(round_half_even(clamp(float(acc) * M[m], qmin - y_zp, qmax - y_zp)) + y_zp)
//   M[m] = x_scale * w_scale[m] / y_scale                                     in float32, this order
// ONNX leaves the requantization's rounding to the implementation; this is ONNX Runtime's CPU
// kernel (QLinearConv computing its output scales, then MlasRequantizeOutput: int32 plus bias,
// converted to float, scaled, clamped to the output range shifted by the zero point, rounded to
// nearest even, zero point added), so a model runs here as in ONNX Runtime bit for bit wherever the
// integer sums are exact (always: see below). ONNX Runtime turns DequantizeLinear -> Conv ->
// QuantizeLinear into this op when it optimizes a QDQ model, and so does the executor (executor.cpp,
// fuse_quantized_convs), which is what makes `mcompress eval` agree with ONNX Runtime on the
// models `export --qdq` writes.
//
// Pointwise layers (1x1, stride 1, one group) with int8 weights of zero point 0 run on the AVX-512
// VNNI kernel where the CPU has it (core/ops/int8_pointwise.h): int32 sums directly, the same
// integers. Every other layer's sums go through the float Conv kernels with integer-valued
// operands: every product and every partial sum is an integer, exact in float32 as long as its magnitude stays below 2^24, whatever
// the summation order. That is checked per output channel (sum |w - w_zp| * max |x - x_zp| < 2^24);
// a layer that could exceed it runs a plain loop accumulating in int64. The depthwise kernel reads
// the 8-bit input itself (x - x_zp as it fills its phase planes); the others read a float copy of
// the whole input. A fused Relu/Clip (the
// executor absorbs one between the Conv and the QuantizeLinear) clamps in the quantized domain:
// quantization is monotone, so Q(clip(v, a, b)) = clamp(Q(v), Q(a), Q(b)) exactly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <limits>
#include <tuple>

#include "core/ops/integer_conv.h"

#include "core/ops/conv_kernels.h"
#include "core/ops/int8_pointwise.h"
#include "core/ops/kernel_util.h"
#include "core/ops/requantize.h"
#include "core/thread_buffer.h"

namespace mc {

namespace {

bool is_8bit(DType t) { return t == DType::u8 || t == DType::i8; }

// Element i of an 8-bit tensor as an integer.
int32_t int_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::u8 ? static_cast<int32_t>(t.data<uint8_t>()[i]) : static_cast<int32_t>(t.data<int8_t>()[i]);
}

// One value per output channel from a scalar or [M] tensor (float or 8-bit).
std::vector<float> per_channel_scale(const Tensor& t, int64_t channels) {
  std::vector<float> v(static_cast<size_t>(channels));
  for (int64_t m = 0; m < channels; ++m) v[static_cast<size_t>(m)] = t.data<float>()[t.numel() == 1 ? 0 : m];
  return v;
}
std::vector<int32_t> per_channel_int(const Tensor& t, int64_t channels) {
  std::vector<int32_t> v(static_cast<size_t>(channels));
  for (int64_t m = 0; m < channels; ++m) v[static_cast<size_t>(m)] = int_at(t, t.numel() == 1 ? 0 : m);
  return v;
}

// ConvInteger's optional zero points (inputs 2 and 3; 0 when omitted), the fused form's too.
int32_t optional_x_zero_point(const RunContext& ctx) { return ctx.in.size() > 2 && ctx.in[2] ? int_at(*ctx.in[2], 0) : 0; }
std::vector<int32_t> optional_w_zero_points(const RunContext& ctx, int64_t channels) {
  if (ctx.in.size() > 3 && ctx.in[3]) return per_channel_int(*ctx.in[3], channels);
  return std::vector<int32_t>(static_cast<size_t>(channels), 0);
}

// The sums of a layer whose float sums might be inexact: the definition, loop by loop, in int64.
void integer_conv(const ConvGeometry& s, const float* x, const float* w, int32_t* out) {
  const Window2d& win = s.window;
  const int64_t cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t m = 0; m < s.out_channels; ++m)
      for (int64_t oy = 0; oy < win.out_h; ++oy)
        for (int64_t ox = 0; ox < win.out_w; ++ox) {
          int64_t acc = 0;
          for (int64_t c = 0; c < cin_g; ++c)
            for (int64_t ky = 0; ky < win.kernel_h; ++ky) {
              const int64_t iy = oy * win.stride_h - win.pad_top + ky * win.dilation_h;
              if (iy < 0 || iy >= win.in_h) continue;
              for (int64_t kx = 0; kx < win.kernel_w; ++kx) {
                const int64_t ix = ox * win.stride_w - win.pad_left + kx * win.dilation_w;
                if (ix < 0 || ix >= win.in_w) continue;
                const int64_t xi = ((n * s.in_channels + (m / cout_g) * cin_g + c) * win.in_h + iy) * win.in_w + ix;
                const int64_t wi = ((m * cin_g + c) * win.kernel_h + ky) * win.kernel_w + kx;
                acc += static_cast<int64_t>(x[xi]) * static_cast<int64_t>(w[wi]);
              }
            }
          // Wrapped to int32 like an int8 runtime's accumulator (never reached by 8-bit layers in practice).
          out[((n * s.out_channels + m) * win.out_h + oy) * win.out_w + ox] =
              static_cast<int32_t>(static_cast<uint32_t>(acc));
        }
}

int32_t qmin_of(DType t) { return t == DType::u8 ? 0 : -128; }
int32_t qmax_of(DType t) { return t == DType::u8 ? 255 : 127; }

// Scratch buffers (core/thread_buffer.h): the shifted input, the float sums, the int32 sums.
struct ShiftedInput;
struct FloatSums;
struct IntSums;

// dst[i] = src[i] - zp as floats, in blocks over the pool (one loop per 8-bit type, so it vectorizes).
template <class T>
void shifted_to_float(const T* src, int64_t n, int32_t zp, float* dst, ThreadPool& pool) {
  for_each_block(n, pool, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<float>(static_cast<int32_t>(src[i]) - zp);
  });
}
void to_shifted_float(const Tensor& t, int32_t zp, float* dst, ThreadPool& pool) {
  if (t.dtype() == DType::u8) shifted_to_float(t.data<uint8_t>(), t.numel(), zp, dst, pool);
  else shifted_to_float(t.data<int8_t>(), t.numel(), zp, dst, pool);
}

// Where a layer's sums are: integer-valued floats or int32 (one of the two set).
struct Sums {
  const float* in_float = nullptr;
  const int32_t* in_int = nullptr;
  bool consumed = false;  // every output plane already went to the caller's plane_done
};
// Called per output plane of a depthwise layer as soon as its sums are computed (ConvData::plane_done).
using PlaneDone = std::function<void(int64_t plane, const float* sums)>;

bool int8_weights_without_zero_point(const Tensor& w, const std::vector<int32_t>& w_zp) {
  return w.dtype() == DType::i8 && std::all_of(w_zp.begin(), w_zp.end(), [](int32_t z) { return z == 0; });
}

bool is_pointwise(const ConvGeometry& s) {
  const Window2d& v = s.window;
  return s.groups == 1 && v.kernel_h == 1 && v.kernel_w == 1 && v.stride_h == 1 && v.stride_w == 1 && v.pad_top == 0 && v.pad_left == 0 &&
         v.pad_bottom == 0 && v.pad_right == 0 && v.out_h == v.in_h && v.out_w == v.in_w;
}

// sum over the window of (x - x_zp) * (w - w_zp[m]) for every output, exactly (see the top): int32
// from the VNNI kernel, integer-valued floats when every sum is exact in float32, else int32 from
// the int64 loop.
Sums integer_sums(const ConvGeometry& s, const Tensor& x, int32_t x_zp, const Tensor& w, const std::vector<int32_t>& w_zp, ThreadPool& pool,
                  const PlaneDone* plane_done = nullptr) {
  const int64_t channels = s.out_channels;
  const int64_t outputs = s.batch * channels * s.window.out_h * s.window.out_w;
  if (is_pointwise(s) && int8_weights_without_zero_point(w, w_zp)) {
    int32_t* sums = thread_buffer<int32_t, IntSums>(outputs);
    if (pointwise_int8_sums(x.raw(), x.dtype() == DType::i8, x_zp, w.data<int8_t>(), s.batch, s.in_channels, channels, s.window.out_h * s.window.out_w,
                            sums, pool))
      return Sums{nullptr, sums};
  }
  // The input as floats x - x_zp (the depthwise kernel reads the bytes directly instead).
  auto shifted_input = [&] {
    float* xf = thread_buffer<float, ShiftedInput>(x.numel());
    to_shifted_float(x, x_zp, xf, pool);
    return xf;
  };
  std::vector<float> wf(static_cast<size_t>(w.numel()));
  const int64_t per_channel = channels > 0 ? w.numel() / channels : 0;
  const double max_x = std::max(std::abs(qmin_of(x.dtype()) - x_zp), std::abs(qmax_of(x.dtype()) - x_zp));
  bool exact_in_float = true;
  for (int64_t m = 0; m < channels; ++m) {
    double bound = 0;
    for (int64_t k = m * per_channel; k < (m + 1) * per_channel; ++k) {
      const int32_t v = int_at(w, k) - w_zp[static_cast<size_t>(m)];
      wf[static_cast<size_t>(k)] = static_cast<float>(v);
      bound += std::abs(v) * max_x;
    }
    exact_in_float = exact_in_float && bound < 16777216.0;  // 2^24
  }
  if (exact_in_float) {
    float* acc = thread_buffer<float, FloatSums>(outputs);
    ConvData d;
    d.weight = wf.data();
    d.output = acc;
    const ConvAlgorithm algorithm = choose_conv_algorithm(s);
    const bool depthwise = algorithm == ConvAlgorithm::depthwise;
    if (depthwise) {
      d.input_8bit = x.raw();
      d.input_8bit_signed = x.dtype() == DType::i8;
      d.input_zero_point = x_zp;
      if (plane_done) d.plane_done = *plane_done;
    } else {
      d.input = shifted_input();
    }
    run_conv(algorithm, s, d, pool);
    return Sums{acc, nullptr, depthwise && plane_done};
  }
  int32_t* sums = thread_buffer<int32_t, IntSums>(outputs);
  integer_conv(s, shifted_input(), wf.data(), sums);
  return Sums{nullptr, sums};
}

// Shape checks shared by QLinearConv and ConvInteger: 8-bit x and w, zero points of their types,
// scalar (x) or scalar / per-output-channel (w).
void check_integer_conv(const InferContext& ctx, size_t x_i, size_t x_zp_i, size_t w_i, size_t w_zp_i) {
  const TensorType& x = ctx.input(x_i);
  const TensorType& w = ctx.input(w_i);
  if (!is_8bit(x.dtype) || !is_8bit(w.dtype))
    ctx.unsupported(std::string("x and w must be uint8 or int8, got ") + dtype_name(x.dtype) + " and " + dtype_name(w.dtype));
  const int64_t channels = w.shape.empty() ? 0 : w.shape[0];
  for (auto [i, of, name, per_channel_ok] : {std::tuple{x_zp_i, x_i, "x_zero_point", false}, std::tuple{w_zp_i, w_i, "w_zero_point", true}}) {
    if (!ctx.has_input(i)) continue;
    const TensorType& t = ctx.input(i);
    const int64_t n = shape_numel(t.shape);
    if (t.shape.size() > 1 || (n != 1 && !(per_channel_ok && n == channels)))
      ctx.fail(std::string(name) + " has shape " + shape_str(t.shape) + "; expected a scalar" +
               (per_channel_ok ? " or one value per output channel (" + std::to_string(channels) + ")" : std::string()));
    if (t.dtype != ctx.input(of).dtype) ctx.fail(std::string(name) + " must have the type of the tensor it belongs to");
  }
}

}  // namespace

void infer_QLinearConv(InferContext& ctx) {
  const TensorType& x = ctx.input(0);
  const TensorType& w = ctx.input(3);
  check_integer_conv(ctx, 0, 2, 3, 5);
  const int64_t channels = w.shape.empty() ? 0 : w.shape[0];
  for (auto [i, name, per_channel_ok] : {std::tuple{size_t{1}, "x_scale", false}, std::tuple{size_t{4}, "w_scale", true},
                                         std::tuple{size_t{6}, "y_scale", false}, std::tuple{size_t{7}, "y_zero_point", false}}) {
    const TensorType& t = ctx.input(i);
    const int64_t n = shape_numel(t.shape);
    if (t.shape.size() > 1 || (n != 1 && !(per_channel_ok && n == channels)))
      ctx.fail(std::string(name) + " has shape " + shape_str(t.shape) + "; expected a scalar" +
               (per_channel_ok ? " or one value per output channel (" + std::to_string(channels) + ")" : std::string()));
    if (i != 7 && t.dtype != DType::f32) ctx.fail(std::string(name) + " must be float32");
  }
  if (!ctx.has_input(2) || !ctx.has_input(5)) ctx.fail("x_zero_point and w_zero_point are required");
  const DType y = ctx.input(7).dtype;
  if (!is_8bit(y)) ctx.fail(std::string("y_zero_point must be uint8 or int8, got ") + dtype_name(y));
  const Shape* bias = nullptr;
  if (ctx.has_input(8)) {
    if (ctx.input(8).dtype != DType::i32) ctx.fail(std::string("B must be int32, got ") + dtype_name(ctx.input(8).dtype));
    bias = &ctx.in[8].shape;
  }
  ctx.out = {TensorType{y, conv_output_shape(ctx, x.shape, w.shape, bias)}};
}

void run_QLinearConv(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const Tensor& w = *ctx.in[3];
  const ConvGeometry s = conv_geometry(ctx.node, ctx.opset, x.shape(), w.shape());
  const int64_t channels = s.out_channels;
  const int32_t x_zp = int_at(*ctx.in[2], 0);
  const std::vector<int32_t> w_zp = per_channel_int(*ctx.in[5], channels);
  const float x_scale = ctx.in[1]->data<float>()[0];
  const float y_scale = ctx.in[6]->data<float>()[0];
  const std::vector<float> w_scale = per_channel_scale(*ctx.in[4], channels);
  Tensor& y = *ctx.out[0];
  const DType yt = y.dtype();
  const int32_t y_zp = int_at(*ctx.in[7], 0), qmin = qmin_of(yt), qmax = qmax_of(yt);

  std::vector<float> multiplier(static_cast<size_t>(channels));
  for (int64_t m = 0; m < channels; ++m) multiplier[static_cast<size_t>(m)] = x_scale * w_scale[static_cast<size_t>(m)] / y_scale;
  const int32_t* bias = ctx.in.size() > 8 && ctx.in[8] ? ctx.in[8]->data<int32_t>() : nullptr;
  // A fused Relu/Clip as bounds on the quantized output (QuantizeLinear's formula).
  int32_t lo = qmin, hi = qmax;
  if (const auto& clip = ctx.fused_activation) {
    if (clip->kind != FusedActivation::Kind::clip)
      fail_internal(ctx.node.describe() + ": only a Relu or Clip can be fused into QLinearConv");
    auto quantize = [&](float v) {
      const float r = std::nearbyint(v / y_scale) + static_cast<float>(y_zp);
      return static_cast<int32_t>(std::clamp(r, static_cast<float>(qmin), static_cast<float>(qmax)));
    };
    if (clip->lo > -std::numeric_limits<float>::infinity()) lo = std::max(lo, quantize(clip->lo));
    if (clip->hi < std::numeric_limits<float>::infinity()) hi = std::min(hi, quantize(clip->hi));
  }
  Requantization r;
  r.low = static_cast<float>(qmin - y_zp), r.high = static_cast<float>(qmax - y_zp);
  r.y_zp = y_zp, r.lo = lo, r.hi = hi;
  // Pointwise layers on the VNNI kernel: summed and requantized in one pass.
  if (is_pointwise(s) && int8_weights_without_zero_point(w, w_zp)) {
    if (pointwise_int8_qlinear(x.raw(), x.dtype() == DType::i8, x_zp, w.data<int8_t>(), s.batch, s.in_channels, channels,
                               s.window.out_h * s.window.out_w, bias, multiplier.data(), r, y.raw(), ctx.pool))
      return;
  }
  const int64_t positions = channels > 0 ? y.numel() / (s.batch * channels) : 0;
  // Output row `row` (a batch item's channel) from its sums.
  auto requantize = [&](int64_t row, const auto* sums) {
    const auto m = static_cast<size_t>(row % channels);
    const int32_t b = bias ? bias[m] : 0;
    const int64_t at = row * positions;
    if (yt == DType::u8) requantize_row(sums, positions, b, multiplier[m], r, y.data<uint8_t>() + at);
    else requantize_row(sums, positions, b, multiplier[m], r, y.data<int8_t>() + at);
  };
  // Depthwise layers requantize each plane as soon as it is summed (still in cache).
  const PlaneDone plane_done = [&](int64_t row, const float* sums) { requantize(row, sums); };
  const Sums sums = integer_sums(s, x, x_zp, w, w_zp, ctx.pool, &plane_done);
  if (sums.consumed) return;
  ctx.pool.parallel_for(s.batch * channels, [&](int64_t row) {
    if (sums.in_float) requantize(row, sums.in_float + row * positions);
    else requantize(row, sums.in_int + row * positions);
  });
}

void infer_ConvInteger(InferContext& ctx) {
  check_integer_conv(ctx, 0, 2, 1, 3);
  ctx.out = {TensorType{DType::i32, conv_output_shape(ctx, ctx.input(0).shape, ctx.input(1).shape, nullptr)}};
}

void run_ConvInteger(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const Tensor& w = *ctx.in[1];
  const ConvGeometry s = conv_geometry(ctx.node, ctx.opset, x.shape(), w.shape());
  const int32_t x_zp = optional_x_zero_point(ctx);
  const std::vector<int32_t> w_zp = optional_w_zero_points(ctx, s.out_channels);
  const Sums sums = integer_sums(s, x, x_zp, w, w_zp, ctx.pool);
  int32_t* out = ctx.out[0]->data<int32_t>();
  if (sums.in_float)
    for (int64_t i = 0; i < ctx.out[0]->numel(); ++i) out[i] = static_cast<int32_t>(sums.in_float[i]);
  else std::copy(sums.in_int, sums.in_int + ctx.out[0]->numel(), out);
}

// --- ConvInteger -> Cast -> Mul [-> Add] as one step (core/ops/integer_conv.h) ------------------

bool broadcasts_per_channel(const Shape& t, const Shape& out) {
  if (out.size() < 2 || t.size() > out.size()) return false;
  const size_t shift = out.size() - t.size();
  for (size_t d = 0; d < t.size(); ++d)
    if (t[d] != 1 && !(d + shift == 1 && t[d] == out[1])) return false;
  return true;
}

namespace {

// Input positions of the fused node.
constexpr size_t scaled_scale = 4, scaled_addend = 5;

bool addend_first(const Node& node) { return node.attr_int("addend_first", 0) != 0; }

void infer_ConvIntegerScaled(InferContext& ctx) {
  check_integer_conv(ctx, 0, 2, 1, 3);
  Shape shape = conv_output_shape(ctx, ctx.input(0).shape, ctx.input(1).shape, nullptr);
  if (!broadcasts_per_channel(ctx.input(scaled_scale).shape, shape) || ctx.input(scaled_scale).dtype != DType::f32)
    fail_internal(ctx.node.describe() + ": the fused scale is not one float32 value per channel");
  if (ctx.has_input(scaled_addend)) {
    if (ctx.input(scaled_addend).dtype != DType::f32)
      ctx.fail(std::string("Add of a float32 and a ") + dtype_name(ctx.input(scaled_addend).dtype) + " tensor (input types differ)");
    const Shape& a = ctx.input(scaled_addend).shape;
    shape = addend_first(ctx.node) ? broadcast_shapes(ctx, a, shape) : broadcast_shapes(ctx, shape, a);
  }
  ctx.out = {TensorType{DType::f32, shape}};
}

// One output row (a batch item's channel): v = float(sum); v *= scale; v += addend; activation.
template <class S>
void scaled_row(const S* sums, int64_t n, float scale, const float* addend, bool addend_per_channel, float* y) {
  if (!addend) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(sums[i]);
      y[i] = v * scale;
    }
  } else if (addend_per_channel) {
    const float a = *addend;
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(sums[i]) * scale;
      y[i] = v + a;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(sums[i]) * scale;
      y[i] = v + addend[i];
    }
  }
}

// The filters of a layer whose sums are not all 0, and the geometry and weights to sum only those.
struct NonzeroFilters {
  std::vector<int64_t> kept;             // filter indices
  std::vector<int64_t> index;            // per filter: its place in `kept`, -1 when left out
  ConvGeometry geometry;                 // out_channels = kept.size()
  std::optional<Tensor> weight;          // the kept rows, when some were left out
  std::vector<int32_t> zero_points;      // of the kept rows
};
NonzeroFilters nonzero_filters(const ConvGeometry& s, const Tensor& w, const std::vector<int32_t>& w_zp) {
  NonzeroFilters f;
  f.geometry = s;
  const int64_t channels = s.out_channels, per_filter = channels > 0 ? w.numel() / channels : 0;
  f.index.assign(static_cast<size_t>(channels), -1);
  for (int64_t m = 0; m < channels; ++m) {
    bool zero = s.groups == 1;  // grouped layers keep every filter (a group's rows cannot be dropped)
    for (int64_t k = m * per_filter; zero && k < (m + 1) * per_filter; ++k) zero = int_at(w, k) == w_zp[static_cast<size_t>(m)];
    if (zero) continue;
    f.index[static_cast<size_t>(m)] = static_cast<int64_t>(f.kept.size());
    f.kept.push_back(m);
    f.zero_points.push_back(w_zp[static_cast<size_t>(m)]);
  }
  f.geometry.out_channels = static_cast<int64_t>(f.kept.size());
  if (f.kept.size() == static_cast<size_t>(channels) || f.kept.empty()) return f;
  Shape shape = w.shape();
  shape[0] = f.geometry.out_channels;
  f.weight = Tensor(w.dtype(), shape);
  const size_t row_bytes = static_cast<size_t>(per_filter) * dtype_size(w.dtype());
  for (size_t i = 0; i < f.kept.size(); ++i)
    std::memcpy(static_cast<std::byte*>(f.weight->raw()) + i * row_bytes, static_cast<const std::byte*>(w.raw()) + static_cast<size_t>(f.kept[i]) * row_bytes, row_bytes);
  return f;
}

void run_ConvIntegerScaled(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const Tensor& w = *ctx.in[1];
  const ConvGeometry s = conv_geometry(ctx.node, ctx.opset, x.shape(), w.shape());
  const int64_t channels = s.out_channels;
  const int32_t x_zp = optional_x_zero_point(ctx);
  const std::vector<int32_t> w_zp = optional_w_zero_points(ctx, channels);
  const std::vector<float> scale = per_channel_scale(*ctx.in[scaled_scale], channels);
  const Tensor* addend = ctx.in.size() > scaled_addend ? ctx.in[scaled_addend] : nullptr;
  Shape conv_shape = w.rank() == 3 ? Shape{s.batch, channels, s.window.out_w} : Shape{s.batch, channels, s.window.out_h, s.window.out_w};
  Tensor& y = *ctx.out[0];
  const int64_t positions = s.window.out_h * s.window.out_w;
  // Filters whose weights all equal their zero point (a hybrid layer's int8 channels in its ternary
  // terms) have sums of exactly 0: only the others are summed (one group: rows can be dropped).
  const NonzeroFilters nonzero = nonzero_filters(s, w, w_zp);
  const Sums sums = nonzero.kept.empty() ? Sums{} : integer_sums(nonzero.geometry, x, x_zp, nonzero.weight ? *nonzero.weight : w, nonzero.zero_points, ctx.pool);
  const int64_t kept = nonzero.geometry.out_channels;
  thread_local std::vector<float> zero_sums;  // the sums of a left-out filter
  if (kept < channels) zero_sums.assign(static_cast<size_t>(positions), 0.0f);
  const float* zero_f = zero_sums.data();

  // The addend read element by element (its shape is the output's) or one value per channel; any
  // other broadcast goes through the Add kernel itself.
  const bool fast = y.shape() == conv_shape &&
                    (!addend || (addend->dtype() == DType::f32 &&
                                 (addend->shape() == conv_shape || broadcasts_per_channel(addend->shape(), conv_shape))));
  Tensor scaled;
  float* out = y.data<float>();
  const float* add = nullptr;
  bool per_channel = false;
  if (fast) {
    if (addend) {
      add = addend->data<float>();
      per_channel = addend->shape() != conv_shape;
    }
  } else {
    scaled = Tensor(DType::f32, conv_shape);
    out = scaled.data<float>();
  }
  ctx.pool.parallel_for(s.batch * channels, [&](int64_t row) {
    const auto m = static_cast<size_t>(row % channels);
    const int64_t at = row * positions;
    const float* a = !add ? nullptr : per_channel ? add + (addend->numel() == 1 ? 0 : static_cast<int64_t>(m)) : add + at;
    const int64_t k = nonzero.index[m];  // the filter's row among the summed ones, -1: its sums are 0
    const int64_t from = (row / channels * kept + k) * positions;
    if (k < 0 || !sums.in_int) scaled_row(k < 0 ? zero_f : sums.in_float + from, positions, scale[m], a, per_channel, out + at);
    else scaled_row(sums.in_int + from, positions, scale[m], a, per_channel, out + at);
    if (fast && ctx.fused_activation) ctx.fused_activation->apply(out + at, positions);
  });
  if (fast) return;
  if (addend) {
    Node add_node{ctx.node.name, "Add", {}, {}, {}};
    RunContext add_ctx{add_node, ctx.opset, {}, {&y}, ctx.pool, std::nullopt};
    add_ctx.in = addend_first(ctx.node) ? std::vector<const Tensor*>{addend, &scaled} : std::vector<const Tensor*>{&scaled, addend};
    find_kernel("Add")->run(add_ctx);
  } else {
    std::copy(out, out + scaled.numel(), y.data<float>());
  }
  if (ctx.fused_activation) ctx.fused_activation->apply(y.data<float>(), y.numel());
}

}  // namespace

const OpKernel& scaled_conv_integer_kernel() {
  // Relu / Clip only: they round nothing. An activation with arithmetic (HardSigmoid's alpha * x + beta)
  // would be computed here without contraction, by its own kernel possibly with an FMA.
  static const OpKernel kernel{"ConvIntegerScaled", 10, infer_ConvIntegerScaled, run_ConvIntegerScaled, Fusion::clip};
  return kernel;
}

}  // namespace mc
