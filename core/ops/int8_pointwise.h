// Exact int32 sums of a pointwise (1x1) convolution on 8-bit integers with AVX-512 VNNI, the
// instruction that multiplies 4 unsigned bytes by 4 signed bytes and adds the 4 products to a 32-bit
// lane (vpdpbusd): 64 multiply-adds per instruction.
//
//   sums[n][m][p] = sum over k of (x[n][k][p] - x_zp) * w[m][k]        (mod 2^32, as an int8 runtime)
//
// for a 1x1 convolution with stride 1, no padding and one group, int8 weights with zero point 0
// (how mcompress and ONNX Runtime's quantizer store them), uint8 or int8 activations. Signed
// activations are shifted by 128 into unsigned bytes and the shift is taken back with the weights'
// row sums, so every result equals the definition exactly: the same integers as the portable path
// (QLinearConv's float-exact or int64 sums), which tests/test_integer_conv.cpp checks.
//
// Runtime dispatch: the kernel runs only when the CPU has AVX-512 VNNI (its code is in its own file,
// compiled for that instruction set and called through plain functions, so no inline code compiled
// for AVX-512 can leak into the rest of the program), and MCOMPRESS_INT8_KERNELS=portable in the
// environment (or set_int8_kernels) turns it off.
#pragma once

#include <cstdint>

#include "core/ops/requantize.h"
#include "core/thread_pool.h"

namespace mc {

enum class Int8Kernels { automatic, portable };
// The process-wide choice (initially from MCOMPRESS_INT8_KERNELS: "portable", "automatic" or unset;
// anything else is a usage error when the first int8 layer runs).
Int8Kernels int8_kernels();
void set_int8_kernels(Int8Kernels k);
// Whether this CPU can run the VNNI kernel (AVX-512 F, BW and VNNI).
bool cpu_has_vnni();

// The sums above, over the pool, when the VNNI kernel can run (returns false and writes nothing
// otherwise). x: [batch][channels_in][positions] bytes, uint8 (x_signed false) or int8; w:
// [channels_out][channels_in]; sums: [batch][channels_out][positions].
bool pointwise_int8_sums(const void* x, bool x_signed, int32_t x_zp, const int8_t* w, int64_t batch, int64_t channels_in,
                         int64_t channels_out, int64_t positions, int32_t* sums, ThreadPool& pool);

// QLinearConv of such a layer in one pass: the sums plus bias (int32 per output channel, or null)
// requantized (core/ops/requantize.h) with multiplier[m] and r straight into the 8-bit output y
// ([batch][channels_out][positions], uint8 or int8 bytes), no int32 sums stored. The same bytes as
// summing first and requantizing after (tested). False, nothing written, when the kernel cannot run.
bool pointwise_int8_qlinear(const void* x, bool x_signed, int32_t x_zp, const int8_t* w, int64_t batch, int64_t channels_in,
                            int64_t channels_out, int64_t positions, const int32_t* bias, const float* multiplier, const Requantization& r,
                            void* y, ThreadPool& pool);

}  // namespace mc
