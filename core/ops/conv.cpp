// Conv: 1-D and 2-D, groups, strides, dilations, explicit or automatic padding.
// Dense groups use im2col + Eigen GEMM (a 1x1 stride-1 unpadded conv reads the input directly);
// depthwise convolutions (one input and one output channel per group) use a direct kernel.
// Work is split into tasks of fixed size (image x group x column block x row block), independent
// of the thread count, so results do not depend on --threads.
#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "core/ops/kernel_util.h"

namespace mc {

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMat = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using Mat = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

constexpr int64_t column_block = 512;   // output positions per task
constexpr int64_t row_block = 128;      // output channels per task

std::vector<int64_t> kernel_dims(const Shape& w) { return Shape(w.begin() + 2, w.end()); }

struct ConvShape {
  int64_t batch, in_channels, out_channels, groups;
  Window2d win;
};

ConvShape conv_shape(const Node& node, int64_t opset, const Shape& x, const Shape& w) {
  ConvShape s;
  s.batch = x[0];
  s.in_channels = x[1];
  s.out_channels = w[0];
  s.groups = node.attr_int("group", 1);
  s.win = window_geometry(node, opset, x, kernel_dims(w), false);
  return s;
}

void apply_clip(float* p, int64_t n, const std::optional<FusedClip>& clip) {
  if (!clip) return;
  const float lo = clip->lo, hi = clip->hi;
  for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], lo), hi);
}

// im2col for output positions [col0, col0+cols) of one group of one image:
// col[(c*kh + ky)*kw + kx][j] = x[c][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw] (0 outside).
void im2col_block(const float* x, int64_t channels, const Window2d& w, int64_t col0, int64_t cols, float* col) {
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * w.in_h * w.in_w;
    for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
        float* dst = col + ((c * w.kernel_h + ky) * w.kernel_w + kx) * cols;
        for (int64_t j = 0; j < cols; ++j) {
          int64_t p = col0 + j;
          int64_t oy = p / w.out_w, ox = p % w.out_w;
          int64_t iy = oy * w.stride_h - w.pad_top + ky * w.dilation_h;
          int64_t ix = ox * w.stride_w - w.pad_left + kx * w.dilation_w;
          dst[j] = (iy >= 0 && iy < w.in_h && ix >= 0 && ix < w.in_w) ? plane[iy * w.in_w + ix] : 0.0f;
        }
      }
    }
  }
}

void conv_gemm(RunContext& ctx, const ConvShape& s) {
  const Tensor& x = *ctx.in[0];
  const Tensor& wt = *ctx.in[1];
  const float* bias = ctx.node.has_input(2) ? ctx.in[2]->data<float>() : nullptr;
  Tensor& y = *ctx.out[0];
  const Window2d& w = s.win;
  const int64_t cin_g = s.in_channels / s.groups;
  const int64_t cout_g = s.out_channels / s.groups;
  const int64_t k = cin_g * w.kernel_h * w.kernel_w;
  const int64_t positions = w.out_h * w.out_w;
  const int64_t in_plane = w.in_h * w.in_w;
  const bool direct = w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 && w.stride_w == 1 &&
                      w.pad_top == 0 && w.pad_left == 0 && w.pad_bottom == 0 && w.pad_right == 0;
  const int64_t col_blocks = (positions + column_block - 1) / column_block;
  const int64_t row_blocks = (cout_g + row_block - 1) / row_block;
  const float* px = x.data<float>();
  const float* pw = wt.data<float>();
  float* py = y.data<float>();
  const int64_t tasks = s.batch * s.groups * col_blocks * row_blocks;
  ctx.pool.parallel_for(tasks, [&](int64_t t) {
    int64_t rb = t % row_blocks;
    int64_t cb = (t / row_blocks) % col_blocks;
    int64_t g = (t / (row_blocks * col_blocks)) % s.groups;
    int64_t n = t / (row_blocks * col_blocks * s.groups);
    int64_t col0 = cb * column_block;
    int64_t cols = std::min(column_block, positions - col0);
    int64_t row0 = rb * row_block;
    int64_t rows = std::min(row_block, cout_g - row0);
    const float* xg = px + (n * s.in_channels + g * cin_g) * in_plane;
    thread_local std::vector<float> col_buffer;
    const float* col;
    int64_t col_stride;
    if (direct) {
      col = xg + col0;
      col_stride = in_plane;
    } else {
      col_buffer.resize(static_cast<size_t>(k * cols));
      im2col_block(xg, cin_g, w, col0, cols, col_buffer.data());
      col = col_buffer.data();
      col_stride = cols;
    }
    ConstMat a(pw + (g * cout_g + row0) * k, rows, k, Eigen::OuterStride<>(k));
    ConstMat b(col, k, cols, Eigen::OuterStride<>(col_stride));
    float* out0 = py + (n * s.out_channels + g * cout_g + row0) * positions + col0;
    Mat c(out0, rows, cols, Eigen::OuterStride<>(positions));
    c.noalias() = a * b;
    for (int64_t r = 0; r < rows; ++r) {
      float* line = out0 + r * positions;
      if (bias) {
        float bv = bias[g * cout_g + row0 + r];
        for (int64_t j = 0; j < cols; ++j) line[j] += bv;
      }
      apply_clip(line, cols, ctx.fused_clip);
    }
  });
}

