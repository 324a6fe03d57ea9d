#include "analysis/calibration_stats.h"

#include "core/weighted_op.h"

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstring>
#include <cmath>
#include <functional>

#include "core/executor.h"
#include "core/ops/kernel_util.h"

namespace mc {

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
constexpr int64_t gram_row_block = 64;

// Patches of one group of one image as a K x P matrix (im2col), or a view when the Conv is 1x1,
// stride 1 and unpadded.
struct Patches {
  std::vector<float> buffer;
  const float* data = nullptr;
  int64_t rows = 0, cols = 0, stride = 0;
};

void conv_patches(const float* x, int64_t channels, const Window2d& w, Patches& p) {
  const int64_t positions = w.out_h * w.out_w;
  p.rows = channels * w.kernel_h * w.kernel_w;
  p.cols = positions;
  const bool direct = w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 && w.stride_w == 1 && w.pad_top == 0 &&
                      w.pad_left == 0 && w.pad_bottom == 0 && w.pad_right == 0;
  if (direct) {
    p.data = x;
    p.stride = w.in_h * w.in_w;
    return;
  }
  p.buffer.resize(static_cast<size_t>(p.rows * positions));
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t ky = 0; ky < w.kernel_h; ++ky)
      for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
        float* dst = p.buffer.data() + ((c * w.kernel_h + ky) * w.kernel_w + kx) * positions;
        const float* plane = x + c * w.in_h * w.in_w;
        for (int64_t oy = 0; oy < w.out_h; ++oy) {
          int64_t iy = oy * w.stride_h - w.pad_top + ky * w.dilation_h;
          for (int64_t ox = 0; ox < w.out_w; ++ox) {
            int64_t ix = ox * w.stride_w - w.pad_left + kx * w.dilation_w;
            dst[oy * w.out_w + ox] = (iy >= 0 && iy < w.in_h && ix >= 0 && ix < w.in_w) ? plane[iy * w.in_w + ix] : 0.0f;
          }
        }
      }
  p.data = p.buffer.data();
  p.stride = positions;
}

// gram += P Q^T and sum += row sums of P, rows [r0, r1) of the gram only (one task's share); Q is P
// unless given (the paired statistics' cross term). Either output may be null (not accumulated).
void accumulate_rows(const Patches& p, int64_t r0, int64_t r1, double* gram, double* sum, const Patches* q = nullptr) {
  ConstMap all(p.data, p.rows, p.cols, Eigen::OuterStride<>(p.stride));
  if (gram) {
    const Patches& other = q ? *q : p;
    ConstMap right(other.data, other.rows, other.cols, Eigen::OuterStride<>(other.stride));
    RowMajor block = all.middleRows(r0, r1 - r0) * right.transpose();
    for (int64_t r = r0; r < r1; ++r) {
      double* row = gram + r * p.rows;
      for (int64_t c = 0; c < other.rows; ++c) row[c] += block(r - r0, c);
    }
  }
  if (sum)
    for (int64_t r = r0; r < r1; ++r) {
      double s = 0;
      const float* line = p.data + r * p.stride;
      for (int64_t j = 0; j < p.cols; ++j) s += line[j];
      sum[r] += s;
    }
}

LayerGram make_layer(const WeightedLayer& layer) {
  LayerGram l;
  l.node = layer.node->name;
  l.op = layer.node->op;
  l.weight = layer.weight;
  l.groups = layer.geometry.groups;
  l.rows = layer.geometry.inputs_per_filter;
  l.filters_per_group = layer.geometry.filters_per_group();
  l.filter_columns = layer.geometry.filter_columns;
  l.kernel_positions = layer.geometry.kernel_positions;
  l.gram.assign(static_cast<size_t>(l.groups * l.rows * l.rows), 0.0);
  l.sum.assign(static_cast<size_t>(l.groups * l.rows), 0.0);
  return l;
}

