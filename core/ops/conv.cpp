// Conv: 1-D and 2-D, groups, strides, dilations, explicit or automatic padding.
// Dense groups use GEMM: a 1x1 stride-1 unpadded conv reads the input in place, anything else goes
// through im2col per column block, both through the panel GEMM (panel_gemm.h); a 1x1 conv on 1x1
// inputs is dot products of rows (row_dot.h).
// Depthwise convolutions (one input channel per group) and small-kernel convolutions with few input
// channels per group (a first layer) use direct kernels instead (conv_direct.cpp).
// A fused activation is applied while the block is still in cache. Work is split into tasks (image x
// group x column block x row block); every output is summed in a fixed order whatever task it falls
// in, so results do not depend on --threads.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/conv_kernels.h"
#include "core/ops/panel_gemm.h"
#include "core/ops/row_dot.h"

namespace mc {

namespace {

constexpr int64_t column_block = 512;   // output positions per task
constexpr int64_t min_column_block = 128;  // narrowest column block a small pointwise conv is split into
constexpr int64_t row_block = 128;      // output channels per task of a single-position conv
constexpr int64_t gemm_row_block = 16 * panel_rows;  // output channels per task of a pointwise conv
// The direct kernel beats im2col + GEMM while every output sums at most this many products
// (3 input channels x 3x3 = 27): im2col would copy each input value this many times, for a GEMM
// too thin to make up for it.
constexpr int64_t direct_max_taps = 32;

std::vector<int64_t> kernel_dims(const Shape& w) { return Shape(w.begin() + 2, w.end()); }

void apply_activation(float* p, int64_t n, const std::optional<FusedActivation>& activation) {
  if (activation) activation->apply(p, n);
}

// Output columns [lo, hi) whose input column for kernel column kx lies inside the image.
struct ColumnRange {
  int64_t lo, hi;
};

std::vector<ColumnRange> valid_columns(const Window2d& w) {
  std::vector<ColumnRange> r(static_cast<size_t>(w.kernel_w));
  for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
    const int64_t off = kx * w.dilation_w - w.pad_left;
    int64_t lo = off >= 0 ? 0 : (-off + w.stride_w - 1) / w.stride_w;
    int64_t hi = w.in_w - 1 - off >= 0 ? (w.in_w - 1 - off) / w.stride_w + 1 : 0;
    lo = std::min(lo, w.out_w);
    r[static_cast<size_t>(kx)] = {lo, std::max(std::min(hi, w.out_w), lo)};
  }
  return r;
}

// im2col for output positions [col0, col0+cols) of one group of one image:
// col[(c*kh + ky)*kw + kx][j] = x[c][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw] (0 outside).
// Walks the block one output row at a time, so each (row, output row) pair is a zero run, a copy
// and a zero run, with no per-element index arithmetic or bounds checks.
void im2col_block(const float* x, int64_t channels, const Window2d& w, const std::vector<ColumnRange>& columns,
                  int64_t col0, int64_t cols, float* col) {
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * w.in_h * w.in_w;
    for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
        float* dst = col + ((c * w.kernel_h + ky) * w.kernel_w + kx) * cols;
        const ColumnRange valid = columns[static_cast<size_t>(kx)];
        const int64_t off = kx * w.dilation_w - w.pad_left;
        int64_t p = col0, j = 0;
        while (j < cols) {
          const int64_t oy = p / w.out_w, ox0 = p % w.out_w;
          const int64_t len = std::min(w.out_w - ox0, cols - j);
          float* seg = dst + j;  // seg[ox - ox0] is the column of output (oy, ox)
          const int64_t iy = oy * w.stride_h - w.pad_top + ky * w.dilation_h;
          if (iy < 0 || iy >= w.in_h) {
            std::fill(seg, seg + len, 0.0f);
          } else {
            const int64_t lo = std::clamp(valid.lo, ox0, ox0 + len), hi = std::clamp(valid.hi, lo, ox0 + len);
            std::fill(seg, seg + (lo - ox0), 0.0f);
            if (lo < hi) {
              const float* src = plane + iy * w.in_w + lo * w.stride_w + off;  // input column of output lo
              float* out = seg + (lo - ox0);
              if (w.stride_w == 1) {
                std::copy(src, src + (hi - lo), out);
              } else {
                for (int64_t i = 0; i < hi - lo; ++i) out[i] = src[i * w.stride_w];
              }
            }
            std::fill(seg + (hi - ox0), seg + len, 0.0f);
          }
          j += len;
          p += len;
        }
      }
    }
  }
}

