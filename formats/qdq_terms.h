// A weight whose channels mix encodings (a hybrid layer: an int8 bank and a k-term ternary bank,
// in a stored channel order) written as a sum of int8 tensors: term t holds, per channel, the int8
// values (t = 0 of an int8 or int4 channel) or the ternary symbols -1/0/+1 of its t-th residual term
// (zeros where a channel has no such term), with one float scale per channel. Then
//   W = sum_t DequantizeLinear(Q_t, scale_t, zero_point_t)   (per channel, axis 0)
// holds the file's values exactly, and a layer y = W * x + b becomes y = sum_t (DQ_t * x) + b: the
// additions-only structure of the ternary terms is explicit, and every weight an ONNX runtime
// sees is an int8 constant behind a DequantizeLinear, which it runs as written (a float weight
// next to quantized activations is something ONNX Runtime re-quantizes with its own scales).
#pragma once

#include <optional>
#include <vector>

#include "core/tensor.h"
#include "core/encoding.h"

namespace mc {

struct QdqTerm {
  Tensor values;       // int8, the tensor's shape, channels in the tensor's (unpermuted) order
  Tensor scales;       // float32 [channels]
  Tensor zero_points;  // int8 [channels]
};

// The terms of `e` (decoded streams), or nothing when some part is neither int8, int4 nor ternary
// (dense or sparse) or has a zero point outside int8. Order of terms: term 0 first.
std::optional<std::vector<QdqTerm>> qdq_terms(const EncodedTensor& e);

}  // namespace mc
