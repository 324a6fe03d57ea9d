// Block reconstruction (BRECQ: Li et al., "BRECQ: Pushing the Limit of Post-Training Quantization by
// Block Reconstruction", ICLR 2021), with activation quantization in the loop and randomly dropped
// (QDrop), as a refinement of sequential fitting (passes/sequential_fit.h).
//
// The layers to fit are cut into chains (core/chain_model.h: a MobileNetV1 depthwise + pointwise
// pair, an inverted-residual block with its skip, a ShuffleNet branch; any layer that fits no chain
// is a chain of one). Each chain's layers are first fitted one by one as sequential fitting does;
// then the rounding of all their weights is learned jointly (AdaRound's relaxation, core/adaround.h)
// together with their biases, minimizing the squared difference between the chain's output (after
// its last activation, and after the skip's addition) computed from the partly quantized network's
// input to the chain, with the chain's own activation quantization in the loop, and the float
// network's output at the same point, on sampled output positions of the calibration images. The
// learned weights replace the layer-by-layer fit only when their error over all samples (without
// dropping) is lower. See docs/RECONSTRUCTION.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "core/chain_model.h"
#include "core/graph.h"
#include "passes/weight_fit.h"

namespace mc {

struct BlockFitOptions {
  int iterations = 1000;
  int64_t batch = 128;        // samples per step
  int64_t samples = 4096;     // output positions sampled over the calibration images
  double learning_rate = 0.01;
  double bias_learning_rate = 1e-3;
  // The rounding regularizer's weight per weight, against the chain's error scaled so that one
  // weight a whole level off costs about 1 (docs/RECONSTRUCTION.md).
  double lambda = 10;
  double drop = 0.5;          // QDrop's probability of keeping an activation in float
  uint64_t seed = 0;
};

// A chain of the model: its layers (node names, in order), the value it reads (before the first
// layer's activation quantization) and the value it computes, and the spatial layer's geometry.
struct ChainSpec {
  std::vector<std::string> layers;
  std::string input, output;
  Chain chain;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

// Cuts `layers` (node names in graph order) into consecutive chains. A layer that cannot be part
// of a chain (not a 2-D Conv, dilated, auto_pad) is a chain of its own with `chain.layers` empty.
std::vector<ChainSpec> find_chains(const Model& model, const std::vector<std::string>& layers);

// The samples of a chain (core/chain_model.h ChainSamples): `model` run to the chain's input,
// `reference` (the float network) to the chain's output, on `images`. Empty (count 0) with a
// reason in `why` when shapes do not match the chain's geometry.
ChainSamples collect_chain_samples(const Model& model, const ChainSpec& spec, const Model& reference, const CalibrationSet& images,
                                   int threads, const BlockFitOptions& options, std::string& why);

// The chain's layers as they are in `model` now (weights and biases).
ChainParams chain_params(const Model& model, const ChainSpec& spec);

// What refine_chain did, for the log.
struct ChainRefinement {
  double layerwise_error = 0, learned_error = 0;  // mean squared output error per sample, over all samples
  bool kept = false;                              // the learned weights replaced the layer-wise fit
};

// Learns the rounding of the chain's layers jointly. `fits[i]` is layer i's layer-wise fit (already
// applied to the model: values and bias), `targets[i]` its weights before rounding (the weight
// tensor's layout); `options[i]` its fit options. When the learned weights are better, writes them
// and the learned biases into the model and replaces fits[i].
ChainRefinement refine_chain(Model& model, const ChainSpec& spec, const ChainSamples& samples, std::vector<std::vector<FilterFit>>& fits,
                             const std::vector<std::vector<float>>& targets, const std::vector<FitOptions>& options,
                             const BlockFitOptions& block);

}  // namespace mc
