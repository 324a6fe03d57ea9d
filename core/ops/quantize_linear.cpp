// QuantizeLinear and DequantizeLinear, opsets 10 to 21 (ONNX operator docs, "QuantizeLinear-10/13/19/21",
// "DequantizeLinear-10/13/19/21"):
//   QuantizeLinear:   y = saturate(round_half_to_even(x / scale) + zero_point)  -> uint8 or int8
//   DequantizeLinear: y = (x - zero_point) * scale                              -> float32
// Per-tensor (scale and zero point scalars, or one-element 1-D tensors as ONNX Runtime accepts) or,
// from opset 13, per-axis (1-D scale and zero point as long as x's dim `axis`, default 1).
// These are the "QDQ" pairs that mark int8 activations and int8 weights in an ONNX graph.
// Later forms: opset 19 adds float8 types (and `saturate`, which only they use) and float16 scales;
// opset 21 adds int4/uint4/int16/uint16, blocked quantization (`block_size`) and QuantizeLinear's
// `output_dtype`. Those element types are refused where the model is read (unsupported element
// type), block_size other than 0 here; output_dtype may name uint8 or int8.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

// How scale and zero point apply to x: `channels` values along one axis (per-axis), or one value
// for everything (channels = 1, inner = numel).
struct QuantLayout {
  int64_t channels = 1;
  int64_t inner = 1;  // elements per (outer index, channel) run
};

bool is_per_tensor(const Shape& scale_shape) { return scale_shape.size() <= 1 && shape_numel(scale_shape) == 1; }

// Validates scale and zero point (inputs 1 and 2) against x (input 0) and returns how they apply.
QuantLayout check_quant_params(const InferContext& ctx, const char* scale_name, const char* zero_point_name) {
  const TensorType& x = ctx.input(0);
  const TensorType& scale = ctx.input(1);
  if (scale.dtype != DType::f32)
    ctx.fail(std::string(scale_name) + " must be float32, got " + dtype_name(scale.dtype));
  if (ctx.has_input(2) && ctx.in[2].shape != scale.shape)
    ctx.fail(std::string(zero_point_name) + " has shape " + shape_str(ctx.in[2].shape) + ", " + scale_name +
             " has shape " + shape_str(scale.shape) + "; they must match");
  QuantLayout layout;
  layout.inner = shape_numel(x.shape);
  if (is_per_tensor(scale.shape)) return layout;
  if (ctx.opset < 13)
    ctx.fail(std::string(scale_name) + " of shape " + shape_str(scale.shape) + " must be a scalar before opset 13 (opset " +
             std::to_string(ctx.opset) + ")");
  if (scale.shape.size() != 1)
    ctx.fail(std::string(scale_name) + " must be a scalar or 1-D, got shape " + shape_str(scale.shape));
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) ctx.fail(std::string("per-axis ") + scale_name + " of shape " + shape_str(scale.shape) + " needs x of rank >= 1");
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 1), rank);
  if (scale.shape[0] != x.shape[static_cast<size_t>(axis)])
    ctx.fail(std::string(scale_name) + " has " + std::to_string(scale.shape[0]) + " values but x has " +
             std::to_string(x.shape[static_cast<size_t>(axis)]) + " along axis " + std::to_string(axis) +
             " (x shape " + shape_str(x.shape) + ")");
  layout.channels = scale.shape[0];
  layout.inner = dims_product(x.shape, static_cast<size_t>(axis) + 1, x.shape.size());
  return layout;
}

// The same layout at run time, from shapes inference already validated.
QuantLayout quant_layout(const RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const Tensor& scale = *ctx.in[1];
  QuantLayout layout;
  layout.inner = x.numel();
  if (is_per_tensor(scale.shape())) return layout;
  const int64_t axis = normalize_axis(ctx.node, ctx.node.attr_int("axis", 1), static_cast<int64_t>(x.rank()));
  layout.channels = scale.numel();
  layout.inner = dims_product(x.shape(), static_cast<size_t>(axis) + 1, x.rank());
  return layout;
}

