// The float GEMM behind dense convolutions (core/ops/conv.cpp):
//   out[r][j] = f(bias[r] + sum_c w[r][c] * x[c][j])
// for a weight matrix w (rows x depth, row-major) and an input block x (depth x cols, rows of x
// `x_stride` apart: an image's channel planes read in place, or an im2col block), f a fused
// activation. The weights are first packed into panels of `panel_rows` rows; the kernel then keeps
// a tile of panel_rows x 64 outputs in registers over the whole depth and writes each output once,
// bias and activation applied, instead of seeding the output with the bias, accumulating into it
// and passing over it again for the activation.
//
// Every output is the sum of its products in depth order, one fused multiply-add at a time, from
// zero, then plus its bias: the same bits whatever the block, tile, task or thread it falls in.
#pragma once

#include <cstdint>
#include <optional>

#include "core/ops/activation.h"

namespace mc {

class ThreadPool;

inline constexpr int64_t panel_rows = 6;

inline int64_t panel_count(int64_t rows) { return (rows + panel_rows - 1) / panel_rows; }

// Packs panel `panel` of w (rows x depth, row-major) into panel_rows * depth floats at `packed`:
// depth index by depth index, the weights of rows panel*panel_rows .. +panel_rows (zero past
// `rows`). Panel p of a matrix sits at packed + p * panel_rows * depth.
void pack_panel(const float* w, int64_t rows, int64_t depth, int64_t panel, float* packed);

// Whether this build's sums are fused multiply-adds (explicit AVX-512 FMAs), so the bits are
// exactly those of std::fma; elsewhere whether a * b + c is fused is the compiler's choice.
bool panel_gemm_fuses();

void panel_gemm(const float* packed, int64_t panel0, int64_t rows, int64_t depth, const float* x, int64_t x_stride,
                int64_t cols, float* out, int64_t out_stride, const float* bias,
                const std::optional<FusedActivation>& activation);

}  // namespace mc
