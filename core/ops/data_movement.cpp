// Operators that move elements without arithmetic: Transpose, Concat, Split, Slice, Gather, Pad.
// All work on any element type by copying bytes.
#include <algorithm>
#include <cstring>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

std::vector<int64_t> transpose_perm(const Node& node, size_t rank) {
  std::vector<int64_t> perm = node.attr_ints("perm");
  if (perm.empty())
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  return perm;
}

// Split sizes: the `split` attribute before opset 13, the optional `split` input from 13 on, or from
// opset 18 the num_outputs attribute instead: ceil(dim / num_outputs) per part, the last part what
// remains (smaller, possibly empty). Neither given: equal parts, one per output (ONNX Runtime's reading
// at every opset; Split-18's text asks for one of the two).
std::vector<int64_t> split_sizes(const Node& node, int64_t opset, const Tensor* split_input, int64_t dim, size_t parts) {
  std::vector<int64_t> sizes = opset >= 13 ? (split_input ? split_input->to_int64_vector() : std::vector<int64_t>{})
                                           : node.attr_ints("split");
  if (opset >= 18 && node.has("num_outputs")) {
    if (split_input)
      fail_input(node.describe() + ": takes the split input or the num_outputs attribute, not both");
    const int64_t n = node.attr_int("num_outputs", 0);
    if (n < 1 || n != static_cast<int64_t>(parts))
      fail_input(node.describe() + ": num_outputs is " + std::to_string(n) + " but the node has " +
                 std::to_string(parts) + " outputs");
    const int64_t chunk = dim / n + (dim % n != 0);
    const int64_t last = dim - chunk * (n - 1);
    if (last < 0)
      fail_input(node.describe() + ": dimension " + std::to_string(dim) + " does not split into " + std::to_string(n) +
                 " parts of " + std::to_string(chunk) + " (ceil(" + std::to_string(dim) + " / " + std::to_string(n) +
                 ")) with a last part of at least 0");
    sizes.assign(static_cast<size_t>(n - 1), chunk);
    sizes.push_back(last);
    return sizes;
  }
  if (sizes.empty()) {
    if (parts == 0 || dim % static_cast<int64_t>(parts) != 0)
      fail_input(node.describe() + ": dimension " + std::to_string(dim) + " does not split into " +
                 std::to_string(parts) + " equal parts");
    sizes.assign(parts, dim / static_cast<int64_t>(parts));
  }
  return sizes;
}

struct SliceSpec {
  std::vector<int64_t> start, step, count;  // per axis of the input
};

SliceSpec slice_spec(const Node& node, int64_t opset, const Shape& x, std::vector<int64_t> starts, std::vector<int64_t> ends,
                     std::vector<int64_t> axes, std::vector<int64_t> steps) {
  const int64_t rank = static_cast<int64_t>(x.size());
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size())
    fail_input(node.describe() + ": starts, ends, axes and steps must have the same length");
  SliceSpec s;
  s.start.assign(static_cast<size_t>(rank), 0);
  s.step.assign(static_cast<size_t>(rank), 1);
  s.count = x;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t ax = normalize_axis(node, axes[i], rank);
    if (seen[static_cast<size_t>(ax)]) fail_input(node.describe() + ": repeated axis");
    seen[static_cast<size_t>(ax)] = true;
    int64_t dim = x[static_cast<size_t>(ax)], step = steps[i];
    if (step == 0) fail_input(node.describe() + ": step must not be 0");
    // ONNX Slice-13: negative starts/ends count from the end; then starts clamp to [0, dim] for
    // positive steps and [0, dim-1] for negative ones, ends to [0, dim] and [-1, dim-1]. Ends are
    // often INT64_MAX/MIN, so counts are formed without overflowing.
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    int64_t count = 0;
    if (step > 0) {
      b = std::clamp(b, int64_t{0}, dim);
      e = std::clamp(e, int64_t{0}, dim);
      if (e > b) count = (e - b - 1) / step + 1;
    } else if (dim > 0) {
      b = std::clamp(b, int64_t{0}, dim - 1);
      e = std::clamp(e, int64_t{-1}, dim - 1);
      // |step| as unsigned: -INT64_MIN does not fit an int64_t.
      const uint64_t stride = 0 - static_cast<uint64_t>(step);
      if (b > e) count = static_cast<int64_t>(static_cast<uint64_t>(b - e - 1) / stride) + 1;
    } else {
      b = 0;
    }
    s.start[static_cast<size_t>(ax)] = b;
    s.step[static_cast<size_t>(ax)] = step;
    s.count[static_cast<size_t>(ax)] = count;
  }
  (void)opset;
  return s;
}

