// Budgeted choices shared by the passes that trade accuracy for a benefit (split-hybrid: MULs
// removed; prune-obs: weights pruned; sparse-quantize: bytes saved).
//
// Each layer has a list of options, each with a cost (estimated damage: the layer's proxy error,
// scaled by a measured held-out KL per unit of proxy) and a benefit. Options are ranked across
// layers by cost per benefit: per layer, only the options on the lower convex hull of
// (benefit, cost) are worth taking, and moving from one hull point to the next is a step whose
// slope is its extra cost per extra benefit; steps of all layers sorted by slope form one ranked
// list (the greedy solution of the Lagrangian allocation min sum cost + lambda * benefit, every
// prefix optimal for its own total benefit). A budget is then a prefix: the shortest reaching a
// target benefit, or with max-drop=P the longest whose top-1 drop stays within P (budget_search;
// each candidate judged by a forward pass of the decision images).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "analysis/paired_drop.h"
#include "passes/pass.h"

namespace mc {

struct BudgetOption {
  double cost = 0;     // estimated damage (the first option of a layer is its starting point)
  double benefit = 0;  // e.g. bytes saved, weights pruned
};

struct BudgetStep {
  size_t layer = 0;
  size_t option = 0;   // the layer's option after this step
  double slope = 0;    // extra cost per extra benefit
  double benefit = 0;  // extra benefit
};

// The ranked steps over every layer's options (option 0 of each layer is where it starts).
std::vector<BudgetStep> ranked_steps(const std::vector<std::vector<BudgetOption>>& layers);

// Each layer's option after the first `n` steps.
std::vector<size_t> options_after(const std::vector<BudgetStep>& steps, size_t n, size_t layer_count);

// The largest n in [0, count] with acceptable(n), by bisection assuming 0 acceptable and
// acceptability falling with n; stops when the remaining interval holds at most `resolution` of
// benefit (benefit_through(n): total benefit of the first n).
size_t largest_acceptable(size_t count, const std::function<bool(size_t)>& acceptable,
                          const std::function<double(size_t)>& benefit_through, double resolution);

// How a budget is judged without labels (--max-drop on held-out calibration images): each image
// costs the expected top-1 loss p[argmax p] - p[argmax q] under the float model's output
// distribution p (expected), or 1 when its top-1 changed (agreement, stricter).
enum class DropCriterion { agreement, expected };
// criterion=agreement|expected from the options.
DropCriterion drop_criterion(const PassOptions& options);

// Measured damage per unit of proxy error: the KL on `held_out` that `probe` (the model with one
// layer changed) adds over `base_kl`, divided by that change's proxy error; floored so a change
// that measures as free does not look infinitely cheap.
double kl_per_proxy(const Model& probe, double base_kl, double proxy, PassContext& ctx, const CalibrationSet& held_out);

// A budgeted choice (max-drop=P) over a ranked list of `count` steps: the largest prefix whose drop
// stays within P (docs/BUDGET.md):
//  - with labels (--val): the fixed-sequence test on every validation image over candidates fixed in
//    advance (none, then every 1/40 of the total benefit), from the smallest up until the first
//    whose paired bound (analysis/paired_drop.h, unconditional) exceeds P; the last that passed is kept;
//  - without labels: bisection on one half of the held-out calibration images, then the candidate
//    found must pass on the other half, which the search never saw; if it does not, the search
//    steps back along its path (the smaller candidates it accepted) until one does.
// Always a file: when no candidate meets P, the most accurate one tried is kept and the record says
// the budget was not met. The record (the context's `budgets`) holds the decision, the bound, the
// images and the whole path.
struct BudgetQuery {
  std::string pass;            // for messages and the record
  double max_drop = 1;
  size_t count = 0;            // steps; 0: nothing to choose
  std::function<Model(size_t)> build;             // the model after the first n steps
  std::function<double(size_t)> benefit_through;  // total benefit of the first n steps
  double resolution = 0;       // stop bisecting when an interval holds at most this much benefit
  std::string benefit_unit;    // "MULs removed", "bytes saved", "weights pruned"
  DropCriterion criterion = DropCriterion::expected;
  double confidence = 0;       // 0: the context's
  bool mirrored_views = false; // label-free: judge each held-out image and its mirror (sparse-quantize views=2)
};
// The chosen number of steps.
size_t budget_search(PassContext& ctx, const BudgetQuery& query);

// The confirmation step over `candidates` (numbers of steps): with fixed_sequence, judged from the
// smallest up, stopping at the first whose bound exceeds max_drop (the chosen: the last that passed);
// otherwise from the largest down, stopping at the first that passes. `decided`: every judgement made,
// in order; `chosen`: its index there, none when no candidate passed. Exposed for tests.
struct ConfirmedChoice {
  std::vector<std::pair<size_t, DropBound>> decided;
  std::optional<size_t> chosen;
};
ConfirmedChoice confirm_candidates(std::vector<size_t> candidates, bool fixed_sequence, double max_drop,
                                   const std::function<DropBound(size_t)>& judge);

// The held-out images a label-free search bisects on (the first half of `held_out`, `mirrored` as
// asked): what the passes also measure their per-layer cost scales on.
CalibrationSet search_images(const CalibrationSet& held_out, bool mirrored);

}  // namespace mc