// Dense groups through the panel GEMM (panel_gemm.h): the input in place (`pointwise`) or im2col
// blocks.
void conv_gemm(const ConvGeometry& s, const ConvData& d, ThreadPool& pool, bool pointwise) {
  const Window2d& w = s.window;
  const int64_t cin_g = s.in_channels / s.groups;
  const int64_t cout_g = s.out_channels / s.groups;
  const int64_t k = cin_g * w.kernel_h * w.kernel_w;
  const int64_t positions = w.out_h * w.out_w;
  const int64_t in_plane = w.in_h * w.in_w;
  const int64_t col_blocks = (positions + column_block - 1) / column_block;
  if (pointwise) {
    // Tasks: image x group x column block x row block. An output's bits do not depend on its block,
    // so small problems (one image) are cut finer to give every thread several tasks: layers with
    // few output channels into narrower column blocks (per layer at batch 1, 2 threads: 15-30%
    // faster than thinner row blocks on MobileNetV2's 24- and 32-channel layers), others into
    // thinner row blocks (narrow column blocks on 14 x 14 planes leave partial vectors: 10% slower).
    const int64_t wanted = 4 * pool.size();
    int64_t pw_cols = column_block;
    if (pool.size() > 1 && cout_g < gemm_row_block && s.batch * s.groups * col_blocks < wanted) {
      const int64_t per_image = std::max<int64_t>(1, wanted / (s.batch * s.groups));
      pw_cols = std::clamp<int64_t>((positions + per_image - 1) / per_image, 1, column_block);
      pw_cols = std::max<int64_t>(min_column_block, (pw_cols + 63) / 64 * 64);
    }
    const int64_t pw_blocks = (positions + pw_cols - 1) / pw_cols;
    const int64_t outer = s.batch * s.groups * pw_blocks;
    int64_t block_rows = gemm_row_block;
    if (outer * ((cout_g + block_rows - 1) / block_rows) < wanted) {
      const int64_t splits = (wanted + outer - 1) / outer;
      block_rows = std::max(panel_rows, ((cout_g + splits - 1) / splits + panel_rows - 1) / panel_rows * panel_rows);
    }
    const int64_t row_blocks = (cout_g + block_rows - 1) / block_rows;
    pool.parallel_for(outer * row_blocks, [&](int64_t t) {
      const int64_t rb = t % row_blocks;
      const int64_t cb = (t / row_blocks) % pw_blocks;
      const int64_t g = (t / (row_blocks * pw_blocks)) % s.groups;
      const int64_t n = t / (row_blocks * pw_blocks * s.groups);
      const int64_t col0 = cb * pw_cols, cols = std::min(pw_cols, positions - col0);
      const int64_t r0 = rb * block_rows, rows = std::min(block_rows, cout_g - r0);
      const int64_t row0 = g * cout_g + r0;
      panel_gemm(d.weight + row0 * k, rows, k,
                 d.input + (n * s.in_channels + g * cin_g) * in_plane + col0, in_plane, cols,
                 d.output + (n * s.out_channels + row0) * positions + col0, positions,
                 d.bias ? d.bias + row0 : nullptr, d.activation,
                 d.residual ? d.residual + (n * s.out_channels + row0) * positions + col0 : nullptr);
    });
    return;
  }
  // Tasks: image x group x column block; each builds its im2col block once for all its rows.
  const std::vector<ColumnRange> columns = valid_columns(w);
  pool.parallel_for(s.batch * s.groups * col_blocks, [&](int64_t t) {
    const int64_t cb = t % col_blocks;
    const int64_t g = (t / col_blocks) % s.groups;
    const int64_t n = t / (col_blocks * s.groups);
    const int64_t col0 = cb * column_block, cols = std::min(column_block, positions - col0);
    thread_local std::vector<float> col_buffer;
    col_buffer.resize(static_cast<size_t>(k * cols));
    im2col_block(d.input + (n * s.in_channels + g * cin_g) * in_plane, cin_g, w, columns, col0, cols,
                 col_buffer.data());
    const int64_t row0 = g * cout_g;
    panel_gemm(d.weight + row0 * k, cout_g, k, col_buffer.data(), cols, cols,
               d.output + (n * s.out_channels + row0) * positions + col0, positions, d.bias ? d.bias + row0 : nullptr,
               d.activation);
  });
}

