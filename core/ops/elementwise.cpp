// Element-wise operators: the broadcasting binary arithmetic ops, the variadic Min, Max, Sum and
// Mean, the unary activations (Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Tanh, Exp,
// Erf, Softplus, Elu, Selu), PRelu, and the float arithmetic exports use around them (Sqrt,
// Reciprocal, Neg, Abs). Activations compute float32 only; other element types are reported
// unsupported.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/ops/activation.h"
#include "core/ops/kernel_util.h"

namespace mc {

namespace {

// Before opset 7 the binary ops broadcast only with broadcast=1, and only B to A: B is a scalar or
// matches a contiguous run of A's dims starting at `axis` (suffix matching when `axis` is absent).
// The shape B has in numpy terms: its dims placed at `axis`, padded with 1s on both sides.
Shape legacy_broadcast_shape(const Node& node, const Shape& a, const Shape& b) {
  if (shape_numel(b) == 1) return b;
  const int64_t rank_a = static_cast<int64_t>(a.size()), rank_b = static_cast<int64_t>(b.size());
  int64_t axis = node.attr_int("axis", rank_a - rank_b);
  if (axis < 0) axis += rank_a;
  if (axis < 0 || axis + rank_b > rank_a || !std::equal(b.begin(), b.end(), a.begin() + axis))
    fail_input(node.describe() + ": B of shape " + shape_str(b) + " does not match A of shape " + shape_str(a) +
               " at axis " + std::to_string(axis) + " (legacy broadcast)");
  Shape out(static_cast<size_t>(rank_a), 1);
  std::copy(b.begin(), b.end(), out.begin() + axis);
  return out;
}

// B's shape as the broadcasting kernel should see it.
Shape effective_b_shape(const Node& node, int64_t opset, const Shape& a, const Shape& b) {
  if (opset >= 7) return b;
  if (node.attr_int("broadcast", 0) == 0) {
    if (a != b)
      fail_input(node.describe() + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                 " differ and broadcast is not set (opset " + std::to_string(opset) + ")");
    return b;
  }
  return legacy_broadcast_shape(node, a, b);
}

// The element types the arithmetic ops compute on: float32 and the integers mcompress reads. Integer
// results wrap like numpy's (the sum, difference or product modulo 2^bits, as a C++ conversion of the
// promoted result does); integer division truncates toward zero and by zero is an input error.
bool arithmetic_type(DType t) {
  return t == DType::f32 || t == DType::i64 || t == DType::i32 || t == DType::u8 || t == DType::i8;
}

void infer_binary(InferContext& ctx) {
  const auto& a = ctx.input(0);
  const auto& b = ctx.input(1);
  if (a.dtype != b.dtype)
    ctx.fail(std::string("input types differ: ") + dtype_name(a.dtype) + " and " + dtype_name(b.dtype));
  if (!arithmetic_type(a.dtype))
    ctx.unsupported(std::string("element type ") + dtype_name(a.dtype) + " is not supported");
  Shape b_shape = effective_b_shape(ctx.node, ctx.opset, a.shape, b.shape);
  ctx.out = {TensorType{a.dtype, broadcast_shapes(ctx, a.shape, b_shape)}};
}

struct AddOp { template <class T> T operator()(T x, T y) const { return static_cast<T>(x + y); } };
struct SubOp { template <class T> T operator()(T x, T y) const { return static_cast<T>(x - y); } };
struct MulOp { template <class T> T operator()(T x, T y) const { return static_cast<T>(x * y); } };
// Min and Max propagate NaN from either side, like numpy's minimum/maximum.
struct MinOp {
  template <class T> T operator()(T x, T y) const { return (y < x || y != y) ? y : x; }
};
struct MaxOp {
  template <class T> T operator()(T x, T y) const { return (y > x || y != y) ? y : x; }
};
struct DivOp {
  template <class T> T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) {
      if (y == 0) fail_input("integer division by zero");
    }
    return static_cast<T>(x / y);
  }
};

