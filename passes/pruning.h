// What the pruning passes (prune-magnitude, prune-obs, prune-nm) share: reading their options and
// choosing their layers.
#pragma once

#include <string>
#include <vector>

#include "passes/pass.h"

namespace mc {

// sparsity=S from the options, checked to lie in [0, 1) (usage error naming --sparsity otherwise).
double pruning_sparsity(const PassOptions& options, const std::string& pass);
void check_sparsity(double sparsity);

// The weighted layers of kind layers=KIND+KIND (default `fallback`) that no earlier pass encoded
// or pruned.
std::vector<const Node*> pruning_layers(const Model& model, const PassOptions& options, const std::string& fallback, const PassContext& ctx);

}  // namespace mc
