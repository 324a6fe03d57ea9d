// The Reduce ops over float32: ReduceMean, ReduceSum, ReduceMax, ReduceMin (ONNX operator changelog):
//   - axes is an attribute up to the op's input form, then an optional input (a constant here): from
//     opset 13 for ReduceSum, from opset 18 for the others;
//   - in the input form, no axes (input omitted or empty) reduces every axis, unless
//     noop_with_empty_axes=1, which makes the op an identity;
//   - keepdims (default 1) keeps reduced dims as 1; negative axes count from the end (opset 11 on).
// Sums and means accumulate in double in input order and round once; Max and Min propagate NaN. Over
// an empty set a sum is 0, a mean NaN (ONNX leaves it undefined), a max -inf and a min +inf (ONNX's
// reference). Every output is computed by one task in a fixed order: results never depend on the
// thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

enum class Reduction { sum, mean, max, min };

// The first opset in which `op` takes its axes as an input.
int64_t axes_input_since(const Node& node) { return node.op == "ReduceSum" ? 13 : 18; }

struct ReduceSpec {
  std::vector<bool> reduced;  // per input dim
  bool noop = false;          // noop_with_empty_axes and no axes: the output is the input
  bool keepdims = true;
};

// `get_axes` returns the axes input (input 1), called only when the node has one.
template <class GetAxes> ReduceSpec reduce_spec(const Node& node, int64_t opset, int64_t rank, GetAxes get_axes) {
  auto fail = [&](const std::string& what) { fail_input(node.describe() + ": " + what); };
  const int64_t since = axes_input_since(node);
  ReduceSpec spec;
  spec.keepdims = node.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  if (opset >= since) {
    if (node.has("axes"))
      fail("axes is an input from opset " + std::to_string(since) + " on, not an attribute (model opset " +
           std::to_string(opset) + ")");
    if (node.has_input(1)) axes = get_axes();
    if (axes.empty() && node.attr_int("noop_with_empty_axes", 0) != 0) {
      spec.noop = true;
      spec.reduced.assign(static_cast<size_t>(rank), false);
      return spec;
    }
  } else {
    if (node.input_count() > 1)
      fail("axes is an attribute before opset " + std::to_string(since) + ", not an input (model opset " +
           std::to_string(opset) + ")");
    axes = node.attr_ints("axes");
  }
  spec.reduced.assign(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    const auto ax = static_cast<size_t>(normalize_axis(node, a, rank));
    if (spec.reduced[ax]) fail("repeated axis " + std::to_string(a));
    spec.reduced[ax] = true;
  }
  return spec;
}

Shape reduced_shape(const Shape& x, const ReduceSpec& spec) {
  if (spec.noop) return x;
  Shape out;
  for (size_t d = 0; d < x.size(); ++d) {
    if (!spec.reduced[d]) out.push_back(x[d]);
    else if (spec.keepdims) out.push_back(1);
  }
  return out;
}

void infer_reduce(InferContext& ctx) {
  const TensorType& x = ctx.input(0);
  if (x.dtype != DType::f32) ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  const ReduceSpec spec = reduce_spec(ctx.node, ctx.opset, static_cast<int64_t>(x.shape.size()), [&] {
    const Tensor& axes = ctx.constant_input(1, "axes");
    if (axes.dtype() != DType::i64) ctx.fail(std::string("axes must be int64, got ") + dtype_name(axes.dtype()));
    if (axes.rank() > 1) ctx.fail("axes must be 1-D, got shape " + shape_str(axes.shape()));
    return axes.to_int64_vector();
  });
  ctx.out = {TensorType{DType::f32, reduced_shape(x.shape, spec)}};
}

