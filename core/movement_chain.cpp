#include "core/movement_chain.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace mc {

namespace {

// An element code: the group input it comes from and its position there.
constexpr int code_shift = 40;
constexpr int64_t code_position_mask = (int64_t{1} << code_shift) - 1;

// Copies are cut at this many bytes, and tasks take about this many: small enough to spread a
// shuffle over the threads, large enough that a task is not mostly overhead.
constexpr int64_t task_bytes = int64_t{32} << 10;
// Copies shorter than this on average (elements) run the members' own kernels instead: a memcpy
// call per element or two would be slower than a transpose kernel's loop.
constexpr int64_t shortest_average_copy = 16;
// Plans kept for different input types.
constexpr size_t plans_kept = 4;

bool same_types(const std::vector<TensorType>& a, const std::vector<TensorType>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].dtype != b[i].dtype || a[i].shape != b[i].shape) return false;
  return true;
}

}  // namespace

bool is_movement_op(const std::string& op) {
  return op == "Reshape" || op == "Transpose" || op == "Concat" || op == "Split" || op == "Flatten" || op == "Squeeze" ||
         op == "Unsqueeze" || op == "Identity";
}

bool is_movement_data_input(const std::string& op, size_t input) { return op == "Concat" || input == 0; }

MovementChain::MovementChain(Node node, int64_t opset, std::vector<Member> members, std::vector<const Tensor*> constants,
                             std::vector<int> inputs, std::vector<int> outputs)
    : node_(std::move(node)),
      opset_(opset),
      members_(std::move(members)),
      constants_(std::move(constants)),
      inputs_(std::move(inputs)),
      outputs_(std::move(outputs)) {
  last_reader_.assign(constants_.size(), -1);
  for (size_t i = 0; i < members_.size(); ++i)
    for (int v : members_[i].inputs)
      if (v >= 0) last_reader_[static_cast<size_t>(v)] = static_cast<int>(i);
}

std::shared_ptr<const MovementChain::Plan> MovementChain::find_plan(const std::vector<TensorType>& inputs) {
  std::lock_guard<std::mutex> lock(*plans_mutex_);
  for (const auto& p : plans_)
    if (same_types(p->inputs, inputs)) return p;
  auto p = std::make_shared<const Plan>(plan(inputs));
  if (plans_.size() == plans_kept) plans_.erase(plans_.begin());
  plans_.push_back(p);
  return p;
}

void MovementChain::infer(InferContext& ctx) { ctx.out = find_plan(ctx.in)->outputs; }

void MovementChain::run_members(const std::vector<const Tensor*>& constants, std::vector<TensorType>& types,
                                std::vector<Tensor>* tensors, ThreadPool& pool) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& m = members_[i];
    InferContext ictx{*m.node, opset_, {}, {}, {}};
    RunContext rctx{*m.node, opset_, {}, {}, pool, std::nullopt};
    for (int v : m.inputs) {
      const Tensor* constant = v >= 0 ? constants[static_cast<size_t>(v)] : nullptr;
      ictx.in.push_back(v >= 0 ? types[static_cast<size_t>(v)] : TensorType{});
      ictx.value.push_back(constant);
      if (tensors) rctx.in.push_back(v < 0 ? nullptr : constant ? constant : &(*tensors)[static_cast<size_t>(v)]);
    }
    m.kernel->infer(ictx);
    if (ictx.out.size() != m.outputs.size()) fail_input(m.node->describe() + ": wrong number of outputs");
    std::vector<Tensor> scratch(m.outputs.size());
    for (size_t o = 0; o < m.outputs.size(); ++o) {
      const int v = m.outputs[o];
      if (v >= 0) types[static_cast<size_t>(v)] = ictx.out[o];
      if (!tensors) continue;
      Tensor& t = v >= 0 ? (*tensors)[static_cast<size_t>(v)] : scratch[o];
      t = Tensor(ictx.out[o].dtype, ictx.out[o].shape);
      rctx.out.push_back(&t);
    }
    if (!tensors) continue;
    m.kernel->run(rctx);
    for (int v : m.inputs)
      if (v >= 0 && last_reader_[static_cast<size_t>(v)] == static_cast<int>(i) &&
          std::find(outputs_.begin(), outputs_.end(), v) == outputs_.end())
        (*tensors)[static_cast<size_t>(v)] = Tensor();
  }
}

