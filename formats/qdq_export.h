// ONNX export with int8 weights kept as int8: the "QDQ" form that ONNX Runtime and other runtimes
// recognize as a quantized model (int8 initializer -> DequantizeLinear -> layer), instead of
// dequantizing every weight to float32.
#pragma once

#include <map>
#include <string>

#include "core/graph.h"
#include "formats/mcz.h"

namespace mc {

// `decoded` is decode_mcz(file). Every tensor of `file` stored as one dense int8 part (per-channel
// scales along axis 0, zero points absent or within -128..127) becomes an int8 initializer holding
// exactly the file's q = symbol - 128, a float32 scale [C] and an int8 zero point [C] initializer,
// and a DequantizeLinear (axis 0) whose output takes the original initializer's name, so every
// consumer is unchanged and reads values bit-identical to the float export. Other tensors
// (ternary, fp16, sparse, hybrid multi-part) stay float. Per-axis DequantizeLinear needs opset 13:
// an older model is raised to opset 13, rewriting the nodes whose form changed on the way
// (attributes that became inputs, Softmax's axis); a form that cannot be carried over exactly is
// refused (unsupported error naming the node).
Model with_qdq_weights(const Model& decoded, const McFile& file);
// The same from the encoded tensors by name (a compressed model before it is written).
Model with_qdq_weights(const Model& decoded, const std::map<std::string, EncodedTensor>& encoded);

// The form in which mcompress runs a compressed model (eval, the accuracy `compress` reports): when
// its activations are quantized (QuantizeLinear nodes), the graph `export --qdq` writes, whose int8
// layers the executor computes with integer sums and ONNX Runtime's requantization
// (core/executor_qdq.cpp), so that top-1 agrees with ONNX Runtime running the export; otherwise, or
// when the model cannot be carried to opset 13, `decoded` itself (the same values in float).
Model model_to_run(const Model& decoded, const McFile& file);
Model model_to_run(const Model& decoded, const std::map<std::string, EncodedTensor>& encoded);

// The same model at opset 13 (unchanged if it is already at 13 or later); see above.
Model upgraded_to_opset13(const Model& model);

}  // namespace mc
