// Depthwise convolution (one input channel per group, any channel multiplier), as a polyphase
// direct kernel.
//
// In padded input coordinates, tap (ky, kx) of output (oy, ox) reads row oy*sh + ky*dh. Writing
// ky*dh = qy*sh + py (0 <= py < sh) that is row (oy + qy)*sh + py: row oy + qy of the "phase plane"
// py that keeps every sh-th padded row starting at py (likewise for columns). Each input plane is
// therefore copied once into its zero-padded phase planes (one plane for stride 1; even/odd rows x
// even/odd columns for stride 2), after which every tap is a unit-stride read at a fixed offset and
// every output is `bias + sum_t w[t] * phase_t[q + offset_t]` with no bounds checks and no borders:
// the 3x3 case keeps the sum in a register (9 multiply-adds, one store), other kernels accumulate
// in a small block on the stack. A small output plane (narrow rows) is computed as one long row of
// the phase planes' width and compacted afterwards, so short rows do not leave vector lanes idle.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <vector>

#include "core/ops/conv_kernels.h"

namespace mc {

namespace {

// Output elements per task (whole planes are grouped up to this size; a plane is never split).
constexpr int64_t elements_per_task = 16384;
// Output rows narrower than this are computed as one flattened row of the phase planes.
constexpr int64_t flat_below_width = 64;
// A flattened row is computed in whole vectors: its length is rounded up to a multiple of this,
// and each phase plane has this many zeros after it, so the extra (discarded) outputs read
// inside the buffer.
constexpr int64_t flat_slack = 16;

struct PhasePlane {
  int64_t row_phase, col_phase;  // py, px
  int64_t col_lo, col_hi;        // columns [col_lo, col_hi) read the input, the rest is padding
};

// The phase decomposition of one window: which phase plane and which flat offset each tap reads.
struct PolyphasePlan {
  int64_t rows = 0, row_stride = 0;  // size of every phase plane
  int64_t plane_stride = 0;          // rows * row_stride plus zero slack (see flat_slack)
  std::vector<PhasePlane> planes;
  std::vector<int64_t> row_phases;  // the distinct row phases of `planes`
  std::vector<int> tap_plane;
  std::vector<int64_t> tap_offset;
};

PolyphasePlan plan_polyphase(const Window2d& w) {
  PolyphasePlan p;
  const int64_t max_qy = (w.kernel_h - 1) * w.dilation_h / w.stride_h;
  const int64_t max_qx = (w.kernel_w - 1) * w.dilation_w / w.stride_w;
  p.rows = w.out_h + max_qy;
  p.row_stride = w.out_w + max_qx;
  p.plane_stride = p.rows * p.row_stride + flat_slack;
  for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
      const int64_t py = ky * w.dilation_h % w.stride_h, qy = ky * w.dilation_h / w.stride_h;
      const int64_t px = kx * w.dilation_w % w.stride_w, qx = kx * w.dilation_w / w.stride_w;
      size_t i = 0;
      while (i < p.planes.size() && (p.planes[i].row_phase != py || p.planes[i].col_phase != px)) ++i;
      if (i == p.planes.size()) {
        // Column c of this phase reads input column c*sw + px - pad_left.
        const int64_t first = px - w.pad_left;
        int64_t lo = first >= 0 ? 0 : (-first + w.stride_w - 1) / w.stride_w;
        int64_t hi = w.in_w - 1 - first >= 0 ? (w.in_w - 1 - first) / w.stride_w + 1 : 0;
        lo = std::min(lo, p.row_stride);
        hi = std::max(std::min(hi, p.row_stride), lo);
        p.planes.push_back({py, px, lo, hi});
        if (std::find(p.row_phases.begin(), p.row_phases.end(), py) == p.row_phases.end()) p.row_phases.push_back(py);
      }
      p.tap_plane.push_back(static_cast<int>(i));
      p.tap_offset.push_back(qy * p.row_stride + qx);
    }
  }
  return p;
}

// even[c] = line[2c], odd[c] = line[2c + 1]: one pass, vectorized as loads and permutes.
void deinterleave2(const float* __restrict line, float* __restrict even, float* __restrict odd, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    even[c] = line[2 * c];
    odd[c] = line[2 * c + 1];
  }
}

// Length of the padded input line that rows are split from when the column stride is > 1.
int64_t line_floats(const Window2d& w, const PolyphasePlan& p) {
  return w.stride_w == 1 ? 0 : p.row_stride * w.stride_w + w.stride_w;
}

