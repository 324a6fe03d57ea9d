// The result table of `mcompress sweep`: one row per grid point (recipe + budget) with its size,
// operations, energy and top-1, and whether it is Pareto-optimal; written as CSV and JSON, and read
// back from JSON (`mcompress report FILE.mcz --html OUT --sweep sweep.json`).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mc {

struct SweepPoint {
  std::string recipe;
  std::string budget;  // "" (the recipe's default) or "key=value", e.g. "ternary-fraction=0.2"
  std::string error;   // "" when the point ran; else why it failed (the point has no numbers)
  int exit_code = 0;   // a failed point: the exit code its failure has (../shared/docs/CLI.md); not written
  uint64_t bytes = 0;
  double compression_ratio = 0;  // the file's parameters at fp32 / .mcz bytes (Report::compression_ratio)
  int64_t muls = 0, adds = 0;
  int64_t fp32_macs = 0, int8_macs = 0, ternary_adds = 0;
  double energy_pj = 0;
  std::optional<double> top1, top5;
  bool pareto_size = false;  // on the (bytes, top-1) front
  bool pareto_muls = false;  // on the (MULs, top-1) front
  std::string command;       // the `mcompress compress` command that reproduces the point
  std::string output;        // where the point's .mcz was kept ("" if not kept)

  bool ok() const { return error.empty(); }
  std::string label() const { return budget.empty() ? recipe : recipe + " " + budget; }
};

struct SweepTable {
  std::string model;       // the source model (as given)
  uint64_t source_bytes = 0;
  uint64_t fp32_bytes = 0;  // the float model at 4 bytes per float parameter
  int64_t macs = 0;         // the float model's MACs (= its MULs and ADDs)
  double energy_pj_fp32 = 0;
  std::optional<double> top1_float, top5_float;
  int64_t eval_images = 0;
  std::vector<SweepPoint> points;  // in grid order
};

// Sets pareto_size and pareto_muls: among the points that ran and have a top-1, a point is on a front
// when no other is at most as large (as many MULs) with at least the top-1 and better in one of them.
void mark_pareto(SweepTable& table);

// Completes a table whose every point is in: marks the Pareto fronts (mark_pareto). Fails, with the
// first failed point's exit code, when every point failed: a table of failures is an error, not a
// result. An unsharded sweep and a merge of shards both end here, so they write the same table.
void finish_sweep_table(SweepTable& table);

// The point's top-1 minus the float model's, in points, rounded to 0.01 (analysis/rounding.h).
std::optional<double> top1_change(const SweepTable& table, const SweepPoint& point);

// One header line, then one line per point in grid order; fields with commas or quotes are quoted
// (RFC 4180). Integers and measured accuracies are exact (top-1 reads back to the double `eval`
// printed); ratios, pJ and top-1 changes are rounded as analysis/rounding.h states (docs/KEYS.md), the
// same in CSV and JSON.
std::string to_csv(const SweepTable& table);
nlohmann::ordered_json to_json(const SweepTable& table);
// Fails (input error) naming `name` and the bad key.
SweepTable sweep_from_json(const nlohmann::ordered_json& j, const std::string& name);

}  // namespace mc
