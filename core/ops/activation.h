// The element-wise activations as scalar functions, shared by their kernels (core/ops/elementwise.cpp)
// and by the ops an activation is fused into (Conv: core/ops/conv.cpp), so a fused activation
// computes bit for bit what its own node computes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mc {

// max(0, min(1, alpha * x + beta)), as ONNX's HardSigmoid (and HardSwish's function body) define it.
inline float hard_sigmoid(float x, float alpha, float beta) { return std::max(0.0f, std::min(1.0f, alpha * x + beta)); }

// HardSwish-14: x * HardSigmoid(x) with alpha 1/6 and beta 0.5, the op's function body.
inline float hard_swish(float x) { return x * hard_sigmoid(x, 1.0f / 6.0f, 0.5f); }

// 1 / (1 + e^-x), written so that neither branch overflows: for x < 0, e^x / (1 + e^x).
inline float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

inline float leaky_relu(float x, float alpha) { return x < 0.0f ? alpha * x : x; }

inline float clip(float x, float lo, float hi) { return std::min(std::max(x, lo), hi); }

// An activation the executor fused into the op that produces its input (Conv -> Relu, Clip,
// HardSigmoid, HardSwish, LeakyRelu, Sigmoid, Tanh): the op applies it to each output value as it
// writes it. `FusedActivation{lo, hi}` is a clip (Relu: {0, +inf}); QLinearConv takes clips only.
struct FusedActivation {
  enum class Kind { clip, hard_sigmoid, hard_swish, leaky_relu, sigmoid, tanh };
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  Kind kind = Kind::clip;
  float alpha = 0.0f;  // HardSigmoid, LeakyRelu
  float beta = 0.0f;   // HardSigmoid

  float operator()(float x) const {
    switch (kind) {
      case Kind::clip: return clip(x, lo, hi);
      case Kind::hard_sigmoid: return hard_sigmoid(x, alpha, beta);
      case Kind::hard_swish: return hard_swish(x);
      case Kind::leaky_relu: return leaky_relu(x, alpha);
      case Kind::sigmoid: return sigmoid(x);
      case Kind::tanh: return std::tanh(x);
    }
    return x;
  }

  // p[i] = f(p[i]) for n values, the kind chosen once.
  void apply(float* p, int64_t n) const {
    switch (kind) {
      case Kind::clip: for (int64_t i = 0; i < n; ++i) p[i] = clip(p[i], lo, hi); break;
      case Kind::hard_sigmoid: for (int64_t i = 0; i < n; ++i) p[i] = hard_sigmoid(p[i], alpha, beta); break;
      case Kind::hard_swish: for (int64_t i = 0; i < n; ++i) p[i] = hard_swish(p[i]); break;
      case Kind::leaky_relu: for (int64_t i = 0; i < n; ++i) p[i] = leaky_relu(p[i], alpha); break;
      case Kind::sigmoid: for (int64_t i = 0; i < n; ++i) p[i] = sigmoid(p[i]); break;
      case Kind::tanh: for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]); break;
    }
  }
};

}  // namespace mc
