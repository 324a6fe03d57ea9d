#include "passes/recipe.h"

#include "passes/pass.h"
#include "passes/pruning.h"

namespace mc {

namespace {

struct RecipeInfo {
  const char* name;
  const char* description;
};

const RecipeInfo recipes[] = {
    {"lossless", "every weight bit-exact: float32 split into byte planes, each entropy-coded"},
    {"fp16", "float weights rounded to IEEE float16 (nearest even), byte planes entropy-coded"},
    {"int8", "int8 per-channel weights (GPTQ + bias correction), int8 activations (calibrated ranges)"},
    {"prom", "PROM: pointwise convs one-term ternary, every other layer int8, int8 activations"},
    {"hybrid", "hybrid filter banks in the pointwise convs: per filter 3-term residual ternary or int8 (share from --max-drop or\n"
               "            --ternary-fraction), other layers int8, int8 activations"},
    {"sparse", "per layer 8..3-bit weights and 0-50% OBS pruning, entropy-coded, smallest file whose estimated top-1 drop stays within --max-drop (default 1); --sparsity S prunes S first; float activations"},
};

const char* canonical = "fold-constants,fold-bn,fc-to-gemm";

std::string number(double v) {
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

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
  if (o.max_drop && !(*o.max_drop >= 0 && *o.max_drop <= 100))
    fail_usage("--max-drop must be between 0 and 100 points, got " + number(*o.max_drop));
  if (o.ternary_fraction && !(*o.ternary_fraction >= 0 && *o.ternary_fraction <= 1))
    fail_usage("--ternary-fraction must be between 0 and 1, got " + number(*o.ternary_fraction));
  if (o.ternary_terms && !(*o.ternary_terms >= 1 && *o.ternary_terms <= 3))
    fail_usage("--ternary-terms must be 1, 2 or 3, got " + std::to_string(*o.ternary_terms));
  if (!o.drop_estimate.empty() && o.drop_estimate != "expected" && o.drop_estimate != "agreement")
    fail_usage("--drop-estimate must be expected or agreement, got '" + o.drop_estimate + "'");
  if (!o.activations.empty() && o.activations != "int8" && o.activations != "float")
    fail_usage("--activations must be int8 or float, got '" + o.activations + "'");
  if (o.sparsity) check_sparsity(*o.sparsity);
  if ((o.ternary_fraction || o.ternary_terms || !o.drop_estimate.empty() || !o.activations.empty()) && recipe != "hybrid" && o.passes.empty())
    fail_usage("--ternary-fraction, --ternary-terms, --drop-estimate and --activations apply to the hybrid recipe only");
  if (o.max_drop && recipe != "hybrid" && recipe != "sparse" && o.passes.empty())
    fail_usage("--max-drop applies to the hybrid and sparse recipes only");
  if (o.sparsity && recipe != "sparse") fail_usage("--sparsity applies to the sparse recipe only");
  if (!o.passes.empty()) return o.passes;
  if (recipe == "lossless" || recipe == "fp16") return "";
  // int8 is the hybrid recipe with no ternary share: the pointwise layers are fitted after the
  // activations are quantized, to the inputs the int8 network computes.
  if (recipe == "int8")
    return std::string(canonical) + ",quantize-int8<layers=depthwise+conv+fc>,quantize-activations,quantize-int8";
  if (recipe == "prom") return std::string(canonical) + ",ternarize<terms=1>,quantize-int8,quantize-activations";
  if (recipe == "hybrid") {
    if (o.max_drop && o.ternary_fraction) fail_usage("give either --max-drop or --ternary-fraction, not both");
    if (o.ternary_fraction && !o.drop_estimate.empty()) fail_usage("--drop-estimate applies to --max-drop, not --ternary-fraction");
    std::string budget = o.ternary_fraction ? "fraction=" + number(*o.ternary_fraction) : "max-drop=" + number(o.max_drop.value_or(1.0));
    if (!o.drop_estimate.empty()) budget += ";criterion=" + o.drop_estimate;
    budget += ";terms=" + std::to_string(o.ternary_terms.value_or(3));
    // Activations are quantized before the split so that its held-out probes (--max-drop) measure
    // the whole compressed model; the statistics the split fits to are then those of the int8
    // network's inputs.
    const bool int8_activations = o.activations.empty() || o.activations == "int8";
    return std::string(canonical) + ",quantize-int8<layers=depthwise+conv+fc>" + (int8_activations ? ",quantize-activations" : "") +
           ",split-hybrid<" + budget + ">,quantize-int8";
  }
  if (recipe == "sparse") {
    std::string p = canonical;
    if (o.sparsity && *o.sparsity > 0) p += ",prune-obs<sparsity=" + number(*o.sparsity) + ">";
    return p + ",sparse-quantize<max-drop=" + number(o.max_drop.value_or(1.0)) + ">";
  }
  std::string valid;
  for (const auto& n : recipe_names()) valid += (valid.empty() ? "" : ", ") + n;
  fail_usage("unknown recipe '" + recipe + "' (valid: " + valid + ")");
}

bool recipe_needs_calibration(const std::string& recipe, const RecipeOptions& o) {
  const std::string pipeline = recipe_pipeline(recipe, o);
  if (pipeline.empty()) return false;  // lossless: no passes
  for (const auto& pass : parse_pipeline(pipeline)) {
    for (const char* name : {"quantize-int8", "ternarize", "split-hybrid", "quantize-activations", "prune-obs", "sparse-quantize"})
      if (pass.name == name) return true;
    if (pass.name == "prune-nm" && pass.options.text("method", "obs") != "magnitude") return true;
  }
  return false;
}

CompressedModel run_recipe(const std::string& recipe, const Model& model, const RecipeOptions& o) {
  CompressedModel out;
  out.model = model;
  out.recipe = recipe;
  out.pipeline = recipe_pipeline(recipe, o);
  if (recipe_needs_calibration(recipe, o) && o.calibration.files.empty())
    fail_usage("recipe '" + recipe + "' needs calibration images: give --calib DIR");
  PassContext ctx;
  ctx.threads = o.threads;
  ctx.log = o.log;
  ctx.progress = o.progress;
  ctx.calibration = o.calibration;
  ctx.held_out = o.held_out;
  ctx.statistics_cache = o.statistics_cache;
  if (!out.pipeline.empty()) run_pipeline(out.model, parse_pipeline(out.pipeline), ctx);
  out.encoded = std::move(ctx.encoded);
  out.filter_sensitivity = std::move(ctx.filter_sensitivity);
  out.filter_sensitivity_format = ctx.filter_sensitivity_format;
  // Pruned weights no pass quantized: a mask and the non-zeros' float32 byte planes.
  for (const auto& [name, mask] : ctx.pruned)
    if (!out.encoded.count(name) && out.model.graph.initializer(name)) out.encoded[name] = encode_fp32_sparse(*out.model.graph.initializer(name));
  // Whatever no pass encoded is stored losslessly (integer tensors raw), or as fp16 in that recipe.
  for (auto& [name, t] : out.model.graph.initializers) {
    if (out.encoded.count(name)) continue;
    if (t.dtype() != DType::f32) out.encoded[name] = encode_raw(t);
    else if (recipe == "fp16") {
      out.encoded[name] = encode_fp16(t);
      t = decode_tensor(out.encoded[name], name);  // the model now computes with the fp16 values
    } else {
      out.encoded[name] = encode_fp32_planes(t);
    }
  }
  return out;
}

}  // namespace mc