struct SliceOperands {
  std::vector<int64_t> starts, ends, axes, steps;
};

template <class Get> SliceOperands slice_operands(const Node& node, int64_t opset, Get get) {
  SliceOperands o;
  if (opset < 10) {
    o.starts = node.attr_ints("starts");
    o.ends = node.attr_ints("ends");
    o.axes = node.attr_ints("axes");
    return o;
  }
  o.starts = get(1, "starts");
  o.ends = get(2, "ends");
  if (node.has_input(3)) o.axes = get(3, "axes");
  if (node.has_input(4)) o.steps = get(4, "steps");
  return o;
}

// Copies a strided box from `src` (shape `in`) into contiguous `dst` (shape `count`).
void copy_strided(const std::byte* src, const Shape& in, const std::vector<int64_t>& start,
                  const std::vector<int64_t>& step, const Shape& count, std::byte* dst, size_t elem) {
  const size_t rank = in.size();
  int64_t total = shape_numel(count);
  if (total == 0) return;
  if (rank == 0) {
    std::memcpy(dst, src, elem);
    return;
  }
  auto strides = row_major_strides(in);
  std::vector<int64_t> idx(rank, 0);
  int64_t inner = count[rank - 1];
  for (int64_t done = 0; done < total; done += inner) {
    int64_t off = 0;
    for (size_t d = 0; d + 1 < rank; ++d) off += (start[d] + idx[d] * step[d]) * strides[d];
    const std::byte* row = src + static_cast<size_t>(off + start[rank - 1]) * elem;
    if (step[rank - 1] == 1) {
      std::memcpy(dst, row, static_cast<size_t>(inner) * elem);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(dst + static_cast<size_t>(i) * elem, row + static_cast<size_t>(i * step[rank - 1]) * static_cast<int64_t>(elem), elem);
    }
    dst += static_cast<size_t>(inner) * elem;
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < count[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

void infer_Transpose(InferContext& ctx) {
  const auto& x = ctx.input(0);
  auto perm = transpose_perm(ctx.node, x.shape.size());
  if (perm.size() != x.shape.size()) ctx.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(x.shape.size()));
  std::vector<bool> used(perm.size(), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(perm.size()) || used[static_cast<size_t>(p)]) ctx.fail("perm is not a permutation");
    used[static_cast<size_t>(p)] = true;
    out.push_back(x.shape[static_cast<size_t>(p)]);
  }
  ctx.out = {TensorType{x.dtype, out}};
}

void run_Transpose(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  Tensor& y = *ctx.out[0];
  const size_t rank = x.rank();
  const auto perm = transpose_perm(ctx.node, rank);
  const auto in_strides = row_major_strides(x.shape());
  const size_t elem = dtype_size(x.dtype());
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  if (y.numel() == 0) return;
  // The output's dims with the source stride of each, dims of size 1 dropped and neighbours merged
  // when the source also walks them as one (channel shuffles become copies of whole planes).
  std::vector<int64_t> count, step;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = y.shape()[d], stride = in_strides[static_cast<size_t>(perm[d])];
    if (n == 1) continue;
    if (!count.empty() && step.back() == stride * n) {
      count.back() *= n;
      step.back() = stride;
    } else {
      count.push_back(n);
      step.push_back(stride);
    }
  }
  if (count.empty() || (count.size() == 1 && step[0] == 1)) {  // the same order: one copy
    std::memcpy(dst, src, static_cast<size_t>(y.numel()) * elem);
    return;
  }
  // Rows of the last merged dim, copied whole when the source holds them contiguously.
  const size_t outer_dims = count.size() - 1;
  const int64_t inner = count.back(), inner_step = step.back();
  const int64_t rows = y.numel() / inner;
  const size_t row_bytes = static_cast<size_t>(inner) * elem;
  auto copy_rows = [&](int64_t first, int64_t last) {
    std::vector<int64_t> idx(outer_dims);
    int64_t rest = first;
    for (size_t d = outer_dims; d-- > 0;) {
      idx[d] = rest % count[d];
      rest /= count[d];
    }
    for (int64_t r = first; r < last; ++r) {
      int64_t off = 0;
      for (size_t d = 0; d < outer_dims; ++d) off += idx[d] * step[d];
      std::byte* out = dst + static_cast<size_t>(r) * row_bytes;
      const std::byte* in = src + static_cast<size_t>(off) * elem;
      if (inner_step == 1) {
        std::memcpy(out, in, row_bytes);
      } else if (elem == 4) {
        const auto* s = reinterpret_cast<const float*>(in);
        auto* o = reinterpret_cast<float*>(out);
        for (int64_t i = 0; i < inner; ++i) o[i] = s[i * inner_step];
      } else {
        for (int64_t i = 0; i < inner; ++i) std::memcpy(out + static_cast<size_t>(i) * elem, in + static_cast<size_t>(i * inner_step) * elem, elem);
      }
      for (size_t d = outer_dims; d-- > 0;) {
        if (++idx[d] < count[d]) break;
        idx[d] = 0;
      }
    }
  };
  // Blocks of about 64 KiB per task; copies, so the split does not change any value.
  const int64_t rows_per_task = std::max<int64_t>(1, static_cast<int64_t>((size_t{64} << 10) / std::max<size_t>(row_bytes, 1)));
  const int64_t tasks = (rows + rows_per_task - 1) / rows_per_task;
  ctx.pool.parallel_for(tasks, [&](int64_t t) { copy_rows(t * rows_per_task, std::min(rows, (t + 1) * rows_per_task)); });
}

