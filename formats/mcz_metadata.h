// The .mcz metadata section's schema (docs/FORMAT.md, "Metadata"): its keys, their types, and the
// one writer and one reader every command uses. The section is JSON; readers tolerate keys they do
// not know (a later minor version may add some) but refuse a known key of the wrong type with an
// input error naming the file and the key, so a crafted file is a clear error, never a crash.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace mc {

// "calibration": the images a recipe was fitted and judged on.
struct McCalibrationRecord {
  std::string dir;          // base name of the folder
  int64_t images = 0;       // fit images
  int64_t held_out = 0;     // images kept out of fitting for budget decisions
  uint64_t seed = 0;
};

// "source": the model the file was made from.
struct McSourceRecord {
  std::string file;   // base name, or "-" for stdin
  uint64_t bytes = 0;
  std::string sha256;
  int64_t params = 0;
  std::optional<int64_t> macs;
};

// "report.accuracy": top-1 / top-5 of the source model and of the file itself on labelled images.
struct McAccuracy {
  std::optional<double> top1_before, top1_after, top5_before, top5_after;
  std::optional<int64_t> images;
};

struct McMetadata {
  std::string tool = "mcompress";
  std::string version;
  std::string recipe;
  std::string passes;      // the pipeline that ran, as text ("" for none)
  std::optional<McCalibrationRecord> calibration;
  std::optional<McSourceRecord> source;
  std::string preprocess;  // the input normalization the model needs ("" when not stored)
  nlohmann::ordered_json sensitivity;  // per-layer sensitivity summary (analysis/sensitivity_summary.h); null when absent
  // The budget decisions of the recipe (passes/budget_record.h: max_drop, estimate, bound, confidence,
  // images, labels, met, path), the last one first as `budget`; null when the recipe had none.
  nlohmann::ordered_json budget, budgets;
  nlohmann::ordered_json report;       // the embedded report (analysis/report.h); null when absent
  std::optional<McAccuracy> accuracy;  // written as report.accuracy when there is no report yet
};

// The section's JSON, keys in a fixed order (the file's bytes depend on it): tool, version, recipe,
// passes, calibration, source, preprocess, sensitivity, budget, budgets, report.
nlohmann::ordered_json metadata_json(const McMetadata& metadata);
// Reads and checks the section; `name` labels errors ("FILE: metadata key 'preprocess' must be a
// string, got 5").
McMetadata parse_metadata(const nlohmann::ordered_json& metadata, const std::string& name);

// {"images", "top1_before", "top1_after", "top5_before", "top5_after"} (the fields present).
nlohmann::ordered_json accuracy_json(const McAccuracy& accuracy);

}  // namespace mc
