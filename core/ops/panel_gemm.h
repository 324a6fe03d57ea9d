// The float GEMM behind dense convolutions (core/ops/conv.cpp):
//   out[r][j] = f(bias[r] + sum_c w[r][c] * x[c][j])
// for a weight matrix w (rows x depth, row-major) and an input block x (depth x cols, rows of x
// `x_stride` apart: an image's channel planes read in place, or an im2col block), f a fused
// activation. A tile of panel_rows x 64 outputs (2 vectors wide without AVX-512) stays in registers
// over the whole depth, each weight broadcast straight from its row, and each output is written
// once, bias and activation applied, instead of seeding the output with the bias, accumulating into
// it and passing over it again for the activation.
//
// Every output is the sum of its products in depth order, one multiply-add at a time (fused with
// AVX-512: panel_gemm_fuses), from zero, then plus its bias: the same bits whatever the block, tile,
// task or thread it falls in, and whatever the number of rows (one row runs in wider one-row tiles
// with the same sums), so a product's row has the same bits at any batch.
#pragma once

#include <cstdint>
#include <optional>

#include "core/ops/activation.h"

namespace mc {

// Output rows per register tile.
inline constexpr int64_t panel_rows = 6;

// Whether this build's sums are fused multiply-adds (explicit AVX-512 FMAs), so the bits are
// exactly those of std::fma; elsewhere whether a * b + c is fused is the compiler's choice.
bool panel_gemm_fuses();

// out[r * out_stride + j] for r < rows, j < cols, as above. `bias` may be null. A `residual` laid out
// like `out` is added to each output after the activation (a residual Add fused into a conv).
void panel_gemm(const float* w, int64_t rows, int64_t depth, const float* x, int64_t x_stride, int64_t cols,
                float* out, int64_t out_stride, const float* bias, const std::optional<FusedActivation>& activation,
                const float* residual = nullptr);

}  // namespace mc