// Depthwise: each output plane is one input plane correlated with one small kernel. For every
// kernel tap the valid output columns form a range, so the inner loop has no bounds checks.
void conv_depthwise(RunContext& ctx, const ConvShape& s) {
  const Tensor& x = *ctx.in[0];
  const Tensor& wt = *ctx.in[1];
  const float* bias = ctx.node.has_input(2) ? ctx.in[2]->data<float>() : nullptr;
  Tensor& y = *ctx.out[0];
  const Window2d& w = s.win;
  const int64_t multiplier = s.out_channels / s.groups;
  const float* px = x.data<float>();
  const float* pw = wt.data<float>();
  float* py = y.data<float>();
  const int64_t taps = w.kernel_h * w.kernel_w;
  // Output column range [lo, hi) whose input column for tap kx is inside the image.
  std::vector<int64_t> ox_lo(static_cast<size_t>(w.kernel_w)), ox_hi(static_cast<size_t>(w.kernel_w));
  for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
    int64_t off = kx * w.dilation_w - w.pad_left;
    int64_t lo = off >= 0 ? 0 : (-off + w.stride_w - 1) / w.stride_w;
    int64_t hi = (w.in_w - 1 - off) >= 0 ? (w.in_w - 1 - off) / w.stride_w + 1 : 0;
    ox_lo[static_cast<size_t>(kx)] = std::min(lo, w.out_w);
    ox_hi[static_cast<size_t>(kx)] = std::max(std::min(hi, w.out_w), ox_lo[static_cast<size_t>(kx)]);
  }
  const int64_t planes = s.batch * s.out_channels;
  ctx.pool.parallel_for(planes, [&](int64_t t) {
    int64_t n = t / s.out_channels;
    int64_t m = t % s.out_channels;
    int64_t c = m / multiplier;
    const float* in = px + (n * s.in_channels + c) * w.in_h * w.in_w;
    const float* kern = pw + m * taps;
    float* out = py + t * w.out_h * w.out_w;
    float b = bias ? bias[m] : 0.0f;
    for (int64_t oy = 0; oy < w.out_h; ++oy) {
      float* orow = out + oy * w.out_w;
      std::fill(orow, orow + w.out_w, b);
      for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
        int64_t iy = oy * w.stride_h - w.pad_top + ky * w.dilation_h;
        if (iy < 0 || iy >= w.in_h) continue;
        const float* irow = in + iy * w.in_w;
        for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
          float wv = kern[ky * w.kernel_w + kx];
          int64_t off = kx * w.dilation_w - w.pad_left;
          int64_t lo = ox_lo[static_cast<size_t>(kx)], hi = ox_hi[static_cast<size_t>(kx)];
          if (w.stride_w == 1) {
            const float* src = irow + off;
            for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += wv * src[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += wv * irow[ox * w.stride_w + off];
          }
        }
      }
      apply_clip(orow, w.out_w, ctx.fused_clip);
    }
  });
}

}  // namespace

void infer_Conv(InferContext& ctx) {
  const auto& x = ctx.input(0);
  const auto& w = ctx.input(1);
  if (x.dtype != DType::f32 || w.dtype != DType::f32)
    ctx.unsupported(std::string("element type ") + dtype_name(x.dtype) + " is not supported");
  if (x.shape.size() != 3 && x.shape.size() != 4)
    ctx.unsupported("only 1-D and 2-D convolutions are supported (input rank " + std::to_string(x.shape.size()) +
                    ")");
  if (w.shape.size() != x.shape.size()) ctx.fail("weight rank does not match input rank");
  int64_t groups = ctx.node.attr_int("group", 1);
  if (groups <= 0 || x.shape[1] % groups != 0 || w.shape[0] % groups != 0)
    ctx.fail("group " + std::to_string(groups) + " does not divide the channel counts");
  if (w.shape[1] * groups != x.shape[1])
    ctx.fail("weight " + shape_str(w.shape) + " expects " + std::to_string(w.shape[1] * groups) +
             " input channels, input " + shape_str(x.shape) + " has " + std::to_string(x.shape[1]));
  auto kernel = kernel_dims(w.shape);
  if (ctx.node.has("kernel_shape") && ctx.node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape attribute does not match the weight shape " + shape_str(w.shape));
  if (ctx.has_input(2) && (ctx.in[2].shape != Shape{w.shape[0]}))
    ctx.fail("bias shape " + shape_str(ctx.in[2].shape) + " does not match " + std::to_string(w.shape[0]) +
             " output channels");
  Window2d win = window_geometry(ctx, x.shape, kernel, false);
  Shape out = {x.shape[0], w.shape[0]};
  if (x.shape.size() == 4) out.push_back(win.out_h);
  out.push_back(win.out_w);
  ctx.out = {TensorType{DType::f32, out}};
}

void run_Conv(RunContext& ctx) {
  ConvShape s = conv_shape(ctx.node, ctx.opset, ctx.in[0]->shape(), ctx.in[1]->shape());
  if (s.groups == s.in_channels && s.groups > 1) conv_depthwise(ctx, s);
  else conv_gemm(ctx, s);
}

}  // namespace mc
