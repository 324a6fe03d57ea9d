// The quantized convolution pattern of a QDQ graph, recognised in one place:
//
//   Conv(DequantizeLinear(x_q, x_scale, x_zp), DequantizeLinear(w_q, w_scale, w_zp), bias)
//     [-> Relu | Clip] -> QuantizeLinear(y_scale, y_zp)
//
// with per-tensor 8-bit activation parameters, a constant int8 weight with per-tensor or
// per-output-channel (axis 0) scales, and a constant float bias [M] or none: the conditions of ONNX
// Runtime's QDQ selector. With the QuantizeLinear (the conv output, or its one Relu/Clip, read by it
// alone) ORT runs the layer as one QLinearConv, in integers; without it ORT computes the Conv in
// float on dequantized values. The executor fuses the first form (core/executor_qdq.cpp); the QDQ
// export writes the second as ConvInteger so that every runtime sums it exactly
// (formats/qdq_export.cpp).
#pragma once

#include <optional>

#include "core/graph.h"
#include "core/op_registry.h"

namespace mc {

struct QdqConv {
  const Node* x_dequantize = nullptr;  // DequantizeLinear of the runtime 8-bit activation
  float x_scale = 0;                   // the activation's (per-tensor) scale
  const Node* w_dequantize = nullptr;  // DequantizeLinear of the constant int8 weight
  const Tensor* w_q = nullptr;         // int8, [M, C/g, k...]
  const Tensor* w_scale = nullptr;     // f32, one value or [M]
  const Tensor* w_zero_point = nullptr;
  bool per_tensor = true;              // one weight scale for all output channels
  const Tensor* bias = nullptr;        // f32 [M], or nullptr when the Conv has none
  // Set when the output is requantized: the Relu/Clip between (or nullptr), its clamp, and the
  // QuantizeLinear.
  const Node* activation = nullptr;
  std::optional<FusedActivation> clip;
  const Node* quantize = nullptr;
  int64_t channels() const { return w_q->dim(0); }
};

// `conv` (a node of `g`) as that pattern, or nothing when any condition fails.
std::optional<QdqConv> match_qdq_conv(const Graph& g, const Node& conv, int64_t opset);

}  // namespace mc
