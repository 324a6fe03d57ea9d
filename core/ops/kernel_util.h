// Small helpers shared by the operator kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/op_registry.h"

namespace mc {

// Normalizes a possibly negative axis against `rank`: an axis in [-rank, rank), or, with
// `inclusive_end`, a boundary between dims in [-rank, rank] (Flatten's axis); negative values count
// from the end (+rank). Fails naming the node otherwise.
int64_t normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank, bool inclusive_end = false);
int64_t normalize_axis(const Node& node, int64_t axis, int64_t rank);

// Multidirectional (numpy) broadcasting of two shapes; fails naming the node if incompatible.
Shape broadcast_shapes(const InferContext& ctx, const Shape& a, const Shape& b);

// Element strides of a row-major shape.
std::vector<int64_t> row_major_strides(const Shape& shape);

// Product of dims [begin, end).
int64_t dims_product(const Shape& shape, size_t begin, size_t end);

// The [start, end) range of dims that a Shape node reports (start/end attributes from opset 15).
std::pair<int64_t, int64_t> shape_op_range(const Node& node, int64_t opset, int64_t rank);

// Copies `count` elements of `elem_size` bytes.
void copy_elements(void* dst, const void* src, int64_t count, size_t elem_size);

// Calls f(begin, end) for the blocks of `element_block` elements of [0, n), spread over `pool`. The
// blocks never depend on the thread count, so neither do results.
inline constexpr int64_t element_block = int64_t{1} << 16;
template <class F> void for_each_block(int64_t n, ThreadPool& pool, const F& f) {
  pool.parallel_for((n + element_block - 1) / element_block,
                    [&](int64_t t) { f(t * element_block, std::min(n, (t + 1) * element_block)); });
}

// Sliding-window geometry shared by Conv, MaxPool and AveragePool, for 1-D or 2-D windows
// (a 1-D window is a 2-D one with height 1).
struct Window2d {
  int64_t in_h = 1, in_w = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t out_h = 1, out_w = 1;
};
// `x` is the input shape [N, C, spatial...]; kernel dims come from the caller (weights or
// kernel_shape). Reads strides, dilations, pads, auto_pad (and ceil_mode if `allow_ceil`).
Window2d window_geometry(const InferContext& ctx, const Shape& x, const std::vector<int64_t>& kernel,
                         bool allow_ceil);
// The same, from the node alone, for run time (input shape known, inference already validated).
Window2d window_geometry(const Node& node, int64_t opset, const Shape& x, const std::vector<int64_t>& kernel,
                         bool allow_ceil);

}  // namespace mc
