// The float GEMM of dense convolutions: a register tile per panel_rows rows and 64 columns, each
// output written once (core/ops/panel_gemm.h).
#include "core/ops/panel_gemm.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace mc {

namespace {

// One vector of floats: 16 lanes with AVX-512 (explicit fused multiply-adds, masked loads and
// stores for a partial vector), elsewhere GCC vector extensions as wide as the target's registers.
#if defined(__AVX512F__)
constexpr int64_t lanes = 16;
constexpr int max_vectors = 4;  // a 6 x 4 tile: 24 accumulators of the 32 registers
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
constexpr int64_t lanes = 8;
#else
constexpr int64_t lanes = 4;
#endif
constexpr int max_vectors = 2;  // a 6 x 2 tile: 12 accumulators, room in 16 vector registers
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

// Rows of x ahead of the one being read that are prefetched: a tile reads 64 columns of each row,
// rows far apart in memory, which the hardware prefetcher does not follow.
constexpr int64_t prefetch_rows = 8;

// Prefetches the line `bytes` past p, an address that may lie past the end of the block (the
// prefetch then does nothing), computed as an integer so no pointer leaves its array.
inline void prefetch(const float* p, int64_t bytes) {
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(bytes)));
}

// One tile: panel_rows rows of w (from `w`, `depth` apart) x `vectors` vectors of columns, the last
// vector holding `last` columns. Accumulates the whole depth in registers, then writes bias + sum
// for the first `rows` rows (the others repeat the last row's weights and are not written),
// clipped to [range[0], range[1]] if `range` is given.
template <int vectors, bool full>
void tile(const float* w, int64_t depth, const float* x, int64_t x_stride, int64_t last, float* out,
          int64_t out_stride, int64_t rows, const float* bias, const float* range, const float* residual) {
  // Every index into acc is a constant after unrolling, so the tile stays in registers.
  Vec acc[panel_rows][vectors];
#pragma GCC unroll 8
  for (int r = 0; r < panel_rows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < vectors; ++v) acc[r][v] = zero();
  const float* wrow[panel_rows];
  for (int r = 0; r < panel_rows; ++r) wrow[r] = w + std::min<int64_t>(r, rows - 1) * depth;
  for (int64_t c = 0; c < depth; ++c) {
    const float* xc = x + c * x_stride;
#pragma GCC unroll 4
    for (int v = 0; v < vectors; ++v) prefetch(xc, (prefetch_rows * x_stride + v * lanes) * sizeof(float));
    Vec xv[vectors];
#pragma GCC unroll 4
    for (int v = 0; v < vectors; ++v)
      xv[v] = full || v + 1 < vectors ? load(xc + v * lanes) : load_partial(xc + v * lanes, last);
#pragma GCC unroll 8
    for (int r = 0; r < panel_rows; ++r) {
      const Vec wr = broadcast(wrow[r][c]);
#pragma GCC unroll 4
      for (int v = 0; v < vectors; ++v) acc[r][v] = fma(wr, xv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < panel_rows; ++r) {
    if (r >= rows) break;
    const Vec b = broadcast(bias ? bias[r] : 0.0f);
#pragma GCC unroll 4
    for (int v = 0; v < vectors; ++v) acc[r][v] = add(acc[r][v], b);
    if (range) {
      const Vec lo = broadcast(range[0]), hi = broadcast(range[1]);
#pragma GCC unroll 4
      for (int v = 0; v < vectors; ++v) acc[r][v] = clip(acc[r][v], lo, hi);
    }
    if (residual) {
      const float* res = residual + r * out_stride;
#pragma GCC unroll 4
      for (int v = 0; v < vectors; ++v)
        acc[r][v] = add(acc[r][v], full || v + 1 < vectors ? load(res + v * lanes) : load_partial(res + v * lanes, last));
    }
    float* line = out + r * out_stride;
#pragma GCC unroll 4
    for (int v = 0; v < vectors; ++v) {
      if (full || v + 1 < vectors)
        store(line + v * lanes, acc[r][v]);
      else
        store_partial(line + v * lanes, acc[r][v], last);
    }
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t, int64_t, const float*,
                        const float*, const float*);

// tiles[full][vectors - 1]
template <int... V>
constexpr std::array<std::array<TileFn, sizeof...(V)>, 2> make_tiles(std::integer_sequence<int, V...>) {
  return {{{&tile<V + 1, false>...}, {&tile<V + 1, true>...}}};
}

constexpr auto tiles = make_tiles(std::make_integer_sequence<int, max_vectors>{});

}  // namespace

bool panel_gemm_fuses() {
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

void panel_gemm(const float* w, int64_t rows, int64_t depth, const float* x, int64_t x_stride, int64_t cols,
                float* out, int64_t out_stride, const float* bias, const std::optional<FusedActivation>& activation,
                const float* residual) {
  const int64_t block = max_vectors * lanes;
  // A clip (Relu, Relu6) is applied in registers; other activations over each tile once written.
  const bool clip_in_tile = activation && activation->kind == FusedActivation::Kind::clip;
  const float range[2] = {clip_in_tile ? activation->lo : 0.0f, clip_in_tile ? activation->hi : 0.0f};
  // The residual goes in registers unless an activation still has to run over the written tile.
  const bool residual_in_tile = residual && (!activation || clip_in_tile);
  auto run = [&](int64_t r0, int64_t j0) {
    const int64_t width = std::min(block, cols - j0);
    const int64_t vectors = (width + lanes - 1) / lanes;
    const int64_t last = width - (vectors - 1) * lanes;
    const int64_t n = std::min(panel_rows, rows - r0);
    float* o = out + r0 * out_stride + j0;
    const float* res = residual ? residual + r0 * out_stride + j0 : nullptr;
    tiles[last == lanes][static_cast<size_t>(vectors - 1)](w + r0 * depth, depth, x + j0, x_stride, last, o,
                                                          out_stride, n, bias ? bias + r0 : nullptr,
                                                          clip_in_tile ? range : nullptr,
                                                          residual_in_tile ? res : nullptr);
    if (activation && !clip_in_tile) {
      for (int64_t r = 0; r < n; ++r) {
        float* line = o + r * out_stride;
        activation->apply(line, width);
        if (res)
          for (int64_t j = 0; j < width; ++j) line[j] = line[j] + res[r * out_stride + j];
      }
    }
  };
  // A panel of rows sweeps all columns before the next: its weights stay in the first-level cache,
  // and each output row is written front to back (interleaving every row of the block instead, 16
  // and more write streams, costs 1.5-2x on the layers with few input channels and large planes).
  for (int64_t r0 = 0; r0 < rows; r0 += panel_rows)
    for (int64_t j0 = 0; j0 < cols; j0 += block) run(r0, j0);
}

}  // namespace mc
