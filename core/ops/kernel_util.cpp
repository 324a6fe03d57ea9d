#include "core/ops/kernel_util.h"

#include <cstring>

namespace mc {

int64_t normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank, bool inclusive_end) {
  int64_t hi = inclusive_end ? rank + 1 : rank;
  if (axis < -rank || axis >= hi)
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

int64_t normalize_axis(const Node& node, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    fail_input(node.describe() + ": axis " + std::to_string(axis) + " is out of range for rank " +
               std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const InferContext& ctx, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      ctx.fail("shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> row_major_strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

int64_t dims_product(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
  return p;
}

void copy_elements(void* dst, const void* src, int64_t count, size_t elem_size) {
  if (count > 0) std::memcpy(dst, src, static_cast<size_t>(count) * elem_size);
}

namespace {

struct WindowSpec {
  std::vector<int64_t> strides, dilations, pads;
  std::string auto_pad;
  bool ceil_mode = false;
};

// Computes one spatial axis. Returns false (with `error`) on an invalid combination.
bool window_axis(int64_t in, int64_t k, int64_t s, int64_t d, const std::string& auto_pad, bool ceil_mode,
                 int64_t& pad_begin, int64_t& pad_end, int64_t& out, std::string& error) {
  if (k <= 0 || s <= 0 || d <= 0) {
    error = "kernel, stride and dilation must be positive";
    return false;
  }
  int64_t extent = (k - 1) * d + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    out = (in + s - 1) / s;
    int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in);
    pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pad_end = total - pad_begin;
    return true;
  }
  if (auto_pad == "VALID") {
    pad_begin = pad_end = 0;
  } else if (!auto_pad.empty() && auto_pad != "NOTSET") {
    error = "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID";
    return false;
  }
  if (pad_begin < 0 || pad_end < 0) {
    error = "negative pads are not supported";
    return false;
  }
  int64_t span = in + pad_begin + pad_end - extent;
  if (span < 0) {
    error = "window of extent " + std::to_string(extent) + " does not fit input of size " + std::to_string(in) +
            " plus padding";
    return false;
  }
  out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // With ceil_mode the last window must start inside the input or its leading padding.
  if (ceil_mode && (out - 1) * s >= in + pad_begin) --out;
  return true;
}

Window2d compute_window(const Node& node, const Shape& x, const std::vector<int64_t>& kernel, bool allow_ceil,
                        std::string& error) {
  Window2d w;
  size_t spatial = x.size() >= 2 ? x.size() - 2 : 0;
  if (spatial != 1 && spatial != 2) {
    error = "only 1-D and 2-D windows are supported (input has rank " + std::to_string(x.size()) + ")";
    return w;
  }
  if (kernel.size() != spatial) {
    error = "kernel has " + std::to_string(kernel.size()) + " dims, input has " + std::to_string(spatial) +
            " spatial dims";
    return w;
  }
  auto strides = node.attr_ints("strides", std::vector<int64_t>(spatial, 1));
  auto dilations = node.attr_ints("dilations", std::vector<int64_t>(spatial, 1));
  auto pads = node.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  bool ceil_mode = allow_ceil && node.attr_int("ceil_mode", 0) != 0;
  if (strides.size() != spatial || dilations.size() != spatial || pads.size() != 2 * spatial) {
    error = "strides, dilations or pads do not match the " + std::to_string(spatial) + " spatial dims";
    return w;
  }
  if (spatial == 1) {
    w.in_w = x[2];
    w.kernel_w = kernel[0];
    w.stride_w = strides[0];
    w.dilation_w = dilations[0];
    w.pad_left = pads[0];
    w.pad_right = pads[1];
  } else {
    w.in_h = x[2];
    w.in_w = x[3];
    w.kernel_h = kernel[0];
    w.kernel_w = kernel[1];
    w.stride_h = strides[0];
    w.stride_w = strides[1];
    w.dilation_h = dilations[0];
    w.dilation_w = dilations[1];
    w.pad_top = pads[0];
    w.pad_left = pads[1];
    w.pad_bottom = pads[2];
    w.pad_right = pads[3];
  }
  if (!window_axis(w.in_h, w.kernel_h, w.stride_h, w.dilation_h, auto_pad, ceil_mode, w.pad_top, w.pad_bottom,
                   w.out_h, error))
    return w;
  window_axis(w.in_w, w.kernel_w, w.stride_w, w.dilation_w, auto_pad, ceil_mode, w.pad_left, w.pad_right, w.out_w,
              error);
  return w;
}

}  // namespace

Window2d window_geometry(const InferContext& ctx, const Shape& x, const std::vector<int64_t>& kernel,
                         bool allow_ceil) {
  std::string error;
  Window2d w = compute_window(ctx.node, x, kernel, allow_ceil, error);
  if (!error.empty()) {
    if (error.rfind("only", 0) == 0 || error.rfind("negative", 0) == 0) ctx.unsupported(error);
    ctx.fail(error);
  }
  return w;
}

Window2d window_geometry(const Node& node, int64_t, const Shape& x, const std::vector<int64_t>& kernel,
                         bool allow_ceil) {
  std::string error;
  Window2d w = compute_window(node, x, kernel, allow_ceil, error);
  if (!error.empty()) fail_input(node.describe() + ": " + error);
  return w;
}

}  // namespace mc
