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
// Where a block's sums go: int32 (out, row r at out + r * stride), or requantized to 8 bits (q).
struct Sink {
  int32_t* out = nullptr;
  const VnniRequantization* q = nullptr;
  int64_t row = 0;  // the block's first row, for q's per-row parameters and output
  int64_t column = 0;  // the block's first position, for q's output
  int64_t stride = 0;
};

template <int MB, int NZ>
void block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, const Sink& sink, int64_t valid) {
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
      const __m512i sum = _mm512_sub_epi32(acc[r][j], c);  // wraps, as the runtime's adds do
      if (!sink.q) {
        _mm512_mask_storeu_epi32(sink.out + r * sink.stride + 16 * j, mask, sum);
        continue;
      }
      // core/ops/requantize.h, lane by lane: scaled, clamped, rounded half to even, shifted, bounded.
      const VnniRequantization& q = *sink.q;
      const int64_t row = sink.row + r;
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(q.multiplier[row]));
      f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(q.low)), _mm512_set1_ps(q.high));
      f = _mm512_roundscale_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m512i v = _mm512_add_epi32(_mm512_cvttps_epi32(f), _mm512_set1_epi32(q.y_zp));
      v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(q.lo)), _mm512_set1_epi32(q.hi));
      _mm512_mask_cvtepi32_storeu_epi8(q.y + row * q.stride + sink.column + 16 * j, mask, v);  // in range: the low byte
    }
  }
}

template <int MB>
void rows_block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, const Sink& sink, int64_t valid) {
  switch ((valid + 15) / 16) {
    case 1: block<MB, 1>(xp, k4, wp, correction, sink, valid); break;
    case 2: block<MB, 2>(xp, k4, wp, correction, sink, valid); break;
    case 3: block<MB, 3>(xp, k4, wp, correction, sink, valid); break;
    default: block<MB, 4>(xp, k4, wp, correction, sink, valid); break;
  }
}

}  // namespace

namespace {

void all_rows(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t rows, Sink sink, int64_t valid) {
  int64_t r = 0;
  auto at = [&](int64_t row) {
    Sink s = sink;
    s.row += row;
    if (s.out) s.out += row * s.stride;
    return s;
  };
  for (; r + 4 <= rows; r += 4) rows_block<4>(xp, k4, wp + r * k4, correction + r, at(r), valid);
  switch (rows - r) {
    case 1: rows_block<1>(xp, k4, wp + r * k4, correction + r, at(r), valid); break;
    case 2: rows_block<2>(xp, k4, wp + r * k4, correction + r, at(r), valid); break;
    case 3: rows_block<3>(xp, k4, wp + r * k4, correction + r, at(r), valid); break;
    default: break;
  }
}

}  // namespace

void vnni_pointwise_block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t rows, int32_t* out,
                          int64_t out_stride, int64_t valid) {
  Sink sink;
  sink.out = out;
  sink.stride = out_stride;
  all_rows(xp, k4, wp, correction, rows, sink, valid);
}

void vnni_pointwise_block_requantized(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t rows,
                                      const VnniRequantization& q, int64_t first_row, int64_t first_position, int64_t valid) {
  Sink sink;
  sink.q = &q;
  sink.row = first_row;
  sink.column = first_position;
  all_rows(xp, k4, wp, correction, rows, sink, valid);
}

}  // namespace mc

#else
// Built without the instruction set (another architecture): never called, cpu_has_vnni() is false.
namespace mc {
void vnni_pointwise_block(const uint8_t*, int64_t, const int32_t*, const int32_t*, int64_t, int32_t*, int64_t, int64_t) {}
void vnni_pointwise_block_requantized(const uint8_t*, int64_t, const int32_t*, const int32_t*, int64_t, const VnniRequantization&, int64_t,
                                      int64_t, int64_t) {}
}  // namespace mc
#endif
