// Recipes: named compression pipelines. A recipe turns a float model into (a) the model with its
// weights replaced by what the file will decode to, so evaluating it measures the compressed
// model, and (b) the encoding of every initializer, which the .mcz writer stores.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "formats/encodings.h"

namespace mc {

struct CompressedModel {
  Model model;
  std::map<std::string, EncodedTensor> encoded;
  std::string recipe;
  std::vector<std::string> passes;  // the pipeline that ran, in order
};

// The recipe names, in the order `--help` lists them.
std::vector<std::string> recipe_names();
std::string recipe_description(const std::string& name);

// Fails (usage error) for an unknown recipe, listing the valid ones.
CompressedModel run_recipe(const std::string& recipe, const Model& model);

}  // namespace mc
