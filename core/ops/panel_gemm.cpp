// The float GEMM of dense convolutions: a register tile per panel_rows rows and 64 columns, each
// output written once (core/ops/panel_gemm.h).
#include "core/ops/panel_gemm.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "core/ops/float_vec.h"

namespace mc {

namespace {

using namespace float_vec;

#if defined(__AVX512F__)
constexpr int max_vectors = 4;  // a 6 x 4 tile: 24 accumulators of the 32 registers
constexpr int max_row_vectors = 16;
#else
constexpr int max_vectors = 2;  // a 6 x 2 tile: 12 accumulators, room in 16 vector registers
constexpr int max_row_vectors = 8;
#endif

// Rows of x ahead of the one being read that are prefetched: a tile reads 64 columns of each row,
// rows far apart in memory, which the hardware prefetcher does not follow.
constexpr int64_t prefetch_rows = 8;



// Prefetches the line `bytes` past p, an address that may lie past the end of the block (the
// prefetch then does nothing), computed as an integer so no pointer leaves its array.
inline void prefetch(const float* p, int64_t bytes) {
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(bytes)));
}

// One tile: tile_rows rows of w (from `w`, `depth` apart) x `vectors` vectors of columns, the last
// vector holding `last` columns. Accumulates the whole depth in registers, then writes bias + sum
// for the first `rows` rows (the others repeat the last row's weights and are not written),
// clipped to [range[0], range[1]] if `range` is given. Tiles of panel_rows rows serve the GEMM;
// tiles of one row, up to max_row_vectors wide, a product with one row (a classifier at batch 1),
// whose loads of x then run along whole rows.
template <int tile_rows, int vectors, bool full>
void tile(const float* w, int64_t depth, const float* x, int64_t x_stride, int64_t last, float* out,
          int64_t out_stride, int64_t rows, const float* bias, const float* range, const float* residual) {
  // Every index into acc is a constant after unrolling, so the tile stays in registers.
  Vec acc[tile_rows][vectors];
#pragma GCC unroll 8
  for (int r = 0; r < tile_rows; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < vectors; ++v) acc[r][v] = zero();
  const float* wrow[tile_rows];
  for (int r = 0; r < tile_rows; ++r) wrow[r] = w + std::min<int64_t>(r, rows - 1) * depth;
  for (int64_t c = 0; c < depth; ++c) {
    const float* xc = x + c * x_stride;
#pragma GCC unroll 16
    for (int v = 0; v < vectors; ++v) prefetch(xc, (prefetch_rows * x_stride + v * lanes) * sizeof(float));
    Vec xv[vectors];
#pragma GCC unroll 16
    for (int v = 0; v < vectors; ++v)
      xv[v] = full || v + 1 < vectors ? load(xc + v * lanes) : load_partial(xc + v * lanes, last);
#pragma GCC unroll 8
    for (int r = 0; r < tile_rows; ++r) {
      const Vec wr = broadcast(wrow[r][c]);
#pragma GCC unroll 16
      for (int v = 0; v < vectors; ++v) acc[r][v] = fma(wr, xv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < tile_rows; ++r) {
    if (r >= rows) break;
    const Vec b = broadcast(bias ? bias[r] : 0.0f);
#pragma GCC unroll 16
    for (int v = 0; v < vectors; ++v) acc[r][v] = add(acc[r][v], b);
    if (range) {
      const Vec lo = broadcast(range[0]), hi = broadcast(range[1]);
#pragma GCC unroll 16
      for (int v = 0; v < vectors; ++v) acc[r][v] = clip(acc[r][v], lo, hi);
    }
    if (residual) {
      const float* res = residual + r * out_stride;
#pragma GCC unroll 16
      for (int v = 0; v < vectors; ++v)
        acc[r][v] = add(acc[r][v], full || v + 1 < vectors ? load(res + v * lanes) : load_partial(res + v * lanes, last));
    }
    float* line = out + r * out_stride;
#pragma GCC unroll 16
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

// tiles[full][vectors - 1] for tiles of R rows
template <int R, int... V>
constexpr std::array<std::array<TileFn, sizeof...(V)>, 2> make_tiles(std::integer_sequence<int, V...>) {
  return {{{&tile<R, V + 1, false>...}, {&tile<R, V + 1, true>...}}};
}

constexpr auto tiles = make_tiles<panel_rows>(std::make_integer_sequence<int, max_vectors>{});
constexpr auto row_tiles = make_tiles<1>(std::make_integer_sequence<int, max_row_vectors>{});

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
  const bool one_row = rows == 1;
  const int64_t block = (one_row ? max_row_vectors : max_vectors) * lanes;
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
    const TileFn fn = one_row ? row_tiles[last == lanes][static_cast<size_t>(vectors - 1)]
                              : tiles[last == lanes][static_cast<size_t>(vectors - 1)];
    fn(w + r0 * depth, depth, x + j0, x_stride, last, o, out_stride, n, bias ? bias + r0 : nullptr,
       clip_in_tile ? range : nullptr, residual_in_tile ? res : nullptr);
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
