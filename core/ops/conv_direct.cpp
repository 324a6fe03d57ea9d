// Direct (no im2col, no GEMM) convolution kernels built on a polyphase decomposition: depthwise
// convolutions (one input channel per group, any channel multiplier) and dense convolutions with
// few input channels per group (a network's first layer: 3 channels, 3x3, stride 2).
//
// In padded input coordinates, tap (ky, kx) of output (oy, ox) reads row oy*sh + ky*dh. Writing
// ky*dh = qy*sh + py (0 <= py < sh) that is row (oy + qy)*sh + py: row oy + qy of the "phase plane"
// py that keeps every sh-th padded row starting at py (likewise for columns). Each input plane is
// therefore copied once into its zero-padded phase planes (one plane for stride 1; even/odd rows x
// even/odd columns for stride 2), after which every tap is a unit-stride read at a fixed offset and
// every output is `bias + sum_t w[t] * phase_t[q + offset_t]` with no bounds checks and no borders.
// The 3x3 depthwise case keeps the sum in a register (9 multiply-adds, one store); other shapes
// sum a block of 16 outputs for up to 4 output channels in registers, so each input load feeds
// several multiply-adds. A small output plane (narrow rows) is computed as one long row of the
// phase planes' width and compacted afterwards, so short rows do not leave vector lanes idle.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/ops/conv_kernels.h"

