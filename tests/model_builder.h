// Small models built in code for unit tests, and the golden must-fail model files derived from them.
#pragma once

#include <string>

#include "core/graph.h"

namespace mc::test {

// input [N,3,8,8] -> Conv(4 filters 3x3, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> [N,4],
// with deterministic pseudo-random weights.
Model tiny_conv_model();

// input [N,3,8,8] -> Conv(8 filters 3x3, pad 1) -> Relu -> Conv(8 filters 1x1) -> Relu ->
// GlobalAveragePool -> Flatten -> Gemm(4 outputs, transB=1) -> [N,4]: a conv, a pointwise conv and
// a fully connected layer whose input channels (8) N:M groups of 2 or 4 divide.
Model tiny_pointwise_model();

// input [N,3,8,8] -> Relu -> output: no layer with weights.
Model relu_only_model();

}  // namespace mc::test