MovementChain::Plan MovementChain::plan(const std::vector<TensorType>& inputs) const {
  if (inputs.size() != inputs_.size()) fail_internal(node_.describe() + ": wrong number of inputs");
  Plan p;
  p.inputs = inputs;
  ThreadPool serial(1);
  // Types and shapes, with the ops' own checks and messages.
  std::vector<TensorType> types(constants_.size());
  for (size_t v = 0; v < constants_.size(); ++v)
    if (constants_[v]) types[v] = TensorType{constants_[v]->dtype(), constants_[v]->shape()};
  for (size_t i = 0; i < inputs.size(); ++i) types[static_cast<size_t>(inputs_[i])] = inputs[i];
  run_members(constants_, types, nullptr, serial);
  for (int v : outputs_) p.outputs.push_back(types[static_cast<size_t>(v)]);

  // The same ops on codes. The group's inputs (a constant among them, as a Concat may read) are
  // read as their codes.
  std::vector<TensorType> code_types = types;
  std::vector<Tensor> codes(constants_.size());
  std::vector<const Tensor*> constants = constants_;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto v = static_cast<size_t>(inputs_[i]);
    codes[v] = Tensor(DType::i64, inputs[i].shape);
    int64_t* c = codes[v].data<int64_t>();
    for (int64_t e = 0; e < codes[v].numel(); ++e) c[e] = (static_cast<int64_t>(i) << code_shift) | e;
    code_types[v] = TensorType{DType::i64, inputs[i].shape};
    constants[v] = nullptr;
  }
  run_members(constants, code_types, &codes, serial);

  // The copies: runs of output elements whose codes continue each other, cut at task_bytes.
  std::vector<int64_t> input_elements;
  for (const TensorType& t : inputs) input_elements.push_back(shape_numel(t.shape));
  int64_t done = 0;  // output elements covered by the copies so far
  for (size_t o = 0; o < outputs_.size(); ++o) {
    const Tensor& c = codes[static_cast<size_t>(outputs_[o])];
    const int64_t* code = c.data<int64_t>();
    const int64_t n = c.numel();
    const int64_t cut = std::max<int64_t>(1, task_bytes / static_cast<int64_t>(dtype_size(p.outputs[o].dtype)));
    for (int64_t e = 0; e < n;) {
      const int64_t input = code[e] >> code_shift, from = code[e] & code_position_mask;
      if (input < 0 || input >= static_cast<int64_t>(inputs.size()) || from >= input_elements[static_cast<size_t>(input)] ||
          inputs[static_cast<size_t>(input)].dtype != p.outputs[o].dtype)
        fail_internal(node_.describe() + ": an output element does not come from an input element of its type");
      int64_t len = 1;
      while (e + len < n && len < cut && code[e + len] == code[e] + len) ++len;
      p.copies.push_back(Copy{static_cast<int32_t>(input), static_cast<int32_t>(o), from, e, len});
      e += len;
      done += len;
      if (p.copies.size() >= 64 && static_cast<int64_t>(p.copies.size()) * shortest_average_copy > done) {
        p.members = true;
        p.copies.clear();
        return p;
      }
    }
  }
  p.task_start.push_back(0);
  int64_t bytes = 0;
  for (size_t i = 0; i < p.copies.size(); ++i) {
    bytes += p.copies[i].count * static_cast<int64_t>(dtype_size(p.outputs[static_cast<size_t>(p.copies[i].output)].dtype));
    if (bytes >= task_bytes) {
      p.task_start.push_back(i + 1);
      bytes = 0;
    }
  }
  if (p.task_start.back() != p.copies.size()) p.task_start.push_back(p.copies.size());
  return p;
}

void MovementChain::run(RunContext& ctx) {
  if (ctx.in.size() != inputs_.size() || ctx.out.size() != outputs_.size()) fail_internal(node_.describe() + ": run with other inputs than its plan");
  std::vector<TensorType> input_types;
  for (const Tensor* t : ctx.in) input_types.push_back(TensorType{t->dtype(), t->shape()});
  const std::shared_ptr<const Plan> plan_ptr = find_plan(input_types);
  const Plan& p = *plan_ptr;
  if (p.members) {
    // The inputs are read in place, as the constants are.
    std::vector<TensorType> types(constants_.size());
    std::vector<Tensor> values(constants_.size());
    std::vector<const Tensor*> constants = constants_;
    for (size_t v = 0; v < constants_.size(); ++v)
      if (constants_[v]) types[v] = TensorType{constants_[v]->dtype(), constants_[v]->shape()};
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const auto v = static_cast<size_t>(inputs_[i]);
      constants[v] = ctx.in[i];
      types[v] = TensorType{ctx.in[i]->dtype(), ctx.in[i]->shape()};
    }
    run_members(constants, types, &values, ctx.pool);
    for (size_t o = 0; o < outputs_.size(); ++o) {
      const Tensor& t = values[static_cast<size_t>(outputs_[o])];
      const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
      if (bytes > 0) std::memcpy(ctx.out[o]->raw(), t.raw(), bytes);
    }
    return;
  }
  const auto tasks = static_cast<int64_t>(p.task_start.size()) - 1;
  ctx.pool.parallel_for(tasks, [&](int64_t t) {
    for (size_t i = p.task_start[static_cast<size_t>(t)]; i < p.task_start[static_cast<size_t>(t) + 1]; ++i) {
      const Copy& c = p.copies[i];
      const Tensor& in = *ctx.in[static_cast<size_t>(c.input)];
      Tensor& out = *ctx.out[static_cast<size_t>(c.output)];
      const size_t elem = dtype_size(out.dtype());
      std::memcpy(static_cast<std::byte*>(out.raw()) + static_cast<size_t>(c.to) * elem,
                  static_cast<const std::byte*>(in.raw()) + static_cast<size_t>(c.from) * elem, static_cast<size_t>(c.count) * elem);
    }
  });
}

}  // namespace mc