namespace mc {

namespace {

// Depthwise: output elements per task (whole planes are grouped up to this size).
constexpr int64_t depthwise_elements_per_task = 16384;
// Dense direct: output elements (all channels of a group) per task, as a band of output rows.
constexpr int64_t dense_elements_per_task = 32768;
// Output rows narrower than this are computed as one flattened row of the phase planes.
constexpr int64_t flat_below_width = 64;
// Outputs per vector block. A flattened row is computed in whole blocks: its length is rounded
// up to a multiple of this, and each phase plane has this many zeros after it, so the extra
// (discarded) outputs read inside the buffer.
constexpr int64_t lanes = 16;
// Depthwise 3x3 (stride 1 or 2) rows at least this wide read the input in place (depthwise3x3_plane);
// narrower ones run 16 channels at a time (stride 2) or as one masked flat row (stride 1 with AVX-512,
// which also takes rows up to flat_below_width), anything else from phase planes.
constexpr int64_t direct_min_width = 16;
// Output channels summed together by the dense direct kernel.
constexpr int64_t channel_block = 4;

struct PhasePlane {
  int64_t row_phase, col_phase;  // py, px
  int64_t col_lo, col_hi;        // columns [col_lo, col_hi) read the input, the rest is padding
};

// The phase decomposition of one window for a band of `out_rows` output rows: which phase plane
// and which flat offset each tap reads.
struct PolyphasePlan {
  int64_t rows = 0, row_stride = 0;  // size of every phase plane
  int64_t plane_stride = 0;          // rows * row_stride plus `lanes` zeros of slack
  std::vector<PhasePlane> planes;
  std::vector<int64_t> row_phases;   // the distinct row phases of `planes`
  std::vector<int> tap_plane;        // per kernel tap (ky, kx), row-major
  std::vector<int64_t> tap_offset;
  int64_t floats() const { return static_cast<int64_t>(planes.size()) * plane_stride; }
};

PolyphasePlan plan_polyphase(const Window2d& w, int64_t out_rows) {
  PolyphasePlan p;
  const int64_t max_qy = (w.kernel_h - 1) * w.dilation_h / w.stride_h;
  const int64_t max_qx = (w.kernel_w - 1) * w.dilation_w / w.stride_w;
  p.rows = out_rows + max_qy;
  p.row_stride = w.out_w + max_qx;
  p.plane_stride = p.rows * p.row_stride + lanes;
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

// An input value as the kernels read it: a float as it is, an 8-bit integer as v - zero_point (exact).
inline float input_value(float v, int32_t) { return v; }
template <class T>
inline float input_value(T v, int32_t zero_point) {
  return static_cast<float>(static_cast<int32_t>(v) - zero_point);
}

// even[c] = src[2c], odd[c] = src[2c + 1]: one pass, vectorized as loads and permutes.
template <class T>
void deinterleave2(const T* __restrict src, float* __restrict even, float* __restrict odd, int64_t n, int32_t zp) {
  for (int64_t c = 0; c < n; ++c) {
    even[c] = input_value(src[2 * c], zp);
    odd[c] = input_value(src[2 * c + 1], zp);
  }
}

// dst[c] = src[c] as input values.
template <class T>
void copy_row(const T* __restrict src, float* __restrict dst, int64_t n, int32_t zp) {
  if constexpr (std::is_same_v<T, float>) std::copy(src, src + n, dst);
  else for (int64_t c = 0; c < n; ++c) dst[c] = input_value(src[c], zp);
}

// Copies the rows of one input plane that output rows [first_row, first_row + p.rows - max_qy)
// read into its phase planes (`dst`, plane j at j * plane_stride). Padding columns and the slack
// are the same for every plane and band of a conv, so `dst` is zeroed once per call on each
// thread (see ScratchBuffers) and only rows are written here: the input columns of input rows,
// all of rows outside the input. With stride 2 the even and odd columns are split in one pass
// over the input row. An 8-bit input (the integer layers' sums, integer_conv.cpp) is converted to
// x - zp on the way.
template <class T>
void fill_phase_planes(const T* in, const Window2d& w, const PolyphasePlan& p, int64_t first_row, float* dst, int32_t zp = 0) {
  for (const int64_t py : p.row_phases) {
    int64_t even = -1, odd = -1;
    for (size_t j = 0; j < p.planes.size(); ++j) {
      if (p.planes[j].row_phase != py) continue;
      if (p.planes[j].col_phase == 0) even = static_cast<int64_t>(j);
      if (p.planes[j].col_phase == 1) odd = static_cast<int64_t>(j);
    }
    const bool pair = w.stride_w == 2 && even >= 0 && odd >= 0;
    // Columns where both the even and the odd phase read the input (even column c reads input
    // column 2c - pad_left, odd column c the one after it).
    const int64_t both_lo = pair ? std::max(p.planes[static_cast<size_t>(even)].col_lo, p.planes[static_cast<size_t>(odd)].col_lo) : 0;
    const int64_t both_hi = pair ? std::min(p.planes[static_cast<size_t>(even)].col_hi, p.planes[static_cast<size_t>(odd)].col_hi) : 0;
    for (int64_t r = 0; r < p.rows; ++r) {
      const int64_t iy = (first_row + r) * w.stride_h + py - w.pad_top;
      const bool inside = iy >= 0 && iy < w.in_h;
      const T* src = inside ? in + iy * w.in_w : nullptr;
      if (inside && both_lo < both_hi)
        deinterleave2(src + (2 * both_lo - w.pad_left), dst + even * p.plane_stride + r * p.row_stride + both_lo,
                      dst + odd * p.plane_stride + r * p.row_stride + both_lo, both_hi - both_lo, zp);
      for (size_t j = 0; j < p.planes.size(); ++j) {
        const PhasePlane& ph = p.planes[j];
        if (ph.row_phase != py) continue;
        float* row = dst + static_cast<int64_t>(j) * p.plane_stride + r * p.row_stride;
        if (!inside) {
          std::fill(row, row + p.row_stride, 0.0f);
        } else if (w.stride_w == 1) {
          if (ph.col_lo < ph.col_hi) copy_row(src + (ph.col_lo + ph.col_phase - w.pad_left), row + ph.col_lo, ph.col_hi - ph.col_lo, zp);
        } else {
          // Input columns not covered by the paired split (all of them for other phases).
          const bool split = both_lo < both_hi && (static_cast<int64_t>(j) == even || static_cast<int64_t>(j) == odd);
          const int64_t skip_lo = split ? both_lo : ph.col_hi, skip_hi = split ? both_hi : ph.col_hi;
          for (int64_t c = ph.col_lo; c < ph.col_hi; ++c) {
            if (c == skip_lo) c = skip_hi;
            if (c >= ph.col_hi) break;
            row[c] = input_value(src[c * w.stride_w + ph.col_phase - w.pad_left], zp);
          }
        }
      }
    }
  }
}

// Per-thread scratch: phase planes and flattened outputs. Zeroed when a thread
// first works for a given conv call; rows are rewritten by every fill, padding columns never.
struct ScratchBuffers {
  std::vector<float> phases, flat;
  uint64_t prepared_for = 0;

  void prepare(uint64_t call, size_t phase_floats, size_t flat_size) {
    if (prepared_for == call) return;
    phases.assign(phase_floats, 0.0f);
    flat.resize(flat_size);
    prepared_for = call;
  }
};

thread_local ScratchBuffers scratch;

// Each conv call gets an id, so a thread's scratch is zeroed once per call.
uint64_t next_call_id() {
  static std::atomic<uint64_t> calls{0};
  return calls.fetch_add(1, std::memory_order_relaxed) + 1;
}

// dst[i] = clip(b + w[0]*s0[i] + ... + w[8]*s8[i]): the 3x3 depthwise case, summed in a register.
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

// 16 floats as one value (GCC/Clang vector extension): the compiler maps it to one AVX-512
// register, two AVX ones or four SSE ones. Only used in locals, never passed by value.
using Block = float __attribute__((vector_size(lanes * sizeof(float))));

// dst[c][i..i+16*Blocks) = clip(bias[c] + sum_t wt[c][t] * src[t][i..]) for `Channels` output
// channels reading the same taps, summed in registers: every input load feeds all channels and
// every weight broadcast all blocks. Bias first, then taps in order.
template <int Channels, int Blocks>
void taps_blocks_at(float* const* dst, int64_t i, const float* const* src, int64_t taps, const float* const* wt,
                    const float* bias, const Block& lo, const Block& hi) {
  Block acc[Channels][Blocks];
  for (int c = 0; c < Channels; ++c)
    for (int b = 0; b < Blocks; ++b) acc[c][b] = Block{} + bias[c];
  for (int64_t t = 0; t < taps; ++t) {
    Block x[Blocks];
    for (int b = 0; b < Blocks; ++b) std::memcpy(&x[b], src[t] + i + b * lanes, sizeof(Block));
    for (int c = 0; c < Channels; ++c) {
      const float wv = wt[c][t];
      for (int b = 0; b < Blocks; ++b) acc[c][b] += x[b] * wv;
    }
  }
  for (int c = 0; c < Channels; ++c) {
    for (int b = 0; b < Blocks; ++b) {
      Block v = acc[c][b] < lo ? lo : acc[c][b];
      v = hi < v ? hi : v;
      std::memcpy(dst[c] + i + b * lanes, &v, sizeof v);
    }
  }
}

// dst[c][i] = clip(bias[c] + sum_t wt[c][t] * src[t][i]) for i < n: two blocks of 16 at a time
// (four for a single channel), then single blocks, then a scalar tail in the same order.
template <int Channels>
void taps_block(float* const* dst, int64_t n, const float* const* src, int64_t taps, const float* const* wt,
                const float* bias, float lo, float hi) {
  constexpr int wide = Channels == 1 ? 4 : 2;
  const Block lo_block = Block{} + lo, hi_block = Block{} + hi;
  int64_t i = 0;
  for (; i + wide * lanes <= n; i += wide * lanes)
    taps_blocks_at<Channels, wide>(dst, i, src, taps, wt, bias, lo_block, hi_block);
  for (; i + lanes <= n; i += lanes) taps_blocks_at<Channels, 1>(dst, i, src, taps, wt, bias, lo_block, hi_block);
  for (; i < n; ++i) {
    for (int c = 0; c < Channels; ++c) {
      float acc = 0.0f + bias[c];
      for (int64_t t = 0; t < taps; ++t) acc += src[t][i] * wt[c][t];
      dst[c][i] = std::min(std::max(acc, lo), hi);
    }
  }
}

// `channels` (1 to channel_block) output channels over the same taps.
void run_taps(float* const* dst, int64_t n, const float* const* src, int64_t taps, const float* const* wt,
              const float* bias, int64_t channels, float lo, float hi) {
  switch (channels) {
    case 1:
      if (taps == 9)
        taps9(dst[0], n, src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7], src[8], wt[0], bias[0], lo, hi);
      else
        taps_block<1>(dst, n, src, taps, wt, bias, lo, hi);
      break;
    case 2: taps_block<2>(dst, n, src, taps, wt, bias, lo, hi); break;
    case 3: taps_block<3>(dst, n, src, taps, wt, bias, lo, hi); break;
    default: taps_block<4>(dst, n, src, taps, wt, bias, lo, hi); break;
  }
}

// Flattened length (a multiple of `lanes`) for a band of `rows` output rows.
int64_t flat_floats(const Window2d& w, const PolyphasePlan& plan, int64_t rows) {
  return ((rows - 1) * plan.row_stride + w.out_w + lanes - 1) / lanes * lanes;
}

// Computes `channels` output channels for output rows [0, rows) of a band from the filled phase
// planes: `src` holds each tap's start in the phase planes, `out[c]` each channel's first output
// row (rows of width out_w). Flattened (narrow rows): one long row per channel in `flat`, then
// compacted into the outputs.
void compute_band(const Window2d& w, const PolyphasePlan& plan, int64_t rows, bool flat, const float* const* src,
                  int64_t taps, const float* const* wt, const float* bias, int64_t channels, float lo, float hi,
                  float* const* out, float* flat_buffer) {
  float* dst[channel_block] = {};
  if (flat) {
    const int64_t length = flat_floats(w, plan, rows);
    for (int64_t c = 0; c < channels; ++c) dst[c] = flat_buffer + c * length;
    run_taps(dst, length, src, taps, wt, bias, channels, lo, hi);
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t oy = 0; oy < rows; ++oy)
        std::copy(dst[c] + oy * plan.row_stride, dst[c] + oy * plan.row_stride + w.out_w, out[c] + oy * w.out_w);
    return;
  }
  thread_local std::vector<const float*> row_src;
  row_src.resize(static_cast<size_t>(taps));
  for (int64_t oy = 0; oy < rows; ++oy) {
    for (size_t k = 0; k < static_cast<size_t>(taps); ++k) row_src[k] = src[k] + oy * plan.row_stride;
    for (int64_t c = 0; c < channels; ++c) dst[c] = out[c] + oy * w.out_w;
    run_taps(dst, w.out_w, row_src.data(), taps, wt, bias, channels, lo, hi);
  }
}

// A fused clip runs inside the tap loops as bounds on each sum; any other fused activation runs over
// the finished outputs (apply_unclipped), while they are still in cache.
std::pair<float, float> clip_bounds_of(const std::optional<FusedActivation>& a) {
  if (a && a->kind == FusedActivation::Kind::clip) return {a->lo, a->hi};
  return {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
}

void apply_unclipped(const std::optional<FusedActivation>& a, float* p, int64_t n) {
  if (a && a->kind != FusedActivation::Kind::clip) a->apply(p, n);
}

#if defined(__AVX512F__)
// The interior columns [ox_lo, ox_hi) of depthwise3x3_row in whole vectors, the last one under a
// mask, instead of a vectorized loop with a scalar tail (at 28 or 56 outputs per row, a third of the
// outputs fell to the tail). Tap kx of output ox reads input column ox * Stride + kx - pad; with
// stride 2 a vector's columns are the even or odd lanes of two loaded vectors. The arithmetic is on
// Block values, contracted like taps9 (see depthwise3x3_flat_plane): the same bits as the loop.
template <int Stride>
void interior_vectors(const float* const* rows, int64_t pad, int64_t ox_lo, int64_t ox_hi, const float* wt, float b,
                      float lo, float hi, float* dst) {
  const Block lo_v = Block{} + lo, hi_v = Block{} + hi;
  const __m512i even_idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t ox = ox_lo; ox < ox_hi; ox += lanes) {
    const int64_t count = std::min(lanes, ox_hi - ox);
    const auto out_mask = static_cast<__mmask16>((1u << count) - 1u);
    // Input elements each tap reads from its first column: `count` with stride 1, 2 * count - 1 with
    // stride 2 (two loads).
    const int64_t span = Stride == 1 ? count : 2 * count - 1;
    const auto mask0 = static_cast<__mmask16>((1u << std::min<int64_t>(span, lanes)) - 1u);
    const auto mask1 = static_cast<__mmask16>(span > lanes ? (1u << (span - lanes)) - 1u : 0u);
    Block acc = Block{} + b;
    for (int ky = 0; ky < 3; ++ky) {
      const float* row = rows[ky] + ox * Stride - pad;
      for (int kx = 0; kx < 3; ++kx) {
        Block x;
        if constexpr (Stride == 1) {
          x = (Block)_mm512_maskz_loadu_ps(mask0, row + kx);
        } else {
          const __m512 v0 = _mm512_maskz_loadu_ps(mask0, row + kx);
          const __m512 v1 = _mm512_maskz_loadu_ps(mask1, row + kx + lanes);
          x = (Block)_mm512_permutex2var_ps(v0, even_idx, v1);
        }
        acc += wt[3 * ky + kx] * x;
      }
    }
    Block r = acc < lo_v ? lo_v : acc;
    r = hi_v < r ? hi_v : r;
    _mm512_mask_storeu_ps(dst + ox, out_mask, (__m512)r);
  }
}
#endif

// The common depthwise case, a 3x3 window with stride 1 or 2 and no dilation, reads the input rows
// in place (an 8-bit input plane is first converted to floats as x - zero_point) instead of copying
// them into phase planes: each output row sums the three input rows it covers (a row outside the
// input reads a row of zeros), columns whose taps all fall inside the input in one vectorizable
// loop (interior_vectors with AVX-512), the one or two border columns with their outside taps read as zero. Every output is the
// same sum as the polyphase path's (bias, then taps in row-major order, padding as multiply-adds of
// zero), so both paths give identical bits.
template <int Stride>
void depthwise3x3_row(const float* const* rows, const Window2d& w, int64_t interior_lo, int64_t interior_hi,
                      const float* wt, float b, float lo, float hi, float* __restrict dst) {
  const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3], w4 = wt[4], w5 = wt[5], w6 = wt[6], w7 = wt[7],
              w8 = wt[8];
  const float* __restrict r0 = rows[0];
  const float* __restrict r1 = rows[1];
  const float* __restrict r2 = rows[2];
  const int64_t pad = w.pad_left, in_w = w.in_w;
  auto border = [&](int64_t ox) {
    float x[3][3];
    for (int64_t kx = 0; kx < 3; ++kx) {
      const int64_t ix = ox * Stride + kx - pad;
      const bool inside = ix >= 0 && ix < in_w;
      x[0][kx] = inside ? r0[ix] : 0.0f;
      x[1][kx] = inside ? r1[ix] : 0.0f;
      x[2][kx] = inside ? r2[ix] : 0.0f;
    }
    float acc = b;
    acc += w0 * x[0][0];
    acc += w1 * x[0][1];
    acc += w2 * x[0][2];
    acc += w3 * x[1][0];
    acc += w4 * x[1][1];
    acc += w5 * x[1][2];
    acc += w6 * x[2][0];
    acc += w7 * x[2][1];
    acc += w8 * x[2][2];
    dst[ox] = std::min(std::max(acc, lo), hi);
  };
  for (int64_t ox = 0; ox < interior_lo; ++ox) border(ox);
#if defined(__AVX512F__)
  interior_vectors<Stride>(rows, pad, interior_lo, interior_hi, wt, b, lo, hi, dst);
#else
  const float* __restrict a0 = r0 - pad;
  const float* __restrict a1 = r1 - pad;
  const float* __restrict a2 = r2 - pad;
  for (int64_t ox = interior_lo; ox < interior_hi; ++ox) {
    const int64_t i = ox * Stride;
    float acc = b;
    acc += w0 * a0[i];
    acc += w1 * a0[i + 1];
    acc += w2 * a0[i + 2];
    acc += w3 * a1[i];
    acc += w4 * a1[i + 1];
    acc += w5 * a1[i + 2];
    acc += w6 * a2[i];
    acc += w7 * a2[i + 1];
    acc += w8 * a2[i + 2];
    dst[ox] = std::min(std::max(acc, lo), hi);
  }
#endif
  for (int64_t ox = std::max(interior_hi, interior_lo); ox < w.out_w; ++ox) border(ox);
}

