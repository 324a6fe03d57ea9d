// Pooling: MaxPool, AveragePool (1-D/2-D windows), GlobalAveragePool. The Reduce ops are in reduce.cpp.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

void infer_window_pool(InferContext& ctx) {
  const auto& x = ctx.input(0);
  if (x.dtype != DType::f32) ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  if (!ctx.node.has("kernel_shape")) ctx.fail("kernel_shape attribute is required");
  // storage_order only changes how Indices are numbered, so it matters only with that output.
  if (ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty())
    ctx.unsupported("the Indices output is not supported");
  Window2d w = window_geometry(ctx, x.shape, ctx.node.attr_ints("kernel_shape"), true);
  Shape out = {x.shape[0], x.shape[1]};
  if (x.shape.size() == 4) out.push_back(w.out_h);
  out.push_back(w.out_w);
  ctx.out.assign(1, TensorType{DType::f32, out});
  if (ctx.node.outputs.size() > 1) ctx.out.push_back(TensorType{DType::i64, out});
}

// The outputs of a window whose taps are all inside the input: the columns [lo, hi) of output rows
// whose windows are inside vertically (empty ranges when none).
struct Interior {
  int64_t lo = 0, hi = 0;
};
Interior interior_columns(const Window2d& w) {
  Interior c;
  c.lo = (w.pad_left + w.stride_w - 1) / w.stride_w;  // first ox with ox * stride - pad >= 0
  const int64_t last_tap = (w.kernel_w - 1) * w.dilation_w;
  const int64_t room = w.in_w - 1 - last_tap + w.pad_left;  // ox * stride <= room
  c.hi = room < 0 ? 0 : std::min(w.out_w, room / w.stride_w + 1);
  c.hi = std::max(c.hi, c.lo);
  return c;
}

template <bool is_max> void run_window_pool(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  Window2d w = window_geometry(ctx.node, ctx.opset, x.shape(), ctx.node.attr_ints("kernel_shape"), true);
  const bool count_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const int64_t planes = x.dim(0) * x.dim(1);
  const float* px = x.data<float>();
  float* py = ctx.out[0]->data<float>();
  const Interior columns = interior_columns(w);
  const float start = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
  ctx.pool.parallel_for(planes, [&](int64_t p) {
    const float* in = px + p * w.in_h * w.in_w;
    float* out = py + p * w.out_h * w.out_w;
    // One output from its taps in (ky, kx) order, skipping those outside the input.
    auto general = [&](int64_t oy, int64_t ox) {
      float acc = start;
      int64_t count = 0;
      for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
        int64_t iy = oy * w.stride_h - w.pad_top + ky * w.dilation_h;
        for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
          int64_t ix = ox * w.stride_w - w.pad_left + kx * w.dilation_w;
          bool inside = iy >= 0 && iy < w.in_h && ix >= 0 && ix < w.in_w;
          if (inside) {
            float v = in[iy * w.in_w + ix];
            acc = is_max ? std::max(acc, v) : acc + v;
            ++count;
          } else if (!is_max && count_pad) {
            // Padding counts only inside the padded extent, not beyond it (ceil_mode overhang).
            bool in_padded = iy >= -w.pad_top && iy < w.in_h + w.pad_bottom && ix >= -w.pad_left &&
                             ix < w.in_w + w.pad_right;
            if (in_padded) ++count;
          }
        }
      }
      if (!is_max) acc = count > 0 ? acc / static_cast<float>(count) : 0.0f;
      out[oy * w.out_w + ox] = acc;
    };
    for (int64_t oy = 0; oy < w.out_h; ++oy) {
      const int64_t iy0 = oy * w.stride_h - w.pad_top;
      const bool rows_inside = iy0 >= 0 && iy0 + (w.kernel_h - 1) * w.dilation_h < w.in_h;
      if (!rows_inside || columns.lo >= columns.hi) {
        for (int64_t ox = 0; ox < w.out_w; ++ox) general(oy, ox);
        continue;
      }
      for (int64_t ox = 0; ox < columns.lo; ++ox) general(oy, ox);
      // Inside: every tap is read, in the same (ky, kx) order per output as above, a row of
      // outputs at a time (the same operations on each element, so the same values).
      float* row_out = out + oy * w.out_w;
      for (int64_t ox = columns.lo; ox < columns.hi; ++ox) row_out[ox] = start;
      for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
        for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
          // The tap's input column for output column ox is ox * stride + shift (>= 0 inside).
          const float* row = in + (iy0 + ky * w.dilation_h) * w.in_w;
          const int64_t shift = kx * w.dilation_w - w.pad_left;
          auto taps = [&](auto stride) {
            for (int64_t ox = columns.lo; ox < columns.hi; ++ox) {
              const float v = row[ox * stride + shift];
              row_out[ox] = is_max ? std::max(row_out[ox], v) : row_out[ox] + v;
            }
          };
          // Strides 1 and 2 as constants: the loop then vectorizes with plain loads and permutes.
          if (w.stride_w == 1) taps(std::integral_constant<int64_t, 1>{});
          else if (w.stride_w == 2) taps(std::integral_constant<int64_t, 2>{});
          else taps(w.stride_w);
        }
      }
      if (!is_max) {
        const auto count = static_cast<float>(w.kernel_h * w.kernel_w);
        for (int64_t ox = columns.lo; ox < columns.hi; ++ox) row_out[ox] = row_out[ox] / count;
      }
      for (int64_t ox = columns.hi; ox < w.out_w; ++ox) general(oy, ox);
    }
  });
}

