// Second-order error compensation for weight quantization (GPTQ: Frantar et al., "GPTQ: Accurate
// Post-Training Quantization for Generative Pre-trained Transformers", 2022, Algorithm 1; itself
// the row-parallel form of Optimal Brain Quantization, Frantar & Alistarh 2022).
//
// The filters (rows) of W share the metric H (K x K). Columns are quantized one at a time, in
// descending order of diag(H) ("act-order"); each column's rounding error is spread over the
// columns not yet quantized through the Cholesky factor of H^-1, so later weights compensate for
// earlier rounding. Rows are independent of each other: a row's result does not depend on which
// other rows are quantized with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mc {

// The values a row may take, sorted ascending; `codes[i]` identifies level i to the caller
// (e.g. an int8 value, or the sign combination of residual ternary terms).
struct LevelSet {
  std::vector<double> levels;
  std::vector<int32_t> codes;
  // Index of the level nearest to v (ties to the lower level).
  size_t nearest(double v) const;
};

struct GptqResult {
  std::vector<double> values;  // F x K quantized weights, row-major
  std::vector<int32_t> codes;  // F x K level codes
};

// W: F x K row-major; H: K x K row-major (symmetric PSD); `damping` is added to the diagonal as a
// fraction of its mean (e.g. 0.01..0.1). levels[f] is row f's level set.
GptqResult gptq_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<double>& h,
                         const std::vector<LevelSet>& levels, double damping);

// Plain round-to-nearest onto the same level sets (the baseline GPTQ is compared with).
GptqResult nearest_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<LevelSet>& levels);

}  // namespace mc
