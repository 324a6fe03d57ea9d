// Parameter and multiply-accumulate counts per layer, by the conventions of
// ../shared/docs/RESEARCH.md ("Operation counting conventions"):
//   Conv MACs = Cout * Hout * Wout * (Cin / groups) * Kh * Kw;  Gemm / MatMul MACs = M * N * K.
// Counts are per image (batch 1). Parameters are the elements of the float initializers that nodes
// read as weights (a Clip's min/max bounds are hyperparameters and are not counted).
#pragma once

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
  int64_t params = 0;
  int64_t macs = 0;
};

struct OpCount {
  std::vector<LayerCount> layers;  // nodes with parameters or MACs, in execution order
  int64_t params = 0;              // every parameter of the model, each initializer counted once
  int64_t macs = 0;
};

OpCount count_ops(const Model& model);
OpCount count_ops(const Model& model, const InferredGraph& shapes);

// MACs of one Conv/Gemm/MatMul node given its inferred shapes; 0 for other ops.
int64_t node_macs(const Node& node, const InferredGraph& shapes);

}  // namespace mc