// A depthwise conv with one output per input channel and an undilated 3x3 window: what the three
// paths below take, each for its own strides and widths.
bool is_depthwise3x3(const ConvGeometry& s) {
  const Window2d& w = s.window;
  return s.groups == s.in_channels && s.out_channels == s.groups && w.kernel_h == 3 && w.kernel_w == 3 &&
         w.dilation_h == 1 && w.dilation_w == 1;
}

// Planes with rows under flat_below_width, stride 1 and equal input and output widths, on CPUs with
// AVX-512: the plane is one flat row, output p reading input p + (ky - pad_top) * width +
// (kx - pad_left) for tap (ky, kx), and a per-tap, per-vector lane mask zeroes the taps that fall
// outside the input (masked loads read nothing there). Same sums as the phase-plane path, whose
// padding is zeros too, in the same order, in whole vectors without copying the plane. (Measured per
// layer, batch 8, 1 thread, against rows read in place: 28 x 28 0.76 against 1.2 ms, 56 x 56 1.6
// against 1.9; at 112 x 112 the rows were faster, 1.44 against 1.94.)
struct FlatMasks {
  int64_t vectors = 0;
  std::vector<uint16_t> tap_mask;  // [tap][vector]
  std::vector<uint16_t> out_mask;  // [vector]: lanes inside the plane
  std::vector<int64_t> tap_offset;  // [tap], in elements
};

