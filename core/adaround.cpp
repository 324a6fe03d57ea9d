#include "core/adaround.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace mc {

namespace {

constexpr double zeta = 1.1, gamma_ = -0.1;

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

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
  RowMatrix m1 = RowMatrix::Zero(count, cols), m2 = RowMatrix::Zero(count, cols), hv(count, cols), q(count, cols);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (int it = 0; it < o.iterations; ++it) {
    for (int64_t r = 0; r < count; ++r)
      for (int64_t k = 0; k < cols; ++k) {
        hv(r, k) = free(r, k) ? soft_rounding::h(v(r, k)) : 0.0;
        q(r, k) = lo(r, k) + hv(r, k) * gap(r, k);
      }
    const RowMatrix grad_q = 2.0 * (q - target) * h;
    const double beta = soft_rounding::beta_at(o, it);
    const double t = it + 1;
    for (int64_t r = 0; r < count; ++r)
      for (int64_t k = 0; k < cols; ++k) {
        if (!free(r, k)) continue;
        const double dh = soft_rounding::dh(v(r, k));
        double g = grad_q(r, k) * gap(r, k) * dh / norm[static_cast<size_t>(r)];
        if (beta > 0) g += soft_rounding::regularizer_gradient(o.lambda, hv(r, k), beta) * dh;
        m1(r, k) = b1 * m1(r, k) + (1 - b1) * g;
        m2(r, k) = b2 * m2(r, k) + (1 - b2) * g * g;
        const double mhat = m1(r, k) / (1 - std::pow(b1, t)), vhat = m2(r, k) / (1 - std::pow(b2, t));
        v(r, k) -= o.learning_rate * mhat / (std::sqrt(vhat) + eps);
      }
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
  constexpr int64_t block = 16;
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