// General broadcasting: walk the output in row-major order with per-input strides (0 on
// broadcast dims). The innermost dimension is a tight loop.
template <class T, class Op>
void broadcast_apply(const Tensor& a, const Tensor& b, const Shape& b_shape, Tensor& out, ThreadPool& pool) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  Op op;
  const int64_t n = out.numel();
  if (a.shape() == b_shape) {
    for_each_block(n, pool, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = op(pa[i], pb[i]);
    });
    return;
  }
  if (b.numel() == 1) {
    T y = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = op(pa[i], y);
    return;
  }
  const Shape& os = out.shape();
  size_t rank = os.size();
  if (rank == 0) {
    po[0] = op(pa[0], pb[0]);
    return;
  }
  auto strides_for = [&](const Shape& s) {
    std::vector<int64_t> st(rank, 0);
    auto rm = row_major_strides(s);
    for (size_t i = 0; i < s.size(); ++i) {
      size_t o = i + (rank - s.size());
      st[o] = s[i] == 1 ? 0 : rm[i];
    }
    return st;
  };
  auto sa = strides_for(a.shape());
  auto sb = strides_for(b_shape);
  int64_t inner = os[rank - 1];
  int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  int64_t outer = inner == 0 ? 0 : n / inner;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t r = 0; r < outer; ++r) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d + 1 < rank; ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    T* dst = po + r * inner;
    for (int64_t i = 0; i < inner; ++i) dst[i] = op(pa[oa + i * ia], pb[ob + i * ib]);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < os[d]) break;
      idx[d] = 0;
    }
  }
}

template <class Op> void run_binary(RunContext& ctx) {
  const Tensor& a = *ctx.in[0];
  const Tensor& b = *ctx.in[1];
  Tensor& out = *ctx.out[0];
  const Shape b_shape = effective_b_shape(ctx.node, ctx.opset, a.shape(), b.shape());
  switch (a.dtype()) {
    case DType::f32: broadcast_apply<float, Op>(a, b, b_shape, out, ctx.pool); break;
    case DType::i64: broadcast_apply<int64_t, Op>(a, b, b_shape, out, ctx.pool); break;
    case DType::i32: broadcast_apply<int32_t, Op>(a, b, b_shape, out, ctx.pool); break;
    case DType::u8: broadcast_apply<uint8_t, Op>(a, b, b_shape, out, ctx.pool); break;
    case DType::i8: broadcast_apply<int8_t, Op>(a, b, b_shape, out, ctx.pool); break;
    default: fail_internal(ctx.node.describe() + ": unexpected type");
  }
}

// Min and Max are variadic (one or more inputs). Before opset 8 all inputs have the same shape;
// from opset 8 on they broadcast multidirectionally, like Add.
void infer_variadic(InferContext& ctx) {
  if (ctx.node.input_count() == 0) ctx.fail("needs at least one input");
  const TensorType& first = ctx.input(0);
  if (!arithmetic_type(first.dtype))
    ctx.unsupported(std::string("element type ") + dtype_name(first.dtype) + " is not supported");
  Shape shape = first.shape;
  for (size_t i = 1; i < ctx.node.input_count(); ++i) {
    const TensorType& t = ctx.input(i);
    if (t.dtype != first.dtype)
      ctx.fail(std::string("input types differ: ") + dtype_name(first.dtype) + " and " + dtype_name(t.dtype));
    if (ctx.opset < 8 && t.shape != first.shape)
      ctx.fail("shapes " + shape_str(first.shape) + " and " + shape_str(t.shape) + " differ (no broadcasting before opset 8)");
    shape = broadcast_shapes(ctx, shape, t.shape);
  }
  ctx.out = {TensorType{first.dtype, shape}};
}

