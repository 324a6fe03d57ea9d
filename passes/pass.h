// Passes: IR transforms run by name. A pass is one file with one entry point
//   void run_<name>(Model&, const PassOptions&, PassContext&)
// registered by one row of passes/pass_list.def, which declares everything else about it: its
// options (typed, with ranges and defaults: passes/pass_options.h), whether it needs calibration
// images, whether it encodes weights or rewrites float ones, which cached analyses it preserves
// (passes/analysis_manager.h), and its description. Registration, lookup, option checking,
// `--print-passes` and the pass list in `compress --help` all come from those rows.
//
// Pipelines are text, "fold-bn,fold-constants,equalize<iterations=8>", parsed and checked whole by
// parse_pipeline before anything runs (errors quote the bad token and name the pass and option) and
// printed back by pipeline_string in a form that parses to the same pipeline.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "core/graph.h"
#include "passes/analysis_manager.h"
#include "passes/budget_record.h"
#include "passes/pass_options.h"

namespace mc {

// What passes share during one pipeline run (the weights and their encodings live in the model
// itself, core/graph.h Initializer): the calibration images and the cached analyses.
struct PassContext {
  int threads = 0;
  std::function<void(const std::string&)> log;         // pass-by-pass detail lines (--verbose); may be empty
  std::function<void(const std::string&)> note;        // one line per decision a user reads (what a budgeted pass chose); may be empty
  std::function<void(int64_t, int64_t)> progress;      // (done, total) of long steps; may be empty

  // Calibration images (fit set) and held-out images for decisions; empty when none were given.
  CalibrationSet calibration;
  CalibrationSet held_out;
  bool has_calibration() const { return !calibration.files.empty(); }
  // Statistics shared with other pipeline runs on the same images (mcompress sweep); may be null.
  std::shared_ptr<StatisticsCache> statistics_cache;

  // Budget decisions (passes/budget.h): their confidence (--confidence), and with --val the
  // labelled validation images they are made on (labels: one class per file).
  double confidence = 0.9;
  CalibrationSet validation;
  std::vector<int64_t> validation_labels;
  bool has_validation() const { return !validation.files.empty(); }
  // What each budgeted pass decided, in pipeline order.
  std::vector<BudgetRecord> budgets;

  // The cached analyses (set up by run_pipeline from the fields above).
  AnalysisManager analyses;
  // Shorthands for the two analyses most passes read.
  const CalibrationStats& statistics(const Model& model) { return analyses.calibration_statistics(model); }
  const ReferenceOutputs& float_reference(const CalibrationSet& images) { return analyses.float_reference(images); }
  const ReferenceOutputs& float_reference() { return analyses.float_reference(held_out); }

  // Per-filter sensitivity a pass measured while deciding (split-hybrid: the relative output error
  // of each filter's ternary fit, analysis/sensitivity.h), by layer node name. Recorded for the
  // report (`compress` stores a per-layer summary in the .mcz metadata); no pass reads it.
  std::map<std::string, std::vector<double>> filter_sensitivity;
  std::string filter_sensitivity_format;  // what the numbers measure, e.g. "ternaryx2"
};

// Whether a pass needs calibration images.
struct CalibrationNeed {
  enum class Kind { never, always, unless } kind = Kind::never;
  std::string option, value;  // unless: not when option == value (e.g. prune-nm method=magnitude)
};
inline CalibrationNeed no_calibration() { return {}; }
inline CalibrationNeed needs_calibration() { return {CalibrationNeed::Kind::always, "", ""}; }
inline CalibrationNeed needs_calibration_unless(const std::string& option, const std::string& value) {
  return {CalibrationNeed::Kind::unless, option, value};
}

// What a pass does to the weights, for checks on the order of passes.
enum class WeightEffect {
  none,              // leaves weights alone, or skips encoded ones (pruning)
  encodes,           // encodes weights (quantization)
  rewrites_float,    // rewrites float weights in place or under new names: must run before any encoding pass
};

struct PassInfo {
  std::string name;
  void (*run)(Model&, const PassOptions&, PassContext&);
  CalibrationNeed calibration;
  WeightEffect weights = WeightEffect::none;
  PreservedAnalyses preserved = preserves_none;
  std::string description;
  std::vector<OptionSpec> options;
  std::vector<OptionRule> rules;
};

const std::vector<PassInfo>& registered_passes();
const PassInfo* find_pass(const std::string& name);

struct PassInvocation {
  const PassInfo* info = nullptr;
  std::string name;
  PassOptions options;
  bool needs_calibration() const;
  // Whether the pass reads the calibration statistics of the model as it finds it (the cached
  // analysis): every pass needing calibration, except one fitting sequentially (sequential=on),
  // which gathers its own statistics layer by layer (passes/sequential_fit.h).
  bool reads_statistics() const;
};

// Parses and checks a whole pipeline before anything runs; fails (usage error) quoting the bad
// token: unknown pass, malformed or invalid options (passes/pass_options.h), a pass that rewrites
// float weights after one that encodes them.
std::vector<PassInvocation> parse_pipeline(const std::string& text);
std::string pipeline_string(const std::vector<PassInvocation>& pipeline);
// The first pass of the pipeline that needs calibration images, or nullptr.
const PassInvocation* first_needing_calibration(const std::vector<PassInvocation>& pipeline);

// Runs the passes in order. Before the first: fails (usage, naming the pass) if a pass needs
// calibration images and `context` has none. After each: checks the IR's invariants (every
// encoded weight's values are what its encoding decodes to, pruned weights are zero, no encoding
// was dropped; an internal error naming the pass otherwise) and invalidates the analyses the pass
// does not preserve.
void run_pipeline(Model& model, const std::vector<PassInvocation>& pipeline, PassContext& context);

// Every registered pass with its description and options, for `--print-passes`.
std::string pass_reference();

}  // namespace mc
