#include "core/executor.h"

#include <algorithm>
#include <climits>
#include <unordered_map>

#include "core/shape_inference.h"

namespace mc {

Executor::Executor(const Model& model, ExecutorOptions options)
    : model_(model), options_(options), pool_(options.threads) {
  check_supported(model_);
  plan();
}

void Executor::set_observer(Observer observer) {
  observer_ = std::move(observer);
  options_.fuse_activations = false;
  plan();
}

void Executor::plan() {
  const Graph& g = model_.graph;
  std::unordered_map<std::string, int> ids;
  value_names_.clear();
  constant_.clear();
  auto id_of = [&](const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    int id = static_cast<int>(value_names_.size());
    ids.emplace(name, id);
    value_names_.push_back(name);
    constant_.push_back(g.initializer(name));
    return id;
  };
  input_ids_.clear();
  for (const auto& in : g.inputs) input_ids_.push_back(id_of(in.name));
  steps_.clear();
  for (const auto& node : g.nodes) {
    Step s{&node, find_kernel(node.op), {}, {}, std::nullopt, false};
    for (const auto& in : node.inputs) s.inputs.push_back(in.empty() ? -1 : id_of(in));
    for (const auto& out : node.outputs) s.outputs.push_back(out.empty() ? -1 : id_of(out));
    steps_.push_back(std::move(s));
  }
  output_ids_.clear();
  for (const auto& out : g.outputs) output_ids_.push_back(id_of(out.name));

  std::vector<int> readers(value_names_.size(), 0);
  for (const auto& s : steps_)
    for (int v : s.inputs)
      if (v >= 0) ++readers[static_cast<size_t>(v)];
  if (options_.fuse_activations) {
    // Conv -> Relu/Clip: when the activation is the conv output's only reader and the conv output
    // is not a graph output, the conv writes the activation's output directly.
    std::unordered_map<int, size_t> reader_step;
    for (size_t i = 0; i < steps_.size(); ++i)
      for (int v : steps_[i].inputs)
        if (v >= 0) reader_step[v] = i;
    for (auto& s : steps_) {
      if (!s.kernel->can_fuse_clip || s.outputs.size() != 1 || s.outputs[0] < 0) continue;
      int v = s.outputs[0];
      if (readers[static_cast<size_t>(v)] != 1 || g.is_graph_output(value_names_[static_cast<size_t>(v)])) continue;
      Step& act = steps_[reader_step[v]];
      if (act.inputs.empty() || act.inputs[0] != v || act.outputs.size() != 1) continue;
      auto clip = clip_as_fusable(*act.node, model_.opset, g);
      if (!clip) continue;
      s.fused_clip = clip;
      s.outputs[0] = act.outputs[0];
      act.skipped = true;
    }
  }
  last_use_.assign(value_names_.size(), -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].skipped) continue;
    for (int v : steps_[i].inputs)
      if (v >= 0) last_use_[static_cast<size_t>(v)] = static_cast<int>(i);
  }
  for (int v : output_ids_) last_use_[static_cast<size_t>(v)] = INT_MAX;
  values_.assign(value_names_.size(), Tensor());
}