// Calls f(begin, end, channel) over runs of elements sharing one channel, in blocks of a fixed
// size (independent of the thread count, so results never depend on it).
template <class F> void for_each_channel_run(int64_t n, const QuantLayout& layout, ThreadPool& pool, const F& f) {
  if (n == 0) return;
  const int64_t inner = std::max<int64_t>(layout.inner, 1);
  for_each_block(n, pool, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t row = i / inner;
      const int64_t row_end = std::min(end, (row + 1) * inner);
      f(i, row_end, row % layout.channels);
      i = row_end;
    }
  });
}

// Zero points widened to int32, one per channel (all 0 when the input is omitted).
std::vector<int32_t> zero_points(const RunContext& ctx, int64_t channels) {
  if (!ctx.node.has_input(2) || !ctx.in[2]) return std::vector<int32_t>(static_cast<size_t>(channels), 0);
  std::vector<int32_t> zp;
  for (int64_t v : ctx.in[2]->to_int64_vector()) zp.push_back(static_cast<int32_t>(v));
  return zp;
}

// float32 x is divided in float32 (as ONNX's reference and ONNX Runtime do); int32 x in double, so
// large integers are not rounded before the division.
template <class Q, class X> Q saturate_round(X x, float scale, int32_t zero_point) {
  using Real = std::conditional_t<std::is_same_v<X, float>, float, double>;
  constexpr Real lo = static_cast<Real>(std::numeric_limits<Q>::min());
  constexpr Real hi = static_cast<Real>(std::numeric_limits<Q>::max());
  // Halves round to even, as ONNX specifies: adding and subtracting 1.5 * 2^(mantissa bits) rounds
  // in the FPU's default mode (to nearest, ties to even), exactly as nearbyint does for |v| up to
  // 2^22 (float) or 2^51 (double); larger values are clamped first, which changes nothing after the
  // final clamp to the 8-bit range. Unlike nearbyint, the compiler vectorizes this.
  constexpr Real big = std::is_same_v<Real, float> ? Real(4194304.0) : Real(2251799813685248.0);
  constexpr Real magic = std::is_same_v<Real, float> ? Real(12582912.0) : Real(6755399441055744.0);
  Real v = static_cast<Real>(x) / static_cast<Real>(scale);
  v = v == v ? std::min(std::max(v, -big), big) : Real(0);  // NaN in: not specified by ONNX; quantize as 0.0
  const Real r = ((v + magic) - magic) + static_cast<Real>(zero_point);
  return static_cast<Q>(std::clamp(r, lo, hi));
}

template <class X, class Q> void quantize(RunContext& ctx) {
  const QuantLayout layout = quant_layout(ctx);
  const X* x = ctx.in[0]->data<X>();
  const float* scale = ctx.in[1]->data<float>();
  const std::vector<int32_t> zp = zero_points(ctx, layout.channels);
  Q* y = ctx.out[0]->data<Q>();
  for_each_channel_run(ctx.in[0]->numel(), layout, ctx.pool, [&](int64_t begin, int64_t end, int64_t c) {
    const float s = scale[c];
    const int32_t z = zp[static_cast<size_t>(c)];
    // Local restrict pointers: 8-bit stores could otherwise alias the captured ones, reloading
    // them per element and keeping the loop from vectorizing.
    const X* __restrict from = x;
    Q* __restrict to = y;
    for (int64_t i = begin; i < end; ++i) to[i] = saturate_round<Q>(from[i], s, z);
  });
}

template <class X> void dequantize(RunContext& ctx) {
  const QuantLayout layout = quant_layout(ctx);
  const X* x = ctx.in[0]->data<X>();
  const float* scale = ctx.in[1]->data<float>();
  const std::vector<int32_t> zp = zero_points(ctx, layout.channels);
  if constexpr (std::is_same_v<X, int32_t>) {
    for (int32_t z : zp)
      if (z != 0)
        fail_input(ctx.node.describe() + ": x_zero_point must be 0 for int32 x, got " + std::to_string(z));
  }
  float* y = ctx.out[0]->data<float>();
  for_each_channel_run(ctx.in[0]->numel(), layout, ctx.pool, [&](int64_t begin, int64_t end, int64_t c) {
    const float s = scale[c];
    const int32_t z = zp[static_cast<size_t>(c)];
    // The difference of two 8-bit integers is exact in float32, so this is the one rounding ONNX
    // Runtime and the .mcz int8 decoder (float(q - zp) * scale) also make.
    const X* __restrict from = x;
    float* __restrict to = y;
    for (int64_t i = begin; i < end; ++i) to[i] = static_cast<float>(static_cast<int32_t>(from[i]) - z) * s;
  });
}

