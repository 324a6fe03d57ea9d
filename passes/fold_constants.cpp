// fold-constants: every value that does not depend on the graph input becomes an initializer and
// the nodes computing it disappear. Shape arithmetic counts too when it is batch-independent:
// the graph is shape-inferred at batch 1 and at batch 2, and a value computed identically in both
// cannot depend on the batch. (Shape(x)[0] differs between the two and stays in the graph; a
// Reshape target built only from static dims folds.)
#include <cstring>
#include <set>

#include "core/shape_inference.h"
#include "passes/pass.h"

namespace mc {

void run_fold_constants(Model& model, const PassOptions&, PassContext&) {
  InferredGraph one = infer_shapes(model, 1);
  InferredGraph two = infer_shapes(model, 2);
  std::set<std::string> folded;
  for (auto& [name, t] : one.constants) {
    auto it = two.constants.find(name);
    if (it == two.constants.end()) continue;
    const Tensor& u = it->second;
    if (u.dtype() != t.dtype() || u.shape() != t.shape() || std::memcmp(u.raw(), t.raw(), t.byte_size()) != 0) continue;
    folded.insert(name);
  }
  Graph& g = model.graph;
  std::vector<Node> kept;
  for (auto& node : g.nodes) {
    bool all_folded = !node.outputs.empty();
    for (const auto& o : node.outputs) all_folded = all_folded && (o.empty() || folded.count(o));
    if (!all_folded) {
      kept.push_back(std::move(node));
      continue;
    }
    for (const auto& o : node.outputs)
      if (!o.empty()) g.initializers[o] = std::move(one.constants.at(o));
  }
  g.nodes = std::move(kept);
  g.remove_dead();
}

}  // namespace mc
