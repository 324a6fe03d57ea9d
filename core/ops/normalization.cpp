// BatchNormalization (inference form) and Softmax.
#include <algorithm>
#include <cmath>

#include "core/ops/kernel_util.h"

namespace mc {

void infer_BatchNormalization(InferContext& ctx) {
  const auto& x = ctx.input(0);
  if (x.dtype != DType::f32) ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  if (ctx.node.attr_int("training_mode", 0) != 0) ctx.unsupported("training_mode=1 is not supported");
  if (ctx.opset < 9 && ctx.node.attr_int("spatial", 1) != 1) ctx.unsupported("spatial=0 is not supported");
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i)
    if (!ctx.node.outputs[i].empty()) ctx.unsupported("training outputs (mean, var) are not supported");
  if (x.shape.size() < 2) ctx.fail("input must have rank 2 or more");
  for (size_t i = 1; i <= 4; ++i) {
    const auto& p = ctx.input(i);
    if (p.shape != Shape{x.shape[1]})
      ctx.fail("parameter " + std::to_string(i) + " has shape " + shape_str(p.shape) + ", expected [" +
               std::to_string(x.shape[1]) + "]");
  }
  // Omitted optional outputs ("") still get a type; nothing is written to them.
  ctx.out.assign(ctx.node.outputs.size(), TensorType{DType::f32, {x.shape[1]}});
  ctx.out[0] = x;
}

void run_BatchNormalization(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const int64_t channels = x.dim(1);
  const int64_t inner = dims_product(x.shape(), 2, x.rank());
  const float* scale = ctx.in[1]->data<float>();
  const float* bias = ctx.in[2]->data<float>();
  const float* mean = ctx.in[3]->data<float>();
  const float* var = ctx.in[4]->data<float>();
  const float* px = x.data<float>();
  float* py = ctx.out[0]->data<float>();
  ctx.pool.parallel_for(x.dim(0) * channels, [&](int64_t p) {
    int64_t c = p % channels;
    // Same association as the ONNX definition: (x - mean) / sqrt(var + eps) * scale + bias.
    float inv = 1.0f / std::sqrt(var[c] + eps);
    float a = scale[c] * inv;
    float b = bias[c] - mean[c] * a;
    const float* in = px + p * inner;
    float* out = py + p * inner;
    for (int64_t i = 0; i < inner; ++i) out[i] = in[i] * a + b;
  });
}

void infer_Softmax(InferContext& ctx) {
  const auto& x = ctx.input(0);
  if (x.dtype != DType::f32) ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  int64_t rank = static_cast<int64_t>(x.shape.size());
  normalize_axis(ctx, ctx.node.attr_int("axis", ctx.opset >= 13 ? -1 : 1), std::max<int64_t>(rank, 1));
  ctx.out = {x};
}

void run_Softmax(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const int64_t rank = static_cast<int64_t>(x.rank());
  int64_t axis = normalize_axis(ctx.node, ctx.node.attr_int("axis", ctx.opset >= 13 ? -1 : 1), std::max<int64_t>(rank, 1));
  // Opset 13 normalizes along one axis; earlier opsets flatten to 2-D at `axis` and normalize
  // over everything after it.
  int64_t outer = dims_product(x.shape(), 0, static_cast<size_t>(axis));
  int64_t len, inner;
  if (ctx.opset >= 13) {
    len = rank ? x.dim(static_cast<size_t>(axis)) : 1;
    inner = dims_product(x.shape(), static_cast<size_t>(axis) + 1, x.rank());
  } else {
    len = dims_product(x.shape(), static_cast<size_t>(axis), x.rank());
    inner = 1;
  }
  const float* px = x.data<float>();
  float* py = ctx.out[0]->data<float>();
  ctx.pool.parallel_for(outer * inner, [&](int64_t t) {
    int64_t o = t / inner, i = t % inner;
    const float* in = px + o * len * inner + i;
    float* out = py + o * len * inner + i;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t k = 0; k < len; ++k) m = std::max(m, in[k * inner]);
    double sum = 0;
    for (int64_t k = 0; k < len; ++k) {
      float e = std::exp(in[k * inner] - m);
      out[k * inner] = e;
      sum += e;
    }
    float inv = static_cast<float>(1.0 / sum);
    for (int64_t k = 0; k < len; ++k) out[k * inner] *= inv;
  });
}

}  // namespace mc
