// The executor's fused form of an integer layer's float epilogue (core/executor_integer_chain.cpp):
//   ConvInteger(x, w, x_zero_point, w_zero_point) -> Cast(float) -> Mul(scale) [-> Add(addend)]
// as one step, the node's inputs being x, w, x_zero_point, w_zero_point (either may be omitted),
// scale (a constant, one value or one per output channel) and optionally the addend; attribute
// `addend_first` 1 when the Add read the addend as its first input. It computes the same float
// operations in the same order on each element as the four kernels do, so the results are
// bit-identical: v = float(sum); v = v * scale[m]; v = v + addend (IEEE addition and multiplication
// commute exactly); then a fused Relu/Clip if the executor absorbed one (only those: they round
// nothing). Filters whose weights all equal their zero point (a hybrid layer's int8 channels in its
// ternary terms) are left out of the integer sums, which are exactly 0 for them (ungrouped layers:
// hybrid MobileNetV1 0.75 / MobileNetV2 files with half their MACs ternary run 25-35% faster). The
// file is compiled without floating-point contraction (CMakeLists.txt): a multiply-add fused into one FMA would round
// once instead of twice. Not an ONNX op: it exists only in the executor's plan.
#pragma once

#include "core/op_registry.h"

namespace mc {

const OpKernel& scaled_conv_integer_kernel();

// Whether a tensor of shape `t` broadcasts over `out` (rank >= 2, channels on axis 1) with one value
// per channel or a single value: every dim 1 but, possibly, the one aligned with axis 1, which is 1
// or out[1]. The shapes of a per-channel scale or bias written as [1, M, 1, 1], [M, 1, 1] or a scalar.
bool broadcasts_per_channel(const Shape& t, const Shape& out);

}  // namespace mc
