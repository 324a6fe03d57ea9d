// The sweep job: compress a model at every point of a grid of recipes and budgets, each exactly as
// `mcompress compress` with the same settings would (same bytes), measure each written file (size,
// operations, energy, top-1 on the file itself) and mark the Pareto fronts. Points run in parallel;
// the table's order and bytes do not depend on how many. A run may compute one shard of the grid
// (analysis/sweep_shard.h; its rows go to a part file, analysis/sweep_part.h) and may record each
// point as it completes so a rerun computes only the missing ones (app/sweep_resume.h).
// cli/ maps flags to SweepSettings and prints.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/sweep_part.h"
#include "analysis/sweep_shard.h"
#include "analysis/sweep_table.h"
#include "app/compress_job.h"

namespace mc {

struct SweepSettings {
  std::string file;  // the source model as given (for commands and the table)
  std::string calib, eval_images, preprocess;
  std::vector<std::string> recipes;  // empty: every registered recipe
  std::vector<std::string> budgets;  // "recipe:key=v1,v2"
  std::string keep;                  // folder the point files are written into ("" : not kept)
  bool force = false;                // --force: a kept file that exists is replaced (else only this sweep's own, SweepPlan::owned)
  std::optional<ShardSpec> shard;    // --shard: the part of the grid this run computes, written as a part (none: all of it)
  std::string resume;                // --resume: folder of the points' records ("" : none)
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

// Where --keep writes the point's file ("" without --keep).
std::string kept_path(const SweepSettings& settings, const GridPoint& point);

struct SweepGrid {
  std::vector<GridPoint> points;
  std::vector<std::string> rejected;  // points a recipe refused, with why (skipped with a warning)
};
// Every grid point in order: recipes in --recipes order (default: registration order), each at its
// budget values (--budgets for that recipe, else the default axes), else once at its defaults.
// Fails (usage) on unknown recipes or budgets, a point listed twice, or a grid with no valid point.
SweepGrid build_sweep_grid(const SweepSettings& settings);

class SweepResume;

// What a run does before it starts: the grid points of its shard, which of them a --resume folder
// already holds, and the sweep's identity (for a part or the records).
struct SweepPlan {
  std::vector<size_t> points;               // grid indices of the shard, ascending
  std::optional<SweepIdentity> identity;    // with --shard or --resume
  std::shared_ptr<const SweepResume> resume;        // with --resume
  std::vector<std::optional<SweepPoint>> reused;    // per grid point: its recorded row, when reused
  std::optional<SweepTable> reused_baseline;        // the recorded float baseline
  std::vector<bool> owned;  // per grid point: its kept file is this sweep's own (a record of it exists)
  size_t reused_count() const;
};
// Fails (output) when the --resume folder cannot be created.
SweepPlan plan_sweep(const SweepSettings& settings, const SweepGrid& grid, const SourceModel& source);

struct SweepOutcome {
  // The float baseline and the rows of the plan's points in grid order (with `keep`, each point's
  // file was written as it completed). Pareto marks are not set: finish_sweep_table does that once
  // the table holds the whole grid (here, or after a merge of every shard's part).
  SweepTable table;
  std::vector<size_t> indices;  // the grid index of each row
  size_t computed = 0, reused = 0;
  int64_t statistics_computed = 0;  // distinct calibration statistics computed (shared by the points)
  bool calibrated = false;
};

// Runs the plan's points that were not reused. A point that fails is a row with its error; a file
// or record that cannot be written stops the run (output error).
SweepOutcome run_sweep(const SweepSettings& settings, const SweepGrid& grid, const SourceModel& source, const SweepPlan& plan);

// The part file of a run with --shard.
SweepPart sweep_part(const SweepSettings& settings, const SweepPlan& plan, const SweepOutcome& outcome);

}  // namespace mc