// The patch matrices of one image (n) and group (g) of a weighted layer's input x, as K x P
// (Gemm / MatMul: one "image" holding every row of x).
void layer_patches(const LayerGram& l, const Node& node, int64_t opset, const Tensor& x, const Tensor& w, int64_t n, int64_t g,
                   Patches& p) {
  if (weighted_op_traits(node.op)->convolution) {
    const Window2d win = window_geometry(node, opset, x.shape(), Shape(w.shape().begin() + 2, w.shape().end()), false);
    const int64_t cin_g = x.dim(1) / l.groups;
    const int64_t plane = dims_product(x.shape(), 2, x.rank());
    conv_patches(x.data<float>() + (n * x.dim(1) + g * cin_g) * plane, cin_g, win, p);
    return;
  }
  const int64_t k = l.rows, m = x.numel() / k;
  p.buffer.resize(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) p.buffer[static_cast<size_t>(j * m + i)] = x.data<float>()[i * k + j];
  p.data = p.buffer.data();
  p.rows = k;
  p.cols = m;
  p.stride = m;
}

// Adds one batch's input x of layer `l`: gram += P P^T and sum += row sums over every image and
// group. With `reference` (the same layer's input in the reference network) also cross += P R^T
// and reference_sum += row sums of R.
void accumulate_layer(LayerGram& l, const Node& node, int64_t opset, const Tensor& x, const Tensor& w, ThreadPool& pool,
                      const Tensor* reference = nullptr, double* cross = nullptr, double* reference_sum = nullptr) {
  const int64_t k = l.rows;
  const bool conv = weighted_op_traits(node.op)->convolution;
  const int64_t images = conv ? x.dim(0) : 1;
  int64_t positions = x.numel() / k;  // Gemm / MatMul: every row of x
  if (conv) {
    const Window2d win = window_geometry(node, opset, x.shape(), Shape(w.shape().begin() + 2, w.shape().end()), false);
    positions = win.out_h * win.out_w;
  }
  const int64_t row_blocks = (k + gram_row_block - 1) / gram_row_block;
  for (int64_t n = 0; n < images; ++n) {
    auto group_task = [&](int64_t g, const Patches& p, const Patches* r, int64_t r0, int64_t r1) {
      accumulate_rows(p, r0, r1, l.gram.data() + g * k * k, l.sum.data() + g * k);
      if (r) accumulate_rows(p, r0, r1, cross + g * k * k, nullptr, r), accumulate_rows(*r, r0, r1, nullptr, reference_sum + g * k, nullptr);
    };
    if (l.groups > 1) {
      // One task per group (depthwise: per channel); each owns its group's matrix.
      pool.parallel_for(l.groups, [&](int64_t g) {
        Patches p, r;
        layer_patches(l, node, opset, x, w, n, g, p);
        if (reference) layer_patches(l, node, opset, *reference, w, n, g, r);
        group_task(g, p, reference ? &r : nullptr, 0, k);
      });
    } else {
      Patches p, r;
      layer_patches(l, node, opset, x, w, n, 0, p);
      if (reference) layer_patches(l, node, opset, *reference, w, n, 0, r);
      pool.parallel_for(row_blocks, [&](int64_t b) {
        const int64_t r0 = b * gram_row_block, r1 = std::min(k, r0 + gram_row_block);
        group_task(0, p, reference ? &r : nullptr, r0, r1);
      });
    }
    l.samples += positions;
  }
}

}  // namespace

std::vector<double> LayerGram::mean(int64_t group) const {
  std::vector<double> m(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) m[static_cast<size_t>(i)] = samples ? sum[static_cast<size_t>(group * rows + i)] / static_cast<double>(samples) : 0.0;
  return m;
}

std::vector<double> LayerGram::moment(int64_t group, bool centered) const {
  std::vector<double> h(static_cast<size_t>(rows * rows));
  // One sample has no spread: exactly zero, not x x^T - mu mu^T's rounding noise (which the fits
  // would otherwise read as a covariance).
  if (centered && samples < 2) return h;
  const double n = samples ? static_cast<double>(samples) : 1.0;
  const double* g = gram.data() + group * rows * rows;
  for (int64_t i = 0; i < rows * rows; ++i) h[static_cast<size_t>(i)] = g[i] / n;
  if (centered) {
    auto mu = mean(group);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < rows; ++j) h[static_cast<size_t>(i * rows + j)] -= mu[static_cast<size_t>(i)] * mu[static_cast<size_t>(j)];
  }
  return h;
}

