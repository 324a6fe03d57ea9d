#include "core/gptq.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <map>
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

int64_t pruned_per_row(double sparsity, int64_t cols) {
  return std::clamp<int64_t>(static_cast<int64_t>(std::llround(sparsity * static_cast<double>(cols))), 0, cols);
}

GptqResult nearest_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<LevelSet>& levels) {
  GptqResult r;
  r.values.resize(w.size());
  r.codes.resize(w.size());
  for (int64_t f = 0; f < rows; ++f)
    for (int64_t k = 0; k < cols; ++k) {
      const LevelSet& ls = levels[static_cast<size_t>(f)];
      const size_t at = static_cast<size_t>(f * cols + k);
      if (ls.levels.empty()) {
        r.values[at] = w[at];
        continue;
      }
      size_t i = ls.nearest(w[at]);
      r.values[at] = ls.levels[i];
      r.codes[at] = ls.codes[i];
    }
  return r;
}

namespace {

// The code of level 0 in a level set (preferring code 0 when several levels are exactly 0).
int32_t zero_code(const LevelSet& ls) {
  bool found = false;
  int32_t code = 0;
  for (size_t i = 0; i < ls.levels.size(); ++i)
    if (ls.levels[i] == 0.0) {
      if (!found || ls.codes[i] == 0) code = ls.codes[i];
      found = true;
    }
  if (!ls.levels.empty() && !found) fail_internal("gptq: pruning a row whose levels do not include 0");
  return code;
}

}  // namespace

GptqResult gptq_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<double>& h,
                         const std::vector<LevelSet>& levels, double damping, const PruneSpec& prune) {
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index K = cols, F = rows;
  const bool pruning = prune.mode != PruneSpec::Mode::none;
  // Act-order: columns with the largest input energy first.
  std::vector<int64_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 0);
  if (prune.act_order)
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
  Eigen::LLT<Matrix> h_llt(hp);
  Eigen::LLT<Matrix> llt;
  if (h_llt.info() == Eigen::Success) llt.compute(h_llt.solve(Matrix::Identity(K, K)));
  if (h_llt.info() != Eigen::Success || llt.info() != Eigen::Success) {
    // No usable covariance (inputs that hardly varied over the calibration images: one image, a
    // classifier's single pooled sample): without pruning, plain rounding; with pruning, the sweep
    // with H = I, i.e. magnitude saliency and no compensation.
    if (!pruning) return nearest_quantize(w, rows, cols, levels);
    llt.compute(Matrix::Identity(K, K));
  }
  Matrix u = llt.matrixU();
  Matrix work(F, K);
  for (Eigen::Index f = 0; f < F; ++f)
    for (Eigen::Index j = 0; j < K; ++j) work(f, j) = w[static_cast<size_t>(f * K + order[static_cast<size_t>(j)])];
  GptqResult r;
  r.values.assign(w.size(), 0.0);
  r.codes.assign(w.size(), 0);
  // Pruning decisions in processing order: prune(f, j) for column j of the sweep.
  std::vector<uint8_t> prune_now;
  std::vector<int32_t> zero_codes;
  if (pruning) {
    r.pruned.assign(w.size(), 0);
    prune_now.assign(static_cast<size_t>(F * K), 0);
    for (Eigen::Index f = 0; f < F; ++f) zero_codes.push_back(zero_code(levels[static_cast<size_t>(f)]));
    if (prune.mode == PruneSpec::Mode::fixed) {
      if (prune.fixed_mask.size() != w.size()) fail_internal("gptq: prune mask has the wrong size");
      for (Eigen::Index f = 0; f < F; ++f)
        for (Eigen::Index j = 0; j < K; ++j)
          prune_now[static_cast<size_t>(f * K + j)] = prune.fixed_mask[static_cast<size_t>(f * K + order[static_cast<size_t>(j)])];
    }
    if (prune.mode == PruneSpec::Mode::groups && static_cast<Eigen::Index>(prune.column_group.size()) != K)
      fail_internal("gptq: column groups have the wrong size");
  }
  // OBS saliency of the current weight at sweep position j.
  auto saliency = [&](Eigen::Index f, Eigen::Index j) {
    const double d = u(j, j);
    return work(f, j) * work(f, j) / (d * d);
  };
  const int64_t row_target = prune.mode == PruneSpec::Mode::per_row ? pruned_per_row(prune.sparsity, K) : 0;
  const int64_t block = std::max<int64_t>(1, prune.block);
  std::map<int64_t, std::vector<Eigen::Index>> group_members;  // group -> sweep positions
  std::vector<bool> group_done;
  if (prune.mode == PruneSpec::Mode::groups) {
    for (Eigen::Index j = 0; j < K; ++j) {
      int64_t g = prune.column_group[static_cast<size_t>(order[static_cast<size_t>(j)])];
      if (g >= 0) group_members[g].push_back(j);
    }
  }
  std::vector<std::pair<double, Eigen::Index>> scored;
  Eigen::VectorXd err(F);
  for (Eigen::Index j = 0; j < K; ++j) {
    if (prune.mode == PruneSpec::Mode::per_row && j % block == 0) {
      // Each row prunes its share of this block, cumulatively exact: after the block, row f has
      // pruned round(target * processed / K) weights.
      const Eigen::Index end = std::min<Eigen::Index>(K, j + block);
      const int64_t before = row_target * j / K, after = row_target * end / K;
      for (Eigen::Index f = 0; f < F; ++f) {
        scored.clear();
        for (Eigen::Index q = j; q < end; ++q) scored.emplace_back(saliency(f, q), q);
        std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (int64_t i = 0; i < after - before; ++i) prune_now[static_cast<size_t>(f * K + scored[static_cast<size_t>(i)].second)] = 1;
      }
    }
    if (prune.mode == PruneSpec::Mode::groups) {
      int64_t g = prune.column_group[static_cast<size_t>(order[static_cast<size_t>(j)])];
      auto it = g >= 0 ? group_members.find(g) : group_members.end();
      if (it != group_members.end() && it->second.front() == j) {
        // First member of the group in the sweep: none of it is fixed yet; keep the N most salient.
        const auto& members = it->second;
        for (Eigen::Index f = 0; f < F; ++f) {
          scored.clear();
          for (Eigen::Index q : members) scored.emplace_back(saliency(f, q), q);
          std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
          const int64_t drop = std::max<int64_t>(0, static_cast<int64_t>(members.size()) - prune.group_keep);
          for (int64_t i = 0; i < drop; ++i) prune_now[static_cast<size_t>(f * K + scored[static_cast<size_t>(i)].second)] = 1;
        }
      }
    }
    const double d = u(j, j);
    for (Eigen::Index f = 0; f < F; ++f) {
      const LevelSet& ls = levels[static_cast<size_t>(f)];
      const double v = work(f, j);
      const size_t at = static_cast<size_t>(f * K + order[static_cast<size_t>(j)]);
      double q = v;
      int32_t code = 0;
      if (pruning && prune_now[static_cast<size_t>(f * K + j)]) {
        q = 0.0;
        code = zero_codes[static_cast<size_t>(f)];
        r.pruned[at] = 1;
      } else if (!ls.levels.empty()) {
        size_t i = ls.nearest(v);
        q = ls.levels[i];
        code = ls.codes[i];
      }
      r.values[at] = q;
      r.codes[at] = code;
      err(f) = (v - q) / d;
    }
    if (j + 1 < K) work.rightCols(K - j - 1).noalias() -= err * u.row(j).tail(K - j - 1);
  }
  return r;
}

}  // namespace mc