void infer_Concat(InferContext& ctx) {
  if (!ctx.node.has("axis") && ctx.opset >= 4) ctx.fail("axis attribute is required");
  const auto& first = ctx.input(0);
  int64_t rank = static_cast<int64_t>(first.shape.size());
  int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 1), rank);
  Shape out = first.shape;
  out[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i) {
    const auto& t = ctx.input(i);
    if (t.dtype != first.dtype) ctx.fail("inputs have different element types");
    if (static_cast<int64_t>(t.shape.size()) != rank) ctx.fail("inputs have different ranks");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t.shape[static_cast<size_t>(d)] != first.shape[static_cast<size_t>(d)])
        ctx.fail("input shapes " + shape_str(first.shape) + " and " + shape_str(t.shape) + " differ off the axis");
    out[static_cast<size_t>(axis)] += t.shape[static_cast<size_t>(axis)];
  }
  ctx.out = {TensorType{first.dtype, out}};
}

void run_Concat(RunContext& ctx) {
  Tensor& y = *ctx.out[0];
  const size_t rank = y.rank();
  int64_t axis = normalize_axis(ctx.node, ctx.node.attr_int("axis", 1), static_cast<int64_t>(rank));
  const size_t elem = dtype_size(y.dtype());
  int64_t outer = dims_product(y.shape(), 0, static_cast<size_t>(axis));
  int64_t inner = dims_product(y.shape(), static_cast<size_t>(axis) + 1, rank);
  int64_t out_row = y.dim(static_cast<size_t>(axis)) * inner;
  auto* dst = static_cast<std::byte*>(y.raw());
  int64_t offset = 0;
  for (const Tensor* t : ctx.in) {
    int64_t row = t->dim(static_cast<size_t>(axis)) * inner;
    const auto* src = static_cast<const std::byte*>(t->raw());
    for (int64_t o = 0; o < outer; ++o)
      copy_elements(dst + static_cast<size_t>(o * out_row + offset) * elem, src + static_cast<size_t>(o * row) * elem, row, elem);
    offset += row;
  }
}

