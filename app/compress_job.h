// The compress job: load the source model (read once), sample the calibration images, run the
// recipe, measure top-1 before and after on the written file, and produce the .mcz bytes. What
// `mcompress compress` runs; cli/ only maps flags to a CompressJob and prints the result.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/eval.h"
#include "analysis/op_count.h"
#include "analysis/report.h"
#include "app/compressed_file.h"
#include "core/graph.h"
#include "formats/model_file.h"
#include "passes/recipe.h"

namespace mc {

// The float model a job compresses, read once (formats/model_file.h) and parsed.
struct SourceModel {
  ModelFile file;  // path, name, bytes
  Model model;     // the parsed ONNX model
  OpCount count;
};
// Reads and parses an ONNX model (a .mcz is refused: recipes start from the float model).
SourceModel load_source_model(const std::string& path);

// The calibration sample: `count` images of `dir` drawn with `seed`, of which `held_out` (0: half,
// at most 128) are kept out of fitting for budget decisions. Fitting needs few images (the
// statistics are averages over every spatial position); decisions on top-1 agreement need as many
// as possible. `warn` gets the non-fatal notes (fewer images than asked).
struct CalibrationSample {
  CalibrationSet fit, held_out;
};
CalibrationSample sample_calibration(const std::string& dir, int64_t count, int64_t held_out, uint64_t seed, const ImageConfig& image,
                                     const Model& model, const std::function<void(const std::string&)>& warn);

struct CompressJob {
  std::string recipe;            // "" with recipe_options.passes: the custom recipe
  RecipeOptions recipe_options;  // budgets and --passes; calibration, threads and callbacks are set by the job
  std::string preprocess;        // "" when not given
  std::string calib_dir;
  int64_t calib_count = 256, held_out = 0;
  uint64_t seed = 0;
  std::string stats_file;        // --stats: calibration statistics read from this file (app/statistics_from_file.h; "" : none)
  std::string validation_dir;    // --val: labelled images for every budget decision ("" : label-free decisions)
  double confidence = 0.9;       // --confidence of budget decisions
  std::string eval_images;       // "" : accuracy not measured
  int64_t eval_limit = 0;
  std::string output_name;       // how errors and the report name the file
  int threads = 0;
  std::function<void(const std::string&)> log;   // pass-by-pass detail (--verbose)
  std::function<void(const std::string&)> warn;  // non-fatal problems
  // Progress of a long stage ("calibration", "eval (float)", "eval (compressed)"): (stage, done, total).
  std::function<void(const std::string&, int64_t, int64_t)> progress;
};

// Whether the job's recipe (or --passes pipeline) needs calibration images; fails (usage) on an
// unknown recipe or flags it does not take, before any work.
bool job_needs_calibration(const CompressJob& job);
// Checks everything the job needs that can be checked without running it: the recipe and its flags,
// calibration and preprocessing present when needed (usage errors naming what is missing), the
// calibration folder holding images and the evaluation folder's labels and image headers (input
// errors naming the file), so that nothing fails after minutes of work for a reason known before.
// Returns the notes a user should see: flags the recipe ignores, a file that will need --preprocess.
std::vector<std::string> validate_job(const CompressJob& job);

struct CompressResult {
  std::vector<std::byte> bytes;     // the .mcz file
  std::string recipe, pipeline;
  std::vector<std::string> notes;   // what the budgeted passes chose, one line each
  std::vector<BudgetRecord> budgets;  // the budget decisions (passes/budget_record.h)
  Report report;                    // the file's report (size, operations, energy)
  std::optional<EvalResult> before, after;  // after: measured on `bytes`
  CalibrationSample calibration;
  bool calibrated = false;
};

CompressResult run_compress_job(const CompressJob& job, const SourceModel& source);

}  // namespace mc
