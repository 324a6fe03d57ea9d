#include "core/executor.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/arena_plan.h"
#include "core/image_parts.h"
#include "core/shape_inference.h"

namespace mc {

Executor::Executor(const Model& model, ExecutorOptions options)
    : model_(model), options_(options), pool_(options.threads) {
  check_supported(model_);
  plan();
  images_independent_ = options_.images_apart && images_independent(model_);
}

void Executor::set_observer(Observer observer) {
  observer_ = std::move(observer);
  options_.fuse_activations = false;
  plan();
}

bool Executor::runs_images_apart() const { return images_independent_ && !observer_; }

namespace {

// Images [first, first + count) of every input (each carries the batch first).
std::vector<Tensor> images_of(const std::vector<Tensor>& inputs, int64_t first, int64_t count) {
  std::vector<Tensor> part;
  for (const Tensor& t : inputs) {
    Shape shape = t.shape();
    const size_t image_bytes = t.byte_size() / static_cast<size_t>(shape[0]);
    shape[0] = count;
    Tensor& p = part.emplace_back(t.dtype(), shape);
    std::memcpy(p.raw(), static_cast<const char*>(t.raw()) + static_cast<size_t>(first) * image_bytes,
                static_cast<size_t>(count) * image_bytes);
  }
  return part;
}

// Copies the outputs of images [first, first + count) into `outputs` (made at the first call, for
// `batch` images).
void place_images(std::vector<Tensor>& outputs, const std::vector<Tensor>& part, int64_t first, int64_t count, int64_t batch) {
  for (size_t o = 0; o < part.size(); ++o) {
    if (part[o].rank() == 0 || part[o].dim(0) != count) fail_internal("an output of a part of the batch does not have the batch first");
    if (outputs.size() <= o) {
      Shape shape = part[o].shape();
      shape[0] = batch;
      outputs.emplace_back(part[o].dtype(), shape);
    }
    const size_t bytes = part[o].byte_size();
    std::memcpy(static_cast<char*>(outputs[o].raw()) + static_cast<size_t>(first) * (bytes / static_cast<size_t>(count)),
                part[o].raw(), bytes);
  }
}

}  // namespace

void Executor::check_inputs(const std::vector<Tensor>& inputs) const {
  const Graph& g = model_.graph;
  if (inputs.size() != g.inputs.size())
    fail_input("the model takes " + std::to_string(g.inputs.size()) + " inputs, got " + std::to_string(inputs.size()));
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
  }
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) {
  check_inputs(inputs);  // as given, before any split
  // Images apart need every input to carry the same batch first; anything else runs whole.
  const int64_t batch = !inputs.empty() && inputs[0].rank() > 0 ? inputs[0].dim(0) : 0;
  const bool same_batch = std::all_of(inputs.begin(), inputs.end(), [&](const Tensor& t) { return t.rank() > 0 && t.dim(0) == batch; });
  if (!same_batch || batch <= 1 || !runs_images_apart()) {
    last_state_ = &whole_;
    return run_whole(inputs, whole_);
  }
  // Whole rounds of one image per thread side by side; the images left over (fewer than the
  // threads) together, the threads sharing each layer.
  const auto threads = static_cast<int64_t>(pool_.size());
  const int64_t apart = batch / threads * threads;
  std::vector<Tensor> outputs;
  if (apart > 0) {
    while (images_.size() < static_cast<size_t>(threads)) {  // apart is a multiple of threads
      images_.push_back(std::make_unique<RunState>());
      images_.back()->values.assign(value_names_.size(), Tensor());
    }
    std::vector<RunState*> idle;
    for (auto& st : images_) idle.push_back(st.get());
    std::mutex idle_mutex;
    std::vector<std::vector<Tensor>> image_outputs(static_cast<size_t>(apart));
    // A thread runs an image with a state nobody else holds; the kernels' loops inside run on that
    // thread alone (a parallel_for inside a task is serial, thread_pool.h).
    // The state goes back even when the run throws, so no thread finds none left.
    struct Held {
      std::vector<RunState*>& idle;
      std::mutex& mutex;
      RunState* state;
      Held(std::vector<RunState*>& i, std::mutex& m) : idle(i), mutex(m) {
        std::lock_guard<std::mutex> lock(mutex);
        state = idle.back();
        idle.pop_back();
      }
      ~Held() {
        std::lock_guard<std::mutex> lock(mutex);
        idle.push_back(state);
      }
      Held(const Held&) = delete;
      Held& operator=(const Held&) = delete;
    };
    pool_.parallel_for(apart, [&](int64_t i) {
      const Held held(idle, idle_mutex);
      image_outputs[static_cast<size_t>(i)] = run_whole(images_of(inputs, i, 1), *held.state);
    });
    for (int64_t i = 0; i < apart; ++i) place_images(outputs, image_outputs[static_cast<size_t>(i)], i, 1, batch);
    // A state some image ran on (under load one thread may run them all on one state): every run
    // leaves its state's arena planned.
    last_state_ = images_.front().get();
    for (const auto& st : images_)
      if (st->arena.planned) {
        last_state_ = st.get();
        break;
      }
  }
  if (apart < batch) {
    place_images(outputs, run_whole(images_of(inputs, apart, batch - apart), whole_), apart, batch - apart, batch);
    if (apart == 0) last_state_ = &whole_;
  }
  return outputs;
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

  folded_.clear();
  quantized_.clear();
  integer_chains_.clear();
  movement_chains_.clear();
  if (options_.fuse_activations) {
    // Readers of each value among the steps still to run, and the last of them.
    std::vector<int> readers;
    std::vector<size_t> reader_step;
    auto count_readers = [&] {
      readers.assign(value_names_.size(), 0);
      reader_step.assign(value_names_.size(), 0);
      for (size_t i = 0; i < steps_.size(); ++i) {
        if (steps_[i].skipped) continue;
        for (int v : steps_[i].inputs) {
          if (v < 0) continue;
          ++readers[static_cast<size_t>(v)];
          reader_step[static_cast<size_t>(v)] = i;
        }
      }
    };
    count_readers();
    fold_batchnorms(readers, reader_step);
    count_readers();
    if (options_.fuse_quantized) {
      fuse_quantized_convs();
      count_readers();
      fuse_integer_chains(readers, reader_step);
      count_readers();
    }
    // Conv -> Relu, Clip, HardSigmoid, HardSwish, LeakyRelu, Sigmoid or Tanh (also after a folded
    // BatchNormalization; QLinearConv -> Relu/Clip): when the activation is the conv output's only
    // reader and the conv output is not a graph output, the conv writes the activation's output
    // directly, computing the activation with the same function as its kernel.
    for (auto& s : steps_) {
      if (s.skipped || s.kernel->fusion == Fusion::none || s.outputs.size() != 1 || s.outputs[0] < 0) continue;
      const auto v = static_cast<size_t>(s.outputs[0]);
      if (readers[v] != 1 || g.is_graph_output(value_names_[v])) continue;
      Step& act = steps_[reader_step[v]];
      if (act.inputs.empty() || act.inputs[0] != s.outputs[0] || act.outputs.size() != 1) continue;
      auto fused = s.kernel->fusion == Fusion::clip ? clip_as_fusable(*act.node, model_.opset, g)
                                                    : activation_as_fusable(*act.node, model_.opset, g);
      if (!fused) continue;
      s.fused_activation = fused;
      s.outputs[0] = act.outputs[0];
      act.skipped = true;
    }
    count_readers();
    fuse_residual_adds(readers, reader_step);
    fuse_movement_chains();
  }
  last_use_.assign(value_names_.size(), -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].skipped) continue;
    for (int v : steps_[i].inputs)
      if (v >= 0) last_use_[static_cast<size_t>(v)] = static_cast<int>(i);
  }
  for (int v : output_ids_) last_use_[static_cast<size_t>(v)] = INT_MAX;
  whole_ = RunState();  // new steps: the next run plans again
  whole_.values.assign(value_names_.size(), Tensor());
  images_.clear();
  last_state_ = &whole_;
}