// A 1x1 conv on 1x1 inputs (a classifier written as Conv): y[n][m] = bias[m] + x_n . w_m, dot
// products of rows (row_dot.h), each in its own order, so an image gets the same bits at any batch.
// A task takes a block of output channels for the whole batch, so the weights are read once per
// batch, not once per image.
void conv_single_position(const ConvGeometry& s, const ConvData& d, ThreadPool& pool) {
  const int64_t k = s.in_channels, m = s.out_channels;
  const int64_t row_blocks = (m + row_block - 1) / row_block;
  pool.parallel_for(row_blocks, [&](int64_t rb) {
    const int64_t row0 = rb * row_block, rows = std::min(row_block, m - row0);
    float* out = d.output + row0;
    row_dot(d.input, s.batch, d.weight + row0 * k, rows, k, out, m, d.bias ? d.bias + row0 : nullptr);
    if (d.activation)
      for (int64_t n = 0; n < s.batch; ++n) apply_activation(out + n * m, rows, d.activation);
  });
}

bool is_pointwise(const Window2d& w) {
  return w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 && w.stride_w == 1 && w.pad_top == 0 &&
         w.pad_left == 0 && w.pad_bottom == 0 && w.pad_right == 0;
}

}  // namespace

ConvGeometry conv_geometry(const Node& node, int64_t opset, const Shape& x, const Shape& w) {
  ConvGeometry s;
  s.batch = x[0];
  s.in_channels = x[1];
  s.out_channels = w[0];
  s.groups = node.attr_int("group", 1);
  s.window = window_geometry(node, opset, x, kernel_dims(w), false);
  return s;
}

const char* conv_algorithm_name(ConvAlgorithm algorithm) {
  switch (algorithm) {
    case ConvAlgorithm::reference: return "reference";
    case ConvAlgorithm::depthwise: return "depthwise";
    case ConvAlgorithm::direct: return "direct";
    case ConvAlgorithm::pointwise: return "pointwise";
    case ConvAlgorithm::single_position: return "single_position";
    case ConvAlgorithm::im2col: return "im2col";
  }
  return "unknown";
}

bool conv_algorithm_applies(ConvAlgorithm algorithm, const ConvGeometry& s) {
  const Window2d& w = s.window;
  switch (algorithm) {
    case ConvAlgorithm::reference:
    case ConvAlgorithm::direct:
    case ConvAlgorithm::im2col: return true;
    case ConvAlgorithm::depthwise: return s.groups == s.in_channels && s.groups > 1;
    case ConvAlgorithm::pointwise: return is_pointwise(w);
    case ConvAlgorithm::single_position:
      return is_pointwise(w) && s.groups == 1 && w.in_h == 1 && w.in_w == 1 && w.out_h == 1 && w.out_w == 1;
  }
  return false;
}

ConvAlgorithm choose_conv_algorithm(const ConvGeometry& s) {
  for (ConvAlgorithm a : {ConvAlgorithm::depthwise, ConvAlgorithm::single_position, ConvAlgorithm::pointwise})
    if (conv_algorithm_applies(a, s)) return a;
  const Window2d& w = s.window;
  const int64_t kernel_taps = w.kernel_h * w.kernel_w;
  if (kernel_taps > 1 && s.in_channels / s.groups * kernel_taps <= direct_max_taps) return ConvAlgorithm::direct;
  return ConvAlgorithm::im2col;
}

void run_conv(ConvAlgorithm algorithm, const ConvGeometry& s, const ConvData& d, ThreadPool& pool) {
  if (!conv_algorithm_applies(algorithm, s))
    fail_internal(std::string("conv algorithm ") + conv_algorithm_name(algorithm) + " does not apply");
  switch (algorithm) {
    case ConvAlgorithm::reference: conv_reference(s, d); break;
    case ConvAlgorithm::depthwise: conv_depthwise(s, d, pool); break;
    case ConvAlgorithm::direct: conv_direct(s, d, pool); break;
    case ConvAlgorithm::pointwise: conv_gemm(s, d, pool, true); break;
    case ConvAlgorithm::single_position: conv_single_position(s, d, pool); break;
    case ConvAlgorithm::im2col: conv_gemm(s, d, pool, false); break;
  }
  if (d.residual && algorithm != ConvAlgorithm::pointwise)
    for_each_block(s.batch * s.out_channels * s.window.out_h * s.window.out_w, pool, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) d.output[i] = d.output[i] + d.residual[i];
    });
}

