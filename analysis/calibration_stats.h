// Calibration statistics gathered in one streaming pass of the float model over the calibration
// images: for every Conv / Gemm / MatMul with constant weights, the second-moment matrix of its
// input patches (H = sum x x^T, the matrix of OBQ/GPTQ and of the per-filter sensitivity proxy)
// and their sum (for the mean, bias correction and the centered covariance); for every float
// tensor, its range and a histogram (percentiles, MSE-optimal int8 range).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "core/graph.h"
#include "core/thread_pool.h"
#include "core/weighted_op.h"

namespace mc {

// Input statistics of one layer. A filter of group g sees input patches of length K = rows:
// (Cin/groups) * kh * kw for a Conv (one group per channel for a depthwise Conv), the input
// features for Gemm / MatMul.
struct LayerGram {
  std::string node;
  std::string op;
  std::string weight;        // initializer name
  int64_t groups = 1;
  int64_t rows = 0;          // K
  int64_t filters_per_group = 0;
  bool filter_columns = false;  // weight is [K, N] (MatMul, Gemm without transB): filter n is column n
  int64_t kernel_positions = 1; // Conv: kernel positions per input channel (K = channels x positions); 1 otherwise
  int64_t samples = 0;       // patches accumulated per group
  std::vector<double> gram;  // groups x K x K, row-major: sum of x x^T
  std::vector<double> sum;   // groups x K: sum of x

  std::vector<double> mean(int64_t group) const;
  // Second moment H / n (uncentered) or covariance H / n - mean mean^T (centered; zero for fewer
  // than two samples).
  std::vector<double> moment(int64_t group, bool centered) const;
  // Which group output filter f belongs to.
  int64_t group_of(int64_t filter) const { return filters_per_group ? filter / filters_per_group : 0; }
  // The weight's layout (as weighted_layer gives it).
  WeightGeometry geometry() const {
    return {.groups = groups, .filters = groups * filters_per_group, .inputs_per_filter = rows, .kernel_positions = kernel_positions,
            .filter_columns = filter_columns};
  }
};

// A histogram over [-limit, limit] whose limit doubles (merging bin pairs) as larger values arrive.
struct TensorRange {
  static constexpr int bins = 2048;
  float min = 0, max = 0;
  double limit = 0;
  int64_t count = 0;
  std::vector<int64_t> histogram = std::vector<int64_t>(bins, 0);

  // Adds x[0..n); with a pool, its passes split over it (same result at any thread count).
  void add(const float* x, int64_t n, ThreadPool* pool = nullptr);
  double percentile(double p) const;  // p in [0, 100], of the signed values
  // The clipping range [lo, hi] minimizing the expected squared error of 8-bit uniform
  // quantization (256 levels) over this histogram: [0, hi] for non-negative tensors, [-t, t] else.
  std::pair<double, double> mse_int8_range() const;
};

struct CalibrationStats {
  std::map<std::string, LayerGram> layers;     // by node name
  std::map<std::string, TensorRange> ranges;   // by value name (graph input and node outputs)
  int64_t images = 0;
};

struct StatsOptions {
  int threads = 0;
  bool gram = true;    // collect layer matrices
  bool ranges = true;  // collect activation ranges
  std::vector<std::string> only;  // with gram: only these layers (node names); empty: every layer
};

// Runs the model over `set` (batch by batch; memory stays bounded by one batch's activations and
// the matrices). `progress(done, total)` after each batch.
CalibrationStats collect_calibration_stats(const Model& model, const CalibrationSet& set, const StatsOptions& options,
                                           const std::function<void(int64_t, int64_t)>& progress = {});

// One layer's inputs in two networks fed the same images: `model` (partly quantized) and a
// reference (the float network). `layer` holds the model's input statistics (gram, sum, as
// collect_calibration_stats would), `cross` per group the sum of x_model x_reference^T (K x K,
// row-major: row i is the model's input i), `reference_sum` the reference inputs' sums.
struct PairedLayerStats {
  LayerGram layer;
  std::vector<double> cross;          // groups x K x K
  std::vector<double> reference_sum;  // groups x K
  // Centered cross-covariance of group g: cross / n - mean_model mean_reference^T.
  std::vector<double> cross_covariance(int64_t group) const;
  std::vector<double> reference_mean(int64_t group) const;
};

// Runs `model` up to the input of its weighted layer `node` and `reference` up to its value
// `reference_input` (the same activation in the reference network) over `set`, batch by batch,
// and pairs them. Fails (internal) when either value is missing or their shapes differ.
PairedLayerStats collect_paired_layer_stats(const Model& model, const std::string& node, const Model& reference,
                                            const std::string& reference_input, const CalibrationSet& set, int threads);

// `model` cut after `value`: the nodes `value` depends on, with `value` as the only output.
Model truncated_at(const Model& model, const std::string& value);

}  // namespace mc
