// int8 activations (the `quantize-activations` pass, passes/quantize_activations.cpp): what the
// pass leaves in the graph, for reports and later passes to read back. The graph is the record: a
// layer whose data input is produced by a DequantizeLinear reads an 8-bit activation.
#pragma once

#include <cstdint>

#include "core/graph.h"

namespace mc {

// True if `layer`'s data input (input 0) is the output of a DequantizeLinear of a runtime value,
// i.e. the layer computes on an 8-bit activation (PROM: a ternary weight times it is an addition).
bool input_is_quantized(const Model& model, const Node& layer);

// uint8 quantization parameters of a calibrated range [lo, hi]: the range is widened to hold 0,
// zero_point = round(-lo / scale) so that 0.0 is exactly representable (it quantizes to zero_point
// and dequantizes back to exactly 0.0); non-negative ranges get zero_point 0.
struct Uint8Quantization {
  float scale = 1.0f;
  uint8_t zero_point = 0;
};
Uint8Quantization uint8_quantization(double lo, double hi);

}  // namespace mc
