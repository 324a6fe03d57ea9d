#include "passes/budget.h"

#include <algorithm>
#include <string>

namespace mc {

std::vector<BudgetStep> ranked_steps(const std::vector<std::vector<BudgetOption>>& layers) {
  std::vector<BudgetStep> steps;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& opts = layers[l];
    if (opts.empty()) continue;
    // Lower convex hull from option 0 towards larger benefit: repeatedly take the option with the
    // smallest slope from the current point (ties: the larger benefit).
    size_t at = 0;
    while (true) {
      size_t best = opts.size();
      double best_slope = 0;
      for (size_t o = 0; o < opts.size(); ++o) {
        const double db = opts[o].benefit - opts[at].benefit;
        if (!(db > 0)) continue;
        const double slope = (opts[o].cost - opts[at].cost) / db;
        if (best == opts.size() || slope < best_slope || (slope == best_slope && opts[o].benefit > opts[best].benefit)) {
          best = o;
          best_slope = slope;
        }
      }
      if (best == opts.size()) break;
      steps.push_back(BudgetStep{l, best, best_slope, opts[best].benefit - opts[at].benefit});
      at = best;
    }
  }
  // Within a layer slopes do not decrease along the hull, so a stable sort keeps each layer's
  // steps in order.
  std::stable_sort(steps.begin(), steps.end(), [](const BudgetStep& a, const BudgetStep& b) { return a.slope < b.slope; });
  return steps;
}

std::vector<size_t> options_after(const std::vector<BudgetStep>& steps, size_t n, size_t layer_count) {
  std::vector<size_t> chosen(layer_count, 0);
  for (size_t i = 0; i < n && i < steps.size(); ++i) chosen[steps[i].layer] = steps[i].option;
  return chosen;
}

size_t largest_acceptable(size_t count, const std::function<bool(size_t)>& acceptable, const std::function<double(size_t)>& benefit_through,
                          double resolution) {
  size_t lo = 0, hi = count;
  if (count == 0 || acceptable(hi)) return count;
  // Invariant: lo acceptable (0 is taken as acceptable), hi not.
  while (hi > lo + 1 && benefit_through(hi) - benefit_through(lo) > resolution) {
    size_t mid = lo + (hi - lo) / 2;
    if (acceptable(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

DropCriterion drop_criterion(const PassOptions& options) {
  return options.text("criterion") == "agreement" ? DropCriterion::agreement : DropCriterion::expected;
}

bool within_drop(const Model& probe, double max_drop, PassContext& ctx, const CalibrationSet& held_out, const std::string& what,
                 DropCriterion criterion, double z) {
  EndToEnd e = compare_outputs(probe, held_out, ctx.float_reference(held_out), ctx.threads);
  if (ctx.log)
    ctx.log(what + ": held-out top-1 agreement " + std::to_string(e.top1_agreement) + "%, expected top-1 drop " +
            std::to_string(e.expected_drop) + " +- " + std::to_string(e.expected_drop_se) + " points, KL " + std::to_string(e.kl));
  // Default z = 1.645, a one-sided 95% bound: the held-out sample is small and the bisection looks
  // at it many times.
  if (criterion == DropCriterion::expected) return e.expected_drop + z * e.expected_drop_se <= max_drop;
  return e.top1_agreement >= 100.0 - max_drop;
}

double kl_per_proxy(const Model& probe, double base_kl, double proxy, PassContext& ctx, const CalibrationSet& held_out) {
  const double added = compare_outputs(probe, held_out, ctx.float_reference(held_out), ctx.threads).kl - base_kl;
  return std::max(added, 1e-6) / std::max(proxy, 1e-12);
}

}  // namespace mc