// Copies one input plane into its phase planes (`dst`, plane j at j * plane_stride). Padding is
// the same for every plane of a conv, so `dst` and `line` are zeroed once per task and only the
// parts that come from the input are written here. With column stride > 1 each input row is first
// copied into the zero-padded `line` and split from there, so the split has no bounds checks.
void fill_phase_planes(const float* in, const Window2d& w, const PolyphasePlan& p, float* dst, float* line) {
  for (const int64_t py : p.row_phases) {
    // The planes of this row phase; for stride-2 columns, the even/odd pair is split in one pass.
    int64_t even = -1, odd = -1;
    for (size_t j = 0; j < p.planes.size(); ++j) {
      if (p.planes[j].row_phase != py) continue;
      if (p.planes[j].col_phase == 0) even = static_cast<int64_t>(j);
      if (p.planes[j].col_phase == 1) odd = static_cast<int64_t>(j);
    }
    const bool pair = w.stride_w == 2 && even >= 0 && odd >= 0;
    for (int64_t r = 0; r < p.rows; ++r) {
      const int64_t iy = r * w.stride_h + py - w.pad_top;
      if (iy < 0 || iy >= w.in_h) continue;  // a padding row: stays zero
      const float* src = in + iy * w.in_w;
      if (w.stride_w > 1) {
        // line[X] = padded input column X; the padding around it is already zero.
        const int64_t line_len = line_floats(w, p);
        const int64_t first = std::min(w.pad_left, line_len), last = std::min(w.pad_left + w.in_w, line_len);
        if (first < last) std::copy(src, src + (last - first), line + first);
      }
      if (pair)
        deinterleave2(line, dst + even * p.plane_stride + r * p.row_stride, dst + odd * p.plane_stride + r * p.row_stride,
                      p.row_stride);
      for (size_t j = 0; j < p.planes.size(); ++j) {
        const PhasePlane& ph = p.planes[j];
        if (ph.row_phase != py) continue;
        float* row = dst + static_cast<int64_t>(j) * p.plane_stride + r * p.row_stride;
        if (w.stride_w == 1) {
          if (ph.col_lo < ph.col_hi) {
            const float* from = src + (ph.col_lo + ph.col_phase - w.pad_left);
            std::copy(from, from + (ph.col_hi - ph.col_lo), row + ph.col_lo);
          }
        } else if (!(pair && (static_cast<int64_t>(j) == even || static_cast<int64_t>(j) == odd))) {
          for (int64_t c = 0; c < p.row_stride; ++c) row[c] = line[c * w.stride_w + ph.col_phase];
        }
      }
    }
  }
}

// dst[i] = clip(b + w[0]*s0[i] + ... + w[8]*s8[i]): the 3x3 case, summed in a register.
void taps9(float* __restrict dst, int64_t n, const float* __restrict s0, const float* __restrict s1,
           const float* __restrict s2, const float* __restrict s3, const float* __restrict s4,
           const float* __restrict s5, const float* __restrict s6, const float* __restrict s7,
           const float* __restrict s8, const float* wt, float b, float lo, float hi) {
  const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3], w4 = wt[4], w5 = wt[5], w6 = wt[6], w7 = wt[7],
              w8 = wt[8];
  for (int64_t i = 0; i < n; ++i) {
    float acc = b;
    acc += w0 * s0[i];
    acc += w1 * s1[i];
    acc += w2 * s2[i];
    acc += w3 * s3[i];
    acc += w4 * s4[i];
    acc += w5 * s5[i];
    acc += w6 * s6[i];
    acc += w7 * s7[i];
    acc += w8 * s8[i];
    dst[i] = std::min(std::max(acc, lo), hi);
  }
}

// Any number of taps, in the same order (bias first, then tap 0, 1, ...), through a block of
// partial sums on the stack.
void taps_any(float* dst, int64_t n, const float* const* src, const float* wt, int64_t taps, float b, float lo,
              float hi) {
  constexpr int64_t block = 256;
  float acc[block];
  for (int64_t base = 0; base < n; base += block) {
    const int64_t len = std::min(block, n - base);
    std::fill(acc, acc + len, b);
    for (int64_t t = 0; t < taps; ++t) {
      const float* s = src[t] + base;
      const float wv = wt[t];
      for (int64_t j = 0; j < len; ++j) acc[j] += wv * s[j];
    }
    for (int64_t j = 0; j < len; ++j) dst[base + j] = std::min(std::max(acc[j], lo), hi);
  }
}

