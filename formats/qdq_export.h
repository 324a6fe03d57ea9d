// ONNX export with int8 weights kept as int8: the "QDQ" form that ONNX Runtime and other runtimes
// recognize as a quantized model (int8 initializer -> DequantizeLinear -> layer), instead of
// dequantizing every weight to float32.
#pragma once

#include <map>
#include <string>

#include "core/graph.h"
#include "formats/mcz.h"

namespace mc {

// Every initializer of `decoded` encoded as dense int8 / int4 / ternary parts (per-channel scales
// along axis 0, zero points absent or within -128..127; Initializer::encoding) becomes an int8
// initializer holding exactly the encoding's q = symbol - 128, a float32 scale [C] and an int8 zero
// point [C] initializer, and a DequantizeLinear (axis 0) whose output takes the original
// initializer's name, so every consumer is unchanged and reads values bit-identical to the float
// export; a weight with k-term ternary channels becomes k such terms and each layer reading it k
// layers whose outputs are added. Other tensors (fp16, sparse, float) stay float. Per-axis
// DequantizeLinear needs opset 13: an older model is raised to opset 13, rewriting the nodes whose
// form changed on the way (attributes that became inputs, Softmax's axis); a form that cannot be
// carried over exactly is refused (unsupported error naming the node).
Model with_qdq_weights(const Model& decoded);

// Whether the model quantizes activations (has QuantizeLinear nodes).
bool has_quantized_activations(const Model& model);

// The form in which mcompress runs a compressed model (eval, the accuracy `compress` reports) and
// which `export` writes by default: when its activations are quantized (QuantizeLinear nodes), the
// graph with_qdq_weights writes, whose int8 layers the executor computes with integer sums and ONNX
// Runtime's requantization (core/executor_qdq.cpp), so that top-1 agrees with ONNX Runtime running
// the export; otherwise, or when the model cannot be carried to opset 13, `decoded` itself (the same
// values in float).
Model model_to_run(const Model& decoded);

// The same model at opset 13 (unchanged if it is already at 13 or later); see above.
Model upgraded_to_opset13(const Model& model);

}  // namespace mc
