// A chain of convolution layers evaluated at sampled output positions, forward and backward: the
// differentiable model block reconstruction (passes/block_fit.h) optimizes.
//
// A chain is what a MobileNet or ShuffleNet block computes between two activations: 1x1 layers,
// at most one spatial layer (k x k kernel, any stride, any groups: a depthwise conv or a stem conv)
// and at most one 1x1 layer after it; each layer's output may pass a clip (Relu, Relu6), each
// layer's input may pass an activation quantization step (QuantizeLinear -> DequantizeLinear), and
// the chain's input may be added to its output (an inverted-residual block's skip connection).
//
// One sample is one output position of one image. Convolutions are local, so a sample needs only
// the chain's input at the spatial layer's kernel taps for that position (`taps` x input channels;
// a tap outside the image is padding) and the layers before the spatial layer run at each tap.
// At a padding tap the spatial layer reads 0, as the network's zero padding of its input does,
// whatever the layers before it would compute there: so a sample's output is exactly the network's.
//
// Backward computes the loss gradient for every weight and bias. Activation quantization passes
// the gradient straight through inside its range (the straight-through estimator) and can be
// randomly skipped per element (QDrop: Wei et al., "QDrop: Randomly Dropping Quantization for
// Extremely Low-bit Post-Training Quantization", ICLR 2022). Everything runs in one thread in a
// fixed order: results do not depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mc {

// QuantizeLinear -> DequantizeLinear of a per-tensor int8 / uint8 activation.
struct FakeQuant {
  bool on = false;
  float scale = 1;
  int32_t zero_point = 0, qmin = 0, qmax = 255;
  float operator()(float x) const;
  // Whether the gradient passes (the quantized value is not saturated).
  bool passes(float x) const;
};

struct ChainLayer {
  int64_t inputs = 0, outputs = 0;   // channels
  int64_t groups = 1;                // the spatial layer's groups; 1x1 layers: 1
  bool spatial = false;              // reads `taps` positions (weights: outputs x (inputs/groups) x taps)
  FakeQuant input_quant;             // applied to this layer's input
  bool clip = false;                 // output clipped to [lo, hi] (Relu: [0, inf])
  float lo = 0, hi = 0;
};

struct Chain {
  std::vector<ChainLayer> layers;
  int64_t taps = 1;        // the spatial layer's kernel positions (1 when it has none)
  bool residual = false;   // the chain's output is the last layer's plus the chain's input at the position
  int spatial_index() const;
  int64_t input_channels() const { return layers.empty() ? 0 : layers.front().inputs; }
  int64_t output_channels() const { return layers.empty() ? 0 : layers.back().outputs; }
  // Weights of layer i: outputs x (inputs / groups) x taps for the spatial layer, outputs x inputs else.
  int64_t weight_count(size_t i) const;
};

// Samples: `input` S x taps x C (the chain's input at each tap, 0 at padding), `valid` S x taps
// (1 inside the image), `skip` S x C_out (the chain's input at the output position; residual chains
// only), `target` S x C_out (what the output should be).
struct ChainSamples {
  int64_t count = 0;
  std::vector<float> input, skip, target;
  std::vector<uint8_t> valid;
};

// Weights (row-major per layer as Chain::weight_count) and biases of every layer.
struct ChainParams {
  std::vector<std::vector<float>> weights, biases;
};

// A forward pass over a batch of samples, kept for backward.
class ChainPass {
 public:
  // `drop`: per element of each quantized activation, quantization is skipped with probability
  // `drop_rate` (0: always quantize), decided by a generator seeded with `seed`.
  ChainPass(const Chain& chain, const ChainParams& params, const ChainSamples& samples, const std::vector<int64_t>& batch,
            double drop_rate = 0, uint64_t seed = 0);
  // Sum over the batch of the squared output error, divided by the batch size.
  double loss() const { return loss_; }
  // Gradients of loss() (same layout as the parameters).
  ChainParams backward() const;
  const std::vector<float>& output() const { return out_; }

 private:
  const Chain& chain_;
  const ChainParams& params_;
  int64_t batch_ = 0;
  std::vector<uint8_t> valid_;                     // batch x taps
  // Per layer: its input as read (after quantization), its pre-activation output; masks of where
  // the gradient passes the quantization step.
  std::vector<std::vector<float>> in_, pre_;
  std::vector<std::vector<uint8_t>> quant_pass_;
  std::vector<float> out_, target_;
  double loss_ = 0;
};

}  // namespace mc