// Numpy broadcast of two shapes already validated by infer_variadic.
Shape broadcast_valid(const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Folds the inputs left to right: two inputs go straight into the output; more use a running
// partial result shaped by the broadcast of the inputs seen so far.
template <class T, class Op> void variadic_apply(RunContext& ctx) {
  const size_t n = ctx.node.input_count();
  Tensor& out = *ctx.out[0];
  if (n == 1) {
    copy_elements(out.raw(), ctx.in[0]->raw(), out.numel(), sizeof(T));
    return;
  }
  Tensor partial = *ctx.in[0];
  for (size_t i = 1; i < n; ++i) {
    const Tensor& b = *ctx.in[i];
    if (i + 1 == n) {
      broadcast_apply<T, Op>(partial, b, b.shape(), out, ctx.pool);
    } else {
      Tensor next(partial.dtype(), broadcast_valid(partial.shape(), b.shape()));
      broadcast_apply<T, Op>(partial, b, b.shape(), next, ctx.pool);
      partial = std::move(next);
    }
  }
}

template <class Op> void run_variadic(RunContext& ctx) {
  switch (ctx.in[0]->dtype()) {
    case DType::f32: variadic_apply<float, Op>(ctx); break;
    case DType::i64: variadic_apply<int64_t, Op>(ctx); break;
    case DType::i32: variadic_apply<int32_t, Op>(ctx); break;
    case DType::u8: variadic_apply<uint8_t, Op>(ctx); break;
    case DType::i8: variadic_apply<int8_t, Op>(ctx); break;
    default: fail_internal(ctx.node.describe() + ": unexpected type");
  }
}

void infer_same_as_input(InferContext& ctx) {
  ctx.out.assign(ctx.node.outputs.size(), ctx.input(0));
}

void infer_float_unary(InferContext& ctx) {
  if (ctx.input(0).dtype != DType::f32)
    ctx.unsupported(std::string("element type ") + dtype_name(ctx.input(0).dtype) + " is not supported");
  infer_same_as_input(ctx);
}

// y[i] = f(x[i]) over float32 tensors, in fixed blocks (results never depend on the thread count).
template <class F> void map_floats(const Tensor& x, Tensor& y, ThreadPool& pool, const F& f) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for_each_block(x.numel(), pool, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) py[i] = f(px[i]);
  });
}

void clip_into(const Tensor& x, Tensor& y, float lo, float hi, ThreadPool& pool) {
  map_floats(x, y, pool, [lo, hi](float v) { return clip(v, lo, hi); });
}

// PRelu's slope as the broadcasting kernel should see it (unidirectional: the output has X's shape).
// From opset 7 the slope broadcasts to X numpy-style. PRelu-6 defines only a slope "shared across
// channels" (one value) or one per channel, as the Caffe2 and PyTorch exporters of that time wrote it
// (a 1-D slope as long as X's dim 1); a slope of X's own shape is elementwise in every reading.
Shape prelu_slope_shape(const Node& node, int64_t opset, const Shape& x, const Shape& slope) {
  if (opset >= 7 || shape_numel(slope) == 1 || slope == x) return slope;
  if (slope.size() == 1 && x.size() >= 2 && slope[0] == x[1]) {
    Shape per_channel(x.size() - 1, 1);
    per_channel[0] = slope[0];
    return per_channel;
  }
  fail_unsupported(node.describe() + ": a slope of shape " + shape_str(slope) + " for X of shape " + shape_str(x) +
                   " is not supported before opset 7 (only one value, one per channel of dim 1, or X's shape)");
}

struct PReluOp {
  float operator()(float x, float slope) const { return x < 0.0f ? slope * x : x; }
};

}  // namespace

