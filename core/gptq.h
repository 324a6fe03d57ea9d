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
  std::vector<uint8_t> pruned; // F x K, 1 where the weight was forced to zero (empty: no pruning)
};

// Pruning inside the same column sweep (Optimal Brain Surgeon in its row-parallel form: OBC,
// Frantar & Alistarh 2022; SparseGPT, Frantar & Alistarh 2023): a pruned weight is a weight whose
// only allowed level is 0, and its error is compensated by the not-yet-processed weights exactly
// like a rounding error. Which weights to prune is decided on the fly from the OBS saliency
// w_q^2 / [H^-1]_qq of the current (already compensated) weights, with [H^-1]_qq taken as the
// squared diagonal of the Cholesky factor of the remaining inverse, as SparseGPT does.
struct PruneSpec {
  enum class Mode { none, fixed, per_row, groups };
  Mode mode = Mode::none;
  std::vector<uint8_t> fixed_mask;    // fixed: F x K, 1 = must be zero
  double sparsity = 0;                // per_row: share of each row's weights pruned
  int64_t block = 64;                 // per_row: columns (in processing order) decided together
  std::vector<int64_t> column_group;  // groups: group id of each column, -1 for none
  int64_t group_keep = 0;             // groups: weights kept per group (N of N:M)
  bool act_order = true;              // process columns by descending diag(H)
};

// W: F x K row-major; H: K x K row-major (symmetric PSD); `damping` is added to the diagonal as a
// fraction of its mean (e.g. 0.01..0.1). levels[f] is row f's level set; an empty level set
// means no rounding (the weight keeps its compensated value: pure pruning). A row that is pruned
// must have the level 0 (its code is the code of that level).
GptqResult gptq_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<double>& h,
                         const std::vector<LevelSet>& levels, double damping, const PruneSpec& prune = {});

// Weights per_row mode prunes in a row of `cols` weights: round(sparsity * cols).
int64_t pruned_per_row(double sparsity, int64_t cols);

// Plain round-to-nearest onto the same level sets (the baseline GPTQ is compared with).
GptqResult nearest_quantize(const std::vector<double>& w, int64_t rows, int64_t cols, const std::vector<LevelSet>& levels);

}  // namespace mc