void infer_Split(InferContext& ctx) {
  const auto& x = ctx.input(0);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), rank);
  const Tensor* split = ctx.opset >= 13 && ctx.has_input(1) ? &ctx.constant_input(1, "split") : nullptr;
  auto sizes = split_sizes(ctx.node, ctx.opset, split, x.shape[static_cast<size_t>(axis)], ctx.node.outputs.size());
  if (sizes.size() != ctx.node.outputs.size()) ctx.fail("split has " + std::to_string(sizes.size()) + " parts for " + std::to_string(ctx.node.outputs.size()) + " outputs");
  int64_t sum = 0;
  ctx.out.clear();
  for (int64_t s : sizes) {
    if (s < 0) ctx.fail("negative split size");
    sum += s;
    Shape o = x.shape;
    o[static_cast<size_t>(axis)] = s;
    ctx.out.push_back(TensorType{x.dtype, o});
  }
  if (sum != x.shape[static_cast<size_t>(axis)]) ctx.fail("split sizes add up to " + std::to_string(sum) + ", not " + std::to_string(x.shape[static_cast<size_t>(axis)]));
}

void run_Split(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  const size_t rank = x.rank();
  int64_t axis = normalize_axis(ctx.node, ctx.node.attr_int("axis", 0), static_cast<int64_t>(rank));
  const size_t elem = dtype_size(x.dtype());
  int64_t outer = dims_product(x.shape(), 0, static_cast<size_t>(axis));
  int64_t inner = dims_product(x.shape(), static_cast<size_t>(axis) + 1, rank);
  int64_t in_row = x.dim(static_cast<size_t>(axis)) * inner;
  const auto* src = static_cast<const std::byte*>(x.raw());
  int64_t offset = 0;
  for (Tensor* t : ctx.out) {
    if (!t) continue;
    int64_t row = t->dim(static_cast<size_t>(axis)) * inner;
    auto* dst = static_cast<std::byte*>(t->raw());
    for (int64_t o = 0; o < outer; ++o)
      copy_elements(dst + static_cast<size_t>(o * row) * elem, src + static_cast<size_t>(o * in_row + offset) * elem, row, elem);
    offset += row;
  }
}

void infer_Slice(InferContext& ctx) {
  const auto& x = ctx.input(0);
  auto ops = slice_operands(ctx.node, ctx.opset, [&](size_t i, const char* what) { return ctx.constant_input(i, what).to_int64_vector(); });
  SliceSpec s = slice_spec(ctx.node, ctx.opset, x.shape, ops.starts, ops.ends, ops.axes, ops.steps);
  ctx.out = {TensorType{x.dtype, s.count}};
}

void run_Slice(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  auto ops = slice_operands(ctx.node, ctx.opset, [&](size_t i, const char*) { return ctx.in[i]->to_int64_vector(); });
  SliceSpec s = slice_spec(ctx.node, ctx.opset, x.shape(), ops.starts, ops.ends, ops.axes, ops.steps);
  copy_strided(static_cast<const std::byte*>(x.raw()), x.shape(), s.start, s.step, s.count,
               static_cast<std::byte*>(ctx.out[0]->raw()), dtype_size(x.dtype()));
}

