#include "passes/budget.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

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

namespace {

// Fills record's choice from the confirmation step's judgements: the chosen candidate, or when none
// passed the most accurate one judged (a file, with the record saying so, rather than nothing).
void record_choice(BudgetRecord& record, const ConfirmedChoice& choice) {
  if (choice.chosen) {
    record.within = true;
    record.chosen_steps = choice.decided[*choice.chosen].first;
    record.decision = choice.decided[*choice.chosen].second;
    return;
  }
  auto best = std::min_element(choice.decided.begin(), choice.decided.end(),
                               [](const auto& a, const auto& b) { return a.second.estimate < b.second.estimate; });
  record.within = false;
  record.chosen_steps = best->first;
  record.decision = best->second;
}

// The candidates a labelled decision tests, fixed before any validation image is looked at: none at
// all, then the shortest prefix reaching each k / kGrid of the total benefit (k = 1..kGrid).
constexpr int kGrid = 40;
std::vector<size_t> benefit_grid(const BudgetQuery& q) {
  std::vector<size_t> grid{0};
  const double total = q.count == 0 ? 0 : q.benefit_through(q.count);
  for (int k = 1; k <= kGrid && q.count > 0; ++k) {
    const double target = total * k / kGrid;
    size_t lo = 0, hi = q.count;  // the smallest n with benefit_through(n) >= target (benefit never falls with n)
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (q.benefit_through(mid) >= target) hi = mid;
      else lo = mid + 1;
    }
    if (lo != grid.back()) grid.push_back(lo);
  }
  return grid;
}

}  // namespace

size_t budget_search(PassContext& ctx, const BudgetQuery& q) {
  const double confidence = q.confidence > 0 ? q.confidence : ctx.confidence;
  const bool labelled = ctx.has_validation();
  BudgetRecord record;
  record.pass = q.pass;
  record.benefit_unit = q.benefit_unit;
  record.max_drop = q.max_drop;
  auto log_probe = [&](const std::string& what, size_t n, const DropBound& d) {
    if (ctx.log)
      ctx.log(q.pass + ": " + what + with_commas(static_cast<int64_t>(n)) + " steps (" + with_commas(static_cast<int64_t>(q.benefit_through(n))) +
              " " + q.benefit_unit + "): " + describe(d) + (d.bound <= q.max_drop ? ", within" : ", over") + " the budget");
  };

  if (labelled) {
    // With labels: the fixed-sequence test on every validation image, over candidates fixed in
    // advance (benefit_grid), from the smallest up; the first failure ends it and the last that
    // passed is kept. A candidate whose true drop exceeds the budget is then kept with probability
    // at most 1 - confidence, however many candidates were judged, since each bound is unconditional
    // (analysis/paired_drop.h) and the order does not depend on these images.
    const CalibrationSet& images = ctx.validation;
    record.image_worth = 100.0 / static_cast<double>(images.files.size());
    record.certifiable = static_cast<int64_t>(images.files.size()) >= images_to_certify(q.max_drop, confidence);
    const ConfirmedChoice choice = confirm_candidates(benefit_grid(q), true, q.max_drop, [&](size_t n) {
      BudgetProbe p;
      p.steps = n;
      p.benefit = q.benefit_through(n);
      p.search = judge(ctx, q.build(n), images, &ctx.validation_labels, q.criterion, confidence);
      p.accepted = p.search.bound <= q.max_drop;
      log_probe("", n, p.search);
      record.path.push_back(p);
      return p.search;
    });
    record_choice(record, choice);
    record.met = record.within;  // an unconditional bound within the budget is a decision, whatever N
  } else {
    // Without labels: bisection on the first half of the held-out calibration images, then the
    // candidate found must pass on the second half, which no step of the search saw; if it does not,
    // the search steps back along its path (the smaller candidates it accepted, then none) until one
    // does.
    const CalibrationSet search = search_images(ctx.held_out, q.mirrored_views);
    const CalibrationSet confirm = confirmation_images(ctx.held_out, q.mirrored_views);
    const bool separate = ctx.held_out.files.size() >= 2;
    if (search.files.empty()) fail_usage(q.pass + ": max-drop needs held-out calibration images (--calib with enough images) or --val DIR");
    const double decision_images = static_cast<double>(confirm.files.size());
    // One decision image worth more than the budget: a bound within it decides nothing (not met;
    // outcome() and the CLI's warning say so).
    record.certifiable = 100.0 / decision_images <= q.max_drop;
    record.image_worth = 100.0 / decision_images;
    std::map<size_t, size_t> probe_of;  // steps -> index in record.path
    auto probe = [&](size_t n) {
      BudgetProbe p;
      p.steps = n;
      p.benefit = q.benefit_through(n);
      p.search = judge(ctx, q.build(n), search, nullptr, q.criterion, confidence);
      p.accepted = p.search.bound <= q.max_drop;
      log_probe("", n, p.search);
      probe_of[n] = record.path.size();
      record.path.push_back(p);
      return p.accepted;
    };
    const size_t found = q.count == 0 ? 0 : largest_acceptable(q.count, probe, q.benefit_through, q.resolution);
    std::vector<size_t> candidates{found, 0};
    for (const auto& p : record.path)
      if (p.accepted && p.steps <= found) candidates.push_back(p.steps);
    auto decide = [&](size_t n) {
      auto it = probe_of.find(n);
      if (!separate && it != probe_of.end()) return record.path[it->second].search;
      const DropBound d = judge(ctx, q.build(n), separate ? confirm : search, nullptr, q.criterion, confidence);
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
      log_probe("confirming ", n, d);
      return d;
    };
    record_choice(record, confirm_candidates(candidates, false, q.max_drop, decide));
    record.met = record.within && record.certifiable;
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
