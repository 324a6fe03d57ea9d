// Products of rows: out[i * out_stride + j] = a_i . b_j (+ bias[j]) for the rows a_i of `a`
// (a_rows x depth) and b_j of `b` (b_rows x depth), both row-major, `depth` floats apart: a Gemm
// with transB (a fully connected layer, rows of weights as the .mcz stores them), or a 1x1 conv on
// 1x1 inputs (a classifier written as Conv).
//
// Each dot product is summed in one fixed order: lane l of a vector (float_vec.h) accumulates the
// products at depth l, l + lanes, ... one multiply-add at a time from zero, then the lanes are added
// in a fixed tree, then the bias. So an output has the same bits whatever rows of `a` and `b` it is
// computed with: a row of a batch gets the bits it gets alone (the executor relies on this to run a
// batch in parts, executor.h), and a split of the rows into tasks changes nothing.
#pragma once

#include <cstdint>

namespace mc {

void row_dot(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t depth, float* out,
             int64_t out_stride, const float* bias);

}  // namespace mc