// Conv -> Add(conv output, x) with x computed before the conv (not a constant, which may broadcast):
// when the Add is the conv output's only reader and that output is not a graph output, the conv
// writes the Add's output, adding x to each output after its activation (in registers for the
// pointwise GEMM). The sum is the Add's: the same float addition of the same two values.
void Executor::fuse_residual_adds(const std::vector<int>& readers, const std::vector<size_t>& reader_step) {
  const Graph& g = model_.graph;
  const OpKernel* conv = find_kernel("Conv");
  std::vector<int> produced_at(value_names_.size(), -1);  // step index; -1: a graph input or constant
  for (size_t i = 0; i < steps_.size(); ++i)
    for (int v : steps_[i].outputs)
      if (v >= 0) produced_at[static_cast<size_t>(v)] = static_cast<int>(i);
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& s = steps_[i];
    if (s.skipped || s.kernel != conv || s.movement || s.outputs.size() != 1 || s.outputs[0] < 0) continue;
    const auto v = static_cast<size_t>(s.outputs[0]);
    if (readers[v] != 1 || g.is_graph_output(value_names_[v])) continue;
    Step& add = steps_[reader_step[v]];
    if (add.skipped || add.node->op != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1 || add.outputs[0] < 0)
      continue;
    const bool first = add.inputs[0] == s.outputs[0];
    const int x = first ? add.inputs[1] : add.inputs[0];
    if (x < 0 || x == s.outputs[0] || constant_[static_cast<size_t>(x)] || produced_at[static_cast<size_t>(x)] >= static_cast<int>(i))
      continue;
    s.inputs.push_back(x);
    s.residual_add = add.node;
    s.residual_first = first;
    s.outputs[0] = add.outputs[0];
    add.skipped = true;
  }
}

