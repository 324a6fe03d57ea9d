// xnnpack_layers: our convolution kernels against XNNPACK's (Debian libxnnpack-dev, a February 2022
// snapshot), layer by layer, on a model's Conv nodes.
//
//   xnnpack_layers MODEL.onnx [--threads 1,2] [--batch 8] [--runs 20] [--no-int8]
//
// For every Conv node of MODEL (shapes from shape inference at --batch; the classifier, a 1x1 conv on
// a 1x1 input, is left out) and every thread count, the median time of --runs runs after 3 warm-up runs:
//   ours     run_conv(choose_conv_algorithm(g), g, data, pool), float32 NCHW in and out, the model's
//            weights and bias (no fused activation), a ThreadPool of T threads;
//   XNNPACK  xnn_create_convolution2d_nhwc_f32 with the same weights, NHWC in and out (XNNPACK has no
//            other layout; the input is transposed before and the output after timing, so only the
//            convolution is timed), a pthreadpool of T threads (none for T = 1), created for each
//            layer's measurement and destroyed after it.
// For the pointwise (1x1) layers also int8, a whole QLinearConv layer: pointwise_int8_qlinear (uint8
// activations with zero point 128, int8 weights, per-channel requantization straight to uint8) against
// XNNPACK's qc8 convolution (int8 activations, per-channel int8 weights, requantized to int8), the same
// random data shifted by 128. Their rounding of the requantization differs, so the outputs are compared
// as the largest difference in levels (1 is a tie rounded the other way), not for equality.
// Float outputs are compared as max |ours - XNNPACK| / max |ours| over the layer.
// Nothing here is wired into mcompress: it measures, for choosing a kernel source (bench/README.md).
#include <pthreadpool.h>
#include <xnnpack.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "bench/conv_layers.h"
#include "core/error.h"
#include "core/ops/conv_kernels.h"
#include "core/ops/int8_pointwise.h"
#include "core/thread_pool.h"
#include "formats/onnx_model.h"

namespace {

using mc::bench::Kind;
using mc::bench::Layer;
using mc::bench::median_ms;

constexpr const char* usage = "usage: xnnpack_layers MODEL.onnx [--threads 1,2] [--batch 8] [--runs 20] [--no-int8]";

using Options = mc::bench::LayerBenchOptions;

void check(xnn_status status, const char* what) {
  if (status != xnn_status_success) mc::fail_internal(std::string("XNNPACK ") + what + " failed (status " + std::to_string(status) + ")");
}

// [n][a][b] -> [n][b][a]: NCHW -> NHWC with (a, b) = (c, hw), NHWC -> NCHW with (hw, c).
template <class T>
std::vector<T> swap_inner(const std::vector<T>& x, int64_t n, int64_t a, int64_t b) {
  std::vector<T> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < a; ++k)
      for (int64_t p = 0; p < b; ++p) y[static_cast<size_t>((i * b + p) * a + k)] = x[static_cast<size_t>((i * a + k) * b + p)];
  return y;
}

// ONNX weights [groups * out_g][in_g][kh][kw] as XNNPACK's [groups][out_g][kh][kw][in_g].
template <class T>
std::vector<T> xnn_weights(const std::vector<T>& w, const mc::ConvGeometry& g) {
  const int64_t out = g.out_channels, in_g = g.in_channels / g.groups, taps = g.window.kernel_h * g.window.kernel_w;
  std::vector<T> r(w.size());
  for (int64_t m = 0; m < out; ++m)
    for (int64_t c = 0; c < in_g; ++c)
      for (int64_t t = 0; t < taps; ++t) r[static_cast<size_t>((m * taps + t) * in_g + c)] = w[static_cast<size_t>((m * in_g + c) * taps + t)];
  return r;
}

struct Row {
  std::string layer, shape, check;
  Kind kind = Kind::first;
  int threads = 1;
  double ours = 0, theirs = 0;
};

