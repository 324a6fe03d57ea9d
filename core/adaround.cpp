#include "core/adaround.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "core/adam.h"

namespace mc {

namespace {

constexpr double zeta = 1.1, gamma_ = -0.1;

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using FloatMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

namespace soft_rounding {

double h(double v) { return std::clamp(1.0 / (1.0 + std::exp(-v)) * (zeta - gamma_) + gamma_, 0.0, 1.0); }

double dh(double v) {
  const double s = 1.0 / (1.0 + std::exp(-v));
  const double raw = s * (zeta - gamma_) + gamma_;
  return raw > 0 && raw < 1 ? s * (1 - s) * (zeta - gamma_) : 0.0;
}

// The ends map to finite values.
double inverse(double rest) {
  const double s = std::clamp((rest - gamma_) / (zeta - gamma_), 1e-6, 1 - 1e-6);
  return std::log(s / (1 - s));
}

double regularizer_gradient(double lambda, double hv, double beta) {
  const double c = 2 * hv - 1;
  return lambda * -beta * std::pow(std::abs(c), beta - 1) * (c >= 0 ? 2.0 : -2.0);
}

double beta_at(const AdaRoundOptions& o, int it) {
  const int warm = static_cast<int>(o.warmup * o.iterations);
  if (it < warm) return 0;
  const double progress = o.iterations > warm ? static_cast<double>(it - warm) / static_cast<double>(o.iterations - warm) : 1.0;
  return o.beta_end + 0.5 * (o.beta_start - o.beta_end) * (1 + std::cos(progress * M_PI));
}

}  // namespace soft_rounding

namespace {

// A block of rows optimized together (rows never interact: the block only shares the H products).
void optimize_rows(const std::vector<double>& w, int64_t first, int64_t count, int64_t cols, const Eigen::Map<const RowMatrix>& h,
                   double h_scale, const std::vector<LevelSet>& levels, const std::vector<uint8_t>& fixed_zero,
                   const AdaRoundOptions& o, GptqResult& out) {
  RowMatrix target(count, cols), lo(count, cols), gap(count, cols), v(count, cols);
  Eigen::MatrixXi lo_index(count, cols);
  Eigen::Matrix<bool, Eigen::Dynamic, Eigen::Dynamic> free(count, cols);
  std::vector<double> norm(static_cast<size_t>(count), 1.0);
  for (int64_t r = 0; r < count; ++r) {
    const LevelSet& ls = levels[static_cast<size_t>(first + r)];
    double gap_sum = 0;
    int64_t gaps = 0;
    for (int64_t k = 0; k < cols; ++k) {
      const size_t at = static_cast<size_t>((first + r) * cols + k);
      const double x = w[at];
      target(r, k) = x;
      free(r, k) = false;
      gap(r, k) = 0;
      v(r, k) = 0;
      if (ls.levels.empty()) {
        lo(r, k) = x, lo_index(r, k) = -1;
        continue;
      }
      if (!fixed_zero.empty() && fixed_zero[at]) {
        const auto zero = std::find(ls.levels.begin(), ls.levels.end(), 0.0);
        lo_index(r, k) = static_cast<int>(zero - ls.levels.begin());
        lo(r, k) = 0;
        continue;
      }
      auto it = std::upper_bound(ls.levels.begin(), ls.levels.end(), x);
      if (it == ls.levels.begin() || it == ls.levels.end()) {  // outside the range: the nearest end
        const size_t i = it == ls.levels.begin() ? 0 : ls.levels.size() - 1;
        lo(r, k) = ls.levels[i], lo_index(r, k) = static_cast<int>(i);
        continue;
      }
      const size_t i = static_cast<size_t>(it - ls.levels.begin()) - 1;
      lo(r, k) = ls.levels[i], lo_index(r, k) = static_cast<int>(i);
      gap(r, k) = ls.levels[i + 1] - ls.levels[i];
      free(r, k) = gap(r, k) > 0;
      if (free(r, k)) v(r, k) = soft_rounding::inverse((x - ls.levels[i]) / gap(r, k)), gap_sum += gap(r, k) * gap(r, k), ++gaps;
    }
    norm[static_cast<size_t>(r)] = gaps ? gap_sum / static_cast<double>(gaps) * h_scale : 1.0;
    if (!(norm[static_cast<size_t>(r)] > 0)) norm[static_cast<size_t>(r)] = 1.0;
  }
  // Every step in whole-array operations (vectorized, the same arithmetic for every weight); a weight
  // that is not free has gap 0 and a zero gradient, so it never moves.
  const Eigen::ArrayXXd free_mask = free.cast<double>().array();
  Eigen::ArrayXXd row_norm(count, cols);
  for (int64_t r = 0; r < count; ++r) row_norm.row(r).setConstant(norm[static_cast<size_t>(r)]);
  const Eigen::ArrayXXd gap_over_norm = gap.array() / row_norm;
  Eigen::ArrayXXd m1 = Eigen::ArrayXXd::Zero(count, cols), m2 = Eigen::ArrayXXd::Zero(count, cols);
  Eigen::ArrayXXd s(count, cols), raw(count, cols), hv(count, cols), dh(count, cols), g(count, cols);
  // The gradient's product with H in float (the step's direction needs no more; twice as fast).
  const FloatMatrix hf = h.cast<float>();
  FloatMatrix diff(count, cols), grad_q(count, cols);
  const double span = zeta - gamma_;
  Adam adam;
  for (int it = 0; it < o.iterations; ++it) {
    s = 1.0 / (1.0 + (-v.array()).exp());
    raw = s * span + gamma_;
    hv = raw.max(0.0).min(1.0) * free_mask;
    dh = (raw > 0.0 && raw < 1.0).select(s * (1.0 - s) * span, 0.0) * free_mask;
    diff = (lo.array() + hv * gap.array() - target.array()).cast<float>().matrix();
    grad_q.noalias() = diff * hf;
    g = 2.0 * grad_q.array().cast<double>() * gap_over_norm * dh;
    const double beta = soft_rounding::beta_at(o, it);
    if (beta > 0) {
      raw = 2.0 * hv - 1.0;  // (reused: c = 2h - 1)
      g += o.lambda * -beta * raw.abs().pow(beta - 1) * (raw >= 0.0).select(2.0, Eigen::ArrayXXd::Constant(count, cols, -2.0)) * dh;
    }
    adam.step();
    v.array() -= adam.update(g, m1, m2, o.learning_rate) * free_mask;
  }
  for (int64_t r = 0; r < count; ++r) {
    const LevelSet& ls = levels[static_cast<size_t>(first + r)];
    for (int64_t k = 0; k < cols; ++k) {
      const size_t at = static_cast<size_t>((first + r) * cols + k);
      if (ls.levels.empty()) {
        out.values[at] = w[at];
        continue;
      }
      const size_t i = static_cast<size_t>(lo_index(r, k)) + (free(r, k) && v(r, k) >= 0 ? 1 : 0);
      out.values[at] = ls.levels[i];
      out.codes[at] = ls.codes[i];
    }
  }
}

}  // namespace

GptqResult adaround_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<double>& h,
                             const std::vector<LevelSet>& levels, const std::vector<uint8_t>& fixed_zero, const AdaRoundOptions& options,
                             ThreadPool* pool) {
  GptqResult out;
  out.values.resize(w.size());
  out.codes.assign(w.size(), 0);
  if (!fixed_zero.empty()) out.pruned = fixed_zero;
  const Eigen::Map<const RowMatrix> hm(h.data(), cols, cols);
  double h_scale = cols > 0 ? hm.diagonal().mean() : 1.0;
  if (!(h_scale > 0)) h_scale = 1.0;
  // Blocks of rows whose boundaries depend on the shapes only.
  constexpr int64_t block = 128;
  const int64_t blocks = (rows + block - 1) / block;
  auto run = [&](int64_t b) {
    const int64_t first = b * block;
    optimize_rows(w, first, std::min(block, rows - first), cols, hm, h_scale, levels, fixed_zero, options, out);
  };
  if (pool) pool->parallel_for(blocks, run);
  else
    for (int64_t b = 0; b < blocks; ++b) run(b);
  return out;
}

}  // namespace mc
