// The executor's fused form of a per-tensor QuantizeLinear whose output only a DequantizeLinear
// reads (core/executor_fake_quant.cpp): the "fake quantization" of an activation in a float model
// that simulates int8 activations. Node inputs: x, the QuantizeLinear's scale and zero point, the
// DequantizeLinear's scale and zero point (either zero point may be omitted), each one value;
// attribute `quantized_type` the 8-bit type between them (DType::u8 or DType::i8). Per element it
// computes what the two kernels compute, with the same functions: q = saturate(round_half_even(x /
// scale) + zero_point), then y = float(q - zero_point') * scale'; so the values are bit-identical,
// without writing and reading the 8-bit tensor in between. Not an ONNX op: it exists only in the
// executor's plan.
#pragma once

#include "core/op_registry.h"

namespace mc {

const OpKernel& quantize_dequantize_kernel();

}  // namespace mc