void infer_Add(InferContext& ctx) { infer_binary(ctx); }
void infer_Sub(InferContext& ctx) { infer_binary(ctx); }
void infer_Mul(InferContext& ctx) { infer_binary(ctx); }
void infer_Div(InferContext& ctx) { infer_binary(ctx); }
void run_Add(RunContext& ctx) { run_binary<AddOp>(ctx); }
void run_Sub(RunContext& ctx) { run_binary<SubOp>(ctx); }
void run_Mul(RunContext& ctx) { run_binary<MulOp>(ctx); }
void run_Div(RunContext& ctx) { run_binary<DivOp>(ctx); }
void infer_Min(InferContext& ctx) { infer_variadic(ctx); }
void infer_Max(InferContext& ctx) { infer_variadic(ctx); }
void run_Min(RunContext& ctx) { run_variadic<MinOp>(ctx); }
void run_Max(RunContext& ctx) { run_variadic<MaxOp>(ctx); }
// Sum and Mean (variadic, like Min and Max; Caffe2-era ResNet and ShuffleNet exports write residual
// additions as Sum): the inputs added left to right; Mean divides that sum by the input count
// (float32 only, as ONNX defines it).
void infer_Sum(InferContext& ctx) { infer_variadic(ctx); }
void run_Sum(RunContext& ctx) { run_variadic<AddOp>(ctx); }
void infer_Mean(InferContext& ctx) {
  infer_variadic(ctx);
  if (ctx.input(0).dtype != DType::f32)
    ctx.unsupported(std::string("element type ") + dtype_name(ctx.input(0).dtype) + " is not supported");
}
void run_Mean(RunContext& ctx) {
  run_variadic<AddOp>(ctx);
  const float n = static_cast<float>(ctx.node.input_count());
  float* y = ctx.out[0]->data<float>();
  for (int64_t i = 0; i < ctx.out[0]->numel(); ++i) y[i] /= n;
}

void infer_Relu(InferContext& ctx) { infer_float_unary(ctx); }
void run_Relu(RunContext& ctx) {
  clip_into(*ctx.in[0], *ctx.out[0], 0.0f, std::numeric_limits<float>::infinity(), ctx.pool);
}

// Clip bounds: attributes before opset 11, optional scalar inputs from 11 on.
static std::pair<float, float> clip_bounds(const Node& node, int64_t opset, const Tensor* lo, const Tensor* hi) {
  float min_v = -std::numeric_limits<float>::infinity();
  float max_v = std::numeric_limits<float>::infinity();
  if (opset < 11) {
    // Clip-6's defaults are the float range, not infinities: clip(+-inf) is +-FLT_MAX there.
    min_v = node.attr_float("min", std::numeric_limits<float>::lowest());
    max_v = node.attr_float("max", std::numeric_limits<float>::max());
  } else {
    if (lo) min_v = lo->to_float_vector().at(0);
    if (hi) max_v = hi->to_float_vector().at(0);
  }
  return {min_v, max_v};
}

std::optional<FusedActivation> clip_as_fusable(const Node& node, int64_t opset, const Graph& graph) {
  if (node.op == "Relu") return FusedActivation{0.0f, std::numeric_limits<float>::infinity()};
  if (node.op != "Clip") return std::nullopt;
  const Tensor* lo = node.has_input(1) ? graph.initializer(node.inputs[1]) : nullptr;
  const Tensor* hi = node.has_input(2) ? graph.initializer(node.inputs[2]) : nullptr;
  if ((node.has_input(1) && !lo) || (node.has_input(2) && !hi)) return std::nullopt;
  if ((lo && lo->numel() != 1) || (hi && hi->numel() != 1)) return std::nullopt;
  auto [a, b] = clip_bounds(node, opset, lo, hi);
  return FusedActivation{a, b};
}

std::optional<FusedActivation> activation_as_fusable(const Node& node, int64_t opset, const Graph& graph) {
  using Kind = FusedActivation::Kind;
  FusedActivation f;
  if (node.op == "HardSigmoid") {
    f.kind = Kind::hard_sigmoid;
    f.alpha = node.attr_float("alpha", 0.2f);
    f.beta = node.attr_float("beta", 0.5f);
  } else if (node.op == "HardSwish") {
    f.kind = Kind::hard_swish;
  } else if (node.op == "LeakyRelu") {
    f.kind = Kind::leaky_relu;
    f.alpha = node.attr_float("alpha", 0.01f);
  } else if (node.op == "Sigmoid") {
    f.kind = Kind::sigmoid;
  } else if (node.op == "Tanh") {
    f.kind = Kind::tanh;
  } else {
    return clip_as_fusable(node, opset, graph);
  }
  return f;
}

