// onednn_layers: our convolution kernels against oneDNN's, layer by layer, on a model's Conv nodes.
//
//   onednn_layers MODEL.onnx [--threads 1,2] [--batch 8] [--runs 20] [--no-int8]
//
// For every Conv node of MODEL (shapes from shape inference at --batch; the classifier, a 1x1 conv on
// a 1x1 input, is left out) and every thread count, the median time of --runs runs after 3 warm-up runs:
//   ours         run_conv(choose_conv_algorithm(g), g, data, pool), float32 NCHW in and out, the
//                model's weights and bias (no fused activation), a ThreadPool of T threads;
//   oneDNN plain convolution_forward (forward_inference), src and dst plain nchw, weights in the
//                layout oneDNN picks (format_tag::any, reordered once before timing);
//   oneDNN blocked the same with src and dst in format_tag::any too (its preferred layout); the input
//                is reordered before and the output after timing, so only the convolution is timed.
// For the pointwise (1x1) layers also int8: pointwise_int8_sums (uint8 activations, zero point 0,
// random int8 weights, int32 sums) against oneDNN's u8 x s8 -> s32 convolution (plain and blocked).
// oneDNN 2.6 has no fast int8 kernel for plain nchw and runs its reference one: timed with one run.
// Float outputs are compared as max |ours - oneDNN| / max |ours| over the layer; int8 sums must be equal.
//
// oneDNN's Debian build runs on OpenMP: its thread count is set with omp_set_num_threads(T) before
// its primitives for T are created (a primitive's parallel split is chosen when it is created).
// Nothing here is wired into mcompress: it measures, for choosing a kernel source.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/bench_args.h"
#include "bench/conv_layers.h"
#include "core/error.h"
#include "core/ops/conv_kernels.h"
#include "core/ops/int8_pointwise.h"
#include "core/shape_inference.h"
#include "core/thread_pool.h"
#include "formats/onnx_model.h"

namespace {

using mc::bench::Kind;
using mc::bench::Layer;
using mc::bench::kind_name;
using mc::bench::conv_layers;
using mc::bench::shape_text;
using mc::bench::median_ms;
using mc::bench::once_ms;
using mc::bench::max_rel_diff;
using mc::bench::ratio;
using mc::bench::warmup_runs;

constexpr const char* usage = "usage: onednn_layers MODEL.onnx [--threads 1,2] [--batch 8] [--runs 20] [--no-int8]";

using Options = mc::bench::LayerBenchOptions;

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// One oneDNN convolution for a layer: the primitive and its src/weights/bias/dst memories in the
// primitive's layouts; `user_src` (plain nchw) is reordered into src once, dst is read back to plain
// nchw with read_dst (both outside timing).
struct OneDnnConv {
  dnnl::convolution_forward prim;
  dnnl::memory src, weights, bias, dst;
  std::string impl;

  OneDnnConv(const dnnl::engine& eng, dnnl::stream& s, const mc::ConvGeometry& g, dt src_dt, dt wei_dt, dt dst_dt,
             bool blocked, void* user_src, void* user_weights, float* user_bias) {
    const mc::Window2d& w = g.window;
    const dnnl::memory::dims src_dims{g.batch, g.in_channels, w.in_h, w.in_w};
    const dnnl::memory::dims dst_dims{g.batch, g.out_channels, w.out_h, w.out_w};
    const bool grouped = g.groups > 1;
    const dnnl::memory::dims wei_dims =
        grouped ? dnnl::memory::dims{g.groups, g.out_channels / g.groups, g.in_channels / g.groups, w.kernel_h, w.kernel_w}
                : dnnl::memory::dims{g.out_channels, g.in_channels, w.kernel_h, w.kernel_w};
    const tag io_tag = blocked ? tag::any : tag::nchw;
    const dnnl::memory::desc src_md(src_dims, src_dt, io_tag), dst_md(dst_dims, dst_dt, io_tag);
    const dnnl::memory::desc wei_md(wei_dims, wei_dt, tag::any);
    const dnnl::memory::desc bias_md = user_bias ? dnnl::memory::desc({g.out_channels}, dt::f32, tag::x) : dnnl::memory::desc();
    const dnnl::memory::dims strides{w.stride_h, w.stride_w}, pad_l{w.pad_top, w.pad_left}, pad_r{w.pad_bottom, w.pad_right};
    if (w.dilation_h != 1 || w.dilation_w != 1) mc::fail_input("dilated convs are not benchmarked");
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                               wei_md, bias_md, dst_md, strides, pad_l, pad_r);
    const dnnl::convolution_forward::primitive_desc pd(desc, eng);
    prim = dnnl::convolution_forward(pd);
    impl = pd.impl_info_str();

