// What the pruning passes (prune-magnitude, prune-obs, prune-nm) share: choosing their layers.
#pragma once

#include <string>
#include <vector>

#include "passes/pass.h"

namespace mc {

// The weighted layers of kind layers=KIND+KIND that no earlier pass encoded or pruned.
std::vector<const Node*> pruning_layers(const Model& model, const PassOptions& options);

}  // namespace mc