void run_taps(float* dst, int64_t n, const float* const* src, const float* wt, int64_t taps, float b, float lo,
              float hi) {
  if (taps == 9)
    taps9(dst, n, src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7], src[8], wt, b, lo, hi);
  else
    taps_any(dst, n, src, wt, taps, b, lo, hi);
}

}  // namespace

void conv_depthwise(const ConvGeometry& s, const ConvData& d, ThreadPool& pool) {
  const Window2d& w = s.window;
  if (s.groups != s.in_channels || s.out_channels % s.groups != 0)
    fail_internal("conv_depthwise: not a depthwise convolution");
  const int64_t multiplier = s.out_channels / s.groups;
  const int64_t taps = w.kernel_h * w.kernel_w;
  const int64_t out_plane = w.out_h * w.out_w;
  const int64_t in_plane = w.in_h * w.in_w;
  const PolyphasePlan plan = plan_polyphase(w);
  const auto phase_floats = static_cast<size_t>(static_cast<int64_t>(plan.planes.size()) * plan.plane_stride);
  const auto line_size = static_cast<size_t>(line_floats(w, plan));
  const bool flat = w.out_h > 1 && w.out_w < flat_below_width;
  // Flattened: output (oy, ox) is element oy*row_stride + ox of one long row. The last valid one,
  // (out_h-1, out_w-1), has its furthest tap at the last element of the phase planes; rounding
  // the length up reads at most flat_slack - 1 further, into the slack.
  const int64_t flat_length = ((w.out_h - 1) * plan.row_stride + w.out_w + flat_slack - 1) / flat_slack * flat_slack;
  const float lo = d.clip ? d.clip->lo : -std::numeric_limits<float>::infinity();
  const float hi = d.clip ? d.clip->hi : std::numeric_limits<float>::infinity();

  static std::atomic<uint64_t> calls{0};
  const uint64_t call = calls.fetch_add(1, std::memory_order_relaxed) + 1;

  const int64_t planes = s.batch * s.in_channels;  // input planes; each makes `multiplier` outputs
  const int64_t planes_per_task =
      std::max<int64_t>(1, elements_per_task / std::max<int64_t>(1, out_plane * multiplier));
  const int64_t tasks = (planes + planes_per_task - 1) / planes_per_task;
  pool.parallel_for(tasks, [&](int64_t t) {
    thread_local std::vector<float> phase_buffer, flat_buffer, line_buffer;
    thread_local uint64_t prepared_for = 0;
    if (prepared_for != call) {
      // First task of this call on this thread: lay down the padding zeros, which every plane
      // of the call leaves in place.
      phase_buffer.assign(phase_floats, 0.0f);
      line_buffer.assign(line_size, 0.0f);
      prepared_for = call;
    }
    if (flat) flat_buffer.resize(static_cast<size_t>(flat_length));
    std::vector<const float*> src(static_cast<size_t>(taps)), row_src(static_cast<size_t>(taps));
    const int64_t first = t * planes_per_task, last = std::min(planes, first + planes_per_task);
    for (int64_t plane = first; plane < last; ++plane) {
      // plane = n * in_channels + c; its outputs are channels c*multiplier ... of image n.
      fill_phase_planes(d.input + plane * in_plane, w, plan, phase_buffer.data(), line_buffer.data());
      const int64_t n = plane / s.in_channels, c = plane % s.in_channels;
      for (int64_t j = 0; j < multiplier; ++j) {
        const int64_t m = c * multiplier + j;
        const float* wt = d.weight + m * taps;
        const float b = d.bias ? d.bias[m] : 0.0f;
        float* out = d.output + (n * s.out_channels + m) * out_plane;
        for (size_t k = 0; k < static_cast<size_t>(taps); ++k)
          src[k] = phase_buffer.data() + plan.tap_plane[k] * plan.plane_stride + plan.tap_offset[k];
        if (flat) {
          run_taps(flat_buffer.data(), flat_length, src.data(), wt, taps, b, lo, hi);
          for (int64_t oy = 0; oy < w.out_h; ++oy)
            std::copy(flat_buffer.data() + oy * plan.row_stride, flat_buffer.data() + oy * plan.row_stride + w.out_w,
                      out + oy * w.out_w);
        } else {
          for (int64_t oy = 0; oy < w.out_h; ++oy) {
            for (size_t k = 0; k < static_cast<size_t>(taps); ++k) row_src[k] = src[k] + oy * plan.row_stride;
            run_taps(out + oy * w.out_w, w.out_w, row_src.data(), wt, taps, b, lo, hi);
          }
        }
      }
    }
  });
}

}  // namespace mc