void print_rows(const std::vector<Row>& rows, const char* check_header) {
  std::printf("| layer | shape | T | ours ms | XNNPACK ms | XNNPACK/ours | %s |\n", check_header);
  std::printf("|---|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows)
    std::printf("| %s | %s | %d | %.3f | %.3f | %s | %s |\n", r.layer.c_str(), r.shape.c_str(), r.threads, r.ours, r.theirs,
                mc::bench::ratio(r.theirs, r.ours).c_str(), r.check.c_str());
}

void print_totals(const std::vector<Row>& rows, const std::vector<int>& threads, bool by_kind) {
  std::printf("| total | T | ours ms | XNNPACK ms | XNNPACK/ours |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  for (int t : threads) {
    std::vector<std::pair<std::string, int>> groups;  // name, kind (-1: all)
    if (by_kind)
      for (Kind k : {Kind::first, Kind::depthwise, Kind::pointwise}) groups.emplace_back(mc::bench::kind_name(k), static_cast<int>(k));
    groups.emplace_back("all", -1);
    for (const auto& [name, kind] : groups) {
      double ours = 0, theirs = 0;
      int count = 0;
      for (const Row& r : rows)
        if (r.threads == t && (kind < 0 || static_cast<int>(r.kind) == kind)) ours += r.ours, theirs += r.theirs, ++count;
      if (count == 0) continue;
      std::printf("| %s (%d) | %d | %.2f | %.2f | %s |\n", name.c_str(), count, t, ours, theirs, mc::bench::ratio(theirs, ours).c_str());
    }
  }
}

int run(const Options& o) {
  const mc::Model model = mc::load_onnx(o.model_path);
  std::vector<std::string> skipped;
  std::vector<Layer> layers = mc::bench::conv_layers(model, o.batch, skipped);
  check(xnn_initialize(nullptr), "xnn_initialize");
  std::printf("model %s, batch %lld, %zu conv layers, %d warm-up + %d timed runs (median), XNNPACK (Debian 2022-02 snapshot)\n",
              o.model_path.c_str(), static_cast<long long>(o.batch), layers.size(), mc::bench::warmup_runs, o.runs);
  for (const std::string& s : skipped) std::printf("left out: %s\n", s.c_str());
  std::printf("threads: ours mc::ThreadPool(T); XNNPACK pthreadpool_create(T) (no pool for T = 1)\n");
  std::printf("CPU has AVX-512 VNNI: %s\n", mc::cpu_has_vnni() ? "yes" : "no");

  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> u8(0, 255), s8(-127, 127);
  std::vector<Row> float_rows, int8_rows;
  for (int t : o.threads) {
    mc::ThreadPool pool(t);
    // XNNPACK's pool is created for each of its measurements and destroyed after it: pthreadpool's
    // idle threads spin for a while after a run, which would take the cores from our next timing.
    auto make_pool = [t] { return t > 1 ? pthreadpool_create(static_cast<size_t>(t)) : nullptr; };
    auto drop_pool = [](pthreadpool_t p) {
      if (p) pthreadpool_destroy(p);
    };
    std::fprintf(stderr, "threads %d (pool size %d)\n", t, pool.size());
    for (size_t li = 0; li < layers.size(); ++li) {
      Layer& l = layers[li];
      const mc::ConvGeometry& g = l.g;
      const mc::Window2d& w = g.window;
      if (w.dilation_h != 1 || w.dilation_w != 1) mc::fail_input("dilated convs are not benchmarked");
      const int64_t in_hw = w.in_h * w.in_w, out_hw = w.out_h * w.out_w;
      const size_t in_count = static_cast<size_t>(g.batch * g.in_channels * in_hw);
      const size_t out_count = static_cast<size_t>(g.batch * g.out_channels * out_hw);
      std::vector<float> x(in_count), ours(out_count), theirs(out_count);
      for (float& v : x) v = unit(rng);

      mc::ConvData d;
      d.input = x.data();
      d.weight = l.weight.data();
      d.bias = l.bias.empty() ? nullptr : l.bias.data();
      d.output = ours.data();
      const mc::ConvAlgorithm algorithm = mc::choose_conv_algorithm(g);
      Row r;
      r.layer = std::to_string(li) + " " + mc::conv_algorithm_name(algorithm);
      r.shape = mc::bench::shape_text(l);
      r.kind = l.kind;
      r.threads = t;
      r.ours = median_ms(o.runs, [&] { mc::run_conv(algorithm, g, d, pool); });

      const uint32_t groups = static_cast<uint32_t>(g.groups);
      const size_t in_g = static_cast<size_t>(g.in_channels / g.groups), out_g = static_cast<size_t>(g.out_channels / g.groups);
      const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
      {
        const std::vector<float> wx = xnn_weights(l.weight, g);
        const std::vector<float> xin = swap_inner(x, g.batch, g.in_channels, in_hw);
        std::vector<float> yout(out_count);
        pthreadpool_t xpool = make_pool();
        xnn_operator_t op = nullptr;
        check(xnn_create_convolution2d_nhwc_f32(u32(w.pad_top), u32(w.pad_right), u32(w.pad_bottom), u32(w.pad_left), u32(w.kernel_h),
                                                u32(w.kernel_w), u32(w.stride_h), u32(w.stride_w), 1, 1, groups, in_g, out_g,
                                                static_cast<size_t>(g.in_channels), static_cast<size_t>(g.out_channels), wx.data(),
                                                d.bias, -std::numeric_limits<float>::infinity(),
                                                std::numeric_limits<float>::infinity(), 0, &op),
              "create f32 convolution");
        check(xnn_setup_convolution2d_nhwc_f32(op, static_cast<size_t>(g.batch), static_cast<size_t>(w.in_h),
                                               static_cast<size_t>(w.in_w), xin.data(), yout.data(), xpool),
              "setup f32 convolution");
        r.theirs = median_ms(o.runs, [&] { check(xnn_run_operator(op, xpool), "run f32 convolution"); });
        xnn_delete_operator(op);
        drop_pool(xpool);
        theirs = swap_inner(yout, g.batch, out_hw, g.out_channels);
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1e", mc::bench::max_rel_diff(ours, theirs));
      r.check = buf;
      std::fprintf(stderr, "  f32 %s %s: ours %.3f, XNNPACK %.3f ms, diff %s\n", r.layer.c_str(), r.shape.c_str(), r.ours, r.theirs,
                   r.check.c_str());
      float_rows.push_back(r);

      if (!o.int8 || l.kind != Kind::pointwise) continue;
      // One QLinearConv: x (uint8, zero point 128) and int8 weights; bias 0; per-channel multipliers
      // input_scale * weight_scale[m] / output_scale with input_scale 1/128, output_scale 1/16.
      const int64_t positions = in_hw;
      std::vector<uint8_t> xq(in_count);
      std::vector<int8_t> wq(static_cast<size_t>(g.out_channels * g.in_channels));
      for (uint8_t& v : xq) v = static_cast<uint8_t>(u8(rng));
      for (int8_t& v : wq) v = static_cast<int8_t>(s8(rng));
      const float in_scale = 1.0f / 128, out_scale = 1.0f / 16;
      std::vector<float> wscale(static_cast<size_t>(g.out_channels)), multiplier(wscale.size());
      for (size_t m = 0; m < wscale.size(); ++m) {
        wscale[m] = 0.5f / static_cast<float>(g.in_channels) * (1.0f + 0.01f * static_cast<float>(m % 7));
        multiplier[m] = in_scale * wscale[m] / out_scale;
      }
      mc::Requantization req;
      req.y_zp = 128;
      req.lo = 0;
      req.hi = 255;
      req.low = -128.0f;
      req.high = 127.0f;
      std::vector<uint8_t> yq(out_count);
      Row q = r;
      bool ran = true;
      q.ours = median_ms(o.runs, [&] {
        ran = mc::pointwise_int8_qlinear(xq.data(), false, 128, wq.data(), g.batch, g.in_channels, g.out_channels, positions,
                                         nullptr, multiplier.data(), req, yq.data(), pool);
      });
      if (!ran) mc::fail_input("pointwise_int8_qlinear did not run (no AVX-512 VNNI, or MCOMPRESS_INT8_KERNELS=portable)");
      std::vector<int8_t> xs(in_count);
      for (size_t i = 0; i < in_count; ++i) xs[i] = static_cast<int8_t>(static_cast<int>(xq[i]) - 128);
      const std::vector<int8_t> xs_nhwc = swap_inner(xs, g.batch, g.in_channels, positions);
      std::vector<int8_t> ys(out_count);
      const std::vector<int32_t> zero_bias(static_cast<size_t>(g.out_channels), 0);
      pthreadpool_t xpool = make_pool();
      xnn_operator_t op = nullptr;
      check(xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, static_cast<size_t>(g.in_channels),
                                              static_cast<size_t>(g.out_channels), static_cast<size_t>(g.in_channels),
                                              static_cast<size_t>(g.out_channels), 0, in_scale, wscale.data(), wq.data(),
                                              zero_bias.data(), 0, out_scale, -128, 127, 0, &op),
            "create qc8 convolution");
      check(xnn_setup_convolution2d_nhwc_qc8(op, static_cast<size_t>(g.batch), static_cast<size_t>(w.in_h), static_cast<size_t>(w.in_w),
                                             xs_nhwc.data(), ys.data(), xpool),
            "setup qc8 convolution");
      q.theirs = median_ms(o.runs, [&] { check(xnn_run_operator(op, xpool), "run qc8 convolution"); });
      xnn_delete_operator(op);
      drop_pool(xpool);
      const std::vector<int8_t> ys_nchw = swap_inner(ys, g.batch, positions, g.out_channels);
      int worst = 0;
      for (size_t i = 0; i < out_count; ++i)
        worst = std::max(worst, std::abs((static_cast<int>(yq[i]) - 128) - static_cast<int>(ys_nchw[i])));
      q.layer = std::to_string(li) + " vnni";
      q.check = std::to_string(worst);
      std::fprintf(stderr, "  int8 %s %s: ours %.3f, XNNPACK %.3f ms, max level difference %d\n", q.layer.c_str(), q.shape.c_str(),
                   q.ours, q.theirs, worst);
      int8_rows.push_back(q);
    }
  }

  auto by_threads = [](std::vector<Row> rows) {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.threads < b.threads; });
    return rows;
  };
  std::printf("\n### float32 (ours NCHW, XNNPACK NHWC; diff = max |ours - XNNPACK| / max |ours|)\n\n");
  print_rows(by_threads(float_rows), "max rel diff");
  std::printf("\n");
  print_totals(float_rows, o.threads, true);
  if (!int8_rows.empty()) {
    std::printf("\n### int8 pointwise QLinearConv (requantized 8-bit output; max level difference)\n\n");
    print_rows(by_threads(int8_rows), "levels");
    std::printf("\n");
    print_totals(int8_rows, o.threads, false);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(mc::bench::parse_layer_bench_args(argc, argv, usage));
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "xnnpack_layers: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xnnpack_layers: error: %s\n", e.what());
    return 1;
  }
}