void conv_reference(const ConvGeometry& s, const ConvData& d) {
  const Window2d& w = s.window;
  const int64_t cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t m = 0; m < s.out_channels; ++m) {
      const int64_t g = m / cout_g;
      for (int64_t oy = 0; oy < w.out_h; ++oy) {
        for (int64_t ox = 0; ox < w.out_w; ++ox) {
          double acc = d.bias ? d.bias[m] : 0.0;
          for (int64_t c = 0; c < cin_g; ++c) {
            for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
              const int64_t iy = oy * w.stride_h - w.pad_top + ky * w.dilation_h;
              if (iy < 0 || iy >= w.in_h) continue;
              for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
                const int64_t ix = ox * w.stride_w - w.pad_left + kx * w.dilation_w;
                if (ix < 0 || ix >= w.in_w) continue;
                const float xv = d.input[((n * s.in_channels + g * cin_g + c) * w.in_h + iy) * w.in_w + ix];
                const float wv = d.weight[((m * cin_g + c) * w.kernel_h + ky) * w.kernel_w + kx];
                acc += static_cast<double>(xv) * wv;
              }
            }
          }
          float v = static_cast<float>(acc);
          if (d.activation) v = (*d.activation)(v);
          d.output[((n * s.out_channels + m) * w.out_h + oy) * w.out_w + ox] = v;
        }
      }
    }
  }
}

Shape conv_output_shape(const InferContext& ctx, const Shape& x, const Shape& w, const Shape* bias) {
  if (x.size() != 3 && x.size() != 4)
    ctx.unsupported("only 1-D and 2-D convolutions are supported (input rank " + std::to_string(x.size()) + ")");
  if (w.size() != x.size()) ctx.fail("weight rank does not match input rank");
  int64_t groups = ctx.node.attr_int("group", 1);
  if (groups <= 0 || x[1] % groups != 0 || w[0] % groups != 0)
    ctx.fail("group " + std::to_string(groups) + " does not divide the channel counts");
  if (w[1] * groups != x[1])
    ctx.fail("weight " + shape_str(w) + " expects " + std::to_string(w[1] * groups) + " input channels, input " +
             shape_str(x) + " has " + std::to_string(x[1]));
  auto kernel = kernel_dims(w);
  if (ctx.node.has("kernel_shape") && ctx.node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape attribute does not match the weight shape " + shape_str(w));
  if (bias && *bias != Shape{w[0]})
    ctx.fail("bias shape " + shape_str(*bias) + " does not match " + std::to_string(w[0]) + " output channels");
  Window2d win = window_geometry(ctx, x, kernel, false);
  Shape out = {x[0], w[0]};
  if (x.size() == 4) out.push_back(win.out_h);
  out.push_back(win.out_w);
  return out;
}

void infer_Conv(InferContext& ctx) {
  const auto& x = ctx.input(0);
  const auto& w = ctx.input(1);
  if (x.dtype != DType::f32 || w.dtype != DType::f32)
    ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  const Shape* bias = ctx.has_input(2) ? &ctx.in[2].shape : nullptr;
  ctx.out = {TensorType{DType::f32, conv_output_shape(ctx, x.shape, w.shape, bias)}};
}

void run_Conv(RunContext& ctx) {
  const ConvGeometry s = conv_geometry(ctx.node, ctx.opset, ctx.in[0]->shape(), ctx.in[1]->shape());
  ConvData d;
  d.input = ctx.in[0]->data<float>();
  d.weight = ctx.in[1]->data<float>();
  d.bias = ctx.in.size() > 2 && ctx.in[2] ? ctx.in[2]->data<float>() : nullptr;
  d.output = ctx.out[0]->data<float>();
  d.activation = ctx.fused_activation;
  d.residual = ctx.residual ? ctx.residual->data<float>() : nullptr;
  run_conv(choose_conv_algorithm(s), s, d, ctx.pool);
}

}  // namespace mc
