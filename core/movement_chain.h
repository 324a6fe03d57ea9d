// Ops that only move elements, run as one step: a connected group of Reshape, Transpose, Concat,
// Split, Flatten, Squeeze, Unsqueeze and Identity nodes whose intermediate values nothing else reads
// (ShuffleNet's Concat -> Reshape -> Transpose -> Reshape -> Split channel shuffle is the case that
// matters). Each output element of the group is a copy of one input element, so the group is one
// map from output positions to input positions: the executor (core/executor_movement.cpp) runs the
// copies of that map directly, instead of writing and reading every intermediate tensor.
//
// The map is worked out from the ops' own kernels: the first run at new input types runs the
// group once on int64 tensors whose elements are their own (input, position) codes; where the
// codes of the outputs continue each other, one memcpy covers them. Element types and shapes come
// from the ops' own shape inference, with their own messages for invalid models. The copies are
// split into tasks of fixed size, so the result is the same at any thread count (and nothing is
// computed, so it is the elements themselves). When the copies would be short (a transpose that
// moves single elements, as NCHW -> NHWC does), the group runs its members' kernels one after the
// other instead. Plans are kept for the last four input types.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/graph.h"
#include "core/op_registry.h"
#include "core/thread_pool.h"

namespace mc {

// Whether `op` is one of the ops a movement chain takes, and which of its inputs carry elements
// (the others, such as Reshape's shape, must be constants).
bool is_movement_op(const std::string& op);
bool is_movement_data_input(const std::string& op, size_t input);

class MovementChain {
 public:
  // A node of the group: its kernel, and its inputs and outputs as the group's local value ids
  // (-1: omitted).
  struct Member {
    const Node* node;
    const OpKernel* kernel;
    std::vector<int> inputs, outputs;
  };
  // `values` local values; `constants` per local value its constant (or nullptr); the members in
  // an order where each reads only values computed before it; the group's inputs and outputs as
  // local ids. `node` names the step (its inputs and outputs are the group's).
  MovementChain(Node node, int64_t opset, std::vector<Member> members, std::vector<const Tensor*> constants,
                std::vector<int> inputs, std::vector<int> outputs);

  const Node& node() const { return node_; }
  // The output types for the inputs in ctx.in (works out the copies at new input types).
  void infer(InferContext& ctx);
  // The copies for the inputs in ctx.in. Runs on several threads at once share the plans.
  void run(RunContext& ctx);

 private:
  struct Copy {
    int32_t input = 0, output = 0;
    int64_t from = 0, to = 0, count = 0;  // elements
  };
  // What runs for one set of input types: their output types, and either the copies (split into
  // tasks: the first copy of each, and one past the last) or, when the copies would be too short to
  // pay (a transpose that moves single elements), the members' own kernels one after the other.
  struct Plan {
    std::vector<TensorType> inputs, outputs;
    std::vector<Copy> copies;
    std::vector<size_t> task_start;
    bool members = false;
  };
  Plan plan(const std::vector<TensorType>& inputs) const;
  // Runs the members' inference (and, with `tensors`, their kernels) on the local values, each
  // tensor released after its last reader unless it is an output of the group.
  void run_members(const std::vector<const Tensor*>& constants, std::vector<TensorType>& types,
                   std::vector<Tensor>* tensors, ThreadPool& pool) const;

  Node node_;
  int64_t opset_;
  std::vector<Member> members_;
  std::vector<const Tensor*> constants_;
  std::vector<int> inputs_, outputs_;
  std::vector<int> last_reader_;  // per local value: the last member reading it (-1: none)
  // The plan for these input types, made if new.
  std::shared_ptr<const Plan> find_plan(const std::vector<TensorType>& inputs);
  // Plans for the last few input types (a model run at alternating batch sizes keeps both), under
  // the mutex: runs of single images on several threads at once (executor.h) share them.
  std::vector<std::shared_ptr<const Plan>> plans_;
  std::unique_ptr<std::mutex> plans_mutex_ = std::make_unique<std::mutex>();
};

}  // namespace mc