namespace {

// The min and max of x[0..n), n > 0, with 16 independent lanes so the loop vectorizes. Min and max
// are exact, so any split and order gives the same values; only the sign of a zero result could
// differ (sequentially, the first zero met wins), which TensorRange::add settles from x itself.
std::pair<float, float> min_max(const float* x, int64_t n) {
  using Lanes = float __attribute__((vector_size(64)));  // 16 floats (GCC/Clang vector extension)
  constexpr int64_t lanes = 16;
  Lanes lo_lane, hi_lane;
  for (int64_t j = 0; j < lanes; ++j) lo_lane[j] = hi_lane[j] = x[0];
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    Lanes v;
    std::memcpy(&v, x + i, sizeof v);
    lo_lane = v < lo_lane ? v : lo_lane;  // std::min(lo, v) lane by lane
    hi_lane = hi_lane < v ? v : hi_lane;  // std::max(hi, v)
  }
  float lo = lo_lane[0], hi = hi_lane[0];
  for (int64_t j = 1; j < lanes; ++j) {
    lo = std::min(lo, static_cast<float>(lo_lane[j]));
    hi = std::max(hi, static_cast<float>(hi_lane[j]));
  }
  for (; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  return {lo, hi};
}

using BinCounts = std::array<uint32_t, TensorRange::bins>;

// Adds x[0..n)'s bin counts (value v in bin (v + offset) * scale, clamped) to `counts`: bin indices
// a chunk at a time (a loop the compiler vectorizes: locals only, nothing the stores could alias),
// then counted into 4 partial histograms in turn, so runs of one bin (a ReLU's zeros) do not chain
// every increment on the previous one's store. n at most 2^32 - 1 per call.
void count_bins(const float* x, int64_t n, double scale, double offset, BinCounts& counts) {
  constexpr int bins = TensorRange::bins;
  constexpr int64_t chunk = 1024;
  int32_t index[chunk];
  std::array<BinCounts, 3> more{};
  BinCounts* partial[4] = {&counts, &more[0], &more[1], &more[2]};
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t m = std::min(chunk, n - start);
    const float* __restrict from = x + start;
    for (int64_t k = 0; k < m; ++k) index[k] = std::clamp(static_cast<int32_t>((from[k] + offset) * scale), 0, bins - 1);
    int64_t k = 0;
    for (; k + 4 <= m; k += 4) {
      ++(*partial[0])[static_cast<size_t>(index[k])];
      ++(*partial[1])[static_cast<size_t>(index[k + 1])];
      ++(*partial[2])[static_cast<size_t>(index[k + 2])];
      ++(*partial[3])[static_cast<size_t>(index[k + 3])];
    }
    for (; k < m; ++k) ++(*partial[0])[static_cast<size_t>(index[k])];
  }
  for (size_t b = 0; b < static_cast<size_t>(bins); ++b) counts[b] += more[0][b] + more[1][b] + more[2][b];
}

// Elements per parallel piece of TensorRange::add: the split depends on n only, and every piece's
// result (a min, a max, integer counts) combines exactly, so the range is the same at any --threads.
constexpr int64_t range_piece = int64_t{1} << 16;

}  // namespace

