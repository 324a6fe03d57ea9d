// QLinearConv's requantization of int32 sums to 8 bits, as ONNX Runtime's CPU kernel does it
// (core/ops/integer_conv.cpp explains the formula); shared by the integer convolution kernels.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mc {

// The output range of one QLinearConv: the clamp before rounding (shifted by the zero point) and
// the quantized bounds after it (the type's, narrowed by a fused Relu/Clip).
struct Requantization {
  float low = 0, high = 0;
  int32_t y_zp = 0, lo = 0, hi = 0;
};

// One output row: int32 sum (from exact float sums or int32) plus bias, wrapping as the runtime's
// vector adds do (a bias of INT32_MIN, from a filter whose weight scale is tiny, must not be
// undefined behaviour here), scaled, clamped, rounded half to even, shifted and bounded.
template <class Sum, class Out>
void requantize_row(const Sum* a, int64_t n, int32_t b, float multiplier, const Requantization& r, Out* y) {
  // Locals, not r's fields: 8-bit stores may alias anything, which would reload them per element
  // and keep the loop from vectorizing.
  const float low = r.low, high = r.high;
  const int32_t y_zp = r.y_zp, lo = r.lo, hi = r.hi;
  for (int64_t p = 0; p < n; ++p) {
    const auto sum = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int32_t>(a[p])) + static_cast<uint32_t>(b));
    float f = static_cast<float>(sum) * multiplier;
    f = std::min(std::max(f, low), high);
    // Round half to even as nearbyint does (|f| <= 255 after the clamp, far below 2^22): adding and
    // subtracting 1.5 * 2^23 leaves f rounded by the FPU's own round-to-nearest-even; unlike
    // nearbyint, the compiler vectorizes it.
    const float rounded = (f + 12582912.0f) - 12582912.0f;
    y[p] = static_cast<Out>(std::clamp(static_cast<int32_t>(rounded) + y_zp, lo, hi));
  }
}

}  // namespace mc
