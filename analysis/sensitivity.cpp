#include "analysis/sensitivity.h"

#include <algorithm>
#include <cmath>

#include "core/weighted_op.h"
#include "analysis/op_count.h"
#include "core/executor.h"
#include "core/quantizers.h"
#include "core/shape_inference.h"

namespace mc {

namespace {

const Node& node_named(const Model& model, const std::string& name) {
  if (const Node* n = model.graph.node(name)) return *n;
  fail_internal("no node named '" + name + "'");
}

// Quantized values of one filter in `format`, fitted under metric h.
std::vector<double> quantized_filter(std::span<const double> w, const std::string& format, const Metric& h) {
  if (format == "ternary") return ternary_values(fit_residual_ternary(w, 1, h), w.size());
  if (format == "ternary2") return ternary_values(fit_residual_ternary(w, 2, h), w.size());
  if (format == "ternary3") return ternary_values(fit_residual_ternary(w, 3, h), w.size());
  if (format == "int4") return uniform_values(fit_uniform(w, 4, h));
  if (format == "int8") return uniform_values(fit_uniform(w, 8, h));
  fail_usage("unknown quantization format '" + format + "'");
}

std::vector<std::vector<double>> run_probabilities(const Model& model, const CalibrationSet& images, int threads) {
  Executor exec(model, ExecutorOptions{threads, true});
  std::vector<std::vector<double>> out;
  for_each_calibration_batch(images, [&](const Tensor& batch, int64_t) {
    Tensor y = exec.run({batch})[0];
    if (y.rank() != 2) fail_unsupported("end-to-end sensitivity needs a [N, classes] output, the model gives " + shape_str(y.shape()));
    for (int64_t i = 0; i < y.dim(0); ++i) out.push_back(to_probabilities(y.data<float>() + i * y.dim(1), y.dim(1)));
  });
  return out;
}

}  // namespace

std::string layer_kind(const Model& model, const Node& node) {
  const auto layer = weighted_layer(model.graph, node);
  if (!layer) fail_internal(node.describe() + " is not a weighted layer");
  return layer_kind(*layer, *model.graph.initializer(layer->weight));
}

std::vector<double> to_probabilities(const float* row, int64_t n) {
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  bool non_negative = true;
  for (int64_t i = 0; i < n; ++i) {
    sum += row[i];
    non_negative = non_negative && row[i] >= 0;
  }
  if (non_negative && std::fabs(sum - 1.0) < 1e-3) {
    for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = row[i] / sum;
    return p;
  }
  double m = *std::max_element(row, row + n);
  double z = 0;
  for (int64_t i = 0; i < n; ++i) z += (p[static_cast<size_t>(i)] = std::exp(static_cast<double>(row[i]) - m));
  for (auto& v : p) v /= z;
  return p;
}

const std::vector<std::string>& candidate_formats() {
  static const std::vector<std::string> formats = {"ternary", "ternary2", "int4", "int8"};
  return formats;
}

int64_t filter_count(const Tensor& weight, const LayerGram& layer) {
  (void)weight;
  return layer.groups * layer.filters_per_group;
}

std::vector<double> filter_weights(const Tensor& weight, const LayerGram& layer, int64_t filter) {
  const WeightGeometry g = layer.geometry();
  std::vector<double> w(static_cast<size_t>(layer.rows));
  const float* p = weight.data<float>();
  for (int64_t k = 0; k < layer.rows; ++k) w[static_cast<size_t>(k)] = p[g.element(filter, k)];
  return w;
}

std::vector<LayerSensitivity> filter_sensitivity(const Model& model, const CalibrationStats& stats, ThreadPool& pool) {
  InferredGraph shapes = infer_shapes(model, 1);
  std::vector<LayerSensitivity> out;
  for (const auto& node : model.graph.nodes) {
    auto it = stats.layers.find(node.name);
    if (it == stats.layers.end()) continue;
    const LayerGram& layer = it->second;
    const Tensor& weight = *model.graph.initializer(layer.weight);
    LayerSensitivity ls;
    ls.node = node.name;
    ls.op = node.op;
    ls.weight = layer.weight;
    ls.kind = layer_kind(model, node);
    ls.macs = node_macs(node, shapes);
    const int64_t filters = filter_count(weight, layer);
    std::vector<std::vector<double>> metrics(static_cast<size_t>(layer.groups));
    for (int64_t g = 0; g < layer.groups; ++g) metrics[static_cast<size_t>(g)] = layer.moment(g, true);
    ls.filters.resize(static_cast<size_t>(filters));
    pool.parallel_for(filters, [&](int64_t f) {
      auto w = filter_weights(weight, layer, f);
      const auto& c = metrics[static_cast<size_t>(layer.group_of(f))];
      Metric h{c.data(), layer.rows};
      FilterSensitivity& fs = ls.filters[static_cast<size_t>(f)];
      fs.index = f;
      for (const auto& format : candidate_formats()) fs.error[format] = relative_error(w, quantized_filter(w, format, h), h);
    });
    out.push_back(std::move(ls));
  }
  return out;
}

Model quantize_filters(const Model& model, const LayerGram& layer, const std::string& format, const std::vector<int64_t>& filters) {
  Model q = model;
  const Node& node = node_named(q, layer.node);
  Tensor& weight = q.graph.values_to_change(layer.weight, "sensitivity probe of " + layer.node);
  // Bias correction needs a bias input: Conv's third input or Gemm's C.
  Tensor* bias = nullptr;
  if (const auto wl = weighted_layer(q.graph, node); wl && !wl->bias.empty())
    bias = &q.graph.values_to_change(wl->bias, "sensitivity probe of " + layer.node);
  for (int64_t f : filters) {
    auto w = filter_weights(weight, layer, f);
    int64_t g = layer.group_of(f);
    auto c = layer.moment(g, true);
    auto values = quantized_filter(w, format, Metric{c.data(), layer.rows});
    write_filter(weight, layer.geometry(), f, values);
    if (bias && bias->numel() == filter_count(weight, layer)) {
      auto mu = layer.mean(g);
      double shift = 0;
      for (int64_t k = 0; k < layer.rows; ++k) shift += (w[static_cast<size_t>(k)] - values[static_cast<size_t>(k)]) * mu[static_cast<size_t>(k)];
      bias->data<float>()[f] += static_cast<float>(shift);
    }
  }
  return q;
}

Model quantize_one_layer(const Model& model, const LayerGram& layer, const std::string& format) {
  const Tensor& weight = *model.graph.initializer(layer.weight);
  std::vector<int64_t> all(static_cast<size_t>(filter_count(weight, layer)));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  return quantize_filters(model, layer, format, all);
}

ReferenceOutputs reference_outputs(const Model& model, const CalibrationSet& images, int threads) {
  return ReferenceOutputs{run_probabilities(model, images, threads)};
}

EndToEnd compare_outputs(const Model& quantized, const CalibrationSet& images, const ReferenceOutputs& reference, int threads) {
  auto probs = run_probabilities(quantized, images, threads);
  EndToEnd e;
  if (probs.empty()) return e;
  int64_t agree = 0;
  // Per image: its cost, averaged over its views when the set is mirrored, so the standard error
  // counts images (the two views of one image are not independent samples).
  const size_t views = images.mirrored ? 2 : 1;
  const size_t image_count = (probs.size() + views - 1) / views;
  std::vector<double> image_cost(image_count, 0.0);
  e.image_disagreement.assign(image_count, 0.0);
  e.image_float_top1.assign(image_count, 0);
  e.image_top1.assign(image_count, 0);
  for (size_t i = 0; i < probs.size(); ++i) {
    const auto& p = reference.probabilities.at(i);
    const auto& q = probs[i];
    double kl = 0;
    for (size_t c = 0; c < p.size(); ++c)
      if (p[c] > 0) kl += p[c] * (std::log(p[c]) - std::log(std::max(q[c], 1e-30)));
    e.kl += kl;
    const size_t float_top = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    const size_t quant_top = static_cast<size_t>(std::max_element(q.begin(), q.end()) - q.begin());
    agree += float_top == quant_top;
    image_cost[i / views] += (p[float_top] - p[quant_top]) / static_cast<double>(views);
    e.image_disagreement[i / views] += (float_top != quant_top ? 1.0 : 0.0) / static_cast<double>(views);
    if (i % views == 0) {
      e.image_float_top1[i / views] = static_cast<int64_t>(float_top);
      e.image_top1[i / views] = static_cast<int64_t>(quant_top);
    }
  }
  double cost_squares = 0;
  for (double cost : image_cost) {
    e.expected_drop += cost;
    cost_squares += cost * cost;
  }
  const double n = static_cast<double>(image_cost.size());
  const double mean = e.expected_drop / n;
  e.expected_drop = 100.0 * mean;
  if (n > 1) e.expected_drop_se = 100.0 * std::sqrt(std::max(0.0, (cost_squares - n * mean * mean) / (n * (n - 1))));
  e.kl /= static_cast<double>(probs.size());
  e.top1_agreement = 100.0 * static_cast<double>(agree) / static_cast<double>(probs.size());
  e.image_expected_cost = std::move(image_cost);
  return e;
}

}  // namespace mc