namespace {
// Clip on integers (opset 12 on): bounds of the data's type, the type's range where absent.
template <class T> void clip_integers(RunContext& ctx) {
  const T lo = ctx.node.has_input(1) ? ctx.in[1]->data<T>()[0] : std::numeric_limits<T>::lowest();
  const T hi = ctx.node.has_input(2) ? ctx.in[2]->data<T>()[0] : std::numeric_limits<T>::max();
  const T* px = ctx.in[0]->data<T>();
  T* py = ctx.out[0]->data<T>();
  for (int64_t i = 0; i < ctx.in[0]->numel(); ++i) py[i] = std::min(std::max(px[i], lo), hi);
}
}  // namespace

void infer_Clip(InferContext& ctx) {
  const DType t = ctx.input(0).dtype;
  const bool integer = t == DType::u8 || t == DType::i8 || t == DType::i32 || t == DType::i64;
  if (integer && ctx.opset >= 12) infer_same_as_input(ctx);
  else infer_float_unary(ctx);
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    if (shape_numel(ctx.in[i].shape) != 1) ctx.fail("min and max must be scalars");
    if (ctx.in[i].dtype != t)
      ctx.fail(std::string(i == 1 ? "min" : "max") + " is " + dtype_name(ctx.in[i].dtype) + ", the data " + dtype_name(t));
  }
}
void run_Clip(RunContext& ctx) {
  switch (ctx.in[0]->dtype()) {
    case DType::u8: return clip_integers<uint8_t>(ctx);
    case DType::i8: return clip_integers<int8_t>(ctx);
    case DType::i32: return clip_integers<int32_t>(ctx);
    case DType::i64: return clip_integers<int64_t>(ctx);
    default: break;
  }
  auto [lo, hi] = clip_bounds(ctx.node, ctx.opset, ctx.node.has_input(1) ? ctx.in[1] : nullptr,
                              ctx.node.has_input(2) ? ctx.in[2] : nullptr);
  clip_into(*ctx.in[0], *ctx.out[0], lo, hi, ctx.pool);
}

void infer_Sigmoid(InferContext& ctx) { infer_float_unary(ctx); }
void run_Sigmoid(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return sigmoid(x); });
}

void infer_Tanh(InferContext& ctx) { infer_float_unary(ctx); }
void run_Tanh(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return std::tanh(x); });
}

void infer_Exp(InferContext& ctx) { infer_float_unary(ctx); }
void run_Exp(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return std::exp(x); });
}

void infer_Sqrt(InferContext& ctx) { infer_float_unary(ctx); }
void run_Sqrt(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return std::sqrt(x); });  // NaN below 0
}

void infer_Reciprocal(InferContext& ctx) { infer_float_unary(ctx); }
void run_Reciprocal(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return 1.0f / x; });
}

void infer_Neg(InferContext& ctx) { infer_float_unary(ctx); }
void run_Neg(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return -x; });
}

void infer_Abs(InferContext& ctx) { infer_float_unary(ctx); }
void run_Abs(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return std::fabs(x); });
}

// Softplus ln(1 + e^x), as x + ln(1 + e^-x) for x > 0 so that large inputs do not overflow.
void infer_Softplus(InferContext& ctx) { infer_float_unary(ctx); }
void run_Softplus(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool,
             [](float x) { return x > 0.0f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
}

// Elu: alpha (e^x - 1) below 0, x elsewhere; alpha 1 by default.
void infer_Elu(InferContext& ctx) { infer_float_unary(ctx); }
void run_Elu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [alpha](float x) { return x < 0.0f ? alpha * std::expm1(x) : x; });
}

// Selu: gamma (alpha e^x - alpha) at or below 0, gamma x above; ONNX's default alpha and gamma
// (those of Klambauer et al., as float32).
void infer_Selu(InferContext& ctx) { infer_float_unary(ctx); }
void run_Selu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool,
             [alpha, gamma](float x) { return x <= 0.0f ? gamma * (alpha * std::exp(x) - alpha) : gamma * x; });
}

void infer_Erf(InferContext& ctx) { infer_float_unary(ctx); }
void run_Erf(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return std::erf(x); });
}