    dnnl::memory user_src_mem({src_dims, src_dt, tag::nchw}, eng, user_src);
    dnnl::memory user_wei_mem({wei_dims, wei_dt, grouped ? tag::goihw : tag::oihw}, eng, user_weights);
    src = pd.src_desc() == user_src_mem.get_desc() ? user_src_mem : dnnl::memory(pd.src_desc(), eng);
    if (src != user_src_mem) dnnl::reorder(user_src_mem, src).execute(s, user_src_mem, src);
    weights = dnnl::memory(pd.weights_desc(), eng);
    dnnl::reorder(user_wei_mem, weights).execute(s, user_wei_mem, weights);
    if (user_bias) bias = dnnl::memory(bias_md, eng, user_bias);
    dst = dnnl::memory(pd.dst_desc(), eng);
    s.wait();
  }

  void run(dnnl::stream& s) {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, bias);
    prim.execute(s, args);
    s.wait();
  }

  // dst in plain nchw into `out`.
  void read_dst(const dnnl::engine& eng, dnnl::stream& s, void* out) {
    const dnnl::memory::desc& d = dst.get_desc();
    dnnl::memory plain({d.dims(), d.data_type(), tag::nchw}, eng, out);
    dnnl::reorder(dst, plain).execute(s, dst, plain);
    s.wait();
  }
};

struct Row {
  std::string layer, shape, impl_plain, impl_blocked, check;
  Kind kind = Kind::first;
  int threads = 1;
  double ours = 0, plain = 0, blocked = 0;
};

void print_rows(const std::vector<Row>& rows, const char* check_header) {
  std::printf("| layer | shape | T | ours ms | oneDNN plain ms | oneDNN blocked ms | plain/ours | blocked/ours | %s | oneDNN impl (plain / blocked) |\n",
              check_header);
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %s | %d | %.3f | %.3f | %.3f | %s | %s | %s | %s / %s |\n", r.layer.c_str(), r.shape.c_str(), r.threads,
                r.ours, r.plain, r.blocked, ratio(r.plain, r.ours).c_str(), ratio(r.blocked, r.ours).c_str(), r.check.c_str(),
                r.impl_plain.c_str(), r.impl_blocked.c_str());
}

void print_totals(const std::vector<Row>& rows, const std::vector<int>& threads, bool by_kind) {
  std::printf("| total | T | ours ms | oneDNN plain ms | oneDNN blocked ms | plain/ours | blocked/ours |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (int t : threads) {
    std::vector<std::pair<std::string, std::function<bool(const Row&)>>> groups;
    if (by_kind)
      for (Kind k : {Kind::first, Kind::depthwise, Kind::pointwise})
        groups.emplace_back(kind_name(k), [k](const Row& r) { return r.kind == k; });
    groups.emplace_back("all", [](const Row&) { return true; });
    for (const auto& [name, in_group] : groups) {
      double ours = 0, plain = 0, blocked = 0;
      int count = 0;
      for (const Row& r : rows)
        if (r.threads == t && in_group(r)) ours += r.ours, plain += r.plain, blocked += r.blocked, ++count;
      if (count == 0) continue;
      std::printf("| %s (%d) | %d | %.2f | %.2f | %.2f | %s | %s |\n", name.c_str(), count, t, ours, plain, blocked,
                  ratio(plain, ours).c_str(), ratio(blocked, ours).c_str());
    }
  }
}