// Mean over the trailing `inner` elements of each of `outer` rows, in a fixed order.
void mean_rows(const float* x, float* y, int64_t outer, int64_t inner, ThreadPool& pool) {
  // Each row summed in order in double; `group` rows side by side, so their additions overlap
  // instead of each waiting on the previous one (a row's sum, and so its bits, is unchanged).
  constexpr int64_t group = 8, rows_per_task = 64;
  pool.parallel_for((outer + rows_per_task - 1) / rows_per_task, [&](int64_t t) {
    const int64_t end = std::min(outer, (t + 1) * rows_per_task);
    int64_t r = t * rows_per_task;
    for (; r + group <= end; r += group) {
      double acc[group] = {};
      for (int64_t i = 0; i < inner; ++i)
        for (int64_t g = 0; g < group; ++g) acc[g] += x[(r + g) * inner + i];
      for (int64_t g = 0; g < group; ++g)
        y[r + g] = inner > 0 ? static_cast<float>(acc[g] / static_cast<double>(inner)) : 0.0f;
    }
    for (; r < end; ++r) {
      double acc = 0;
      for (int64_t i = 0; i < inner; ++i) acc += x[r * inner + i];
      y[r] = inner > 0 ? static_cast<float>(acc / static_cast<double>(inner)) : 0.0f;
    }
  });
}

}  // namespace

void infer_MaxPool(InferContext& ctx) { infer_window_pool(ctx); }
void run_MaxPool(RunContext& ctx) { run_window_pool<true>(ctx); }
void infer_AveragePool(InferContext& ctx) { infer_window_pool(ctx); }
void run_AveragePool(RunContext& ctx) { run_window_pool<false>(ctx); }

void infer_GlobalAveragePool(InferContext& ctx) {
  const auto& x = ctx.input(0);
  if (x.dtype != DType::f32) ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  if (x.shape.size() < 3) ctx.fail("input must have rank 3 or more, got " + shape_str(x.shape));
  Shape out = x.shape;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  ctx.out = {TensorType{DType::f32, out}};
}

void run_GlobalAveragePool(RunContext& ctx) {
  const Tensor& x = *ctx.in[0];
  int64_t outer = x.dim(0) * x.dim(1);
  mean_rows(x.data<float>(), ctx.out[0]->data<float>(), outer, outer ? x.numel() / outer : 0, ctx.pool);
}

}  // namespace mc