void infer_Gather(InferContext& ctx) {
  const auto& x = ctx.input(0);
  const auto& idx = ctx.input(1);
  if (idx.dtype != DType::i64 && idx.dtype != DType::i32) ctx.fail("indices must be int32 or int64");
  int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) ctx.fail("data must have rank 1 or more");
  int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), rank);
  Shape out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  ctx.out = {TensorType{x.dtype, out}};
  if (ctx.value[1]) {
    int64_t dim = x.shape[static_cast<size_t>(axis)];
    for (int64_t i : ctx.value[1]->to_int64_vector())
      if (i < -dim || i >= dim) ctx.fail("index " + std::to_string(i) + " is out of range for dimension " + std::to_string(dim));
  }
}

void run_Gather(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  int64_t axis = normalize_axis(ctx.node, ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.rank()));
  auto indices = ctx.in[1]->to_int64_vector();
  const size_t elem = dtype_size(x.dtype());
  int64_t outer = dims_product(x.shape(), 0, static_cast<size_t>(axis));
  int64_t dim = x.dim(static_cast<size_t>(axis));
  int64_t inner = dims_product(x.shape(), static_cast<size_t>(axis) + 1, x.rank());
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(ctx.out[0]->raw());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < indices.size(); ++j) {
      int64_t i = indices[j];
      if (i < -dim || i >= dim)
        fail_input(ctx.node.describe() + ": index " + std::to_string(i) + " is out of range for dimension " + std::to_string(dim));
      if (i < 0) i += dim;
      copy_elements(dst + static_cast<size_t>((o * static_cast<int64_t>(indices.size()) + static_cast<int64_t>(j)) * inner) * elem,
                    src + static_cast<size_t>((o * dim + i) * inner) * elem, inner, elem);
    }
}

namespace {
struct PadSpec {
  std::vector<int64_t> pads;  // begins then ends, one per axis of the data
  std::string mode;
};

// Pads: an attribute before opset 11, an input from 11 on; from opset 18 an optional axes input
// names the axes they apply to (the others get none). Modes: constant, reflect, edge, and from
// opset 19 wrap.
template <class GetPads, class GetAxes>
PadSpec pad_spec(const Node& node, int64_t opset, size_t rank, GetPads get_pads, GetAxes get_axes) {
  auto fail = [&](const std::string& what) { fail_input(node.describe() + ": " + what); };
  PadSpec p;
  p.mode = node.attr_string("mode", "constant");
  const std::vector<int64_t> pads = opset < 11 ? node.attr_ints("pads") : get_pads();
  if (node.has_input(3)) {
    if (opset < 18) fail("the axes input exists from opset 18 on (model opset " + std::to_string(opset) + ")");
    const std::vector<int64_t> axes = get_axes();
    if (pads.size() != 2 * axes.size())
      fail("pads has " + std::to_string(pads.size()) + " entries for " + std::to_string(axes.size()) + " axes");
    p.pads.assign(2 * rank, 0);
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < axes.size(); ++i) {
      const auto ax = static_cast<size_t>(normalize_axis(node, axes[i], static_cast<int64_t>(rank)));
      if (seen[ax]) fail("repeated axis " + std::to_string(axes[i]));
      seen[ax] = true;
      p.pads[ax] = pads[i];
      p.pads[ax + rank] = pads[i + axes.size()];
    }
  } else {
    p.pads = pads;
    if (p.pads.size() != 2 * rank)
      fail("pads has " + std::to_string(p.pads.size()) + " entries for rank " + std::to_string(rank));
  }
  if (p.mode == "wrap" && opset < 19)
    fail("pad mode 'wrap' exists from opset 19 on (model opset " + std::to_string(opset) + ")");
  if (p.mode != "constant" && p.mode != "reflect" && p.mode != "edge" && p.mode != "wrap")
    fail_unsupported(node.describe() + ": pad mode '" + p.mode + "' is not supported");
  return p;
}

