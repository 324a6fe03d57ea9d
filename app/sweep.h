// The sweep job: compress a model at every point of a grid of recipes and budgets, each exactly as
// `mcompress compress` with the same settings would (same bytes), measure each written file (size,
// operations, energy, top-1 on the file itself) and mark the Pareto fronts. Points run in parallel;
// the table's order and bytes do not depend on how many. cli/ maps flags to SweepSettings and prints.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "analysis/sweep_table.h"
#include "app/compress_job.h"

namespace mc {

struct SweepSettings {
  std::string file;  // the source model as given (for commands and the table)
  std::string calib, eval_images, preprocess;
  std::vector<std::string> recipes;  // empty: every registered recipe
  std::vector<std::string> budgets;  // "recipe:key=v1,v2"
  std::string keep;                  // folder the point files are named into ("" : not kept)
  std::string validation_dir;        // --val: labelled images for the budget decisions ("" : label-free)
  std::string stats_file;            // --stats: calibration statistics read from this file ("" : computed)
  double confidence = 0.9;           // --confidence of those decisions
  int64_t calib_count = 256, eval_limit = 0;
  uint64_t seed = 0;
  int jobs = 1;
  int threads = 0;  // 0: all cores, shared by the jobs
  std::function<void(const std::string&)> warn;
  std::function<void(const std::string&, int64_t, int64_t)> progress;  // (stage, done, total)
  // After each point: (points done, points in all, the point).
  std::function<void(size_t, size_t, const SweepPoint&)> point_done;
};

// A budget axis "RECIPE:BUDGET=V1,V2,..." of the grid.
struct BudgetAxis {
  std::string recipe, key;
  std::vector<std::string> values;  // as written, so the CSV and the command say what the user said
};
// What the default grid sweeps for recipes that take a budget.
std::vector<BudgetAxis> default_budgets();

struct GridPoint {
  std::string recipe, key, value;  // key empty: the recipe's defaults
  RecipeOptions options;
  std::string budget() const { return key.empty() ? "" : key + "=" + value; }
};
// The point's .mcz file name ("hybrid_ternary-fraction_0.2.mcz").
std::string point_file_name(const GridPoint& point);

struct SweepGrid {
  std::vector<GridPoint> points;
  std::vector<std::string> rejected;  // points a recipe refused, with why (skipped with a warning)
};
// Every grid point in order: recipes in --recipes order (default: registration order), each at its
// budget values (--budgets for that recipe, else the default axes), else once at its defaults.
// Fails (usage) on unknown recipes or budgets, a point listed twice, or a grid with no valid point.
SweepGrid build_sweep_grid(const SweepSettings& settings);

struct SweepOutcome {
  SweepTable table;
  std::vector<std::vector<std::byte>> files;  // per point, with `keep` (empty for failed points)
  size_t failures = 0;
  int first_failure_code = 0;
  std::string first_error;
  int64_t statistics_computed = 0;  // distinct calibration statistics computed (shared by the points)
  bool calibrated = false;
};

// Runs every point. Fails when every point failed (with the first failure's kind); a table with
// some failures is a result (failed rows carry their error).
SweepOutcome run_sweep(const SweepSettings& settings, const SweepGrid& grid, const SourceModel& source);

}  // namespace mc
