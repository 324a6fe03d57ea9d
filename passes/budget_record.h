// What a budgeted pass decided (--max-drop), kept for the summary `compress` prints and for the
// `budget` object of the report (docs/BUDGET.md): the decision, its bound and images, whether the
// budget was met, and every candidate the search tried.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "analysis/paired_drop.h"

namespace mc {

struct BudgetProbe {
  size_t steps = 0;        // the candidate: the first `steps` ranked steps taken
  double benefit = 0;      // its total benefit (MULs removed, bytes saved, ...)
  DropBound search;        // judged on the search images
  std::optional<DropBound> confirm;  // judged on the confirmation images, when it was
  bool accepted = false;   // passed where it was judged last
};

struct BudgetRecord {
  std::string pass;
  std::string benefit_unit;
  double max_drop = 0;
  bool met = false;               // the chosen candidate's bound is within max_drop, on images that can decide it
  bool within = false;            // the chosen candidate's bound is within max_drop (met, or not decidable)
  bool certifiable = true;        // one decision image is worth no more than max_drop
  double image_worth = 0;         // points one decision image is worth (100 / images): the finest drop they resolve
  size_t chosen_steps = 0;
  double chosen_benefit = 0;
  DropBound decision;             // the chosen candidate on the decision (confirmation) images
  std::vector<BudgetProbe> path;  // in the order tried
};

// {max_drop, estimate, bound, confidence, images, labels, met, within, certifiable, image_worth, pass,
//  benefit_unit, benefit, path: [{steps, benefit, estimate, bound, images, confirm_estimate,
//  confirm_bound, accepted}]}, numbers rounded to what they can resolve.
nlohmann::ordered_json to_json(const BudgetRecord& record);
// One phrase for the outcome: "met", "not decidable on these images (...)" or "NOT met by any candidate...".
std::string outcome(const BudgetRecord& record);

}  // namespace mc
