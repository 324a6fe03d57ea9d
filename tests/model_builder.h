// Small models built in code for unit tests, and the golden must-fail model files derived from them.
#pragma once

#include <string>

#include "core/graph.h"

namespace mc::test {

// input [N,3,8,8] -> Conv(4 filters 3x3, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> [N,4],
// with deterministic pseudo-random weights.
Model tiny_conv_model();

// input [N,3,8,8] -> Relu -> output: no layer with weights.
Model relu_only_model();

}  // namespace mc::test
