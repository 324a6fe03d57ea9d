// Operator kernels. Each op has two functions: `infer` (output element types and shapes from the
// inputs' types, shapes and, where known, values) and `run` (compute into outputs the executor has
// already shaped from `infer`). Shape logic therefore lives in exactly one place per op.
// The list of ops is core/ops/op_list.def; adding an op is one line there plus its file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/ops/activation.h"
#include "core/thread_pool.h"

namespace mc {

struct TensorType {
  DType dtype = DType::undefined;
  Shape shape;
};

struct InferContext {
  const Node& node;
  int64_t opset;
  std::vector<TensorType> in;          // one per node input; dtype undefined where omitted
  std::vector<const Tensor*> value;    // the input's value when known (constants), else nullptr
  std::vector<TensorType> out;         // filled by infer, one per node output

  // Helpers that fail with a message naming the node.
  const TensorType& input(size_t i) const;
  const Tensor& constant_input(size_t i, const char* what) const;  // input i must be a known value
  bool has_input(size_t i) const { return node.has_input(i); }
  [[noreturn]] void fail(const std::string& what) const;            // invalid model (exit 3)
  [[noreturn]] void unsupported(const std::string& what) const;     // unsupported feature (exit 4)
};

struct RunContext {
  const Node& node;
  int64_t opset;
  std::vector<const Tensor*> in;   // nullptr where omitted
  std::vector<Tensor*> out;        // already reset to the inferred types and shapes
  ThreadPool& pool;
  std::optional<FusedActivation> fused_activation;
  // Conv only: a tensor of the output's shape added to every output after the activation (a
  // residual Add the executor fused into the conv), or nullptr.
  const Tensor* residual = nullptr;
};

enum class Fusion { none, clip, activation };

struct OpKernel {
  const char* op;
  int64_t since;  // the first default-domain opset that defines the op
  void (*infer)(InferContext&);
  void (*run)(RunContext&);
  // What the executor may fuse into the op (RunContext::fused_activation): nothing, a Relu or
  // constant Clip (QLinearConv: bounds on the quantized output), or any activation FusedActivation
  // computes (Conv).
  Fusion fusion;
};

const OpKernel* find_kernel(const std::string& op);
// If `node` is a Relu, or a Clip whose bounds are constants, the clip it applies.
std::optional<FusedActivation> clip_as_fusable(const Node& node, int64_t opset, const Graph& graph);
// clip_as_fusable's clips, and the HardSigmoid, HardSwish, LeakyRelu, Sigmoid and Tanh of a float
// tensor: the activation as FusedActivation computes it.
std::optional<FusedActivation> activation_as_fusable(const Node& node, int64_t opset, const Graph& graph);
std::vector<std::string> supported_ops();

// Oldest and newest default-domain opset the importer accepts. Every kernel reads its node by the
// model's opset: the attribute forms before 13 (Clip, Squeeze/Unsqueeze, Split, Slice, Pad, Softmax,
// legacy broadcasting), and the input forms of 13 to 21 (ReduceSum axes from 13, ReduceMean/ReduceMax
// axes and Split num_outputs from 18, Pad axes from 18 and wrap from 19, Quantize/DequantizeLinear
// block_size and output_dtype from 21).
inline constexpr int64_t min_opset = 6;
inline constexpr int64_t max_opset = 21;

}  // namespace mc
