// The instruction-set-specific part of core/ops/int8_pointwise.h (int8_pointwise_vnni.cpp, compiled
// for AVX-512 VNNI): one block of outputs. Call only when cpu_has_vnni().
//   xp: one 64-position block of packed activations, [channels_in / 4 rounded up][64][4] bytes;
//   wp: `rows` rows of packed weights, [rows][k4] 32-bit words of 4 consecutive int8 weights;
//   correction[r]: subtracted from row r's sums (the zero point times the row's weight sum);
//   out: row r at out + r * out_stride, its first `valid` (1..64) positions written.
#pragma once

#include <cstdint>

namespace mc {

void vnni_pointwise_block(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t rows, int32_t* out,
                          int64_t out_stride, int64_t valid);

// QLinearConv's requantization (core/ops/requantize.h) of the sums straight to 8 bits: output row m
// (m counted over the whole layer) at y + m * stride; the bias is folded into the correction.
struct VnniRequantization {
  const float* multiplier = nullptr;  // per row
  float low = 0, high = 0;
  int32_t y_zp = 0, lo = 0, hi = 0;
  uint8_t* y = nullptr;  // the bytes of a uint8 or int8 output [rows][positions]
  int64_t stride = 0;
};
// The same block as vnni_pointwise_block, its rows first_row.. and positions first_position.. of the
// output written as 8-bit values.
void vnni_pointwise_block_requantized(const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t rows,
                                      const VnniRequantization& q, int64_t first_row, int64_t first_position, int64_t valid);

}  // namespace mc
