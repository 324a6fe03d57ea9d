#include "passes/recipe.h"

namespace mc {

namespace {

struct RecipeInfo {
  const char* name;
  const char* description;
};

const RecipeInfo recipes[] = {
    {"lossless", "every weight bit-exact: float32 split into byte planes, each entropy-coded"},
    {"fp16", "float weights rounded to IEEE float16 (nearest even), byte planes entropy-coded"},
};

// Integer initializers (shapes, indices) are always stored as they are.
EncodedTensor encode_lossless(const Tensor& t) {
  return t.dtype() == DType::f32 ? encode_fp32_planes(t) : encode_raw(t);
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

CompressedModel run_recipe(const std::string& recipe, const Model& model) {
  CompressedModel out;
  out.model = model;
  out.recipe = recipe;
  if (recipe == "lossless") {
    out.passes = {"encode-lossless"};
    for (const auto& [name, t] : model.graph.initializers) out.encoded[name] = encode_lossless(t);
    return out;
  }
  if (recipe == "fp16") {
    out.passes = {"encode-fp16"};
    for (auto& [name, t] : out.model.graph.initializers) {
      if (t.dtype() != DType::f32) {
        out.encoded[name] = encode_raw(t);
        continue;
      }
      out.encoded[name] = encode_fp16(t);
      t = decode_tensor(out.encoded[name], name);  // the model now computes with the fp16 values
    }
    return out;
  }
  std::string valid;
  for (const auto& n : recipe_names()) valid += (valid.empty() ? "" : ", ") + n;
  fail_usage("unknown recipe '" + recipe + "' (valid: " + valid + ")");
}

}  // namespace mc
