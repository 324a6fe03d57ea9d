#include "passes/budget.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <string>

#include "analysis/rounding.h"
#include "core/text.h"
#include "core/stage_timer.h"

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

CalibrationSet search_images(const CalibrationSet& held_out, bool mirrored) {
  CalibrationSet s = held_out;
  s.mirrored = mirrored;
  if (held_out.files.size() >= 2) s.files.resize(held_out.files.size() / 2);
  return s;
}

namespace {

// The other half of the held-out images: what a label-free decision is confirmed on.
CalibrationSet confirmation_images(const CalibrationSet& held_out, bool mirrored) {
  CalibrationSet s = held_out;
  s.mirrored = mirrored;
  if (held_out.files.size() >= 2) s.files.erase(s.files.begin(), s.files.begin() + static_cast<std::ptrdiff_t>(held_out.files.size() / 2));
  return s;
}

// One candidate on one image set: a paired bound with labels, the label-free bound otherwise.
DropBound judge(PassContext& ctx, const Model& candidate, const CalibrationSet& images, const std::vector<int64_t>* labels,
                DropCriterion criterion, double confidence) {
  TimedStage timed("budget probes");
  const EndToEnd e = compare_outputs(candidate, images, ctx.float_reference(images), ctx.threads);
  if (labels) {
    std::vector<uint8_t> float_right(labels->size()), candidate_right(labels->size());
    for (size_t i = 0; i < labels->size(); ++i) {
      float_right[i] = e.image_float_top1.at(i) == (*labels)[i];
      candidate_right[i] = e.image_top1.at(i) == (*labels)[i];
    }
    return labelled_drop(float_right, candidate_right, confidence);
  }
  return label_free_drop(criterion == DropCriterion::expected ? e.image_expected_cost : e.image_disagreement, confidence);
}

std::string describe(const DropBound& d) {
  return "drop " + fixed(d.estimate, 2) + ", bound " + fixed(d.bound, 2) + " points on " + count_of(d.images, "image") +
         (d.labels ? " (labelled)" : "");
}

}  // namespace

ConfirmedChoice confirm_candidates(std::vector<size_t> candidates, bool fixed_sequence, double max_drop,
                                   const std::function<DropBound(size_t)>& judge) {
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  if (!fixed_sequence) std::reverse(candidates.begin(), candidates.end());
  ConfirmedChoice c;
  for (size_t n : candidates) {
    const DropBound d = judge(n);
    c.decided.emplace_back(n, d);
    const bool pass = d.bound <= max_drop;
    if (fixed_sequence) {
      if (!pass) break;         // the first failure ends the sequence
      c.chosen = c.decided.size() - 1;
    } else if (pass) {
      c.chosen = c.decided.size() - 1;  // the first pass, stepping back from the largest
      break;
    }
  }
  return c;
}

