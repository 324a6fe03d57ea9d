// Ops that multiply their input by a weight, one row each: which input holds the data, the weight
// and the bias, how the weight's filters are laid out, and how many multiply-accumulates one image
// costs. Calibration statistics, weight fitting, sensitivity, equalization, activation quantization,
// the report and op counting all read these rows instead of deciding for themselves what a Conv or
// a Gemm is.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/graph.h"
#include "core/shape_inference.h"

namespace mc {

// How a constant weight's elements form filters (one per output channel).
struct WeightGeometry {
  int64_t groups = 1;              // Conv groups (depthwise: one per channel); 1 otherwise
  int64_t filters = 0;             // output channels
  int64_t inputs_per_filter = 0;   // K: (Cin / groups) * kernel positions, or the input features
  int64_t kernel_positions = 1;    // Conv: the product of the kernel's spatial dims; 1 otherwise
  bool filter_columns = false;     // the weight is [K, N] (MatMul, Gemm without transB): filter n is column n
  int64_t filters_per_group() const { return groups > 0 ? filters / groups : 0; }
  // The weight tensor's element holding input k of filter f: rows [N, K...], or column f of [K, N]
  // (filter_columns: f counts within its group).
  int64_t element(int64_t filter, int64_t k) const {
    return filter_columns ? k * filters_per_group() + filter : filter * inputs_per_filter + k;
  }
};

// Writes `values` (inputs_per_filter of them, rounded to float32) as filter `filter` of `weight`.
void write_filter(Tensor& weight, const WeightGeometry& geometry, int64_t filter, std::span<const double> values);

struct WeightedOpTraits {
  const char* op;
  size_t data_input;
  size_t weight_input;
  int bias_input;        // -1: the op takes no bias
  bool convolution;      // slides its filters over spatial positions (patches); else a matrix product
  bool float_weight;     // a float weight the passes fit (Conv, Gemm, MatMul); false: integer ops (ConvInteger, QLinearConv)
  // The geometry of `weight` (its shape) in `node`; nullopt when this form is not one mcompress
  // treats as a layer (Gemm with transA, a weight of the wrong rank, groups that do not divide).
  std::optional<WeightGeometry> (*geometry)(const Node& node, const Shape& weight);
  // Multiply-accumulates per image by the conventions of docs/COUNTING.md; 0 when a shape is unknown.
  int64_t (*macs)(const Node& node, const InferredGraph& shapes);
};

// The row of `op`, or nullptr when the op takes no weight.
const WeightedOpTraits* weighted_op_traits(const std::string& op);

// A node of a graph that is a layer with a constant float weight mcompress can fit.
struct WeightedLayer {
  const Node* node = nullptr;
  const WeightedOpTraits* traits = nullptr;
  std::string weight;  // initializer name
  std::string bias;    // initializer or value name; "" when absent
  WeightGeometry geometry;
};
// `node` as a WeightedLayer: an op with a float weight whose weight input is a float32 initializer of
// `graph` in a form its row accepts; nullopt otherwise.
std::optional<WeightedLayer> weighted_layer(const Graph& graph, const Node& node);

// "pointwise" (1x1 Conv, grouped or not), "depthwise" (one input channel per group), "conv" (any other
// Conv) or "fc" (Gemm / MatMul).
std::string layer_kind(const WeightedLayer& layer, const Tensor& weight);

}  // namespace mc
