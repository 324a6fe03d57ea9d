#include "passes/pruning.h"

#include <cmath>

#include "passes/weight_fit.h"

namespace mc {

void check_sparsity(double sparsity) {
  if (!(sparsity >= 0 && sparsity < 1)) {
    std::string text = std::to_string(sparsity);
    while (text.size() > 1 && text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    fail_usage("--sparsity must be in [0, 1), got " + text);
  }
}

double pruning_sparsity(const PassOptions& options, const std::string& pass) {
  if (!options.values.count("sparsity")) fail_usage(pass + " needs sparsity=S (share of the weights pruned, 0 <= S < 1)");
  const double s = options.number("sparsity", 0.0);
  check_sparsity(s);
  return s;
}

std::vector<const Node*> pruning_layers(const Model& model, const PassOptions& options, const std::string& fallback, const PassContext& ctx) {
  std::vector<const Node*> out;
  for (const Node* n : select_layers(model, options.text("layers", fallback), ctx.encoded))
    if (!ctx.pruned.count(n->inputs[1])) out.push_back(n);
  return out;
}

}  // namespace mc
