#include "core/movement_chain.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/thread_pool.h"

namespace mc {

namespace {

// An element code: the group input it comes from and its position there.
constexpr int code_shift = 40;
constexpr int64_t code_position_mask = (int64_t{1} << code_shift) - 1;

// Copies are cut at this many bytes, and tasks take about this many: small enough to spread a
// shuffle over the threads, large enough that a task is not mostly overhead.
constexpr int64_t task_bytes = int64_t{32} << 10;

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
      outputs_(std::move(outputs)) {}

void MovementChain::infer(InferContext& ctx) {
  if (planned_for_.empty() || !same_types(planned_for_, ctx.in)) plan(ctx.in);
  ctx.out = output_types_;
}

void MovementChain::plan(const std::vector<TensorType>& inputs) {
  if (inputs.size() != inputs_.size()) fail_internal(node_.describe() + ": wrong number of inputs");
  // Runs the members' inference on local value types (and, when `tensors` is given, their kernels
  // on those tensors): once with the real element types, once with the codes.
  ThreadPool serial(1);
  auto run_members = [&](const std::vector<const Tensor*>& constants, std::vector<TensorType>& types, std::vector<Tensor>* tensors) {
    for (const Member& m : members_) {
      InferContext ictx{*m.node, opset_, {}, {}, {}};
      RunContext rctx{*m.node, opset_, {}, {}, serial, std::nullopt};
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
      if (tensors) m.kernel->run(rctx);
    }
  };
  std::vector<TensorType> types(constants_.size());
  for (size_t v = 0; v < constants_.size(); ++v)
    if (constants_[v]) types[v] = TensorType{constants_[v]->dtype(), constants_[v]->shape()};
  for (size_t i = 0; i < inputs.size(); ++i) types[static_cast<size_t>(inputs_[i])] = inputs[i];
  run_members(constants_, types, nullptr);  // types and shapes, with the ops' own checks and messages
  std::vector<TensorType> outputs;
  for (int v : outputs_) outputs.push_back(types[static_cast<size_t>(v)]);

  // The same ops on codes.
  std::vector<TensorType> code_types(constants_.size());
  std::vector<Tensor> codes(constants_.size());
  for (size_t v = 0; v < constants_.size(); ++v)
    if (constants_[v]) code_types[v] = types[v];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto v = static_cast<size_t>(inputs_[i]);
    codes[v] = Tensor(DType::i64, inputs[i].shape);
    int64_t* c = codes[v].data<int64_t>();
    for (int64_t e = 0; e < codes[v].numel(); ++e) c[e] = (static_cast<int64_t>(i) << code_shift) | e;
    code_types[v] = TensorType{DType::i64, inputs[i].shape};
  }
  // The group's inputs (a constant among them, as a Concat may read) are read as their codes.
  std::vector<const Tensor*> constants = constants_;
  for (int v : inputs_) constants[static_cast<size_t>(v)] = nullptr;
  run_members(constants, code_types, &codes);

  // The copies: runs of output elements whose codes continue each other, cut at task_bytes.
  std::vector<Copy> copies;
  for (size_t o = 0; o < outputs_.size(); ++o) {
    const Tensor& c = codes[static_cast<size_t>(outputs_[o])];
    const int64_t* code = c.data<int64_t>();
    const int64_t n = c.numel();
    const int64_t cut = std::max<int64_t>(1, task_bytes / static_cast<int64_t>(dtype_size(outputs[o].dtype)));
    for (int64_t e = 0; e < n;) {
      int64_t len = 1;
      while (e + len < n && len < cut && code[e + len] == code[e] + len) ++len;
      const auto input = static_cast<int32_t>(code[e] >> code_shift);
      if (inputs[static_cast<size_t>(input)].dtype != outputs[o].dtype)
        fail_internal(node_.describe() + ": an output's elements come from an input of another type");
      copies.push_back(Copy{input, static_cast<int32_t>(o), code[e] & code_position_mask, e, len});
      e += len;
    }
  }
  std::vector<size_t> starts{0};
  int64_t bytes = 0;
  for (size_t i = 0; i < copies.size(); ++i) {
    bytes += copies[i].count * static_cast<int64_t>(dtype_size(outputs[static_cast<size_t>(copies[i].output)].dtype));
    if (bytes >= task_bytes) {
      starts.push_back(i + 1);
      bytes = 0;
    }
  }
  if (starts.back() != copies.size()) starts.push_back(copies.size());
  planned_for_ = inputs;
  output_types_ = std::move(outputs);
  copies_ = std::move(copies);
  task_start_ = std::move(starts);
}

void MovementChain::run(RunContext& ctx) const {
  if (ctx.in.size() != inputs_.size() || ctx.out.size() != outputs_.size()) fail_internal(node_.describe() + ": wrong arity");
  const auto tasks = static_cast<int64_t>(task_start_.size()) - 1;
  ctx.pool.parallel_for(tasks, [&](int64_t t) {
    for (size_t i = task_start_[static_cast<size_t>(t)]; i < task_start_[static_cast<size_t>(t) + 1]; ++i) {
      const Copy& c = copies_[i];
      const Tensor& in = *ctx.in[static_cast<size_t>(c.input)];
      Tensor& out = *ctx.out[static_cast<size_t>(c.output)];
      const size_t elem = dtype_size(out.dtype());
      std::memcpy(static_cast<std::byte*>(out.raw()) + static_cast<size_t>(c.to) * elem,
                  static_cast<const std::byte*>(in.raw()) + static_cast<size_t>(c.from) * elem, static_cast<size_t>(c.count) * elem);
    }
  });
}

}  // namespace mc