int run(const Options& o) {
  const mc::Model model = mc::load_onnx(o.model_path);
  std::vector<std::string> skipped;
  std::vector<Layer> layers = conv_layers(model, o.batch, skipped);
  std::printf("model %s, batch %lld, %zu conv layers, %d warm-up + %d timed runs (median), oneDNN %d.%d.%d\n",
              o.model_path.c_str(), static_cast<long long>(o.batch), layers.size(), warmup_runs, o.runs, dnnl_version()->major,
              dnnl_version()->minor, dnnl_version()->patch);
  for (const std::string& s : skipped) std::printf("left out: %s\n", s.c_str());
  std::printf("threads: ours mc::ThreadPool(T); oneDNN (OpenMP runtime) omp_set_num_threads(T)\n");
  std::printf("CPU has AVX-512 VNNI: %s\n", mc::cpu_has_vnni() ? "yes" : "no");

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> u8(0, 255), s8(-128, 127);

  std::vector<Row> float_rows, int8_rows;
  for (int t : o.threads) {
    omp_set_num_threads(t);
    mc::ThreadPool pool(t);
    std::fprintf(stderr, "threads %d (omp_get_max_threads %d, pool size %d)\n", t, omp_get_max_threads(), pool.size());
    for (size_t li = 0; li < layers.size(); ++li) {
      Layer& l = layers[li];
      const mc::ConvGeometry& g = l.g;
      const mc::Window2d& w = g.window;
      const size_t in_count = static_cast<size_t>(g.batch * g.in_channels * w.in_h * w.in_w);
      const size_t out_count = static_cast<size_t>(g.batch * g.out_channels * w.out_h * w.out_w);
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
      r.shape = shape_text(l);
      r.kind = l.kind;
      r.threads = t;
      r.ours = median_ms(o.runs, [&] { mc::run_conv(algorithm, g, d, pool); });

      float* bias = l.bias.empty() ? nullptr : l.bias.data();
      double diff = 0;
      {
        OneDnnConv c(eng, s, g, dt::f32, dt::f32, dt::f32, false, x.data(), l.weight.data(), bias);
        r.plain = median_ms(o.runs, [&] { c.run(s); });
        r.impl_plain = c.impl;
        c.read_dst(eng, s, theirs.data());
        diff = std::max(diff, max_rel_diff(ours, theirs));
      }
      {
        OneDnnConv c(eng, s, g, dt::f32, dt::f32, dt::f32, true, x.data(), l.weight.data(), bias);
        r.blocked = median_ms(o.runs, [&] { c.run(s); });
        r.impl_blocked = c.impl;
        std::fill(theirs.begin(), theirs.end(), 0.0f);
        c.read_dst(eng, s, theirs.data());
        diff = std::max(diff, max_rel_diff(ours, theirs));
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1e", diff);
      r.check = buf;
      std::fprintf(stderr, "  f32 %s %s: ours %.3f, plain %.3f, blocked %.3f ms, diff %s\n", r.layer.c_str(), r.shape.c_str(), r.ours,
                   r.plain, r.blocked, r.check.c_str());
      float_rows.push_back(r);

      if (!o.int8 || l.kind != Kind::pointwise) continue;
      const int64_t positions = w.in_h * w.in_w;
      std::vector<uint8_t> xq(in_count);
      std::vector<int8_t> wq(static_cast<size_t>(g.out_channels * g.in_channels));
      std::vector<int32_t> sums(out_count), their_sums(out_count);
      for (uint8_t& v : xq) v = static_cast<uint8_t>(u8(rng));
      for (int8_t& v : wq) v = static_cast<int8_t>(s8(rng));
      Row q = r;
      bool ran = true;
      q.ours = median_ms(o.runs, [&] {
        ran = mc::pointwise_int8_sums(xq.data(), false, 0, wq.data(), g.batch, g.in_channels, g.out_channels, positions,
                                      sums.data(), pool);
      });
      if (!ran) mc::fail_input("pointwise_int8_sums did not run (no AVX-512 VNNI, or MCOMPRESS_INT8_KERNELS=portable)");
      bool equal = true;
      {
        OneDnnConv c(eng, s, g, dt::u8, dt::s8, dt::s32, false, xq.data(), wq.data(), nullptr);
        // oneDNN's reference kernel (what it falls back to) takes seconds a run: timed once, no warm-up.
        const bool reference = c.impl.rfind("ref", 0) == 0;
        q.plain = reference ? once_ms([&] { c.run(s); }) : median_ms(o.runs, [&] { c.run(s); });
        q.impl_plain = c.impl + (reference ? " (1 run)" : "");
        c.read_dst(eng, s, their_sums.data());
        equal = equal && sums == their_sums;
      }
      {
        OneDnnConv c(eng, s, g, dt::u8, dt::s8, dt::s32, true, xq.data(), wq.data(), nullptr);
        q.blocked = median_ms(o.runs, [&] { c.run(s); });
        q.impl_blocked = c.impl;
        std::fill(their_sums.begin(), their_sums.end(), 0);
        c.read_dst(eng, s, their_sums.data());
        equal = equal && sums == their_sums;
      }
      q.layer = std::to_string(li) + " vnni";
      q.check = equal ? "equal" : "DIFFER";
      std::fprintf(stderr, "  int8 %s %s: ours %.3f, plain %.3f, blocked %.3f ms, %s\n", q.layer.c_str(), q.shape.c_str(), q.ours,
                   q.plain, q.blocked, q.check.c_str());
      int8_rows.push_back(q);
    }
  }

  auto by_threads = [](std::vector<Row> rows) {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.threads < b.threads; });
    return rows;
  };
  std::printf("\n### float32 (NCHW in and out; diff = max |ours - oneDNN| / max |ours|, worse of plain and blocked)\n\n");
  print_rows(by_threads(float_rows), "max rel diff");
  std::printf("\n");
  print_totals(float_rows, o.threads, true);
  if (!int8_rows.empty()) {
    std::printf("\n### int8 pointwise (u8 x s8 -> s32 sums, activation zero point 0)\n\n");
    print_rows(by_threads(int8_rows), "sums");
    std::printf("\n");
    print_totals(int8_rows, o.threads, false);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(mc::bench::parse_layer_bench_args(argc, argv, usage));
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "onednn_layers: oneDNN error: %s (status %d)\n", e.what(), static_cast<int>(e.status));
    return 1;
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "onednn_layers: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onednn_layers: error: %s\n", e.what());
    return 1;
  }
}
