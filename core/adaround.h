// Learned rounding (AdaRound: Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
// Quantization", ICML 2020), on the same layer objective the other fits minimize.
//
// Each weight w chooses between the two levels of its level set that enclose it, lo <= w <= hi
// (a weight outside the set's range, or pruned, is fixed). The choice is relaxed to
// q = lo + h(V) (hi - lo) with the rectified sigmoid h(V) = clip(sigmoid(V) (zeta - gamma) + gamma,
// 0, 1), zeta = 1.1, gamma = -0.1, V initialized so that q = w, and V is optimized with Adam on
//   sum over rows of (q - w)' H (q - w) / (mean gap^2 x mean diag H)  +  lambda sum (1 - |2h - 1|^beta)
// where the regularizer (on after a warm-up, beta annealed from `beta_start` to `beta_end`) pushes
// every h to 0 or 1; the result is the hard choice h >= 1/2. H is the layer's input covariance,
// so the first term is the exact mean squared change of the layer's output (pre-activation) over
// the calibration data: AdaRound's layer loss without the activation function, which would need
// the samples themselves rather than their covariance.
//
// Rows are independent; they are optimized in blocks of 128 whose boundaries depend on the shapes
// only, each block alone in a fixed order: the result does not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "core/gptq.h"
#include "core/thread_pool.h"

namespace mc {

struct AdaRoundOptions {
  int iterations = 1000;
  double learning_rate = 0.01;
  double lambda = 1.0;   // in grid units: the reconstruction term is normalized by gap^2 x mean diag H
  double warmup = 0.2;  // share of the iterations without the regularizer
  double beta_start = 20, beta_end = 2;
};

// The relaxation, shared with block reconstruction (passes/block_fit.h): h(V) and its derivative,
// the V of a rest in (0, 1), the regularizer's derivative d/dh lambda (1 - |2h - 1|^beta), and beta at
// step `it` (the warm-up's steps have no regularizer: beta 0 then).
namespace soft_rounding {
double h(double v);
double dh(double v);
double inverse(double rest);
double regularizer_gradient(double lambda, double h, double beta);
double beta_at(const AdaRoundOptions& o, int it);
}  // namespace soft_rounding

// W: F x K row-major; H: K x K row-major (symmetric PSD); levels[f] sorted ascending (an empty set:
// the row keeps its values). `fixed_zero` (F x K, may be empty): 1 where the weight must be 0 (its
// set must contain 0).
GptqResult adaround_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<double>& h,
                             const std::vector<LevelSet>& levels, const std::vector<uint8_t>& fixed_zero, const AdaRoundOptions& options,
                             ThreadPool* pool = nullptr);

}  // namespace mc