bool depthwise3x3_flat_applies(const ConvGeometry& s) {
#if defined(__AVX512F__)
  const Window2d& w = s.window;
  return is_depthwise3x3(s) && w.stride_h == 1 && w.stride_w == 1 && w.out_w == w.in_w && w.out_w < flat_below_width;
#else
  (void)s;
  return false;
#endif
}

// Sets bits [from, to) of the 16-bit words `words`.
void set_bits(std::vector<uint16_t>& words, int64_t from, int64_t to) {
  for (int64_t p = from; p < to;) {
    const int64_t word = p / lanes, bit = p % lanes, end = std::min(to, (word + 1) * lanes);
    const uint32_t ones = (1u << (end - p)) - 1;
    words[static_cast<size_t>(word)] = static_cast<uint16_t>(words[static_cast<size_t>(word)] | (ones << bit));
    p = end;
  }
}

// Built once per call, so a run of range fills per output row, not a test per position and tap.
FlatMasks plan_flat_masks(const Window2d& w) {
  FlatMasks m;
  const int64_t n = w.out_h * w.out_w;
  m.vectors = (n + lanes - 1) / lanes;
  m.out_mask.assign(static_cast<size_t>(m.vectors), 0);
  set_bits(m.out_mask, 0, n);
  for (int64_t ky = 0; ky < 3; ++ky) {
    for (int64_t kx = 0; kx < 3; ++kx) {
      const int64_t dy = ky - w.pad_top, dx = kx - w.pad_left;
      m.tap_offset.push_back(dy * w.in_w + dx);
      std::vector<uint16_t> masks(static_cast<size_t>(m.vectors), 0);
      // Output (oy, ox) reads input (oy + dy, ox + dx): rows oy in [-dy, in_h - dy), columns ox in [-dx, in_w - dx).
      const int64_t x_lo = std::max<int64_t>(0, -dx), x_hi = std::min(w.out_w, w.in_w - dx);
      for (int64_t oy = std::max<int64_t>(0, -dy); oy < std::min(w.out_h, w.in_h - dy); ++oy)
        if (x_lo < x_hi) set_bits(masks, oy * w.out_w + x_lo, oy * w.out_w + x_hi);
      m.tap_mask.insert(m.tap_mask.end(), masks.begin(), masks.end());
    }
  }
  return m;
}

