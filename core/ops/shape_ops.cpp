// Operators that only change shapes or produce constants: Reshape, Flatten, Squeeze, Unsqueeze,
// Shape, Constant. Their outputs share no storage with inputs; the copy is a memcpy.
#include <algorithm>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

void copy_input(RunContext& ctx) {
  copy_elements(ctx.out[0]->raw(), ctx.in[0]->raw(), ctx.in[0]->numel(), dtype_size(ctx.in[0]->dtype()));
}

// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13 on.
std::vector<int64_t> axes_operand(const InferContext& ctx) {
  if (ctx.opset >= 13) return ctx.has_input(1) ? ctx.constant_input(1, "axes").to_int64_vector() : std::vector<int64_t>{};
  return ctx.node.attr_ints("axes");
}

}  // namespace

void infer_Reshape(InferContext& ctx) {
  const auto& x = ctx.input(0);
  std::vector<int64_t> target = ctx.opset >= 5 ? ctx.constant_input(1, "shape").to_int64_vector() : ctx.node.attr_ints("shape");
  bool allow_zero = ctx.opset >= 14 && ctx.node.attr_int("allowzero", 0) != 0;
  int64_t total = shape_numel(x.shape);
  int64_t known = 1, infer_at = -1;
  Shape out(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allow_zero) {
      if (i >= x.shape.size()) ctx.fail("shape entry 0 at position " + std::to_string(i) + " has no input dim to copy");
      d = x.shape[i];
    }
    if (d == -1) {
      if (infer_at >= 0) ctx.fail("shape has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < 0) ctx.fail("invalid shape entry " + std::to_string(d));
    out[i] = d;
    if (d != 0 && known > max_tensor_elements / d) ctx.fail("target shape is too large");
    known *= d;
  }
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      ctx.fail("cannot reshape " + shape_str(x.shape) + " to " + shape_str(target));
    out[static_cast<size_t>(infer_at)] = total / known;
  } else if (known != total) {
    ctx.fail("cannot reshape " + shape_str(x.shape) + " (" + std::to_string(total) + " elements) to " +
             shape_str(target));
  }
  ctx.out = {TensorType{x.dtype, out}};
}
void run_Reshape(RunContext& ctx) { copy_input(ctx); }

void infer_Flatten(InferContext& ctx) {
  const auto& x = ctx.input(0);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 1), rank, true);
  ctx.out = {TensorType{x.dtype, {dims_product(x.shape, 0, static_cast<size_t>(axis)),
                                  dims_product(x.shape, static_cast<size_t>(axis), x.shape.size())}}};
}
void run_Flatten(RunContext& ctx) { copy_input(ctx); }

void infer_Squeeze(InferContext& ctx) {
  const auto& x = ctx.input(0);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  auto axes = axes_operand(ctx);
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) drop[static_cast<size_t>(i)] = x.shape[static_cast<size_t>(i)] == 1;
  }
  for (int64_t a : axes) {
    int64_t ax = normalize_axis(ctx, a, rank);
    if (x.shape[static_cast<size_t>(ax)] != 1)
      ctx.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.shape[static_cast<size_t>(ax)]));
    drop[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(x.shape[static_cast<size_t>(i)]);
  ctx.out = {TensorType{x.dtype, out}};
}
void run_Squeeze(RunContext& ctx) { copy_input(ctx); }

void infer_Unsqueeze(InferContext& ctx) {
  const auto& x = ctx.input(0);
  auto axes = axes_operand(ctx);
  if (axes.empty()) ctx.fail("axes are required");
  int64_t out_rank = static_cast<int64_t>(x.shape.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    int64_t ax = normalize_axis(ctx, a, out_rank);
    if (inserted[static_cast<size_t>(ax)]) ctx.fail("repeated axis " + std::to_string(a));
    inserted[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[static_cast<size_t>(i)] ? 1 : x.shape[k++]);
  ctx.out = {TensorType{x.dtype, out}};
}
void run_Unsqueeze(RunContext& ctx) { copy_input(ctx); }

std::pair<int64_t, int64_t> shape_op_range(const Node& node, int64_t opset, int64_t rank) {
  int64_t start = 0, end = rank;
  if (opset >= 15) {
    start = node.attr_int("start", 0);
    end = node.attr_int("end", rank);
  }
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  return {start, end};
}

void infer_Shape(InferContext& ctx) {
  auto [start, end] = shape_op_range(ctx.node, ctx.opset, static_cast<int64_t>(ctx.input(0).shape.size()));
  ctx.out = {TensorType{DType::i64, {end - start}}};
}
void run_Shape(RunContext& ctx) {
  const Shape& s = ctx.in[0]->shape();
  auto [start, end] = shape_op_range(ctx.node, ctx.opset, static_cast<int64_t>(s.size()));
  int64_t* p = ctx.out[0]->data<int64_t>();
  for (int64_t i = start; i < end; ++i) p[i - start] = s[static_cast<size_t>(i)];
}

// Constant's value comes from exactly one of its value attributes.
static Tensor constant_value(const Node& node) {
  int present = 0;
  for (const char* a : {"value", "value_float", "value_floats", "value_int", "value_ints", "sparse_value",
                        "value_string", "value_strings"})
    present += node.has(a);
  if (present != 1) fail_input(node.describe() + ": exactly one value attribute is required");
  if (node.has("value")) {
    const Attribute& a = node.attrs.at("value");
    if (a.type != AttrType::tensor) fail_input(node.describe() + ": attribute 'value' should be a tensor");
    return a.t;
  }
  if (node.has("value_float")) return Tensor::scalar_f32(node.attr_float("value_float", 0));
  if (node.has("value_floats")) {
    const auto& v = node.attrs.at("value_floats").floats;
    return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (node.has("value_int")) return Tensor::from_vector<int64_t>({}, {node.attr_int("value_int", 0)});
  if (node.has("value_ints")) {
    auto v = node.attr_ints("value_ints");
    return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  fail_unsupported(node.describe() + ": sparse and string constants are not supported");
}

void infer_Constant(InferContext& ctx) {
  Tensor t = constant_value(ctx.node);
  ctx.out = {TensorType{t.dtype(), t.shape()}};
}
void run_Constant(RunContext& ctx) {
  Tensor t = constant_value(ctx.node);
  copy_elements(ctx.out[0]->raw(), t.raw(), t.numel(), dtype_size(t.dtype()));
}

}  // namespace mc
