#include "passes/recipe.h"

#include <algorithm>

#include "passes/pass.h"
#include "passes/pipeline_statistics.h"

namespace mc {

namespace {

// Every recipe is one row: a pipeline text whose ${placeholders} the recipe flags fill in, and how
// the weights no pass encoded are stored. Which flags a recipe takes follows from its placeholders.
struct RecipeRow {
  const char* name;
  const char* description;
  const char* pipeline;
  Encoding float_encoding;
};

const RecipeRow recipes[] = {
    {"lossless", "every weight bit-exact: float32 split into byte planes, each entropy-coded", "", Encoding::fp32_planes},
    {"fp16", "float weights rounded to IEEE float16 (nearest even), byte planes entropy-coded", "", Encoding::fp16},
    // int8 is the hybrid recipe with no ternary share: the pointwise layers are fitted after the
    // activations are quantized, to the inputs the int8 network computes.
    {"int8", "int8 per-channel weights (GPTQ + bias correction), int8 activations (calibrated ranges)",
     "${canonical},quantize-int8<layers=depthwise+conv+fc>,quantize-activations,quantize-int8", Encoding::fp32_planes},
    {"prom",
     "PROM: pointwise convs one-term ternary, every other layer int8, int8 activations. Post-training, without\n"
     "            reconstruction, one-term ternary loses most of the accuracy (measure it with --eval-images)",
     "${canonical},ternarize<terms=1>,quantize-int8,quantize-activations", Encoding::fp32_planes},
    // The academic point of comparison (4-bit weights, 8-bit activations, first and last layers 8-bit).
    // Activations are quantized first so that every fit sees them; nothing is decided on held-out
    // images, so the fits use all calibration images.
    {"w4a8",
     "4-bit per-channel weights (int8 in the first and last weighted layers), int8 activations; each layer fitted in turn\n"
     "            to the quantized network's own inputs against the float network's output (GPTQ, learned rounding: --effort)",
     "${canonical},quantize-activations,quantize-int8<bits=4;edge-bits=8;sequential=on;images=all;${effort}>", Encoding::fp32_planes},
    // Activations are quantized before the split so that its held-out probes (--max-drop) measure
    // the whole compressed model; the statistics the split fits to are then those of the int8
    // network's inputs.
    {"hybrid",
     "hybrid filter banks in the pointwise convs: per filter 3-term residual ternary or int8 (share from --max-drop or\n"
     "            --ternary-fraction), other layers int8, int8 activations",
     "${canonical},quantize-int8<layers=depthwise+conv+fc>${activations},split-hybrid<${budget};terms=${ternary-terms}>,quantize-int8",
     Encoding::fp32_planes},
    {"sparse",
     "per layer 8..3-bit weights and 0-50% OBS pruning, entropy-coded, smallest file whose estimated top-1 drop stays within "
     "--max-drop (default 1); --sparsity S prunes S first; float activations",
     "${canonical}${sparsity},sparse-quantize<max-drop=${max-drop}>", Encoding::fp32_planes},
};

// As the pipeline text writes a flag's value: 0.3 -> "0.3", 1 -> "1" (six decimals at most).
std::string number(double v) {
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// A placeholder of the pipeline texts: the recipe flags it reads and the text it becomes.
struct Placeholder {
  const char* name;
  std::vector<std::string> flags;
  std::string (*expand)(const RecipeOptions&);
};

const Placeholder placeholders[] = {
    {"canonical", {}, [](const RecipeOptions&) { return std::string("fold-constants,fold-bn,fc-to-gemm"); }},
    {"activations", {"--activations"},
     [](const RecipeOptions& o) { return o.activations == "float" ? std::string() : std::string(",quantize-activations"); }},
    {"budget", {"--max-drop", "--ternary-fraction", "--drop-estimate"},
     [](const RecipeOptions& o) {
       if (o.max_drop && o.ternary_fraction) fail_usage("give either --max-drop or --ternary-fraction, not both");
       if (o.ternary_fraction && !o.drop_estimate.empty()) fail_usage("--drop-estimate applies to --max-drop, not --ternary-fraction");
       std::string budget = o.ternary_fraction ? "fraction=" + number(*o.ternary_fraction) : "max-drop=" + number(o.max_drop.value_or(1.0));
       if (!o.drop_estimate.empty()) budget += ";criterion=" + o.drop_estimate;
       return budget;
     }},
    {"ternary-terms", {"--ternary-terms"}, [](const RecipeOptions& o) { return std::to_string(o.ternary_terms.value_or(3)); }},
    {"sparsity", {"--sparsity"},
     [](const RecipeOptions& o) { return o.sparsity && *o.sparsity > 0 ? ",prune-obs<sparsity=" + number(*o.sparsity) + ">" : std::string(); }},
    {"max-drop", {"--max-drop"}, [](const RecipeOptions& o) { return number(o.max_drop.value_or(1.0)); }},
    // Reconstruction effort: fast = GPTQ only, default = learned rounding too, max = 4x its steps.
    {"effort", {"--effort"},
     [](const RecipeOptions& o) {
       const std::string e = o.effort.empty() ? "default" : o.effort;
       return e == "fast" ? std::string("method=gptq") : e == "max" ? std::string("method=adaround;iterations=4000") : std::string("method=adaround");
     }},
};

const RecipeRow& recipe_row(const std::string& name) {
  for (const auto& r : recipes)
    if (name == r.name) return r;
  std::string valid;
  for (const auto& r : recipes) valid += (valid.empty() ? "" : ", ") + std::string(r.name);
  fail_usage("unknown recipe '" + name + "' (valid: " + valid + ")");
}

// The recipe flags `o` sets, each checked on its own.
std::vector<std::string> flags_given(const RecipeOptions& o) {
  std::vector<std::string> given;
  if (o.max_drop) {
    if (!(*o.max_drop >= 0 && *o.max_drop <= 100)) fail_usage("--max-drop must be between 0 and 100 points, got " + number(*o.max_drop));
    given.push_back("--max-drop");
  }
  if (o.ternary_fraction) {
    if (!(*o.ternary_fraction >= 0 && *o.ternary_fraction <= 1))
      fail_usage("--ternary-fraction must be between 0 and 1, got " + number(*o.ternary_fraction));
    given.push_back("--ternary-fraction");
  }
  if (o.ternary_terms) {
    if (!(*o.ternary_terms >= 1 && *o.ternary_terms <= 3)) fail_usage("--ternary-terms must be 1, 2 or 3, got " + std::to_string(*o.ternary_terms));
    given.push_back("--ternary-terms");
  }
  if (!o.drop_estimate.empty()) {
    if (o.drop_estimate != "expected" && o.drop_estimate != "agreement")
      fail_usage("--drop-estimate must be expected or agreement, got '" + o.drop_estimate + "'");
    given.push_back("--drop-estimate");
  }
  if (!o.activations.empty()) {
    if (o.activations != "int8" && o.activations != "float") fail_usage("--activations must be int8 or float, got '" + o.activations + "'");
    given.push_back("--activations");
  }
  if (!o.effort.empty()) {
    if (o.effort != "fast" && o.effort != "default" && o.effort != "max") fail_usage("--effort must be fast, default or max, got '" + o.effort + "'");
    given.push_back("--effort");
  }
  if (o.sparsity) {
    if (!(*o.sparsity >= 0 && *o.sparsity < 1)) fail_usage("--sparsity must be in [0, 1), got " + number(*o.sparsity));
    given.push_back("--sparsity");
  }
  return given;
}

// The recipes whose pipeline reads `flag`, for error messages.
std::string recipes_taking(const std::string& flag) {
  std::string names;
  for (const auto& r : recipes)
    for (const auto& p : placeholders)
      if (std::string(r.pipeline).find(std::string("${") + p.name + "}") != std::string::npos &&
          std::find(p.flags.begin(), p.flags.end(), flag) != p.flags.end()) {
        names += (names.empty() ? "" : ", ") + std::string(r.name);
        break;
      }
  return names;
}

}  // namespace

void encode_remaining(Model& model, Encoding float_encoding) {
  Graph& g = model.graph;
  for (auto& [name, init] : g.initializers) {
    if (init.encoded()) continue;
    if (init.pruned) g.encode(name, encode_fp32_sparse(init.values));  // a mask and the non-zeros' byte planes
    else if (init.values.dtype() != DType::f32) g.encode(name, encode_raw(init.values));
    else if (float_encoding == Encoding::fp16) g.encode(name, encode_fp16(init.values));
    else g.encode(name, encode_fp32_planes(init.values));
  }
}

std::vector<std::string> recipe_names() {
  std::vector<std::string> names;
  for (const auto& r : recipes) names.emplace_back(r.name);
  return names;
}

std::string recipe_description(const std::string& name) {
  for (const auto& r : recipes)
    if (name == r.name) return r.description;
  return "";
}

std::string recipe_pipeline(const std::string& recipe, const RecipeOptions& o) {
  const std::vector<std::string> given = flags_given(o);
  if (recipe == custom_recipe) {
    if (o.passes.empty()) fail_usage("the custom recipe runs the pipeline given with --passes");
    if (!given.empty())
      fail_usage(given.front() + " has no effect with --passes: write it as a pass option (e.g. split-hybrid<max-drop=1>)");
    return o.passes;
  }
  if (!o.passes.empty()) fail_usage("--passes replaces the recipe: give either --recipe " + recipe + " or --passes, not both");
  const RecipeRow& row = recipe_row(recipe);
  // Expand the placeholders, noting which flags they read.
  std::string text = row.pipeline, out;
  std::vector<std::string> read;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find("${", pos);
    out += text.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (open == std::string::npos) break;
    const size_t close = text.find('}', open);
    const std::string name = text.substr(open + 2, close - open - 2);
    const Placeholder* p = nullptr;
    for (const auto& candidate : placeholders)
      if (name == candidate.name) p = &candidate;
    if (!p) fail_internal("recipe '" + recipe + "': unknown placeholder ${" + name + "}");
    out += p->expand(o);
    read.insert(read.end(), p->flags.begin(), p->flags.end());
    pos = close + 1;
  }
  for (const auto& flag : given)
    if (std::find(read.begin(), read.end(), flag) == read.end()) {
      const std::string takers = recipes_taking(flag);
      fail_usage(flag + " does not apply to the " + recipe + " recipe" + (takers.empty() ? "" : " (it applies to: " + takers + ")"));
    }
  return out;
}

bool recipe_needs_calibration(const std::string& recipe, const RecipeOptions& options) {
  const std::string pipeline = recipe_pipeline(recipe, options);
  return !pipeline.empty() && first_needing_calibration(parse_pipeline(pipeline)) != nullptr;
}

namespace {

// The context a recipe's pipeline runs in (one place, so that gathering its statistics ahead
// runs the passes exactly as run_recipe does).
PassContext recipe_context(const RecipeOptions& o) {
  PassContext ctx;
  ctx.threads = o.threads;
  ctx.log = o.log;
  ctx.note = o.note;
  ctx.progress = o.progress;
  ctx.calibration = o.calibration;
  ctx.held_out = o.held_out;
  ctx.validation = o.validation;
  ctx.validation_labels = o.validation_labels;
  ctx.confidence = o.confidence;
  ctx.statistics_cache = o.statistics_cache;
  return ctx;
}

}  // namespace

std::vector<StatisticsRequest> gather_recipe_statistics(const std::string& recipe, const Model& model, const RecipeOptions& o) {
  const std::string text = recipe_pipeline(recipe, o);
  if (text.empty()) return {};
  PassContext ctx = recipe_context(o);
  return gather_pipeline_statistics(model, parse_pipeline(text), ctx);
}

CompressedModel run_recipe(const std::string& recipe, const Model& model, const RecipeOptions& o) {
  CompressedModel out;
  out.model = model;
  out.recipe = recipe;
  out.pipeline = recipe_pipeline(recipe, o);
  // The whole pipeline is parsed and checked before anything runs (run_pipeline then refuses,
  // naming the pass, to run one that needs calibration images without them).
  const std::vector<PassInvocation> pipeline = out.pipeline.empty() ? std::vector<PassInvocation>{} : parse_pipeline(out.pipeline);
  PassContext ctx = recipe_context(o);
  if (!pipeline.empty()) run_pipeline(out.model, pipeline, ctx);
  out.filter_sensitivity = std::move(ctx.filter_sensitivity);
  out.filter_sensitivity_format = ctx.filter_sensitivity_format;
  out.budgets = std::move(ctx.budgets);
  encode_remaining(out.model, recipe == custom_recipe ? Encoding::fp32_planes : recipe_row(recipe).float_encoding);
  return out;
}

}  // namespace mc