#if defined(__AVX512F__)
// The arithmetic is written on Block values, not as intrinsics, so the compiler contracts (or not)
// each multiply-add exactly as it does in taps9, which gives the phase-plane path's bits at any
// optimization level; only the masked loads and stores are intrinsics.
void depthwise3x3_flat_plane(const FlatMasks& m, const float* in, const float* wt, float b, float lo, float hi,
                             float* out) {
  const Block lo_v = Block{} + lo, hi_v = Block{} + hi;
  // Addresses as integers: a masked-out lane's address may lie before the plane.
  const auto base = reinterpret_cast<uintptr_t>(in);
  for (int64_t v = 0; v < m.vectors; ++v) {
    Block acc = Block{} + b;
    for (int t = 0; t < 9; ++t) {
      const auto mask = static_cast<__mmask16>(m.tap_mask[static_cast<size_t>(t * m.vectors + v)]);
      const auto at = base + static_cast<uintptr_t>((v * lanes + m.tap_offset[static_cast<size_t>(t)]) * 4);
      const Block x = _mm512_maskz_loadu_ps(mask, reinterpret_cast<const void*>(at));
      acc += wt[t] * x;
    }
    Block r = acc < lo_v ? lo_v : acc;
    r = hi_v < r ? hi_v : r;
    _mm512_mask_storeu_ps(out + v * lanes, static_cast<__mmask16>(m.out_mask[static_cast<size_t>(v)]), r);
  }
}
#endif

// Narrow planes (output rows under direct_min_width) with stride 2, where a plane's rows are too short
// for whole vectors and the masked flat row above does not apply: 16 channels at a time, interleaved.
// (For stride 1 the masked flat row was faster: MobileNetV1 0.75's 14x14 layer at batch 8, 1 thread,
// 0.44 against 0.54 ms; the stride-2 layers 0.25 against 0.49 ms for 14 -> 7, 0.64 against 0.71 for
// 28 -> 14 with the rows read in place, and 1.0 ms through phase planes.) The block's input planes are copied once into a
// zero-padded buffer holding each position's 16 channel values together ([row][column][channel]), every
// output position is then `bias + sum_t w_t * x_t` for all 16 channels in one vector (bias first, taps
// in row-major order, padding as multiply-adds of zero: the phase-plane path's sums, in its order), and
// the results are scattered back to the output planes.
bool depthwise3x3_interleaved_applies(const ConvGeometry& s) {
  const Window2d& w = s.window;
  return is_depthwise3x3(s) && w.stride_h == 2 && w.stride_w == 2 && w.out_w < direct_min_width;
}

// Rows and columns of the interleaved buffer: those the outputs' taps read, in padded coordinates.
int64_t interleaved_rows(const Window2d& w) { return (w.out_h - 1) * w.stride_h + 3; }
int64_t interleaved_cols(const Window2d& w) { return (w.out_w - 1) * w.stride_w + 3; }

#if defined(__AVX512F__)
// r[i] = row i of a 16 x 16 block -> r[j] = column j. Pairs of rows interleaved by 32 then 64 bits
// inside each 128-bit lane (u[4g + k] holds column k + 4L of rows 4g..4g+3 in lane L), then the
// lanes gathered across row groups.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int k = 0; k < 4; ++k) {
    const __m512 v_lo = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88), v_hi = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xdd);
    const __m512 w_lo = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88), w_hi = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xdd);
    r[k] = _mm512_shuffle_f32x4(v_lo, w_lo, 0x88);
    r[k + 8] = _mm512_shuffle_f32x4(v_lo, w_lo, 0xdd);
    r[k + 4] = _mm512_shuffle_f32x4(v_hi, w_hi, 0x88);
    r[k + 12] = _mm512_shuffle_f32x4(v_hi, w_hi, 0xdd);
  }
}

// 16 consecutive values (the first `mask` lanes) of one plane as input values.
inline __m512 load_values(const float* p, __mmask16 mask, int32_t) { return _mm512_maskz_loadu_ps(mask, p); }
inline __m512 load_values(const uint8_t* p, __mmask16 mask, int32_t zp) {
  const __m512i v = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, p));
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, _mm512_set1_epi32(zp)));
}
inline __m512 load_values(const int8_t* p, __mmask16 mask, int32_t zp) {
  const __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask, p));
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, _mm512_set1_epi32(zp)));
}
#endif