// Blocked quantization (opset 21: scale and zero point with x's rank, one value per block_size
// elements along `axis`) is not implemented; block_size 0 (the default) is the per-tensor or
// per-axis form.
void check_block_size(const InferContext& ctx) {
  const int64_t block_size = ctx.node.attr_int("block_size", 0);
  if (block_size != 0)
    ctx.unsupported("blocked quantization (block_size=" + std::to_string(block_size) + ") is not supported");
}

}  // namespace

void infer_QuantizeLinear(InferContext& ctx) {
  const TensorType& x = ctx.input(0);
  if (x.dtype != DType::f32 && x.dtype != DType::i32)
    ctx.fail(std::string("x must be float32 or int32, got ") + dtype_name(x.dtype));
  check_block_size(ctx);
  // output_dtype (opset 21; 0: unset) names the output type when no zero point does.
  const int64_t output_dtype = ctx.opset >= 21 ? ctx.node.attr_int("output_dtype", 0) : 0;
  if (output_dtype != 0 && output_dtype != static_cast<int64_t>(DType::u8) && output_dtype != static_cast<int64_t>(DType::i8))
    ctx.unsupported("output_dtype " + std::to_string(output_dtype) + " (" + onnx_type_name(output_dtype) +
                    ") is not supported (only uint8 and int8)");
  DType out = output_dtype != 0 ? static_cast<DType>(output_dtype) : DType::u8;  // ONNX: uint8 when neither is given
  if (ctx.has_input(2)) {
    const DType zero_point = ctx.input(2).dtype;
    if (zero_point != DType::u8 && zero_point != DType::i8)
      ctx.fail(std::string("y_zero_point must be uint8 or int8, got ") + dtype_name(zero_point));
    if (output_dtype != 0 && zero_point != out)
      ctx.fail(std::string("output_dtype is ") + dtype_name(out) + " but y_zero_point is " + dtype_name(zero_point));
    out = zero_point;
  }
  check_quant_params(ctx, "y_scale", "y_zero_point");
  ctx.out = {TensorType{out, x.shape}};
}

void run_QuantizeLinear(RunContext& ctx) {
  const bool to_int8 = ctx.out[0]->dtype() == DType::i8;
  if (ctx.in[0]->dtype() == DType::f32) {
    if (to_int8) quantize<float, int8_t>(ctx);
    else quantize<float, uint8_t>(ctx);
  } else {
    if (to_int8) quantize<int32_t, int8_t>(ctx);
    else quantize<int32_t, uint8_t>(ctx);
  }
}

void infer_DequantizeLinear(InferContext& ctx) {
  const TensorType& x = ctx.input(0);
  if (x.dtype != DType::u8 && x.dtype != DType::i8 && x.dtype != DType::i32)
    ctx.fail(std::string("x must be uint8, int8 or int32, got ") + dtype_name(x.dtype));
  check_block_size(ctx);
  if (ctx.has_input(2)) {
    const TensorType& zp = ctx.input(2);
    if (zp.dtype != x.dtype)
      ctx.fail(std::string("x_zero_point is ") + dtype_name(zp.dtype) + " but x is " + dtype_name(x.dtype) + "; they must match");
    if (x.dtype == DType::i32 && ctx.value[2])
      for (int64_t v : ctx.value[2]->to_int64_vector())
        if (v != 0) ctx.fail("x_zero_point must be 0 for int32 x, got " + std::to_string(v));
  }
  check_quant_params(ctx, "x_scale", "x_zero_point");
  ctx.out = {TensorType{DType::f32, x.shape}};
}

void run_DequantizeLinear(RunContext& ctx) {
  switch (ctx.in[0]->dtype()) {
    case DType::u8: dequantize<uint8_t>(ctx); break;
    case DType::i8: dequantize<int8_t>(ctx); break;
    case DType::i32: dequantize<int32_t>(ctx); break;
    default: fail_internal(ctx.node.describe() + ": unexpected type");
  }
}

}  // namespace mc
