// One vector of floats for the GEMM kernels (panel_gemm.cpp, row_dot.cpp): 16 lanes with AVX-512
// (explicit fused multiply-adds, masked loads and stores for a partial vector), elsewhere GCC vector
// extensions as wide as the target's registers (whether a * b + c is fused is then the compiler's
// choice). Every function is one lane-by-lane operation, or a fixed order of them, so a kernel built
// on these gives each output the same bits wherever it is computed.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace mc::float_vec {

#if defined(__AVX512F__)
inline constexpr int64_t lanes = 16;
using Vec = __m512;
inline __mmask16 lane_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
inline Vec load_partial(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(lane_mask(n), p); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void store_partial(float* p, Vec v, int64_t n) { _mm512_mask_storeu_ps(p, lane_mask(n), v); }
inline Vec broadcast(float s) { return _mm512_set1_ps(s); }
inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
// std::max(v, lo) then std::min(., hi) lane by lane, ties and NaNs included: max_ps(a, b) is
// a > b ? a : b and min_ps(a, b) is a < b ? a : b.
inline Vec clip(Vec v, Vec lo, Vec hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }
#else
#if defined(__AVX__)
inline constexpr int64_t lanes = 8;
#else
inline constexpr int64_t lanes = 4;
#endif
using Vec = float __attribute__((vector_size(lanes * sizeof(float))));
inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline Vec load_partial(const float* p, int64_t n) {
  Vec v = {};
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
inline void store_partial(float* p, Vec v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}
inline Vec broadcast(float s) {
  Vec v;
  for (int64_t i = 0; i < lanes; ++i) v[i] = s;
  return v;
}
inline Vec zero() { return Vec{}; }
inline Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline Vec add(Vec a, Vec b) { return a + b; }
// std::max(v, lo) then std::min(., hi) lane by lane.
inline Vec clip(Vec v, Vec lo, Vec hi) {
  const Vec m = v < lo ? lo : v;
  return hi < m ? hi : m;
}
#endif

// The sum of a vector's lanes in one fixed order: halves added pairwise until one lane is left.
inline float sum_lanes(Vec v) {
  float x[lanes];
  std::memcpy(x, &v, sizeof x);
  for (int64_t width = lanes / 2; width >= 1; width /= 2)
    for (int64_t i = 0; i < width; ++i) x[i] = x[i] + x[i + width];
  return x[0];
}

}  // namespace mc::float_vec