// buf[(y * cols + x) * lanes + c] = input plane c at padded (y, x). Only positions inside the input
// are written: the caller zeroes the buffer once per conv call, and the padding stays zero.
template <class T>
void fill_interleaved(const T* in, int64_t in_plane, int64_t channels, const Window2d& w, int32_t zp, float* buf) {
  const int64_t rows = interleaved_rows(w), cols = interleaved_cols(w);
#if defined(__AVX512F__)
  // 16 positions of the 16 planes at a time, transposed into 16 positions' channel vectors.
  for (int64_t p0 = 0; p0 < in_plane; p0 += lanes) {
    const int64_t count = std::min(lanes, in_plane - p0);
    const auto mask = static_cast<__mmask16>((1u << count) - 1);
    __m512 r[16];
    for (int64_t c = 0; c < lanes; ++c) r[c] = c < channels ? load_values(in + c * in_plane + p0, mask, zp) : _mm512_setzero_ps();
    transpose16(r);
    int64_t iy = p0 / w.in_w, ix = p0 % w.in_w;
    for (int64_t j = 0; j < count; ++j) {
      const int64_t y = iy + w.pad_top, x = ix + w.pad_left;
      if (y < rows && x < cols) _mm512_storeu_ps(buf + (y * cols + x) * lanes, r[j]);
      if (++ix == w.in_w) ix = 0, ++iy;
    }
  }
#else
  // Position by position, the channels inner: each position's values are written together.
  const int64_t y_end = std::min(w.in_h, rows - w.pad_top), x_end = std::min(w.in_w, cols - w.pad_left);
  for (int64_t iy = 0; iy < y_end; ++iy) {
    float* row = buf + ((iy + w.pad_top) * cols + w.pad_left) * lanes;
    const T* src = in + iy * w.in_w;
    for (int64_t ix = 0; ix < x_end; ++ix)
      for (int64_t c = 0; c < channels; ++c) row[ix * lanes + c] = input_value(src[c * in_plane + ix], zp);
  }
#endif
}

// out + c * out_plane (c < channels) = channel c of the interleaved results vals[p * lanes + c].
void scatter_interleaved(const float* vals, int64_t out_plane, int64_t channels, float* out) {
#if defined(__AVX512F__)
  for (int64_t p0 = 0; p0 < out_plane; p0 += lanes) {
    const int64_t count = std::min(lanes, out_plane - p0);
    const auto mask = static_cast<__mmask16>((1u << count) - 1);
    __m512 r[16];
    for (int64_t j = 0; j < lanes; ++j) r[j] = j < count ? _mm512_loadu_ps(vals + (p0 + j) * lanes) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t c = 0; c < channels; ++c) _mm512_mask_storeu_ps(out + c * out_plane + p0, mask, r[c]);
  }
#else
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < out_plane; ++p) out[c * out_plane + p] = vals[p * lanes + c];
#endif
}

// out[p * lanes + c] for every output position p from the filled buffer; `wt[t]` holds tap t's weights
// of the 16 channels. Stride 2 (the only stride depthwise3x3_interleaved_applies takes).
void depthwise3x3_interleaved_block(const Window2d& w, const float* buf, const Block* wt, const Block& bias,
                                    const Block& lo, const Block& hi, float* out) {
  constexpr int64_t stride = 2;
  const int64_t cols = interleaved_cols(w);
  for (int64_t oy = 0; oy < w.out_h; ++oy) {
    for (int64_t ox = 0; ox < w.out_w; ++ox) {
      const float* base = buf + (oy * stride * cols + ox * stride) * lanes;
      Block acc = bias;
      for (int64_t ky = 0; ky < 3; ++ky) {
        for (int64_t kx = 0; kx < 3; ++kx) {
          Block x;
          std::memcpy(&x, base + (ky * cols + kx) * lanes, sizeof x);
          acc += wt[ky * 3 + kx] * x;
        }
      }
      Block r = acc < lo ? lo : acc;
      r = hi < r ? hi : r;
      std::memcpy(out + (oy * w.out_w + ox) * lanes, &r, sizeof r);
    }
  }
}

// Calls f with the conv's input as a typed pointer at element `offset`: the float input, or an integer
// layer's 8-bit input (int8 or uint8, read as x - input_zero_point by the kernels).
template <class F>
void with_input(const ConvData& d, int64_t offset, F&& f) {
  if (!d.input_8bit) f(d.input + offset);
  else if (d.input_8bit_signed) f(static_cast<const int8_t*>(d.input_8bit) + offset);
  else f(static_cast<const uint8_t*>(d.input_8bit) + offset);
}

bool depthwise3x3_direct_applies(const ConvGeometry& s) {
  const Window2d& w = s.window;
  return is_depthwise3x3(s) && w.stride_h == w.stride_w && (w.stride_w == 1 || w.stride_w == 2) &&
         w.out_w >= direct_min_width;
}

// One input plane of a depthwise3x3_direct_applies convolution into its output plane.
void depthwise3x3_plane(const Window2d& w, const float* in, const float* wt, float b, float lo, float hi,
                        const float* zeros, float* out) {
  const int64_t sw = w.stride_w;
  // Output columns whose three taps all read input columns: ox*sw - pad >= 0 and ox*sw + 2 - pad < in_w.
  const int64_t interior_lo = std::min(w.out_w, (w.pad_left + sw - 1) / sw);
  const int64_t last = w.in_w - 3 + w.pad_left;
  const int64_t interior_hi = last < 0 ? interior_lo : std::clamp(last / sw + 1, interior_lo, w.out_w);
  const float* rows[3];
  for (int64_t oy = 0; oy < w.out_h; ++oy) {
    for (int64_t ky = 0; ky < 3; ++ky) {
      const int64_t iy = oy * w.stride_h + ky - w.pad_top;
      rows[ky] = iy >= 0 && iy < w.in_h ? in + iy * w.in_w : zeros;
    }
    if (sw == 1) depthwise3x3_row<1>(rows, w, interior_lo, interior_hi, wt, b, lo, hi, out + oy * w.out_w);
    else depthwise3x3_row<2>(rows, w, interior_lo, interior_hi, wt, b, lo, hi, out + oy * w.out_w);
  }
}

}  // namespace