Tensor Executor::take_buffer(size_t bytes) {
  // Best fit among recycled buffers; a fresh tensor when none is large enough.
  size_t best = free_buffers_.size();
  for (size_t i = 0; i < free_buffers_.size(); ++i) {
    size_t cap = free_buffers_[i].capacity_bytes();
    if (cap >= bytes && (best == free_buffers_.size() || cap < free_buffers_[best].capacity_bytes())) best = i;
  }
  if (best == free_buffers_.size()) return Tensor();
  Tensor t = std::move(free_buffers_[best]);
  free_buffers_.erase(free_buffers_.begin() + static_cast<std::ptrdiff_t>(best));
  return t;
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) {
  const Graph& g = model_.graph;
  if (inputs.size() != g.inputs.size())
    fail_input("the model takes " + std::to_string(g.inputs.size()) + " inputs, got " + std::to_string(inputs.size()));
  std::vector<const Tensor*> current(value_names_.size(), nullptr);
  for (size_t v = 0; v < value_names_.size(); ++v) current[v] = constant_[v];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ValueInfo& decl = g.inputs[i];
    const Tensor& t = inputs[i];
    bool ok = t.dtype() == decl.dtype && t.rank() == decl.shape.size();
    for (size_t d = 0; ok && d < decl.shape.size(); ++d) ok = decl.shape[d] < 0 || decl.shape[d] == t.dim(d);
    if (!ok) {
      std::string expected = "[";
      for (size_t d = 0; d < decl.shape.size(); ++d)
        expected += (d ? "," : "") + (decl.shape[d] < 0 ? (decl.dim_params[d].empty() ? "?" : decl.dim_params[d]) : std::to_string(decl.shape[d]));
      fail_input("input '" + decl.name + "' is " + dtype_name(t.dtype()) + " " + shape_str(t.shape()) +
                 ", the model expects " + dtype_name(decl.dtype) + " " + expected + "]");
    }
    current[static_cast<size_t>(input_ids_[i])] = &t;
  }
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    if (s.skipped) continue;
    InferContext ictx{*s.node, model_.opset, {}, {}, {}};
    RunContext rctx{*s.node, model_.opset, {}, {}, pool_, s.fused_clip};
    for (int v : s.inputs) {
      const Tensor* t = v >= 0 ? current[static_cast<size_t>(v)] : nullptr;
      if (v >= 0 && !t) fail_internal(s.node->describe() + ": input '" + value_names_[static_cast<size_t>(v)] + "' not computed");
      ictx.in.push_back(t ? TensorType{t->dtype(), t->shape()} : TensorType{});
      ictx.value.push_back(t);
      rctx.in.push_back(t);
    }
    s.kernel->infer(ictx);
    if (ictx.out.size() != s.outputs.size()) fail_input(s.node->describe() + ": wrong number of outputs");
    std::vector<Tensor> scratch(s.outputs.size());
    for (size_t o = 0; o < s.outputs.size(); ++o) {
      int v = s.outputs[o];
      size_t bytes = static_cast<size_t>(shape_numel(ictx.out[o].shape)) * dtype_size(ictx.out[o].dtype);
      Tensor& dst = v >= 0 ? values_[static_cast<size_t>(v)] : scratch[o];
      if (dst.capacity_bytes() < bytes) dst = take_buffer(bytes);
      dst.reset(ictx.out[o].dtype, ictx.out[o].shape);
      rctx.out.push_back(&dst);
    }
    s.kernel->run(rctx);
    for (size_t o = 0; o < s.outputs.size(); ++o)
      if (s.outputs[o] >= 0) current[static_cast<size_t>(s.outputs[o])] = rctx.out[o];
    if (observer_) {
      std::vector<const Tensor*> outs(rctx.out.begin(), rctx.out.end());
      observer_(*s.node, rctx.in, outs);
    }
    // Recycle buffers whose last reader was this step.
    for (int v : s.inputs) {
      if (v < 0 || constant_[static_cast<size_t>(v)] || last_use_[static_cast<size_t>(v)] != static_cast<int>(si)) continue;
      if (std::find(input_ids_.begin(), input_ids_.end(), v) != input_ids_.end()) continue;
      if (!values_[static_cast<size_t>(v)].empty()) free_buffers_.push_back(std::move(values_[static_cast<size_t>(v)]));
      values_[static_cast<size_t>(v)] = Tensor();
      current[static_cast<size_t>(v)] = nullptr;
    }
    for (auto& t : scratch)
      if (!t.empty()) free_buffers_.push_back(std::move(t));
  }
  std::vector<Tensor> outputs;
  for (int v : output_ids_) {
    const Tensor* t = current[static_cast<size_t>(v)];
    if (!t) fail_internal("graph output '" + value_names_[static_cast<size_t>(v)] + "' was not computed");
    // A graph output may be an input or initializer; copy in that case, move otherwise.
    bool owned = t == &values_[static_cast<size_t>(v)];
    outputs.push_back(owned ? std::move(values_[static_cast<size_t>(v)]) : *t);
    if (owned) values_[static_cast<size_t>(v)] = Tensor();
  }
  return outputs;
}

}  // namespace mc