void TensorRange::add(const float* x, int64_t n, ThreadPool* pool) {
  if (n <= 0) return;
  const int64_t pieces = (n + range_piece - 1) / range_piece;
  // Piece p is x[p * range_piece, ...), over the pool when there is one.
  auto each_piece = [&](const std::function<void(int64_t, const float*, int64_t)>& f) {
    auto one = [&](int64_t p) { f(p, x + p * range_piece, std::min(range_piece, n - p * range_piece)); };
    if (pool) pool->parallel_for(pieces, one);
    else for (int64_t p = 0; p < pieces; ++p) one(p);
  };
  std::vector<std::pair<float, float>> piece_range(static_cast<size_t>(pieces));
  each_piece([&](int64_t p, const float* xs, int64_t m) { piece_range[static_cast<size_t>(p)] = min_max(xs, m); });
  auto [lo, hi] = piece_range[0];
  for (const auto& [plo, phi] : piece_range) {
    lo = std::min(lo, plo);
    hi = std::max(hi, phi);
  }
  if (lo == 0 || hi == 0) {
    const float first_zero = *std::find(x, x + n, 0.0f);  // present: one of them is 0
    if (lo == 0) lo = first_zero;
    if (hi == 0) hi = first_zero;
  }
  if (!std::isfinite(lo) || !std::isfinite(hi)) fail_input("calibration produced a non-finite activation (NaN or Inf weights or inputs?)");
  if (count == 0) {
    min = lo;
    max = hi;
  } else {
    min = std::min(min, lo);
    max = std::max(max, hi);
  }
  double need = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
  if (limit == 0) limit = need > 0 ? std::exp2(std::ceil(std::log2(need))) : 1.0;
  while (need > limit) {
    // Double the range: bins pair up towards the center.
    std::vector<int64_t> merged(bins, 0);
    for (int b = 0; b < bins; ++b) merged[static_cast<size_t>(bins / 4 + (b >> 1))] += histogram[static_cast<size_t>(b)];
    histogram.swap(merged);
    limit *= 2;
  }
  const double scale = bins / (2 * limit), offset = limit;
  std::vector<BinCounts> counts(static_cast<size_t>(pieces), BinCounts{});
  each_piece([&](int64_t p, const float* xs, int64_t m) { count_bins(xs, m, scale, offset, counts[static_cast<size_t>(p)]); });
  for (const BinCounts& c : counts)
    for (size_t b = 0; b < static_cast<size_t>(bins); ++b) histogram[b] += c[b];
  count += n;
}

double TensorRange::percentile(double p) const {
  if (count == 0) return 0;
  const double target = p / 100.0 * static_cast<double>(count);
  double seen = 0;
  const double width = 2 * limit / bins;
  for (int b = 0; b < bins; ++b) {
    double c = static_cast<double>(histogram[static_cast<size_t>(b)]);
    if (seen + c >= target && c > 0) {
      double frac = (target - seen) / c;
      return std::clamp(-limit + width * (b + frac), static_cast<double>(min), static_cast<double>(max));
    }
    seen += c;
  }
  return max;
}

std::pair<double, double> TensorRange::mse_int8_range() const {
  if (count == 0) return {0, 0};
  const bool non_negative = min >= 0;
  const double width = 2 * limit / bins;
  const double top = non_negative ? max : std::max(std::fabs(static_cast<double>(min)), static_cast<double>(max));
  double best_t = top, best_err = -1;
  // Candidate clipping points from top/128 to top, 128 of them.
  for (int c = 1; c <= 128; ++c) {
    double t = top * c / 128.0;
    double lo = non_negative ? 0.0 : -t;
    double step = (t - lo) / 255.0;
    double err = 0;
    for (int b = 0; b < bins; ++b) {
      int64_t n = histogram[static_cast<size_t>(b)];
      if (!n) continue;
      double v = -limit + width * (b + 0.5);
      double e;
      if (v > t) e = (v - t) * (v - t);
      else if (v < lo) e = (lo - v) * (lo - v);
      else e = step * step / 12.0;
      err += static_cast<double>(n) * e;
    }
    if (best_err < 0 || err < best_err) {
      best_err = err;
      best_t = t;
    }
  }
  return {non_negative ? 0.0 : -best_t, best_t};
}