size_t budget_search(PassContext& ctx, const BudgetQuery& q) {
  const double confidence = q.confidence > 0 ? q.confidence : ctx.confidence;
  const bool labelled = ctx.has_validation();
  // Decision images: the two halves of the labelled validation images, or of the held-out
  // calibration images. The search bisects on the first half; the decision is made on the second,
  // which no step of the search saw.
  const CalibrationSet& pool = labelled ? ctx.validation : ctx.held_out;
  const CalibrationSet search = search_images(pool, q.mirrored_views && !labelled);
  const CalibrationSet confirm = confirmation_images(pool, q.mirrored_views && !labelled);
  std::vector<int64_t> search_labels, confirm_labels;
  if (labelled) {
    const auto half = static_cast<std::ptrdiff_t>(search.files.size());
    search_labels.assign(ctx.validation_labels.begin(), ctx.validation_labels.begin() + half);
    confirm_labels.assign(ctx.validation_labels.begin() + half, ctx.validation_labels.end());
  }
  const bool separate = pool.files.size() >= 2;
  if (search.files.empty()) fail_usage(q.pass + ": max-drop needs held-out calibration images (--calib with enough images) or --val DIR");

  BudgetRecord record;
  record.pass = q.pass;
  record.benefit_unit = q.benefit_unit;
  record.max_drop = q.max_drop;
  const double decision_images = static_cast<double>(confirm.files.size());
  record.certifiable = 100.0 / decision_images <= q.max_drop;
  // A candidate no image disagrees on: the best bound these images can give.
  record.image_worth = 100.0 / decision_images;
  // Too few decision images (one worth more than the budget): the outcome says so (outcome(), the CLI's warning).

  // Search: bisection on the search images.
  std::map<size_t, size_t> probe_of;  // steps -> index in record.path
  auto probe = [&](size_t n) {
    BudgetProbe p;
    p.steps = n;
    p.benefit = q.benefit_through(n);
    p.search = judge(ctx, q.build(n), search, labelled ? &search_labels : nullptr, q.criterion, confidence);
    p.accepted = p.search.bound <= q.max_drop;
    if (ctx.log)
      ctx.log(q.pass + ": " + with_commas(static_cast<int64_t>(n)) + " steps (" + with_commas(static_cast<int64_t>(p.benefit)) + " " +
              q.benefit_unit + "): " + describe(p.search) + (p.accepted ? ", within" : ", over") + " the budget");
    probe_of[n] = record.path.size();
    record.path.push_back(p);
    return p.accepted;
  };
  const size_t found = q.count == 0 ? 0 : largest_acceptable(q.count, probe, q.benefit_through, q.resolution);

  // Decision on the confirmation images, among the candidate found, the smaller ones the search
  // accepted and none at all. With labels, the fixed-sequence test: from the smallest up, stopping
  // at the first failure (whatever the search did, a candidate whose true drop exceeds the budget is
  // kept with probability at most 1 - confidence). Without labels: stepping back from the candidate
  // found until one passes.
  std::vector<size_t> candidates{found, 0};
  for (const auto& p : record.path)
    if (p.accepted && p.steps <= found) candidates.push_back(p.steps);
  auto decide = [&](size_t n) {
    auto it = probe_of.find(n);
    if (!separate && it != probe_of.end()) return record.path[it->second].search;
    const DropBound d = judge(ctx, q.build(n), separate ? confirm : search,
                              labelled ? (separate ? &confirm_labels : &search_labels) : nullptr, q.criterion, confidence);
    if (it == probe_of.end()) {
      probe_of[n] = record.path.size();
      BudgetProbe p;
      p.steps = n;
      p.benefit = q.benefit_through(n);
      p.search = d;
      record.path.push_back(p);
      it = probe_of.find(n);
    }
    if (separate) record.path[it->second].confirm = d;
    record.path[it->second].accepted = d.bound <= q.max_drop;
    if (ctx.log) ctx.log(q.pass + ": confirming " + with_commas(static_cast<int64_t>(n)) + " steps: " + describe(d));
    return d;
  };
  const ConfirmedChoice choice = confirm_candidates(candidates, labelled, q.max_drop, decide);
  if (choice.chosen) {
    // A bound within the budget on images too few to resolve it decides nothing: not met.
    record.within = true;
    record.met = record.certifiable;
    record.chosen_steps = choice.decided[*choice.chosen].first;
    record.decision = choice.decided[*choice.chosen].second;
  } else {
    // No candidate meets the budget: keep the most accurate one judged (a file, with the record
    // saying so, rather than nothing).
    auto best = std::min_element(choice.decided.begin(), choice.decided.end(),
                                 [](const auto& a, const auto& b) { return a.second.estimate < b.second.estimate; });
    record.met = false;
    record.within = false;
    record.chosen_steps = best->first;
    record.decision = best->second;
  }
  record.chosen_benefit = q.benefit_through(record.chosen_steps);
  if (ctx.note)
    ctx.note(q.pass + ": budget " + format_number(q.max_drop) + " point" + (q.max_drop == 1 ? "" : "s") + " (" +
             (labelled ? "labelled validation images" : "label-free, held-out calibration images") + ", confidence " +
             format_number(confidence) + "): " + (record.met ? "met" : record.within ? "not decidable" : "NOT met; kept the most accurate") + ", " +
             describe(record.decision) + ", " + with_commas(static_cast<int64_t>(record.chosen_benefit)) + " " + q.benefit_unit + "; " +
             count_of(static_cast<int64_t>(record.path.size()), "candidate") + " tried");
  ctx.budgets.push_back(record);
  return record.chosen_steps;
}

std::string outcome(const BudgetRecord& r) {
  if (r.met) return "met";
  if (r.within)
    return "not decidable on these images (one is worth " + fixed(r.image_worth, 2) + " points, more than the budget): kept the largest candidate within the bound";
  return "NOT met by any candidate, kept the most accurate";
}

nlohmann::ordered_json to_json(const BudgetRecord& r) {
  auto points = [](double v) { return percent_value(v); };
  nlohmann::ordered_json j;
  j["pass"] = r.pass;
  j["max_drop"] = r.max_drop;
  j["estimate"] = points(r.decision.estimate);
  j["bound"] = points(r.decision.bound);
  j["confidence"] = r.decision.confidence;
  j["images"] = r.decision.images;
  j["labels"] = r.decision.labels;
  j["met"] = r.met;
  j["within"] = r.within;
  j["certifiable"] = r.certifiable;
  j["image_worth"] = points(r.image_worth);
  j["benefit_unit"] = r.benefit_unit;
  j["benefit"] = std::round(r.chosen_benefit);
  j["steps"] = r.chosen_steps;
  j["path"] = nlohmann::ordered_json::array();
  for (const auto& p : r.path) {
    nlohmann::ordered_json pj;
    pj["steps"] = p.steps;
    pj["benefit"] = std::round(p.benefit);
    pj["estimate"] = points(p.search.estimate);
    pj["bound"] = points(p.search.bound);
    pj["images"] = p.search.images;
    if (p.confirm) {
      pj["confirm_estimate"] = points(p.confirm->estimate);
      pj["confirm_bound"] = points(p.confirm->bound);
      pj["confirm_images"] = p.confirm->images;
    }
    pj["accepted"] = p.accepted;
    j["path"].push_back(pj);
  }
  return j;
}

double kl_per_proxy(const Model& probe, double base_kl, double proxy, PassContext& ctx, const CalibrationSet& held_out) {
  TimedStage timed("allocation probes");
  const double added = compare_outputs(probe, held_out, ctx.float_reference(held_out), ctx.threads).kl - base_kl;
  return std::max(added, 1e-6) / std::max(proxy, 1e-12);
}

}  // namespace mc
