// QuantizeLinear's rounding, y = saturate(round_half_to_even(x / scale) + zero_point), as one scalar
// function: the QuantizeLinear kernel and a quantization step fused into a convolution's output
// (core/ops/activation.h FusedActivation::grid) both compute it, so they agree bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace mc {

// float32 x is divided in float32 (as ONNX's reference and ONNX Runtime do); int32 x in double, so
// large integers are not rounded before the division.
template <class Q, class X> Q saturate_round(X x, float scale, int32_t zero_point) {
  using Real = std::conditional_t<std::is_same_v<X, float>, float, double>;
  constexpr Real lo = static_cast<Real>(std::numeric_limits<Q>::min());
  constexpr Real hi = static_cast<Real>(std::numeric_limits<Q>::max());
  // Halves round to even, as ONNX specifies: adding and subtracting 1.5 * 2^(mantissa bits) rounds
  // in the FPU's default mode (to nearest, ties to even), exactly as nearbyint does for |v| up to
  // 2^22 (float) or 2^51 (double); larger values are clamped first, which changes nothing after the
  // final clamp to the 8-bit range. Unlike nearbyint, the compiler vectorizes this.
  constexpr Real big = std::is_same_v<Real, float> ? Real(4194304.0) : Real(2251799813685248.0);
  constexpr Real magic = std::is_same_v<Real, float> ? Real(12582912.0) : Real(6755399441055744.0);
  Real v = static_cast<Real>(x) / static_cast<Real>(scale);
  v = v == v ? std::min(std::max(v, -big), big) : Real(0);  // NaN in: not specified by ONNX; quantize as 0.0
  const Real r = ((v + magic) - magic) + static_cast<Real>(zero_point);
  return static_cast<Q>(std::clamp(r, lo, hi));
}

// DequantizeLinear's y = (q - zero_point) * scale: the difference of two 8-bit integers is exact in
// float32, so this is the one rounding ONNX Runtime and the .mcz int8 decoder also make.
template <class Q> float dequantized(Q q, float scale, int32_t zero_point) {
  return static_cast<float>(static_cast<int32_t>(q) - zero_point) * scale;
}

}  // namespace mc
