// Sequential fitting: quantize layers one at a time in graph order, each fitted to the inputs the
// network quantized so far computes (its own activations, int8 activation steps included) against
// the float network's output, so that errors stop accumulating from layer to layer.
//
// For a filter w of a layer whose input is x in the float network and x~ in the partly quantized
// one, the fit minimizes E[(w~'x~ + b~ - w'x - b)^2]. The best bias is b~ = b + w'mu - w~'mu~ (mu,
// mu~ the input means), which leaves the variance Var(w~'x~ - w'x) = (w~ - w*)' C~ (w~ - w*) + const
// with C~ the covariance of x~ and w* = C~^-1 Cov(x~, x) w: the least-squares target. So the layer's
// filters are first moved to that target (ridge-regularized towards w: w* = w + (C~ + lambda I)^-1
// (Cov(x~, x) - C~) w, lambda = damping x mean diagonal of C~), the bias by w'mu - w*'mu~, and then
// fitted as every quantization pass fits (passes/weight_fit.h) under C~ with bias correction on mu~.
// When x~ = x the target is w and this is the plain fit.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "core/graph.h"
#include "passes/weight_fit.h"

namespace mc {

struct BlockFitOptions;

struct SequentialFit {
  const Model* reference = nullptr;  // the float network (the pipeline's input model)
  const CalibrationSet* images = nullptr;
  int threads = 0;
  std::function<void(const std::string&)> log;
  std::function<void(int64_t, int64_t)> progress;
  // Set: block reconstruction (passes/block_fit.h) after each chain's layers are fitted.
  const BlockFitOptions* block = nullptr;
};

// The value of the float network that `value` of the partly quantized one stands for: an activation
// quantization step (QuantizeLinear -> DequantizeLinear, inserted by quantize-activations) is looked
// through to the value it quantizes.
std::string float_counterpart(const Graph& g, std::string value);
// Whether `value` is a graph input or a node's output of `g`.
bool defines(const Graph& g, const std::string& value);

// Quantizes `layers` (node names, in graph order) of `model` one after another, layer i with
// `options_for(i)`. Fails (internal) when a layer's input has no counterpart in the reference.
void quantize_sequentially(Model& model, const std::vector<std::string>& layers, const std::function<FitOptions(size_t)>& options_for,
                           const SequentialFit& run);

// What quantize-int8 and ternarize do with their layers: with the pass option sequential=on, the
// above (on the fit images, or with images=all on the held-out calibration images too; the float
// model is the one the pipeline received); otherwise every layer fitted on the statistics of the
// model as it is. `options_for` gives each layer's fit.
void fit_selected_layers(Model& model, const std::vector<const Node*>& layers, const std::function<FitOptions(const Node*)>& options_for,
                         const class PassOptions& options, struct PassContext& ctx);

}  // namespace mc
