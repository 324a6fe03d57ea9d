// AVX-512 VNNI micro-kernels for core/ops/int8_pointwise.h. This file alone is compiled with
// -mavx512f -mavx512bw -mavx512vnni (CMakeLists.txt) and is only entered after the CPU check; it
// uses intrinsics and plain loops, no inline library code another file could share.
#include "core/ops/int8_pointwise_vnni.h"

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>

namespace mc {

namespace {

// MB rows of outputs by NZ vectors of 16 positions: MB * NZ accumulators, each step a load of NZ
// activation vectors (16 positions x 4 channels each) and MB broadcasts of 4 weights.
template <int MB, int NZ>
void block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int32_t* out, int64_t out_stride, int64_t valid) {
  __m512i acc[MB][NZ];
  for (int r = 0; r < MB; ++r)
    for (int j = 0; j < NZ; ++j) acc[r][j] = _mm512_setzero_si512();
  for (int64_t k = 0; k < k4; ++k) {
    const uint8_t* xk = xp + k * 256;
    __m512i xv[NZ];
    for (int j = 0; j < NZ; ++j) xv[j] = _mm512_loadu_si512(xk + 64 * j);
    for (int r = 0; r < MB; ++r) {
      const __m512i wv = _mm512_set1_epi32(wp[r * k4 + k]);
      for (int j = 0; j < NZ; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], xv[j], wv);
    }
  }
  for (int r = 0; r < MB; ++r) {
    const __m512i c = _mm512_set1_epi32(correction[r]);
    for (int j = 0; j < NZ; ++j) {
      const int64_t left = valid - 16 * j;
      const auto mask = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
      _mm512_mask_storeu_epi32(out + r * out_stride + 16 * j, mask, _mm512_sub_epi32(acc[r][j], c));
    }
  }
}

template <int MB>
void rows_block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int32_t* out, int64_t out_stride,
                int64_t valid) {
  switch ((valid + 15) / 16) {
    case 1: block<MB, 1>(xp, k4, wp, correction, out, out_stride, valid); break;
    case 2: block<MB, 2>(xp, k4, wp, correction, out, out_stride, valid); break;
    case 3: block<MB, 3>(xp, k4, wp, correction, out, out_stride, valid); break;
    default: block<MB, 4>(xp, k4, wp, correction, out, out_stride, valid); break;
  }
}

}  // namespace

void vnni_pointwise_block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t rows, int32_t* out,
                          int64_t out_stride, int64_t valid) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) rows_block<4>(xp, k4, wp + r * k4, correction + r, out + r * out_stride, out_stride, valid);
  switch (rows - r) {
    case 1: rows_block<1>(xp, k4, wp + r * k4, correction + r, out + r * out_stride, out_stride, valid); break;
    case 2: rows_block<2>(xp, k4, wp + r * k4, correction + r, out + r * out_stride, out_stride, valid); break;
    case 3: rows_block<3>(xp, k4, wp + r * k4, correction + r, out + r * out_stride, out_stride, valid); break;
    default: break;
  }
}

}  // namespace mc

#else
// Built without the instruction set (another architecture): never called, cpu_has_vnni() is false.
namespace mc {
void vnni_pointwise_block(const uint8_t*, int64_t, const int32_t*, const int32_t*, int64_t, int32_t*, int64_t, int64_t) {}
}  // namespace mc
#endif
