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
// target benefit, or with max-drop=P the longest whose held-out top-1 agreement with the float
// model stays at 100 - P or more (bisection; each probe a forward pass of the held-out images).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

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

// What max-drop=P bounds on the held-out images: the drop of top-1 agreement with the float model
// (100 - agreement; the README's meaning of --max-drop, strict: on 128 images one changed
// prediction is 0.78 points), or the expected top-1 accuracy drop estimated without labels from
// the float model's output distribution (analysis/sensitivity.h EndToEnd::expected_drop),
// bounded with one-sided 95% confidence over the held-out images (mean + 1.645 standard errors).
enum class DropCriterion { agreement, expected };
// criterion=agreement|expected from the options.
DropCriterion drop_criterion(const PassOptions& options);

// The max-drop=P check of `probe` on `held_out` (the held-out images, as the pass views them):
// logs `what` with the held-out agreement, expected drop and KL. With the expected criterion the
// bound is mean + z standard errors (z: the pass's confidence=Z).
bool within_drop(const Model& probe, double max_drop, PassContext& ctx, const CalibrationSet& held_out, const std::string& what,
                 DropCriterion criterion = DropCriterion::agreement, double confidence_z = 1.645);

// Measured damage per unit of proxy error: the KL on `held_out` that `probe` (the model with one
// layer changed) adds over `base_kl`, divided by that change's proxy error; floored so a change
// that measures as free does not look infinitely cheap.
double kl_per_proxy(const Model& probe, double base_kl, double proxy, PassContext& ctx, const CalibrationSet& held_out);

}  // namespace mc