// HardSigmoid: alpha 0.2 and beta 0.5 by default (opset 6 on; the same in every opset).
void infer_HardSigmoid(InferContext& ctx) { infer_float_unary(ctx); }
void run_HardSigmoid(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f), beta = ctx.node.attr_float("beta", 0.5f);
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [alpha, beta](float x) { return hard_sigmoid(x, alpha, beta); });
}

// HardSwish (opset 14): x * HardSigmoid(x) with alpha 1/6 and beta 0.5, the op's function body.
void infer_HardSwish(InferContext& ctx) { infer_float_unary(ctx); }
void run_HardSwish(RunContext& ctx) {
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [](float x) { return hard_swish(x); });
}

// LeakyRelu: alpha 0.01 by default.
void infer_LeakyRelu(InferContext& ctx) { infer_float_unary(ctx); }
void run_LeakyRelu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  map_floats(*ctx.in[0], *ctx.out[0], ctx.pool, [alpha](float x) { return leaky_relu(x, alpha); });
}

// PRelu: x where x >= 0, slope * x elsewhere; the slope broadcasts to X (prelu_slope_shape).
void infer_PRelu(InferContext& ctx) {
  const TensorType& x = ctx.input(0);
  const TensorType& slope = ctx.input(1);
  if (x.dtype != DType::f32)
    ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  if (slope.dtype != x.dtype)
    ctx.fail(std::string("slope is ") + dtype_name(slope.dtype) + ", X is " + dtype_name(x.dtype));
  const Shape slope_shape = prelu_slope_shape(ctx.node, ctx.opset, x.shape, slope.shape);
  if (broadcast_shapes(ctx, x.shape, slope_shape) != x.shape)
    ctx.fail("slope of shape " + shape_str(slope.shape) + " does not broadcast to X of shape " + shape_str(x.shape));
  ctx.out = {x};
}
void run_PRelu(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const Shape slope_shape = prelu_slope_shape(ctx.node, ctx.opset, x.shape(), ctx.in[1]->shape());
  broadcast_apply<float, PReluOp>(x, *ctx.in[1], slope_shape, *ctx.out[0], ctx.pool);
}

void infer_Identity(InferContext& ctx) { infer_same_as_input(ctx); }
void run_Identity(RunContext& ctx) {
  copy_elements(ctx.out[0]->raw(), ctx.in[0]->raw(), ctx.in[0]->numel(), dtype_size(ctx.in[0]->dtype()));
}

// Dropout in inference: identity; the optional mask output is all true (all kept). The mask is
// bool from opset 10 on; Dropout-7 types it like the data, so there it is all ones.
void infer_Dropout(InferContext& ctx) {
  if (ctx.node.attr_int("training_mode", 0) != 0) ctx.unsupported("training_mode=1 is not supported");
  if (ctx.has_input(2)) {
    const Tensor* training = ctx.value[2];
    if (!training) ctx.unsupported("a non-constant training_mode input is not supported");
    if (training->to_int64_vector().at(0) != 0) ctx.unsupported("training_mode=true is not supported");
  }
  ctx.out.clear();
  ctx.out.push_back(ctx.input(0));
  if (ctx.node.outputs.size() > 1) {
    DType mask = ctx.opset >= 10 ? DType::boolean : ctx.input(0).dtype;
    if (mask != DType::boolean && mask != DType::f32)
      ctx.unsupported(std::string("a mask of element type ") + dtype_name(mask) + " is not supported");
    ctx.out.push_back(TensorType{mask, ctx.input(0).shape});
  }
}
void run_Dropout(RunContext& ctx) {
  copy_elements(ctx.out[0]->raw(), ctx.in[0]->raw(), ctx.in[0]->numel(), dtype_size(ctx.in[0]->dtype()));
  if (ctx.out.size() < 2 || !ctx.out[1]) return;
  Tensor& mask = *ctx.out[1];
  if (mask.dtype() == DType::f32) std::fill_n(mask.data<float>(), mask.numel(), 1.0f);
  else std::memset(mask.raw(), 1, mask.byte_size());
}

}  // namespace mc
