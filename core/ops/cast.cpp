// Cast (ONNX opsets 6-21; `to` is an attribute throughout; Cast-19's `saturate` only concerns float8
// targets, which are refused): integer tensors (int8, uint8, int32, int64) to float32 (exact up to
// 2^24, otherwise rounded to nearest even, as a C++ conversion does), and float32 to float32.
// `export --qdq` writes ConvInteger -> Cast -> Mul for int8 layers that ONNX Runtime cannot turn into
// QLinearConv, which is what this is for; other conversions (float to integer with its saturation
// questions, strings, float16, float8, int4, bool) are reported unsupported.
#include <algorithm>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

template <class T> void to_float(const Tensor& x, Tensor& y, ThreadPool& pool) {
  const T* in = x.data<T>();
  float* out = y.data<float>();
  for_each_block(x.numel(), pool, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = static_cast<float>(in[i]);
  });
}

}  // namespace

void infer_Cast(InferContext& ctx) {
  const TensorType& x = ctx.input(0);
  if (!ctx.node.has("to")) ctx.fail("the 'to' attribute is required");
  const int64_t to = ctx.node.attr_int("to", 0);
  if (to != static_cast<int64_t>(DType::f32))
    ctx.unsupported("cast to " + onnx_type_name(to) + " (ONNX type " + std::to_string(to) +
                    ") is not supported (only integer or float32 to float32)");
  if (x.dtype != DType::f32 && x.dtype != DType::u8 && x.dtype != DType::i8 && x.dtype != DType::i32 && x.dtype != DType::i64)
    ctx.unsupported(std::string("cast from ") + dtype_name(x.dtype) + " (only integer or float32 to float32 is supported)");
  ctx.out = {TensorType{DType::f32, x.shape}};
}

void run_Cast(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  Tensor& y = *ctx.out[0];
  switch (x.dtype()) {
    case DType::f32: copy_elements(y.data<float>(), x.data<float>(), x.numel(), sizeof(float)); break;
    case DType::u8: to_float<uint8_t>(x, y, ctx.pool); break;
    case DType::i8: to_float<int8_t>(x, y, ctx.pool); break;
    case DType::i32: to_float<int32_t>(x, y, ctx.pool); break;
    case DType::i64: to_float<int64_t>(x, y, ctx.pool); break;
    default: fail_internal(ctx.node.describe() + ": Cast from " + dtype_name(x.dtype()) + " was not rejected by inference");
  }
}

}  // namespace mc
