// Ops that only move elements, run as one step: a connected group of Reshape, Transpose, Concat,
// Split, Flatten, Squeeze, Unsqueeze and Identity nodes whose intermediate values nothing else reads
// (ShuffleNet's Concat -> Reshape -> Transpose -> Reshape -> Split channel shuffle is the case that
// matters). Each output element of the group is a copy of one input element, so the group is one
// map from output positions to input positions: the executor (core/executor_movement.cpp) runs the
// copies of that map directly, instead of writing and reading every intermediate tensor.
//
// The map is worked out from the ops' own kernels: the first run at new input shapes runs the
// group once on int64 tensors whose elements are their own (input, position) codes; where the
// codes of the outputs continue each other, one memcpy covers them. Element types and shapes come
// from the ops' own shape inference, with their own messages for invalid models. The copies are
// split into tasks of fixed size, so the result is the same at any thread count (and nothing is
// computed, so it is the elements themselves).
#pragma once

#include <cstdint>
#include <vector>

#include "core/graph.h"
#include "core/op_registry.h"

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
  // The copies, for the inputs of the last infer.
  void run(RunContext& ctx) const;

 private:
  struct Copy {
    int32_t input = 0, output = 0;
    int64_t from = 0, to = 0, count = 0;  // elements
  };
  void plan(const std::vector<TensorType>& inputs);

  Node node_;
  int64_t opset_;
  std::vector<Member> members_;
  std::vector<const Tensor*> constants_;
  std::vector<int> inputs_, outputs_;
  // For the inputs last seen: their types, the outputs' types, the copies, and the first copy of
  // each task (and one past the last).
  std::vector<TensorType> planned_for_;
  std::vector<TensorType> output_types_;
  std::vector<Copy> copies_;
  std::vector<size_t> task_start_;
};

}  // namespace mc