// The bytes of one padding element for `constant` mode: the `value` attribute before opset 11
// (Pad-2 takes float data only), the optional scalar constant_value input of the data's type
// from 11 on; 0 by default.
std::vector<std::byte> pad_fill(const Node& node, int64_t opset, DType dtype, const Tensor* value) {
  std::vector<std::byte> fill(dtype_size(dtype), std::byte{0});
  if (opset < 11) {
    float v = node.attr_float("value", 0.0f);
    if (dtype == DType::f32) std::memcpy(fill.data(), &v, sizeof v);
  } else if (value && value->numel() > 0) {
    std::memcpy(fill.data(), value->raw(), fill.size());
  }
  return fill;
}
}  // namespace

void infer_Pad(InferContext& ctx) {
  const auto& x = ctx.input(0);
  PadSpec p = pad_spec(
      ctx.node, ctx.opset, x.shape.size(), [&] { return ctx.constant_input(1, "pads").to_int64_vector(); },
      [&] { return ctx.constant_input(3, "axes").to_int64_vector(); });
  if (ctx.opset < 11 && x.dtype != DType::f32 && p.mode == "constant" && ctx.node.attr_float("value", 0.0f) != 0)
    ctx.fail("Pad before opset 11 takes float data only");
  if (ctx.opset >= 11 && ctx.has_input(2)) {
    if (ctx.in[2].dtype != x.dtype)
      ctx.fail(std::string("constant_value is ") + dtype_name(ctx.in[2].dtype) + ", data is " + dtype_name(x.dtype));
    if (shape_numel(ctx.in[2].shape) > 1) ctx.fail("constant_value must be a scalar");
  }
  Shape out = x.shape;
  for (size_t d = 0; d < out.size(); ++d) {
    out[d] += p.pads[d] + p.pads[d + out.size()];
    if (out[d] < 0) ctx.fail("pads make dimension " + std::to_string(d) + " negative");
    // Reflect, edge and wrap padding read the border of the dimension, so it cannot be empty. Reflect
    // and wrap pads wider than the dimension reflect or wrap again (numpy's np.pad, ONNX's reference).
    if (p.mode != "constant" && x.shape[d] == 0 && out[d] > 0)
      ctx.fail(p.mode + " padding of an empty dimension");
  }
  ctx.out = {TensorType{x.dtype, out}};
}

void run_Pad(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  Tensor& y = *ctx.out[0];
  const size_t rank = x.rank();
  PadSpec p = pad_spec(
      ctx.node, ctx.opset, rank, [&] { return ctx.in[1]->to_int64_vector(); }, [&] { return ctx.in[3]->to_int64_vector(); });
  const auto fill = pad_fill(ctx.node, ctx.opset, x.dtype(), ctx.node.has_input(2) ? ctx.in[2] : nullptr);
  const size_t elem = dtype_size(x.dtype());
  auto in_strides = row_major_strides(x.shape());
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  const Shape& os = y.shape();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < y.numel(); ++o) {
    int64_t off = 0;
    bool outside = false;
    for (size_t d = 0; d < rank; ++d) {
      int64_t i = idx[d] - p.pads[d];
      int64_t n = x.dim(d);
      if (i < 0 || i >= n) {
        if (p.mode == "constant") outside = true;
        else if (p.mode == "edge") i = std::clamp(i, int64_t{0}, n - 1);
        else if (p.mode == "wrap") i = ((i % n) + n) % n;
        else {
          // reflect without repeating the border element
          int64_t period = 2 * (n - 1);
          if (period == 0) i = 0;
          else {
            i = ((i % period) + period) % period;
            if (i >= n) i = period - i;
          }
        }
      }
      off += i * in_strides[d];
    }
    if (outside) {
      std::memcpy(dst + static_cast<size_t>(o) * elem, fill.data(), elem);
    } else {
      std::memcpy(dst + static_cast<size_t>(o) * elem, src + static_cast<size_t>(off) * elem, elem);
    }
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < os[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace mc
