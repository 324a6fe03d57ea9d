// Small models built in code for unit tests, and the golden must-fail model files derived from them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"

namespace mc::test {

// Deterministic pseudo-random test data: a 32-bit linear congruential generator (the same sequence
// on every platform), its top 24 bits as a value in [-0.5, 0.5).
struct TestRandom {
  uint32_t state;
  uint32_t next() { return state = state * 1664525u + 1013904223u; }
  double uniform() { return static_cast<double>(next() >> 8) / static_cast<double>(1u << 24) - 0.5; }
  // n values amplitude * u, u computed in float32.
  std::vector<float> values(size_t n, float amplitude) {
    std::vector<float> v(n);
    for (auto& x : v) x = amplitude * (static_cast<float>(next() >> 8) / static_cast<float>(1u << 24) - 0.5f);
    return v;
  }
};

// input [N,3,8,8] -> Conv(4 filters 3x3, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> [N,4],
// with deterministic pseudo-random weights.
Model tiny_conv_model();

// input [N,3,8,8] -> Conv(8 filters 3x3, pad 1) -> Relu -> Conv(8 filters 1x1) -> Relu ->
// GlobalAveragePool -> Flatten -> Gemm(4 outputs, transB=1) -> [N,4]: a conv, a pointwise conv and
// a fully connected layer whose input channels (8) N:M groups of 2 or 4 divide.
Model tiny_pointwise_model();

// input [N,3,8,8] -> the layer patterns of MobileNetV3 / EfficientNet / GhostNet-era exports at
// `opset` (14 or later, for HardSwish) -> [N,10], deterministic pseudo-random weights:
//   stem Conv 3x3 -> HardSwish;
//   inverted residual: Conv 1x1 -> HardSwish -> depthwise Conv 3x3 -> Relu -> squeeze-and-excitation
//     (ReduceMean over H, W: axes an attribute before 18, an input from 18; Conv 1x1 -> Relu ->
//     Conv 1x1 -> HardSigmoid -> Mul) -> Conv 1x1 -> Add (residual);
//   MBConv: Conv 1x1 -> Swish (x * Sigmoid(x)) -> SE (GlobalAveragePool, Conv 1x1 -> Swish, Conv 1x1 ->
//     Sigmoid -> Mul) -> Conv 1x1 -> LeakyRelu -> PRelu (per-channel slope);
//   head GlobalAveragePool -> Flatten -> Gemm (transB=1).
Model se_family_model(int64_t opset);

// input [N,3,8,8] -> Relu -> output: no layer with weights.
Model relu_only_model();

// Tiny random-weight classifiers of the architecture families mcompress reads, input [N,3,16,16],
// output [N,10] (10 classes), each ending in GlobalAveragePool -> Flatten -> Gemm; written to
// tests/data/models/family_<name>.onnx (test_families) for the CLI / ONNX Runtime tests.
//   mobilenet_v3 (opset 18): hard-swish stem; inverted residuals with squeeze-and-excitation through
//     GlobalAveragePool and ReduceMean (axes input), 1x1 convs, HardSigmoid, broadcasting Mul;
//     torchvision's head (1x1 conv, pool, Gemm -> HardSwish -> Gemm).
//   efficientnet (opset 13): MBConv1 and MBConv6 (5x5 depthwise) with Swish (x * Sigmoid(x)) and
//     SE with Sigmoid gates; Add residual.
//   resnet (opset 9): conv + BatchNormalization + Relu + MaxPool stem; a basic block and a bottleneck
//     block with a projection shortcut (Add residuals).
//   squeezenet (opset 11): MaxPool with ceil_mode; two Fire modules (squeeze 1x1, expand 1x1 and 3x3,
//     Concat); Dropout.
//   shufflenet_v1 (opset 15): units with grouped 1x1 convs (3 groups), channel shuffle (Reshape ->
//     Transpose -> Reshape), depthwise 3x3; a stride-2 unit (its first 1x1 conv ungrouped, as the
//     first unit of a stage in the paper) concatenated with an AveragePool shortcut
//     (count_include_pad), a stride-1 unit with an Add residual.
//   ghostnet (opset 21): Ghost modules (primary 1x1 conv + cheap depthwise 3x3, Concat, Slice), SE
//     gated by relu6(x + 3) / 6 (Add, Clip with min/max inputs, Div); a stride-2 ghost bottleneck with
//     a depthwise + 1x1 shortcut; GhostNet's head (pool, 1x1 conv_head, Gemm).
Model mobilenet_v3_model();
Model efficientnet_model();
Model resnet_model();
Model squeezenet_model();
Model shufflenet_v1_model();
Model ghostnet_model();
struct FamilyModel {
  const char* name;
  Model (*make)();
};
// The six above, in that order.
const std::vector<FamilyModel>& family_models();

// `m` with `encodings` attached to its initializers (Graph::encode: their values become what the
// encodings decode to); initializers not named keep theirs.
inline Model with_encodings(Model m, const std::map<std::string, EncodedTensor>& encodings) {
  for (const auto& [name, e] : encodings) m.graph.encode(name, e);
  return m;
}

// The encodings of every encoded initializer of `m`, by name.
inline std::map<std::string, EncodedTensor> encodings_of(const Model& m) {
  std::map<std::string, EncodedTensor> out;
  for (const auto& [name, init] : m.graph.initializers)
    if (init.encoding) out[name] = *init.encoding;
  return out;
}

}  // namespace mc::test
