#include "core/quantizers.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace mc {

namespace {

double h_at(const Metric& h, int64_t i, int64_t j) { return h.data ? h.data[i * h.size + j] : (i == j ? 1.0 : 0.0); }

// H v
std::vector<double> apply(const Metric& h, std::span<const double> v) {
  const size_t k = v.size();
  std::vector<double> out(k, 0.0);
  if (!h.data) {
    std::copy(v.begin(), v.end(), out.begin());
    return out;
  }
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Matrix> m(h.data, static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k));
  Eigen::Map<const Eigen::VectorXd> x(v.data(), static_cast<Eigen::Index>(k));
  Eigen::Map<Eigen::VectorXd>(out.data(), static_cast<Eigen::Index>(k)).noalias() = m * x;
  return out;
}

}  // namespace

double quadratic_form(const Metric& h, std::span<const double> v) {
  auto hv = apply(h, v);
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * hv[i];
  return s;
}

TernaryTerm fit_ternary(std::span<const double> w, const Metric& h) {
  const int64_t k = static_cast<int64_t>(w.size());
  TernaryTerm best;
  best.signs.assign(static_cast<size_t>(k), 0);
  if (k == 0) return best;
  std::vector<int64_t> order(static_cast<size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return std::fabs(w[static_cast<size_t>(a)]) > std::fabs(w[static_cast<size_t>(b)]); });
  // Grow the support in order of |w|. With t the current sign vector, the best scale is
  // a = t'Hw / t'Ht and the error wHw - (t'Hw)^2 / t'Ht; keep H t up to date in O(K) per step.
  auto hw = apply(h, w);
  std::vector<double> ht(static_cast<size_t>(k), 0.0);
  double tht = 0, thw = 0, best_gain = 0;
  int64_t best_count = 0;
  double best_scale = 0;
  for (int64_t n = 0; n < k; ++n) {
    int64_t j = order[static_cast<size_t>(n)];
    double wj = w[static_cast<size_t>(j)];
    if (wj == 0) break;
    double sign = wj > 0 ? 1.0 : -1.0;
    tht += 2 * sign * ht[static_cast<size_t>(j)] + h_at(h, j, j);
    thw += sign * hw[static_cast<size_t>(j)];
    if (h.data) {
      const double* col = h.data + j * h.size;  // H is symmetric: row j == column j
      for (int64_t i = 0; i < k; ++i) ht[static_cast<size_t>(i)] += sign * col[i];
    } else {
      ht[static_cast<size_t>(j)] += sign;
    }
    if (tht <= 0) continue;
    double gain = thw * thw / tht;
    if (gain > best_gain) {
      best_gain = gain;
      best_count = n + 1;
      best_scale = thw / tht;
    }
  }
  best.scale = static_cast<float>(best_scale);
  for (int64_t n = 0; n < best_count; ++n) {
    int64_t j = order[static_cast<size_t>(n)];
    best.signs[static_cast<size_t>(j)] = w[static_cast<size_t>(j)] > 0 ? 1 : -1;
  }
  if (best.scale < 0) {  // the fitted scale is negative only for a degenerate H; flip signs
    best.scale = -best.scale;
    for (auto& s : best.signs) s = static_cast<int8_t>(-s);
  }
  return best;
}

std::vector<double> ternary_values(const std::vector<TernaryTerm>& terms, size_t k) {
  std::vector<double> v(k, 0.0);
  // Summed in float32, term by term, exactly as the decoder does.
  std::vector<float> acc(k, 0.0f);
  for (const auto& t : terms)
    for (size_t i = 0; i < k; ++i) acc[i] += t.signs[i] == 1 ? t.scale : (t.signs[i] == -1 ? -t.scale : 0.0f);
  for (size_t i = 0; i < k; ++i) v[i] = acc[i];
  return v;
}

std::vector<TernaryTerm> fit_residual_ternary(std::span<const double> w, int terms, const Metric& h) {
  std::vector<TernaryTerm> out;
  std::vector<double> residual(w.begin(), w.end());
  for (int t = 0; t < terms; ++t) {
    out.push_back(fit_ternary(residual, h));
    const auto& term = out.back();
    for (size_t i = 0; i < residual.size(); ++i) residual[i] -= term.scale * term.signs[i];
  }
  return out;
}

UniformFit fit_uniform(std::span<const double> w, int bits, const Metric& h) { return fit_uniform_levels(w, (1 << (bits - 1)) - 1, h); }

UniformFit fit_uniform_levels(std::span<const double> w, int32_t qmax, const Metric& h) {
  double max_abs = 0;
  for (double v : w) max_abs = std::max(max_abs, std::fabs(v));
  UniformFit best;
  best.q.assign(w.size(), 0);
  if (max_abs == 0) return best;
  double best_err = -1;
  std::vector<double> diff(w.size());
  std::vector<int32_t> q(w.size());
  // Clipping ratios from 1 down to 0.5: low bit widths trade clipped outliers for finer steps.
  for (int step = 0; step <= 10; ++step) {
    double ratio = 1.0 - 0.05 * step;
    float scale = static_cast<float>(max_abs * ratio / qmax);
    if (!(scale > 0)) continue;
    for (size_t i = 0; i < w.size(); ++i) {
      double r = std::nearbyint(w[i] / scale);
      q[i] = static_cast<int32_t>(std::clamp(r, static_cast<double>(-qmax), static_cast<double>(qmax)));
      diff[i] = w[i] - static_cast<double>(static_cast<float>(q[i]) * scale);
    }
    double err = quadratic_form(h, diff);
    if (best_err < 0 || err < best_err) {
      best_err = err;
      best.scale = scale;
      best.q = q;
    }
  }
  return best;
}

std::vector<double> uniform_values(const UniformFit& fit) {
  std::vector<double> v(fit.q.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(fit.q[i]) * fit.scale;
  return v;
}

double relative_error(std::span<const double> w, std::span<const double> q, const Metric& h) {
  std::vector<double> diff(w.size());
  for (size_t i = 0; i < w.size(); ++i) diff[i] = w[i] - q[i];
  double denom = quadratic_form(h, w);
  return denom > 0 ? quadratic_form(h, diff) / denom : 0.0;
}

}  // namespace mc
