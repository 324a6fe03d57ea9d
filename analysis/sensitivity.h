// How much each filter, and each layer, suffers from quantization: the core measurement behind
// hybrid filter banks (../shared/docs/RESEARCH.md, section 1).
//
// Per filter and candidate format, the relative output error on the calibration inputs,
//   e = (w - q)^T C (w - q) / (w^T C w),
// with C the layer's centered input covariance (RESEARCH.md "Measured here": ranking with the
// uncentered second moment mostly scores how well a filter matches the input mean, which bias
// correction removes anyway). Per layer, the end-to-end effect of quantizing the whole layer:
// mean KL divergence of the network's output distribution from the float model's, and top-1
// agreement with the float model, on calibration images.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/calibration_stats.h"
#include "core/graph.h"
#include "core/thread_pool.h"

namespace mc {

// The candidate formats, in report order: ternary (one term), ternary2 (two residual terms),
// int4 and int8 per-channel symmetric.
const std::vector<std::string>& candidate_formats();

struct FilterSensitivity {
  int64_t index = 0;
  std::map<std::string, double> error;  // by candidate format
};

struct EndToEnd {
  double kl = 0;              // mean KL(float || quantized) of the output distributions, nats
  double top1_agreement = 0;  // percent of images whose top-1 class is unchanged
  // Expected top-1 loss in points with the float model's output distribution p taken as the
  // distribution of the unknown label: mean over images of p[argmax p] - p[argmax q]. Unlabelled
  // images cannot give the real loss; this estimate charges a changed prediction by how sure the
  // float model was, so a flip between two near-tied classes costs little and a confident one a lot.
  double expected_drop = 0;
  double expected_drop_se = 0;  // its standard error over the images, points
  // Per image (its views averaged when the set is mirrored): the expected top-1 loss above, the
  // share of views whose top-1 changed, and (first view) the top-1 class of the float model and of
  // the compared model.
  std::vector<double> image_expected_cost, image_disagreement;
  std::vector<int64_t> image_float_top1, image_top1;
};

struct LayerSensitivity {
  std::string node, op, weight;
  std::string kind;  // "pointwise", "depthwise", "conv", "fc"
  int64_t macs = 0;
  std::vector<FilterSensitivity> filters;
  std::map<std::string, EndToEnd> end_to_end;  // by format, when measured
};

// "pointwise" (1x1, grouped or not), "depthwise", "conv" (any other Conv) or "fc" (Gemm / MatMul).
std::string layer_kind(const Model& model, const Node& node);

// Filter rows of a layer's weight as doubles: filter f's K inputs (handles Gemm/MatMul layouts).
std::vector<double> filter_weights(const Tensor& weight, const LayerGram& layer, int64_t filter);
int64_t filter_count(const Tensor& weight, const LayerGram& layer);

std::vector<LayerSensitivity> filter_sensitivity(const Model& model, const CalibrationStats& stats, ThreadPool& pool);

// The model with one layer's weights replaced by their `format` quantization (every filter), fitted
// under the layer's centered covariance. Bias is corrected for the mean shift (b += (W - Q) mu).
Model quantize_one_layer(const Model& model, const LayerGram& layer, const std::string& format);
// The same for a chosen subset of filters only.
Model quantize_filters(const Model& model, const LayerGram& layer, const std::string& format, const std::vector<int64_t>& filters);

// One output row as a distribution: the row itself when it already is one (non-negative, sums to 1),
// else its softmax, in double.
std::vector<double> to_probabilities(const float* row, int64_t n);

// Output distributions (softmax of logits, or the output itself when it already sums to 1).
struct ReferenceOutputs {
  std::vector<std::vector<double>> probabilities;  // per image
};
ReferenceOutputs reference_outputs(const Model& model, const CalibrationSet& images, int threads);
EndToEnd compare_outputs(const Model& quantized, const CalibrationSet& images, const ReferenceOutputs& reference, int threads);

}  // namespace mc