// A fused residual Add whose other input turns out not to have the conv output's shape (it
// broadcasts): the conv into a tensor of its own, then the Add's kernel, inputs in the graph's order.
void Executor::run_unfused_add(const Step& s, RunContext& conv, const Tensor& residual) {
  Tensor sum_of(DType::f32, conv.out[0]->shape());
  Tensor* out = conv.out[0];
  conv.out[0] = &sum_of;
  s.kernel->run(conv);
  const OpKernel* add = find_kernel("Add");
  const Tensor* a = s.residual_first ? &sum_of : &residual;
  const Tensor* b = s.residual_first ? &residual : &sum_of;
  InferContext ictx{*s.residual_add, model_.opset, {TensorType{a->dtype(), a->shape()}, TensorType{b->dtype(), b->shape()}},
                    {a, b}, {}};
  add->infer(ictx);
  out->reset(ictx.out[0].dtype, ictx.out[0].shape);
  RunContext actx{*s.residual_add, model_.opset, {a, b}, {out}, pool_, std::nullopt};
  add->run(actx);
  conv.out[0] = out;
}

void Executor::plan_arena(RunState& state, const std::vector<size_t>& bytes, const std::vector<int>& defined_at) {
  std::vector<TensorLifetime> lifetimes;
  std::vector<size_t> planned;  // value ids, in lifetimes' order
  for (size_t v = 0; v < value_names_.size(); ++v) {
    const int first = defined_at[v];
    if (first < 0 || last_use_[v] == INT_MAX) continue;  // not written by a step, or a graph output (handed to the caller)
    planned.push_back(v);
    lifetimes.push_back(TensorLifetime{first, std::max(first, last_use_[v]), bytes[v]});
  }
  const ArenaAssignment assignment = mc::plan_arena(lifetimes);
  Arena& arena = state.arena;
  arena.buffer_of.assign(value_names_.size(), -1);
  arena.unshared_bytes = 0;
  for (size_t i = 0; i < planned.size(); ++i) {
    arena.buffer_of[planned[i]] = assignment.buffer[i];
    arena.unshared_bytes += lifetimes[i].bytes;
    state.values[planned[i]] = Tensor();  // a buffer kept from the unplanned run (an output nobody reads)
  }
  state.free_buffers.clear();  // the unplanned run's buffers: the arena replaces them
  arena.buffers.clear();
  for (size_t b : assignment.buffer_bytes) {
    Tensor& t = arena.buffers.emplace_back();
    t.reset(DType::u8, {static_cast<int64_t>(b)});
  }
  arena.bytes = assignment.total_bytes();
  arena.planned = true;
}

