// Plan-time grouping of the ops that only move elements (core/movement_chain.h): Reshape /
// Transpose / Concat / Split / Flatten / Squeeze / Unsqueeze / Identity steps, taken in plan order,
// join the group of the steps computing their data inputs, and each group of two or more runs as
// one step that copies every output element from its input once. The step runs where the group's
// last op ran, so a step joins only if no value of the group is read outside it before that point.
// In ShuffleNetV2 a group is Concat -> Reshape -> Transpose -> Reshape -> Split: the branch that the
// Split hands to a convolution is read before the next unit's Concat, which starts the next group.
// A value a group reads both as elements and as an operand (a shape, axes, split sizes) leaves the
// group unfused. In an invalid model, a group's error is raised where the group runs, so a later
// op's error may be reported first; either way the model is refused with its op named.
#include <algorithm>
#include <map>

#include "core/executor.h"
#include "core/movement_chain.h"

namespace mc {

namespace {

void not_a_kernel_infer(InferContext& ctx) { fail_internal(ctx.node.describe() + ": a movement chain runs through its executor"); }
void not_a_kernel_run(RunContext& ctx) { fail_internal(ctx.node.describe() + ": a movement chain runs through its executor"); }
const OpKernel movement_chain_kernel{"MovementChain", 1, not_a_kernel_infer, not_a_kernel_run, Fusion::none};

}  // namespace

void Executor::fuse_movement_chains() {
  const Graph& g = model_.graph;
  const size_t n = steps_.size();
  std::vector<std::vector<size_t>> readers(value_names_.size());
  for (size_t i = 0; i < n; ++i) {
    if (steps_[i].skipped) continue;
    for (int v : steps_[i].inputs)
      if (v >= 0 && (readers[static_cast<size_t>(v)].empty() || readers[static_cast<size_t>(v)].back() != i))
        readers[static_cast<size_t>(v)].push_back(i);
  }
  // Steps a group may take: a movement op whose other inputs (shapes, axes, sizes) are constants.
  std::vector<bool> movable(n, false);
  for (size_t i = 0; i < n; ++i) {
    const Step& s = steps_[i];
    if (s.skipped || s.fused_activation || s.outputs.empty() || !is_movement_op(s.node->op)) continue;
    bool ok = true;
    for (size_t k = 0; k < s.inputs.size(); ++k)
      if (s.inputs[k] >= 0 && !is_movement_data_input(s.node->op, k) && !constant_[static_cast<size_t>(s.inputs[k])]) ok = false;
    movable[i] = ok;
  }
  // Groups, in step order: a movable step joins the groups of the movable steps computing its data
  // inputs when every value of the joined group read outside it is read after this step (the group
  // runs where its last step ran).
  std::vector<int> producer(value_names_.size(), -1);
  for (size_t i = 0; i < n; ++i)
    if (!steps_[i].skipped)
      for (int v : steps_[i].outputs)
        if (v >= 0) producer[static_cast<size_t>(v)] = static_cast<int>(i);
  std::vector<int> group_of(n, -1);
  std::vector<std::vector<size_t>> grouped;
  for (size_t i = 0; i < n; ++i) {
    if (!movable[i]) continue;
    std::vector<int> joined;
    for (size_t k = 0; k < steps_[i].inputs.size(); ++k) {
      const int v = steps_[i].inputs[k];
      if (v < 0 || !is_movement_data_input(steps_[i].node->op, k)) continue;
      const int p = producer[static_cast<size_t>(v)];
      if (p >= 0 && movable[static_cast<size_t>(p)] && std::find(joined.begin(), joined.end(), group_of[static_cast<size_t>(p)]) == joined.end())
        joined.push_back(group_of[static_cast<size_t>(p)]);
    }
    std::vector<size_t> members;
    for (int gi : joined) members.insert(members.end(), grouped[static_cast<size_t>(gi)].begin(), grouped[static_cast<size_t>(gi)].end());
    members.push_back(i);
    bool valid = true;
    for (size_t m : members)
      for (int v : steps_[m].outputs)
        if (v >= 0)
          for (size_t r : readers[static_cast<size_t>(v)])
            if (r < i && std::find(members.begin(), members.end(), r) == members.end()) valid = false;
    if (!valid || joined.empty()) {
      group_of[i] = static_cast<int>(grouped.size());
      grouped.push_back({i});
      continue;
    }
    std::sort(members.begin(), members.end());
    const int into = joined.front();
    for (int gi : joined) grouped[static_cast<size_t>(gi)].clear();
    grouped[static_cast<size_t>(into)] = members;
    for (size_t m : members) group_of[m] = into;
  }

  for (size_t gi = 0; gi < grouped.size(); ++gi) {
    const std::vector<size_t>& members = grouped[gi];
    if (members.size() < 2) continue;
    const size_t anchor = members.back();
    auto in_group = [&](size_t step) { return group_of[step] == static_cast<int>(gi); };
    auto produced = [&](int v) {
      const int p = producer[static_cast<size_t>(v)];
      return p >= 0 && in_group(static_cast<size_t>(p));
    };
    // The group's outputs: values read outside it or graph outputs, all read after the anchor.
    std::vector<int> outputs;
    bool ok = true;
    for (size_t i : members)
      for (int v : steps_[i].outputs) {
        if (v < 0) continue;
        bool outside = g.is_graph_output(value_names_[static_cast<size_t>(v)]);
        for (size_t r : readers[static_cast<size_t>(v)])
          if (!in_group(r)) {
            outside = true;
            if (r <= anchor) ok = false;
          }
        if (outside) outputs.push_back(v);
      }
    if (!ok || outputs.empty()) continue;
    // Local ids: the group's inputs (data inputs computed outside), its values and its constants.
    std::map<int, int> local;
    std::vector<const Tensor*> constants;
    std::vector<int> inputs;
    auto local_id = [&](int v) {
      auto [it, added] = local.emplace(v, static_cast<int>(constants.size()));
      if (added) constants.push_back(constant_[static_cast<size_t>(v)]);
      return it->second;
    };
    std::vector<MovementChain::Member> chain_members;
    for (size_t i : members) {
      const Step& s = steps_[i];
      MovementChain::Member m{s.node, s.kernel, {}, {}};
      for (size_t k = 0; k < s.inputs.size(); ++k) {
        const int v = s.inputs[k];
        if (v < 0) {
          m.inputs.push_back(-1);
          continue;
        }
        m.inputs.push_back(local_id(v));
        // Every value read as elements and computed outside is an input, whatever reads it first.
        if (is_movement_data_input(s.node->op, k) && !produced(v) &&
            std::find(inputs.begin(), inputs.end(), v) == inputs.end())
          inputs.push_back(v);
      }
      for (int v : s.outputs) m.outputs.push_back(v >= 0 ? local_id(v) : -1);
      chain_members.push_back(std::move(m));
    }
    // A value read both as data and as a constant operand cannot be told apart: leave such groups.
    for (int v : inputs)
      for (size_t i : members)
        for (size_t k = 0; k < steps_[i].inputs.size(); ++k)
          if (steps_[i].inputs[k] == v && !is_movement_data_input(steps_[i].node->op, k)) ok = false;
    if (!ok) continue;
    Node node{steps_[anchor].node->name + "/moves", "MovementChain", {}, {}, {}};
    std::vector<int> local_inputs, local_outputs;
    for (int v : inputs) {
      node.inputs.push_back(value_names_[static_cast<size_t>(v)]);
      local_inputs.push_back(local.at(v));
    }
    for (int v : outputs) {
      node.outputs.push_back(value_names_[static_cast<size_t>(v)]);
      local_outputs.push_back(local.at(v));
    }
    MovementChain& chain = movement_chains_.emplace_back(std::move(node), model_.opset, std::move(chain_members),
                                                         std::move(constants), std::move(local_inputs), std::move(local_outputs));
    for (size_t i : members) steps_[i].skipped = true;
    Step& s = steps_[anchor];
    s.skipped = false;
    s.node = &chain.node();
    s.kernel = &movement_chain_kernel;
    s.inputs = inputs;
    s.outputs = outputs;
    s.movement = &chain;
  }
}

}  // namespace mc