namespace {

void depthwise(const ConvGeometry& s, const ConvData& d, ThreadPool& pool, bool allow_direct) {
  const Window2d& w = s.window;
  if (s.groups != s.in_channels || s.out_channels % s.groups != 0)
    fail_internal("conv_depthwise: not a depthwise convolution");
  const int64_t multiplier = s.out_channels / s.groups;
  const int64_t taps = w.kernel_h * w.kernel_w;
  const int64_t out_plane = w.out_h * w.out_w;
  const int64_t in_plane = w.in_h * w.in_w;
  // Plain variables, not a structured binding: the lambdas below capture them (clang 14 cannot capture bindings).
  const std::pair<float, float> bounds = clip_bounds_of(d.activation);
  const float lo = bounds.first, hi = bounds.second;
  const uint64_t call = next_call_id();

  const int64_t planes = s.batch * s.in_channels;  // input planes; each makes `multiplier` outputs
  // Planes are independent, so the split never changes a bit: small layers (one image, 7 x 7 or
  // 14 x 14 planes) take smaller tasks so every thread gets several.
  const int64_t wanted_tasks = 4 * static_cast<int64_t>(pool.size());
  const int64_t planes_per_task =
      std::clamp<int64_t>(depthwise_elements_per_task / std::max<int64_t>(1, out_plane * multiplier), 1,
                          std::max<int64_t>(1, planes / wanted_tasks));
  const int64_t tasks = (planes + planes_per_task - 1) / planes_per_task;
  if (allow_direct && depthwise3x3_interleaved_applies(s)) {
    const int64_t blocks_per_image = (s.in_channels + lanes - 1) / lanes;
    const int64_t units = s.batch * blocks_per_image;  // (image, block of 16 channels)
    const int64_t units_per_task =
        std::clamp<int64_t>(depthwise_elements_per_task / std::max<int64_t>(1, out_plane * lanes), 1,
                            std::max<int64_t>(1, units / wanted_tasks));
    const int64_t buffer_floats = interleaved_rows(w) * interleaved_cols(w) * lanes;
    pool.parallel_for((units + units_per_task - 1) / units_per_task, [&](int64_t t) {
      thread_local std::vector<float> buf, out_buf;
      thread_local uint64_t zeroed_for = 0;
      if (zeroed_for != call) {  // padding positions are never written: zero them once per call
        buf.assign(static_cast<size_t>(buffer_floats), 0.0f);
        zeroed_for = call;
      }
      out_buf.resize(static_cast<size_t>(out_plane * lanes));
      const int64_t first = t * units_per_task, last = std::min(units, first + units_per_task);
      for (int64_t u = first; u < last; ++u) {
        const int64_t n = u / blocks_per_image, c0 = (u % blocks_per_image) * lanes;
        const int64_t channels = std::min(lanes, s.in_channels - c0);
        const int64_t plane0 = n * s.in_channels + c0;
        with_input(d, plane0 * in_plane,
                   [&](const auto* in) { fill_interleaved(in, in_plane, channels, w, d.input_zero_point, buf.data()); });
        Block wt[9], bias = Block{};
        for (int k = 0; k < 9; ++k) wt[k] = Block{};
        for (int64_t c = 0; c < channels; ++c) {
          for (int k = 0; k < 9; ++k) wt[k][c] = d.weight[(c0 + c) * 9 + k];
          bias[c] = d.bias ? d.bias[c0 + c] : 0.0f;
        }
        const Block lo_v = Block{} + lo, hi_v = Block{} + hi;
        depthwise3x3_interleaved_block(w, buf.data(), wt, bias, lo_v, hi_v, out_buf.data());
        scatter_interleaved(out_buf.data(), out_plane, channels, d.output + plane0 * out_plane);
        for (int64_t c = 0; c < channels; ++c) {
          float* out = d.output + (plane0 + c) * out_plane;
          apply_unclipped(d.activation, out, out_plane);
          if (d.plane_done) d.plane_done(plane0 + c, out);
        }
      }
    });
    return;
  }
  const bool flat_masked = allow_direct && depthwise3x3_flat_applies(s);
  if (allow_direct && (flat_masked || depthwise3x3_direct_applies(s))) {
    const FlatMasks masks = flat_masked ? plan_flat_masks(w) : FlatMasks{};
    // Zeros for rows outside the input: a row is read at columns up to (out_w - 1) * stride + 2 - pad.
    const std::vector<float> zeros(static_cast<size_t>(std::max(w.in_w, w.out_w * w.stride_w + 2)), 0.0f);
    pool.parallel_for(tasks, [&](int64_t t) {
      const int64_t first = t * planes_per_task, last = std::min(planes, first + planes_per_task);
      for (int64_t plane = first; plane < last; ++plane) {
        const int64_t n = plane / s.in_channels, c = plane % s.in_channels;
        float* out = d.output + (n * s.out_channels + c) * out_plane;
        const float* in = nullptr;
        with_input(d, plane * in_plane, [&](const auto* typed) {
          if constexpr (std::is_same_v<decltype(typed), const float*>) {
            in = typed;
          } else {
            // An 8-bit input plane (the integer layers' sums, integer_conv.cpp) as x - zero_point, exact in float.
            thread_local std::vector<float> converted;
            converted.resize(static_cast<size_t>(in_plane));
            copy_row(typed, converted.data(), in_plane, d.input_zero_point);
            in = converted.data();
          }
        });
#if defined(__AVX512F__)
        if (flat_masked)
          depthwise3x3_flat_plane(masks, in, d.weight + c * taps, d.bias ? d.bias[c] : 0.0f, lo, hi, out);
        else
#endif
        depthwise3x3_plane(w, in, d.weight + c * taps, d.bias ? d.bias[c] : 0.0f, lo, hi,
                           zeros.data(), out);
        apply_unclipped(d.activation, out, out_plane);
        if (d.plane_done) d.plane_done(n * s.out_channels + c, out);
      }
    });
    return;
  }
  const PolyphasePlan plan = plan_polyphase(w, w.out_h);
  const bool flat = w.out_h > 1 && w.out_w < flat_below_width;
  pool.parallel_for(tasks, [&](int64_t t) {
    scratch.prepare(call, static_cast<size_t>(plan.floats()), flat ? static_cast<size_t>(flat_floats(w, plan, w.out_h)) : 0);
    std::vector<const float*> src(static_cast<size_t>(taps));
    const int64_t first = t * planes_per_task, last = std::min(planes, first + planes_per_task);
    for (int64_t plane = first; plane < last; ++plane) {
      // plane = n * in_channels + c; its outputs are channels c*multiplier ... of image n.
      with_input(d, plane * in_plane,
                 [&](const auto* in) { fill_phase_planes(in, w, plan, 0, scratch.phases.data(), d.input_zero_point); });
      const int64_t n = plane / s.in_channels, c = plane % s.in_channels;
      for (size_t k = 0; k < static_cast<size_t>(taps); ++k)
        src[k] = scratch.phases.data() + plan.tap_plane[k] * plan.plane_stride + plan.tap_offset[k];
      for (int64_t j = 0; j < multiplier; ++j) {
        const int64_t m = c * multiplier + j;
        const float* wt = d.weight + m * taps;
        const float b = d.bias ? d.bias[m] : 0.0f;
        float* out = d.output + (n * s.out_channels + m) * out_plane;
        compute_band(w, plan, w.out_h, flat, src.data(), taps, &wt, &b, 1, lo, hi, &out, scratch.flat.data());
        apply_unclipped(d.activation, out, out_plane);
        if (d.plane_done) d.plane_done(n * s.out_channels + m, out);
      }
    }
  });
}

}  // namespace