Executor::ArenaStats Executor::arena_stats() const {
  const Arena& a = last_state_->arena;
  return ArenaStats{a.planned, a.buffers.size(), a.bytes, a.unshared_bytes};
}

std::vector<std::string> Executor::planned_ops() const {
  std::vector<std::string> ops;
  for (const auto& s : steps_)
    if (!s.skipped) ops.push_back(s.node->op);
  return ops;
}

int Executor::add_constant(const std::string& name, const Tensor* value) {
  value_names_.push_back(name);
  constant_.push_back(value);
  return static_cast<int>(value_names_.size() - 1);
}

// Conv -> BatchNormalization (inference form, constant parameters) becomes one Conv with
// W' = W * a and b' = (b - mean) * a + B per output channel, a = scale / sqrt(var + eps), computed
// in double and rounded once (as the fold-bn pass does). Only when the BatchNormalization is the
// conv output's single reader and that output is not a graph output; anything unusual (non-f32
// or non-constant parameters, wrong shapes, training outputs) is left to the kernels to run or
// reject as usual.
void Executor::fold_batchnorms(const std::vector<int>& readers, const std::vector<size_t>& reader_step) {
  const Graph& g = model_.graph;
  // The constant f32 value `v`, of shape [channels] when channels >= 0; nullptr otherwise.
  auto f32_constant = [&](int v, int64_t channels) -> const Tensor* {
    if (v < 0) return nullptr;
    const Tensor* t = constant_[static_cast<size_t>(v)];
    if (!t || t->dtype() != DType::f32 || (channels >= 0 && t->shape() != Shape{channels})) return nullptr;
    return t;
  };
  for (auto& conv : steps_) {
    if (conv.skipped || conv.node->op != "Conv" || conv.inputs.size() < 2 || conv.outputs.size() != 1 ||
        conv.outputs[0] < 0)
      continue;
    const auto v = static_cast<size_t>(conv.outputs[0]);
    if (readers[v] != 1 || g.is_graph_output(value_names_[v])) continue;
    Step& bn = steps_[reader_step[v]];
    const Node& bn_node = *bn.node;
    if (bn_node.op != "BatchNormalization" || bn.inputs.size() < 5 || bn.inputs[0] != conv.outputs[0] ||
        bn.outputs.empty() || bn.outputs[0] < 0)
      continue;
    if (std::any_of(bn.outputs.begin() + 1, bn.outputs.end(), [](int o) { return o >= 0; })) continue;
    if (bn_node.attr_int("training_mode", 0) != 0 || (model_.opset < 9 && bn_node.attr_int("spatial", 1) != 1))
      continue;
    const Tensor* w = f32_constant(conv.inputs[1], -1);
    if (!w || w->rank() < 3 || w->dim(0) <= 0) continue;
    const int64_t channels = w->dim(0);
    const bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
    const Tensor* bias = has_bias ? f32_constant(conv.inputs[2], channels) : nullptr;
    if (has_bias && !bias) continue;
    const Tensor* scale = f32_constant(bn.inputs[1], channels);
    const Tensor* shift = f32_constant(bn.inputs[2], channels);
    const Tensor* mean = f32_constant(bn.inputs[3], channels);
    const Tensor* var = f32_constant(bn.inputs[4], channels);
    if (!scale || !shift || !mean || !var) continue;

    FoldedConv& f = folded_.emplace_back();
    f.weight = Tensor(DType::f32, w->shape());
    f.bias = Tensor(DType::f32, {channels});
    const double eps = bn_node.attr_float("epsilon", 1e-5f);
    const int64_t per_channel = w->numel() / channels;
    const float* pw = w->data<float>();
    float* fw = f.weight.data<float>();
    for (int64_t c = 0; c < channels; ++c) {
      const double a = static_cast<double>(scale->data<float>()[c]) /
                       std::sqrt(static_cast<double>(var->data<float>()[c]) + eps);
      for (int64_t k = c * per_channel; k < (c + 1) * per_channel; ++k) fw[k] = static_cast<float>(pw[k] * a);
      const double b = bias ? bias->data<float>()[c] : 0.0;
      f.bias.data<float>()[c] =
          static_cast<float>((b - mean->data<float>()[c]) * a + shift->data<float>()[c]);
    }
    f.node = *conv.node;
    f.node.inputs.resize(3);
    f.node.inputs[1] = f.node.name + ":weight_with_" + bn_node.name;
    f.node.inputs[2] = f.node.name + ":bias_with_" + bn_node.name;
    f.node.outputs = {bn_node.outputs[0]};
    conv.node = &f.node;
    conv.inputs.resize(3);
    conv.inputs[1] = add_constant(f.node.inputs[1], &f.weight);
    conv.inputs[2] = add_constant(f.node.inputs[2], &f.bias);
    conv.outputs[0] = bn.outputs[0];
    bn.skipped = true;
  }
}

