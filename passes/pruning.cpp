#include "passes/pruning.h"

#include <cmath>

#include "passes/weight_fit.h"

namespace mc {

std::vector<const Node*> pruning_layers(const Model& model, const PassOptions& options) {
  std::vector<const Node*> out;
  for (const Node* n : select_layers(model, options.text("layers")))
    if (!model.graph.pruned_mask(n->inputs[1])) out.push_back(n);
  return out;
}

}  // namespace mc