void conv_depthwise(const ConvGeometry& s, const ConvData& d, ThreadPool& pool) { depthwise(s, d, pool, true); }

void conv_depthwise_polyphase(const ConvGeometry& s, const ConvData& d, ThreadPool& pool) {
  depthwise(s, d, pool, false);
}

void conv_direct(const ConvGeometry& s, const ConvData& d, ThreadPool& pool) {
  const Window2d& w = s.window;
  const int64_t cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int64_t kernel_taps = w.kernel_h * w.kernel_w;
  const int64_t taps = cin_g * kernel_taps;  // in weight order: (c, ky, kx)
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  // Tasks: image x group x band of output rows.
  const int64_t band_rows =
      std::clamp<int64_t>(dense_elements_per_task / std::max<int64_t>(1, w.out_w * cout_g), 1, w.out_h);
  const int64_t bands = (w.out_h + band_rows - 1) / band_rows;
  const PolyphasePlan plan = plan_polyphase(w, band_rows);
  const int64_t per_channel = plan.floats();
  const bool flat = band_rows > 1 && w.out_w < flat_below_width;
  // Plain variables, not a structured binding: the lambdas below capture them (clang 14 cannot capture bindings).
  const std::pair<float, float> bounds = clip_bounds_of(d.activation);
  const float lo = bounds.first, hi = bounds.second;
  const uint64_t call = next_call_id();
  pool.parallel_for(s.batch * s.groups * bands, [&](int64_t t) {
    const int64_t band = t % bands, g = (t / bands) % s.groups, n = t / (bands * s.groups);
    const int64_t first_row = band * band_rows, rows = std::min(band_rows, w.out_h - first_row);
    scratch.prepare(call, static_cast<size_t>(cin_g * per_channel),
                    flat ? static_cast<size_t>(channel_block * flat_floats(w, plan, band_rows)) : 0);
    std::vector<const float*> src(static_cast<size_t>(taps));
    for (int64_t c = 0; c < cin_g; ++c) {
      float* phases = scratch.phases.data() + c * per_channel;
      fill_phase_planes(d.input + (n * s.in_channels + g * cin_g + c) * in_plane, w, plan, first_row, phases);
      for (int64_t k = 0; k < kernel_taps; ++k)
        src[static_cast<size_t>(c * kernel_taps + k)] =
            phases + plan.tap_plane[static_cast<size_t>(k)] * plan.plane_stride + plan.tap_offset[static_cast<size_t>(k)];
    }
    const float* wt[channel_block] = {};
    float bias[channel_block] = {};
    float* out[channel_block] = {};
    for (int64_t m0 = 0; m0 < cout_g; m0 += channel_block) {
      const int64_t channels = std::min(channel_block, cout_g - m0);
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t m = g * cout_g + m0 + c;
        wt[c] = d.weight + m * taps;
        bias[c] = d.bias ? d.bias[m] : 0.0f;
        out[c] = d.output + (n * s.out_channels + m) * out_plane + first_row * w.out_w;
      }
      compute_band(w, plan, rows, flat, src.data(), taps, wt, bias, channels, lo, hi, out, scratch.flat.data());
      for (int64_t c = 0; c < channels; ++c) apply_unclipped(d.activation, out[c], rows * w.out_w);
    }
  });
}

}  // namespace mc