Tensor Executor::take_buffer(RunState& state, size_t bytes) {
  std::vector<Tensor>& free_buffers = state.free_buffers;
  // Best fit among recycled buffers; a fresh tensor when none is large enough.
  size_t best = free_buffers.size();
  for (size_t i = 0; i < free_buffers.size(); ++i) {
    size_t cap = free_buffers[i].capacity_bytes();
    if (cap >= bytes && (best == free_buffers.size() || cap < free_buffers[best].capacity_bytes())) best = i;
  }
  if (best == free_buffers.size()) return Tensor();
  Tensor t = std::move(free_buffers[best]);
  free_buffers.erase(free_buffers.begin() + static_cast<std::ptrdiff_t>(best));
  return t;
}

std::vector<Tensor> Executor::run_whole(const std::vector<Tensor>& inputs, RunState& state) {
  Arena& arena = state.arena;
  std::vector<Tensor>& values = state.values;
  std::vector<const Tensor*> current(value_names_.size(), nullptr);
  for (size_t v = 0; v < value_names_.size(); ++v) current[v] = constant_[v];
  for (size_t i = 0; i < inputs.size(); ++i) current[static_cast<size_t>(input_ids_[i])] = &inputs[i];
  // The arena serves runs at the input shapes it was planned for; any other run recycles buffers on
  // the fly, records the sizes and lifetimes, and plans the arena for the runs after it.
  std::vector<std::pair<DType, Shape>> input_types;
  for (const auto& t : inputs) input_types.emplace_back(t.dtype(), t.shape());
  const bool planned = arena.planned && arena.inputs == input_types;
  std::vector<size_t> seen_bytes;
  std::vector<int> defined_at;
  if (!planned) {
    arena = Arena();
    arena.inputs = input_types;
    seen_bytes.assign(value_names_.size(), 0);
    defined_at.assign(value_names_.size(), -1);
  }
  auto arena_buffer = [&](int v) { return planned && v >= 0 ? arena.buffer_of[static_cast<size_t>(v)] : -1; };
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    if (s.skipped) continue;
    InferContext ictx{*s.node, model_.opset, {}, {}, {}};
    RunContext rctx{*s.node, model_.opset, {}, {}, pool_, s.fused_activation};
    const Tensor* residual = nullptr;  // a fused Add's other input (Step::residual_add), after the node's own
    for (size_t i = 0; i < s.inputs.size(); ++i) {
      const int v = s.inputs[i];
      const Tensor* t = v >= 0 ? current[static_cast<size_t>(v)] : nullptr;
      if (v >= 0 && !t) fail_internal(s.node->describe() + ": input '" + value_names_[static_cast<size_t>(v)] + "' not computed");
      if (s.residual_add && i + 1 == s.inputs.size()) {
        residual = t;
        continue;
      }
      ictx.in.push_back(t ? TensorType{t->dtype(), t->shape()} : TensorType{});
      ictx.value.push_back(t);
      rctx.in.push_back(t);
    }
    if (s.movement) s.movement->infer(ictx);
    else s.kernel->infer(ictx);
    if (ictx.out.size() != s.outputs.size()) fail_input(s.node->describe() + ": wrong number of outputs");
    std::vector<Tensor> scratch(s.outputs.size());
    for (size_t o = 0; o < s.outputs.size(); ++o) {
      int v = s.outputs[o];
      size_t bytes = static_cast<size_t>(shape_numel(ictx.out[o].shape)) * dtype_size(ictx.out[o].dtype);
      Tensor& dst = v >= 0 ? values[static_cast<size_t>(v)] : scratch[o];
      if (const int b = arena_buffer(v); b >= 0) {
        dst = std::move(arena.buffers[static_cast<size_t>(b)]);  // grows in reset if a data-dependent shape is larger
      } else {
        if (dst.capacity_bytes() < bytes) dst = take_buffer(state, bytes);
        if (!planned && v >= 0) {
          seen_bytes[static_cast<size_t>(v)] = bytes;
          defined_at[static_cast<size_t>(v)] = static_cast<int>(si);
        }
      }
      dst.reset(ictx.out[o].dtype, ictx.out[o].shape);
      rctx.out.push_back(&dst);
    }
    if (s.movement) {
      s.movement->run(rctx);
    } else if (residual && (residual->dtype() != DType::f32 || residual->shape() != ictx.out[0].shape)) {
      run_unfused_add(s, rctx, *residual);  // a broadcasting Add: the conv, then the Add, as the graph says
    } else {
      rctx.residual = residual;
      s.kernel->run(rctx);
    }
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
      Tensor& held = values[static_cast<size_t>(v)];
      if (!held.empty()) {  // empty: read twice by this step, already recycled
        if (const int b = arena_buffer(v); b >= 0) arena.buffers[static_cast<size_t>(b)] = std::move(held);
        else state.free_buffers.push_back(std::move(held));
      }
      held = Tensor();
      current[static_cast<size_t>(v)] = nullptr;
    }
    // Arena tensors nobody reads: back to their buffer at once.
    for (int v : s.outputs)
      if (const int b = arena_buffer(v); b >= 0 && last_use_[static_cast<size_t>(v)] < static_cast<int>(si)) {
        arena.buffers[static_cast<size_t>(b)] = std::move(values[static_cast<size_t>(v)]);
        values[static_cast<size_t>(v)] = Tensor();
        current[static_cast<size_t>(v)] = nullptr;
      }
    for (auto& t : scratch)
      if (!t.empty()) state.free_buffers.push_back(std::move(t));
  }
  std::vector<Tensor> outputs;
  for (int v : output_ids_) {
    const Tensor* t = current[static_cast<size_t>(v)];
    if (!t) fail_internal("graph output '" + value_names_[static_cast<size_t>(v)] + "' was not computed");
    // A graph output may be an input or initializer; copy in that case, move otherwise.
    bool owned = t == &values[static_cast<size_t>(v)];
    outputs.push_back(owned ? std::move(values[static_cast<size_t>(v)]) : *t);
    if (owned) values[static_cast<size_t>(v)] = Tensor();
  }
  if (!planned) plan_arena(state, seen_bytes, defined_at);
  return outputs;
}

}  // namespace mc
