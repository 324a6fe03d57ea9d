#include "core/gptq.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace mc {

size_t LevelSet::nearest(double v) const {
  auto it = std::lower_bound(levels.begin(), levels.end(), v);
  if (it == levels.begin()) return 0;
  if (it == levels.end()) return levels.size() - 1;
  size_t hi = static_cast<size_t>(it - levels.begin());
  return (v - levels[hi - 1] <= levels[hi] - v) ? hi - 1 : hi;
}

GptqResult nearest_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<LevelSet>& levels) {
  GptqResult r;
  r.values.resize(w.size());
  r.codes.resize(w.size());
  for (int64_t f = 0; f < rows; ++f)
    for (int64_t k = 0; k < cols; ++k) {
      const LevelSet& ls = levels[static_cast<size_t>(f)];
      size_t i = ls.nearest(w[static_cast<size_t>(f * cols + k)]);
      r.values[static_cast<size_t>(f * cols + k)] = ls.levels[i];
      r.codes[static_cast<size_t>(f * cols + k)] = ls.codes[i];
    }
  return r;
}

GptqResult gptq_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<double>& h,
                         const std::vector<LevelSet>& levels, double damping) {
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index K = cols, F = rows;
  // Act-order: columns with the largest input energy first.
  std::vector<int64_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h[static_cast<size_t>(a * K + a)] > h[static_cast<size_t>(b * K + b)]; });
  Matrix hp(K, K);
  double mean_diag = 0;
  for (Eigen::Index i = 0; i < K; ++i) mean_diag += h[static_cast<size_t>(i * K + i)];
  mean_diag = K ? mean_diag / static_cast<double>(K) : 0.0;
  for (Eigen::Index i = 0; i < K; ++i)
    for (Eigen::Index j = 0; j < K; ++j) hp(i, j) = h[static_cast<size_t>(order[static_cast<size_t>(i)] * K + order[static_cast<size_t>(j)])];
  const double lambda = std::max(damping * mean_diag, 1e-12);
  for (Eigen::Index i = 0; i < K; ++i) {
    if (hp(i, i) <= 0) hp(i, i) = 1.0;  // a dead input: its weight cannot affect the output
    hp(i, i) += lambda;
  }
  // U: upper Cholesky factor of H^-1 (H^-1 = U^T U).
  Matrix hinv = hp.llt().solve(Matrix::Identity(K, K));
  Eigen::LLT<Matrix> llt(hinv);
  if (llt.info() != Eigen::Success) return nearest_quantize(w, rows, cols, levels);
  Matrix u = llt.matrixU();
  Matrix work(F, K);
  for (Eigen::Index f = 0; f < F; ++f)
    for (Eigen::Index j = 0; j < K; ++j) work(f, j) = w[static_cast<size_t>(f * K + order[static_cast<size_t>(j)])];
  GptqResult r;
  r.values.assign(w.size(), 0.0);
  r.codes.assign(w.size(), 0);
  Eigen::VectorXd err(F);
  for (Eigen::Index j = 0; j < K; ++j) {
    const double d = u(j, j);
    for (Eigen::Index f = 0; f < F; ++f) {
      const LevelSet& ls = levels[static_cast<size_t>(f)];
      double v = work(f, j);
      size_t i = ls.nearest(v);
      size_t at = static_cast<size_t>(f * K + order[static_cast<size_t>(j)]);
      r.values[at] = ls.levels[i];
      r.codes[at] = ls.codes[i];
      err(f) = (v - ls.levels[i]) / d;
    }
    if (j + 1 < K) work.rightCols(K - j - 1).noalias() -= err * u.row(j).tail(K - j - 1);
  }
  return r;
}

}  // namespace mc
