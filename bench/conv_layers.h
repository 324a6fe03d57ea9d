// Shared by the per-layer kernel benches (onednn_layers.cpp, xnnpack_layers.cpp): a model's Conv
// layers with their weights and shapes, timing, and output comparison.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "core/error.h"
#include "core/ops/conv_kernels.h"
#include "core/shape_inference.h"
#include "formats/onnx_model.h"

namespace mc::bench {

constexpr int warmup_runs = 3;

enum class Kind { first, depthwise, pointwise };
inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::first: return "first conv";
    case Kind::depthwise: return "depthwise";
    case Kind::pointwise: return "pointwise";
  }
  return "?";
}

struct Layer {
  std::string name;
  Kind kind = Kind::first;
  ConvGeometry g;
  std::vector<float> weight;  // [out][in/groups][kh][kw]
  std::vector<float> bias;    // [out], empty for none
};

inline std::vector<Layer> conv_layers(const Model& model, int64_t batch, std::vector<std::string>& skipped) {
  const InferredGraph inferred = infer_shapes(model, batch);
  std::vector<Layer> layers;
  for (const Node& node : model.graph.nodes) {
    if (node.op != "Conv") continue;
    const Tensor* w = model.graph.initializer(node.inputs.at(1));
    const Shape& x = inferred.shape_of(node.inputs[0]);
    if (!w || x.size() != 4) fail_input(node.describe() + ": expected a 2-D conv with constant weights");
    Layer l;
    l.name = node.name.empty() ? node.outputs.at(0) : node.name;
    l.g = conv_geometry(node, model.opset, x, w->shape());
    const Window2d& win = l.g.window;
    if (win.in_h == 1 && win.in_w == 1 && win.kernel_h == 1 && win.kernel_w == 1) {
      skipped.push_back(l.name + " (" + std::to_string(l.g.in_channels) + "->" + std::to_string(l.g.out_channels) +
                        " on 1x1: the classifier)");
      continue;
    }
    if (l.g.groups == l.g.in_channels && l.g.groups > 1)
      l.kind = Kind::depthwise;
    else if (l.g.groups == 1 && win.kernel_h == 1 && win.kernel_w == 1 && win.stride_h == 1 && win.stride_w == 1)
      l.kind = Kind::pointwise;
    else
      l.kind = Kind::first;
    l.weight.assign(w->data<float>(), w->data<float>() + w->numel());
    if (node.has_input(2)) {
      const Tensor* b = model.graph.initializer(node.inputs[2]);
      if (!b) fail_input(node.describe() + ": expected a constant bias");
      l.bias.assign(b->data<float>(), b->data<float>() + b->numel());
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

inline std::string shape_text(const Layer& l) {
  const Window2d& w = l.g.window;
  char buf[128];
  if (l.kind == Kind::pointwise)
    std::snprintf(buf, sizeof buf, "pw %lld->%lld @%lld", static_cast<long long>(l.g.in_channels),
                  static_cast<long long>(l.g.out_channels), static_cast<long long>(w.in_h));
  else if (l.kind == Kind::depthwise)
    std::snprintf(buf, sizeof buf, "dw %lld %lldx%lld/s%lld @%lld->%lld", static_cast<long long>(l.g.in_channels),
                  static_cast<long long>(w.kernel_h), static_cast<long long>(w.kernel_w), static_cast<long long>(w.stride_h),
                  static_cast<long long>(w.in_h), static_cast<long long>(w.out_h));
  else
    std::snprintf(buf, sizeof buf, "%lld->%lld %lldx%lld/s%lld @%lld->%lld", static_cast<long long>(l.g.in_channels),
                  static_cast<long long>(l.g.out_channels), static_cast<long long>(w.kernel_h),
                  static_cast<long long>(w.kernel_w), static_cast<long long>(w.stride_h), static_cast<long long>(w.in_h),
                  static_cast<long long>(w.out_h));
  return buf;
}

// Median wall time in milliseconds of `runs` calls of `f` after the warm-up calls.
inline double median_ms(int runs, const std::function<void()>& f) {
  for (int i = 0; i < warmup_runs; ++i) f();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

inline double once_ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline double max_rel_diff(const std::vector<float>& ours, const std::vector<float>& theirs) {
  double max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(ours[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(ours[i] - theirs[i])));
  }
  return max_abs > 0 ? max_diff / max_abs : max_diff;
}

inline std::string ratio(double a, double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", a / b);
  return buf;
}

// "1,2" -> {1, 2}: a --threads list (each 1 to 256).
inline std::vector<int> parse_thread_list(const std::string& flag, const std::string& list) {
  std::vector<int> threads;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    threads.push_back(static_cast<int>(parse_number(flag, list.substr(start, comma - start), 1, 256, true)));
    start = comma + 1;
  }
  return threads;
}

// The options both per-layer benches take: MODEL.onnx [--threads 1,2] [--batch 8] [--runs 20] [--no-int8].
struct LayerBenchOptions {
  std::string model_path;
  std::vector<int> threads{1, 2};
  int64_t batch = 8;
  int runs = 20;
  bool int8 = true;
};

inline LayerBenchOptions parse_layer_bench_args(int argc, char** argv, const char* usage) {
  LayerBenchOptions o;
  std::vector<std::string> positional;
  Args args(argc, argv, usage);
  while (args.next()) {
    const std::string& a = args.flag();
    if (a == "--threads") {
      o.threads = parse_thread_list(a, args.value());
    } else if (a == "--batch") {
      o.batch = static_cast<int64_t>(parse_number(a, args.value(), 1, 1024, true));
    } else if (a == "--runs") {
      o.runs = static_cast<int>(parse_number(a, args.value(), 1, 100000, true));
    } else if (a == "--no-int8") {
      o.int8 = false;
    } else if (args.is_flag()) {
      args.unknown();
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 1) fail_usage(usage);
  o.model_path = positional[0];
  return o;
}

}  // namespace mc::bench
