// Recipes: named compression pipelines. A recipe turns a float model into (a) the model with its
// weights replaced by what the file will decode to, so evaluating it measures the compressed
// model, and (b) the encoding of every initializer, which the .mcz writer stores. Recipes are text
// pipelines of passes (passes/pass_list.def); `--passes` runs any pipeline instead.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/statistics_cache.h"
#include "core/graph.h"
#include "core/encoding.h"
#include "passes/budget_record.h"
#include "passes/statistics_request.h"

namespace mc {

struct RecipeOptions {
  std::optional<double> max_drop;           // hybrid, sparse: points of top-1 (passes/budget.h)
  std::optional<double> ternary_fraction;   // hybrid: share of all MACs made ternary
  std::optional<int> ternary_terms;         // hybrid: residual ternary terms, 1..3 (default 3)
  std::string drop_estimate;                // hybrid: "expected" (default) or "agreement"
  std::string activations;                  // hybrid: "int8" (default) or "float"
  std::optional<double> sparsity;           // sparse: share of the weights pruned first (prune-obs)
  std::string effort;                       // w4a8: "fast", "default" (empty) or "max" reconstruction
  std::string passes;                       // the pipeline of the custom recipe (--passes)
  CalibrationSet calibration;               // fit images (empty: none given)
  CalibrationSet held_out;                  // held out of fitting: label-free decisions, per-layer cost scales
  // --val: labelled images every budget decision is made on (labels: one class per file); empty:
  // label-free decisions. --confidence of those decisions.
  CalibrationSet validation;
  std::vector<int64_t> validation_labels;
  double confidence = 0.9;
  int threads = 0;
  std::function<void(const std::string&)> log;   // pass-by-pass detail
  std::function<void(const std::string&)> note;  // what the budgeted passes chose, one line each
  std::function<void(int64_t, int64_t)> progress;
  // Calibration statistics shared with other runs (mcompress sweep); null: computed for this run.
  std::shared_ptr<StatisticsCache> statistics_cache;
};

struct CompressedModel {
  Model model;  // every initializer encoded (core/graph.h Initializer): what the .mcz writer stores
  std::string recipe;
  std::string pipeline;  // the pipeline that ran, as text (parses back to itself)
  // Per-filter sensitivity measured by the pipeline (PassContext::filter_sensitivity), by layer.
  std::map<std::string, std::vector<double>> filter_sensitivity;
  std::string filter_sensitivity_format;
  std::vector<BudgetRecord> budgets;  // what each budgeted pass decided (passes/budget_record.h)
};

// The recipe a `--passes` pipeline runs as: the file records "custom" and the pipeline text; weights no
// pass encoded are stored losslessly.
inline constexpr const char* custom_recipe = "custom";

// The recipe names, in the order `--help` lists them (not "custom").
std::vector<std::string> recipe_names();
std::string recipe_description(const std::string& name);
// The recipe's pipeline text for these options (what `--passes` would have to say to do the same).
std::string recipe_pipeline(const std::string& recipe, const RecipeOptions& options);
bool recipe_needs_calibration(const std::string& recipe, const RecipeOptions& options);

// Encodes every initializer no pass encoded: pruned weights as sparse fp32 (a mask and the non-zeros'
// byte planes), integer tensors raw, float tensors as `float_encoding` (fp32_planes: lossless; fp16).
void encode_remaining(Model& model, Encoding float_encoding);

// Computes, into `options.statistics_cache` (which must be set), the calibration statistics the
// recipe's pipeline will ask for (passes/pipeline_statistics.h), running its passes only as far as
// the last request. A run of the recipe with the same options, model and images then finds every
// one of them in the cache. Returns where the pipeline asks (none for recipes without calibration).
std::vector<StatisticsRequest> gather_recipe_statistics(const std::string& recipe, const Model& model, const RecipeOptions& options);

// Fails (usage error) for an unknown recipe, listing the valid ones, and for recipes that need
// calibration images when none are given. Weights no pass encoded are stored losslessly (fp16
// for the fp16 recipe).
CompressedModel run_recipe(const std::string& recipe, const Model& model, const RecipeOptions& options = {});

}  // namespace mc
