// Parameter and multiply-accumulate counts per layer, by the conventions of
// ../shared/docs/RESEARCH.md ("Operation counting conventions"):
//   Conv MACs = Cout * Hout * Wout * (Cin / groups) * Kh * Kw;  Gemm / MatMul MACs = M * N * K.
// Counts are per image (batch 1).
//
// A parameter is one element of a learned tensor: a float initializer a node reads as data (weights,
// biases, BatchNorm's scale, shift, mean and variance), or an integer weight a DequantizeLinear turns
// into float (a QDQ weight). Not parameters: a Clip's bounds, the scales and zero points of
// quantizers (of activations or of weights), integer shapes and indices. `info`, `report` and the
// sweep count parameters by this one rule (docs/KEYS.md).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/shape_inference.h"

namespace mc {

struct LayerCount {
  std::string name;
  std::string op;
  Shape input_shape;   // first input
  Shape output_shape;  // first output
  int64_t params = 0;  // of the parameter tensors this node is the first to read (so the layers add up to the total)
  int64_t macs = 0;
};

struct OpCount {
  std::vector<LayerCount> layers;  // nodes with parameters or MACs, in execution order
  int64_t params = 0;              // every parameter of the model, each initializer counted once
  int64_t macs = 0;
};

// The initializers that hold parameters (the rule above).
std::set<std::string> parameter_tensors(const Graph& g);

OpCount count_ops(const Model& model);
OpCount count_ops(const Model& model, const InferredGraph& shapes);

// MACs of one Conv/Gemm/MatMul node given its inferred shapes; 0 for other ops.
int64_t node_macs(const Node& node, const InferredGraph& shapes);

}  // namespace mc
