// Dot products of rows in a fixed order (core/ops/row_dot.h).
#include "core/ops/row_dot.h"

#include <algorithm>
#include <array>
#include <utility>

#include "core/ops/float_vec.h"

namespace mc {

namespace {

using namespace float_vec;

// Rows of b per tile: with up to 4 rows of a, 16 accumulators.
constexpr int b_tile = 4;

// a_tile rows of a x b_tile rows of b (the last of each repeated past `na` / `nb`, not written).
template <int a_tile>
void tile(const float* a, int64_t na, const float* b, int64_t nb, int64_t depth, float* out, int64_t out_stride,
          const float* bias) {
  Vec acc[a_tile][b_tile];
#pragma GCC unroll 4
  for (int i = 0; i < a_tile; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < b_tile; ++j) acc[i][j] = zero();
  const float* ar[a_tile];
  const float* br[b_tile];
  for (int i = 0; i < a_tile; ++i) ar[i] = a + std::min<int64_t>(i, na - 1) * depth;
  for (int j = 0; j < b_tile; ++j) br[j] = b + std::min<int64_t>(j, nb - 1) * depth;
  const int64_t whole = depth / lanes * lanes;
  for (int64_t c = 0; c < whole; c += lanes) {
    Vec bv[b_tile];
#pragma GCC unroll 4
    for (int j = 0; j < b_tile; ++j) bv[j] = load(br[j] + c);
#pragma GCC unroll 4
    for (int i = 0; i < a_tile; ++i) {
      const Vec av = load(ar[i] + c);
#pragma GCC unroll 4
      for (int j = 0; j < b_tile; ++j) acc[i][j] = fma(av, bv[j], acc[i][j]);
    }
  }
  if (const int64_t rest = depth - whole; rest > 0) {
    Vec bv[b_tile];
#pragma GCC unroll 4
    for (int j = 0; j < b_tile; ++j) bv[j] = load_partial(br[j] + whole, rest);
#pragma GCC unroll 4
    for (int i = 0; i < a_tile; ++i) {
      const Vec av = load_partial(ar[i] + whole, rest);
#pragma GCC unroll 4
      for (int j = 0; j < b_tile; ++j) acc[i][j] = fma(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < a_tile && i < na; ++i)
    for (int j = 0; j < b_tile && j < nb; ++j) {
      const float s = sum_lanes(acc[i][j]);
      out[i * out_stride + j] = bias ? s + bias[j] : s;
    }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t, const float*);

template <int... A>
constexpr std::array<TileFn, sizeof...(A)> make_tiles(std::integer_sequence<int, A...>) {
  return {&tile<A + 1>...};
}

constexpr int max_a_tile = 4;
constexpr auto tiles = make_tiles(std::make_integer_sequence<int, max_a_tile>{});

}  // namespace

void row_dot(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t depth, float* out,
             int64_t out_stride, const float* bias) {
  // A group of rows of a sweeps all rows of b before the next, so at batch 1 and 2 each row of b is
  // read from memory once.
  for (int64_t i0 = 0; i0 < a_rows; i0 += max_a_tile) {
    const int64_t na = std::min<int64_t>(max_a_tile, a_rows - i0);
    for (int64_t j0 = 0; j0 < b_rows; j0 += b_tile)
      tiles[static_cast<size_t>(na - 1)](a + i0 * depth, na, b + j0 * depth, std::min<int64_t>(b_tile, b_rows - j0), depth,
                                         out + i0 * out_stride + j0, out_stride, bias ? bias + j0 : nullptr);
  }
}

}  // namespace mc