CalibrationStats collect_calibration_stats(const Model& model, const CalibrationSet& set, const StatsOptions& options,
                                           const std::function<void(int64_t, int64_t)>& progress) {
  CalibrationStats stats;
  for (const auto& [name, init] : model.graph.initializers)
    if (init.values.dtype() == DType::f32)
      for (float v : init.values.span<float>())
        if (!std::isfinite(v)) fail_input("tensor '" + name + "' holds NaN or Inf: the model's weights are corrupt");
  std::map<std::string, const Node*> weighted;
  for (const auto& node : model.graph.nodes) {
    if (!options.gram || (!options.only.empty() && std::find(options.only.begin(), options.only.end(), node.name) == options.only.end()))
      continue;
    if (const auto layer = weighted_layer(model.graph, node)) {
      stats.layers.emplace(node.name, make_layer(*layer));
      weighted[node.name] = &node;
    }
  }
  Executor exec(model, ExecutorOptions{options.threads, false});
  ThreadPool& pool = exec.pool();
  exec.set_observer([&](const Node& node, const std::vector<const Tensor*>& inputs, const std::vector<const Tensor*>& outputs) {
    auto it = stats.layers.find(node.name);
    if (it != stats.layers.end() && inputs[0] && inputs[0]->dtype() == DType::f32)
      accumulate_layer(it->second, node, model.opset, *inputs[0], *inputs[1], pool);
    if (!options.ranges) return;
    for (size_t i = 0; i < outputs.size(); ++i)
      if (outputs[i] && outputs[i]->dtype() == DType::f32 && i < node.outputs.size() && !node.outputs[i].empty())
        stats.ranges[node.outputs[i]].add(outputs[i]->data<float>(), outputs[i]->numel(), &pool);
  });
  const int64_t total = static_cast<int64_t>(set.files.size());
  for_each_calibration_batch(set, [&](const Tensor& batch, int64_t first) {
    if (options.ranges && !model.graph.inputs.empty()) stats.ranges[model.graph.inputs[0].name].add(batch.data<float>(), batch.numel(), &pool);
    exec.run({batch});
    stats.images += batch.dim(0);
    if (progress) progress(first + batch.dim(0), total);
  });
  return stats;
}

std::vector<double> PairedLayerStats::reference_mean(int64_t group) const {
  const int64_t k = layer.rows;
  std::vector<double> m(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i)
    m[static_cast<size_t>(i)] = layer.samples ? reference_sum[static_cast<size_t>(group * k + i)] / static_cast<double>(layer.samples) : 0.0;
  return m;
}

std::vector<double> PairedLayerStats::cross_covariance(int64_t group) const {
  const int64_t k = layer.rows;
  std::vector<double> c(static_cast<size_t>(k * k));
  if (layer.samples < 2) return c;
  const auto mu = layer.mean(group), nu = reference_mean(group);
  const double* x = cross.data() + group * k * k;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j)
      c[static_cast<size_t>(i * k + j)] = x[i * k + j] / static_cast<double>(layer.samples) - mu[static_cast<size_t>(i)] * nu[static_cast<size_t>(j)];
  return c;
}

Model truncated_at(const Model& model, const std::string& value) {
  Model cut = model;
  Graph& g = cut.graph;
  ValueInfo out;
  out.name = value;
  out.shape_known = false;
  g.outputs = {out};
  g.remove_dead();
  return cut;
}

PairedLayerStats collect_paired_layer_stats(const Model& model, const std::string& node, const Model& reference,
                                            const std::string& reference_input, const CalibrationSet& set, int threads) {
  const Node* layer_node = model.graph.node(node);
  const auto layer = layer_node ? weighted_layer(model.graph, *layer_node) : std::nullopt;
  if (!layer) fail_internal("paired statistics: no weighted layer '" + node + "'");
  PairedLayerStats out;
  out.layer = make_layer(*layer);
  const int64_t k = out.layer.rows, groups = out.layer.groups;
  out.cross.assign(static_cast<size_t>(groups * k * k), 0.0);
  out.reference_sum.assign(static_cast<size_t>(groups * k), 0.0);
  const Tensor& w = *model.graph.initializer(layer->weight);
  const Model here = truncated_at(model, layer_node->inputs[0]);
  const Model there = truncated_at(reference, reference_input);
  Executor run_here(here, ExecutorOptions{threads});
  Executor run_there(there, ExecutorOptions{threads});
  for_each_calibration_batch(set, [&](const Tensor& batch, int64_t) {
    const Tensor x = std::move(run_here.run({batch}).at(0));
    const Tensor r = std::move(run_there.run({batch}).at(0));
    if (x.dtype() != DType::f32 || r.dtype() != DType::f32 || x.shape() != r.shape())
      fail_internal("paired statistics of " + layer_node->describe() + ": its input '" + layer_node->inputs[0] + "' " + shape_str(x.shape()) +
                    " does not match the reference's '" + reference_input + "' " + shape_str(r.shape()));
    accumulate_layer(out.layer, *layer_node, model.opset, x, w, run_here.pool(), &r, out.cross.data(), out.reference_sum.data());
  });
  return out;
}

}  // namespace mc