// Running value of one output element.
template <Reduction R> struct Accumulator {
  using Value = std::conditional_t<R == Reduction::sum || R == Reduction::mean, double, float>;
  static Value init() {
    if constexpr (R == Reduction::max) return -std::numeric_limits<float>::infinity();
    else if constexpr (R == Reduction::min) return std::numeric_limits<float>::infinity();
    else return 0.0;
  }
  static void add(Value& acc, float v) {
    if constexpr (R == Reduction::max) acc = (v > acc || v != v) ? v : acc;
    else if constexpr (R == Reduction::min) acc = (v < acc || v != v) ? v : acc;
    else acc += static_cast<double>(v);
  }
  static float finish(Value acc, int64_t count) {
    if constexpr (R == Reduction::mean) return static_cast<float>(acc / static_cast<double>(count));
    else return static_cast<float>(acc);
  }
};

template <Reduction R> void reduce(const Tensor& x, const ReduceSpec& spec, Tensor& y, ThreadPool& pool) {
  using Acc = Accumulator<R>;
  const Shape& s = x.shape();
  const size_t rank = s.size();
  const float* px = x.data<float>();
  float* py = y.data<float>();
  int64_t count = 1;  // elements per output
  for (size_t d = 0; d < rank; ++d)
    if (spec.reduced[d]) count *= s[d];
  // The reduced axes are the trailing ones: each output is one contiguous row.
  size_t first = rank;
  while (first > 0 && spec.reduced[first - 1]) --first;
  if (std::none_of(spec.reduced.begin(), spec.reduced.begin() + static_cast<std::ptrdiff_t>(first), [](bool r) { return r; })) {
    const int64_t outer = dims_product(s, 0, first);
    pool.parallel_for(outer, [&](int64_t r) {
      const float* row = px + r * count;
      typename Acc::Value acc = Acc::init();
      for (int64_t i = 0; i < count; ++i) Acc::add(acc, row[i]);
      py[r] = Acc::finish(acc, count);
    });
    return;
  }
  // Any other set of axes: one pass over the input in its order, each element into its output's
  // accumulator (an odometer over the input index; reduced dims have output stride 0).
  Shape kept(rank);
  for (size_t d = 0; d < rank; ++d) kept[d] = spec.reduced[d] ? 1 : s[d];
  std::vector<int64_t> out_stride = row_major_strides(kept);
  for (size_t d = 0; d < rank; ++d)
    if (spec.reduced[d]) out_stride[d] = 0;
  const int64_t out_n = shape_numel(kept);
  std::vector<typename Acc::Value> acc(static_cast<size_t>(out_n), Acc::init());
  const int64_t inner = rank ? s[rank - 1] : 1;
  const int64_t inner_stride = rank ? out_stride[rank - 1] : 0;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < x.numel(); i += inner) {
    int64_t o = 0;
    for (size_t d = 0; d + 1 < rank; ++d) o += idx[d] * out_stride[d];
    for (int64_t k = 0; k < inner; ++k) Acc::add(acc[static_cast<size_t>(o + k * inner_stride)], px[i + k]);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
  for (int64_t o = 0; o < out_n; ++o) py[o] = Acc::finish(acc[static_cast<size_t>(o)], count);
}

template <Reduction R> void run_reduce(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const ReduceSpec spec =
      reduce_spec(ctx.node, ctx.opset, static_cast<int64_t>(x.rank()), [&] { return ctx.in[1]->to_int64_vector(); });
  if (spec.noop) {
    copy_elements(ctx.out[0]->raw(), x.raw(), x.numel(), sizeof(float));
    return;
  }
  reduce<R>(x, spec, *ctx.out[0], ctx.pool);
}

}  // namespace

void infer_ReduceMean(InferContext& ctx) { infer_reduce(ctx); }
void infer_ReduceSum(InferContext& ctx) { infer_reduce(ctx); }
void infer_ReduceMax(InferContext& ctx) { infer_reduce(ctx); }
void infer_ReduceMin(InferContext& ctx) { infer_reduce(ctx); }
void run_ReduceMean(RunContext& ctx) { run_reduce<Reduction::mean>(ctx); }
void run_ReduceSum(RunContext& ctx) { run_reduce<Reduction::sum>(ctx); }
void run_ReduceMax(RunContext& ctx) { run_reduce<Reduction::max>(ctx); }
void run_ReduceMin(RunContext& ctx) { run_reduce<Reduction::min>(ctx); }

}  // namespace mc
