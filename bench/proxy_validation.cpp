// proxy_validation: does the per-filter sensitivity proxy predict the real end-to-end effect?
//
//   proxy_validation MODEL.onnx --calib DIR --preprocess keras|torch [--calib-count 64] [--eval-images 64]
//                    [--layers a,b,c] [--format ternary2] [--k-fraction 0.25] [--sample 24]
//                    [--random-draws 3] [--threads N] [--seed 0] [--json] [--json-out FILE]
//
// The proxy (analysis/sensitivity.h, mc::filter_sensitivity) scores filter w quantized to q by its
// relative output error e = (w-q)^T C (w-q) / (w^T C w) under the layer's centered input covariance C
// (OBQ/GPTQ's layer-wise objective, ../shared/docs/RESEARCH.md). Hybrid filter banks (RESEARCH.md §1)
// only work if the filters the proxy calls insensitive really are insensitive end to end. Two tests,
// each on held-out images (disjoint from the calibration images the proxy was computed on):
//   1. Per layer, quantize the k least sensitive filters, k random filters and the k most sensitive
//      filters (bias-corrected, mc::quantize_filters) and measure the mean KL divergence of the output
//      distribution from the float model's. A proxy that works gives KL(least) << KL(random) << KL(most).
//   2. Per layer, a seeded sample of single filters: quantize each alone, measure its KL, and rank-
//      correlate (Spearman) with (a) e and (b) the absolute error (w-q)^T C (w-q) = e * w^T C w.
//
// Speed and precision (this is a measurement harness, not library code): every configuration changes
// one layer only, so the layer's input activations on the evaluation images are computed once and only
// the rest of the network (the "suffix" model, cut at the layer's input) is rerun per configuration. A
// final Softmax is removed so probabilities are computed from logits in double precision; the KL is
// then the same quantity mc::compare_outputs computes, and the program checks that once against
// mc::compare_outputs on the whole model. Its noise floor is reported per layer: the KL of an
// unmodified suffix (must be 0: the executor is deterministic) and of one filter moved by one float
// ulp per weight (the scale of pure rounding effects).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <new>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "bench/bench_args.h"
#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "core/matrix_blocking.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/quantizers.h"
#include "core/text.h"
#include "core/thread_pool.h"
#include "formats/image.h"
#include "formats/model_file.h"
#include "passes/pass.h"

namespace {

constexpr const char* usage =
    "usage: proxy_validation MODEL.onnx --calib DIR --preprocess keras|torch [--calib-count 64] [--eval-images 64]\n"
    "                        [--layers a,b,c] [--format ternary2] [--k-fraction 0.25] [--sample 24]\n"
    "                        [--random-draws 3] [--threads N] [--seed 0] [--json] [--json-out FILE]\n"
    "Default layers: every other pointwise (1x1) layer counting back from the last one before the classifier.";

struct Options {
  std::string model_path, calib, preprocess, format = "ternary2", json_out;
  std::vector<std::string> layers;
  int64_t calib_count = 64, eval_images = 64, sample = 24, random_draws = 3;
  double k_fraction = 0.25;
  int threads = 0;
  uint64_t seed = 0;
  bool json = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  mc::bench::Args args(argc, argv, usage);
  while (args.next()) {
    const std::string& a = args.flag();
    auto value = [&] { return args.value(); };
    if (a == "--calib") {
      o.calib = value();
    } else if (a == "--preprocess") {
      o.preprocess = value();
    } else if (a == "--calib-count") {
      o.calib_count = static_cast<int64_t>(mc::bench::parse_number(a, value(), 1, 1e6, true));
    } else if (a == "--eval-images") {
      o.eval_images = static_cast<int64_t>(mc::bench::parse_number(a, value(), 1, 1e6, true));
    } else if (a == "--layers") {
      o.layers = mc::split_list(value());
    } else if (a == "--format") {
      o.format = value();
    } else if (a == "--k-fraction") {
      o.k_fraction = mc::bench::parse_number(a, value(), 1e-6, 0.5, false);
    } else if (a == "--sample") {
      o.sample = static_cast<int64_t>(mc::bench::parse_number(a, value(), 0, 1e6, true));
    } else if (a == "--random-draws") {
      o.random_draws = static_cast<int64_t>(mc::bench::parse_number(a, value(), 1, 1000, true));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(mc::bench::parse_number(a, value(), 1, 1024, true));
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(mc::bench::parse_number(a, value(), 0, 9007199254740992.0, true));
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--json-out") {
      o.json_out = value();
    } else if (args.is_flag()) {
      args.unknown();
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 1) mc::fail_usage(std::string("expected one model file\n") + usage);
  o.model_path = positional[0];
  if (o.calib.empty()) mc::fail_usage(std::string("--calib DIR is required\n") + usage);
  if (o.preprocess.empty()) mc::fail_usage("--preprocess is required (keras or torch)");
  const auto& formats = mc::candidate_formats();
  if (std::find(formats.begin(), formats.end(), o.format) == formats.end()) {
    std::string valid;
    for (const auto& f : formats) valid += (valid.empty() ? "" : ", ") + f;
    mc::fail_usage("--format: unknown format '" + o.format + "' (valid: " + valid + ")");
  }
  return o;
}

// A 64-bit mix (splitmix64's finalizer) so each layer and purpose gets its own reproducible stream.
uint64_t derive_seed(uint64_t seed, uint64_t layer, uint64_t purpose) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + layer * 0xBF58476D1CE4E5B9ull + purpose * 0x94D049BB133111EBull + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---- End-to-end measurement on a suffix of the network -------------------------------------------


using Distributions = std::vector<std::vector<double>>;

// The model without its final Softmax (the graph output becomes the logits, possibly through
// shape-only ops such as Flatten), so the probabilities the KL is computed from are not rounded to
// float32 first. Returns false, leaving the model alone, when the output is not produced that way.
// The caller checks on real images that the two give the same distributions.
bool strip_final_softmax(mc::Model& model) {
  static const std::set<std::string> shape_only = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
  auto& g = model.graph;
  if (g.outputs.size() != 1) return false;
  std::string value = g.outputs[0].name;
  for (int p = g.producer(value); p >= 0; p = g.producer(value)) {
    const mc::Node& node = g.nodes[static_cast<size_t>(p)];
    if (g.consumers(value).size() > (g.is_graph_output(value) ? 0u : 1u)) return false;
    if (node.op == "Softmax") {
      const std::string logits = node.inputs[0], probabilities = node.outputs[0];
      for (auto& n : g.nodes)
        for (auto& in : n.inputs)
          if (in == probabilities) in = logits;
      if (g.outputs[0].name == probabilities) g.outputs[0].name = logits;
      g.remove_dead();
      return true;
    }
    if (!shape_only.count(node.op)) return false;
    value = node.inputs[0];
  }
  return false;
}

// The network from one layer's input value on: `cut` is the value fed in; the layer's input
// activations of the evaluation images are computed once (`inputs`, one tensor per batch).
struct Suffix {
  std::string cut;
  mc::Model model;
  std::vector<mc::Tensor> inputs;
};

// Nodes from the layer on, fed by the layer's input alone. Falls back to the whole model (cut = the
// graph input, inputs = the images) when later nodes also read earlier values (residual networks).
Suffix make_suffix(const mc::Model& model, const std::string& layer_node, const mc::CalibrationSet& images, int threads) {
  const auto& g = model.graph;
  size_t start = g.nodes.size();
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == layer_node) start = i;
  if (start == g.nodes.size()) mc::fail_usage("no node named '" + layer_node + "'");
  const std::string cut = g.nodes[start].inputs[0];
  std::set<std::string> available = {cut};
  bool clean = g.inputs.size() == 1;
  for (size_t i = start; i < g.nodes.size() && clean; ++i) {
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty() && !available.count(in) && !g.initializer(in)) clean = false;
    for (const auto& out : g.nodes[i].outputs) available.insert(out);
  }
  Suffix s;
  if (!clean) {
    s.cut = g.inputs[0].name;
    s.model = model;
    mc::for_each_calibration_batch(images, [&](const mc::Tensor& batch, int64_t) { s.inputs.push_back(batch); });
    return s;
  }
  s.cut = cut;
  mc::Model prefix = model;
  prefix.graph.outputs = {mc::ValueInfo{cut, mc::DType::f32, {}, {}, false}};
  prefix.graph.remove_dead();
  {
    mc::Executor exec(prefix, mc::ExecutorOptions{threads, true});
    mc::for_each_calibration_batch(images, [&](const mc::Tensor& batch, int64_t) { s.inputs.push_back(exec.run({batch})[0]); });
  }
  mc::Shape shape = s.inputs.at(0).shape();
  std::vector<std::string> dim_params(shape.size());
  shape[0] = -1;
  dim_params[0] = "N";
  s.model = model;
  s.model.graph.nodes.assign(g.nodes.begin() + static_cast<std::ptrdiff_t>(start), g.nodes.end());
  s.model.graph.inputs = {mc::ValueInfo{cut, mc::DType::f32, shape, dim_params, true}};
  s.model.graph.remove_dead();
  return s;
}

Distributions suffix_distributions(const mc::Model& suffix_model, const std::vector<mc::Tensor>& inputs, int threads) {
  mc::Executor exec(suffix_model, mc::ExecutorOptions{threads, true});
  Distributions out;
  for (const auto& t : inputs) {
    mc::Tensor y = exec.run({t})[0];
    if (y.rank() != 2) mc::fail_unsupported("proxy validation needs a [N, classes] output, the model gives " + mc::shape_str(y.shape()));
    for (int64_t i = 0; i < y.dim(0); ++i) out.push_back(mc::to_probabilities(y.data<float>() + i * y.dim(1), y.dim(1)));
  }
  return out;
}

// Mean KL(reference || measured) in nats and top-1 agreement, exactly as mc::compare_outputs.
// `per_image`, when given, receives each image's KL (for the split-half reliability check).
mc::EndToEnd compare(const Distributions& measured, const Distributions& reference, std::vector<double>* per_image = nullptr) {
  mc::EndToEnd e;
  if (per_image) per_image->clear();
  if (measured.empty()) return e;
  int64_t agree = 0;
  for (size_t i = 0; i < measured.size(); ++i) {
    const auto& p = reference.at(i);
    const auto& q = measured[i];
    double kl = 0;
    for (size_t c = 0; c < p.size(); ++c)
      if (p[c] > 0) kl += p[c] * (std::log(p[c]) - std::log(std::max(q[c], 1e-30)));
    e.kl += kl;
    if (per_image) per_image->push_back(kl);
    agree += std::max_element(p.begin(), p.end()) - p.begin() == std::max_element(q.begin(), q.end()) - q.begin();
  }
  e.kl /= static_cast<double>(measured.size());
  e.top1_agreement = 100.0 * static_cast<double>(agree) / static_cast<double>(measured.size());
  return e;
}

// ---- Statistics -------------------------------------------------------------------------------------

// Ranks 1..n, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t t = i; t <= j; ++t) rank[order[t]] = 0.5 * static_cast<double>(i + j) + 1.0;
    i = j + 1;
  }
  return rank;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return x.size() < 3 ? NAN : pearson(average_ranks(x), average_ranks(y));
}

// Approximate 95% interval for a Spearman coefficient: Fisher z with the Bonett-Wright standard error
// sqrt((1 + r^2 / 2) / (n - 3)).
std::pair<double, double> spearman_interval(double r, size_t n) {
  if (std::isnan(r) || n < 4) return {NAN, NAN};
  double z = std::atanh(std::clamp(r, -0.999999, 0.999999));
  double se = std::sqrt((1 + r * r / 2) / static_cast<double>(n - 3));
  return {std::tanh(z - 1.96 * se), std::tanh(z + 1.96 * se)};
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// ---- The experiment -------------------------------------------------------------------------------------

struct SingleFilter {
  int64_t filter = 0;
  double relative_error = 0, absolute_error = 0, output_energy = 0;
  double relative_error_in_sample = 0;  // the proxy recomputed on the evaluation images themselves
  mc::EndToEnd measured;
  double kl_first_half = 0, kl_second_half = 0;  // the measured KL on each half of the evaluation images
};

struct LayerResult {
  std::string node;
  int64_t filters = 0, k = 0;
  bool suffix_cut = true;  // false: the whole model was rerun
  mc::EndToEnd least, most, least_by_absolute, whole_layer, unmodified, ulp_floor;
  double mean_relative_error = 0;  // over all the layer's filters
  std::vector<mc::EndToEnd> random;
  double random_kl = 0, random_agreement = 0;  // means over draws
  double proxy_ratio = 0;                      // sum of absolute proxy errors, most / least
  std::vector<SingleFilter> singles;
  double spearman_relative = NAN, spearman_absolute = NAN;
  double spearman_energy = NAN;       // measured KL against w^T C w alone
  double spearman_in_sample = NAN;    // measured KL against e computed on the evaluation images
  double split_half = NAN;            // Spearman of the single-filter KLs between the two image halves
  double seconds = 0;
};

std::vector<int64_t> first_k(const std::vector<int64_t>& order, int64_t k) {
  return std::vector<int64_t>(order.begin(), order.begin() + k);
}

// The default layers: every other pointwise layer counting back from the last one before the
// classifier (the last weighted layer of the graph), so the deepest pointwise layer is always in.
std::vector<std::string> default_layers(const std::vector<mc::LayerSensitivity>& layers) {
  std::vector<std::string> pointwise;
  for (size_t i = 0; i + 1 < layers.size(); ++i)
    if (layers[i].kind == "pointwise") pointwise.push_back(layers[i].node);
  std::vector<std::string> out;
  for (size_t i = pointwise.size(); i-- > 0;)
    if ((pointwise.size() - 1 - i) % 2 == 0) out.insert(out.begin(), pointwise[i]);
  return out;
}

std::string format_kl(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

std::string format_fixed(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

nlohmann::ordered_json end_to_end_json(const mc::EndToEnd& e) { return {{"kl", e.kl}, {"top1_agreement", e.top1_agreement}}; }

nlohmann::ordered_json nan_safe(double v) { return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v); }

int run(const Options& o) {
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  auto log = [&](const std::string& m) { std::fprintf(stderr, "proxy_validation: %s\n", m.c_str()); };
  const auto started = clock::now();
  const int threads = o.threads > 0 ? o.threads : mc::ThreadPool::default_threads();

  mc::Model model = mc::load_model(o.model_path);
  mc::PassContext pctx;
  pctx.threads = threads;
  mc::run_pipeline(model, mc::parse_pipeline("fold-constants,fold-bn"), pctx);
  mc::Model with_softmax = model;
  bool stripped_softmax = strip_final_softmax(model);

  for (const auto& name : o.layers)
    if (!model.graph.node(name))
      mc::fail_usage("--layers: the model has no node named '" + name + "'");

  // One seeded sample, split so the end-to-end measurements never see the calibration images.
  mc::ImageConfig image;
  image.preprocess = mc::parse_preprocess(o.preprocess);
  mc::CalibrationSet all = mc::calibration_set(o.calib, o.calib_count + o.eval_images, o.seed, image, model,
                                               [&](const std::string& m) { log("warning: " + m); });
  auto [calib, eval] = mc::split_held_out(all, o.eval_images);
  if (stripped_softmax) {
    // Same distributions with and without the model's own softmax (up to float32 rounding)?
    mc::CalibrationSet first = eval;
    first.files.resize(std::min<size_t>(first.files.size(), static_cast<size_t>(first.batch)));
    auto ours = mc::reference_outputs(model, first, threads).probabilities;
    auto theirs = mc::reference_outputs(with_softmax, first, threads).probabilities;
    double worst = 0;
    for (size_t i = 0; i < ours.size(); ++i)
      for (size_t c = 0; c < ours[i].size(); ++c) worst = std::max(worst, std::fabs(ours[i][c] - theirs.at(i).at(c)));
    if (worst > 1e-5) {
      log("warning: the model without its final Softmax differs by " + format_kl(worst) + "; keeping the Softmax");
      model = with_softmax;
      stripped_softmax = false;
    }
  }

  auto t = clock::now();
  mc::CalibrationStats stats = mc::collect_calibration_stats(model, calib, mc::StatsOptions{threads, true, false, {}});
  const double stats_seconds = seconds_since(t);
  t = clock::now();
  mc::ThreadPool pool(threads);
  std::vector<mc::LayerSensitivity> sensitivity = mc::filter_sensitivity(model, stats, pool);
  // The same proxy on the evaluation images: separates "the proxy has the wrong form" from "the
  // calibration images differ from the evaluation images".
  mc::CalibrationStats eval_stats = mc::collect_calibration_stats(model, eval, mc::StatsOptions{threads, true, false, {}});
  std::map<std::string, mc::LayerSensitivity> in_sample;
  for (auto& l : mc::filter_sensitivity(model, eval_stats, pool)) in_sample[l.node] = std::move(l);
  const double proxy_seconds = seconds_since(t);
  log("calibration statistics on " + std::to_string(calib.files.size()) + " images: " + format_fixed(stats_seconds, 1) + " s; proxy for every filter and format: " +
      format_fixed(proxy_seconds, 1) + " s");

  std::vector<std::string> layer_names = o.layers.empty() ? default_layers(sensitivity) : o.layers;
  if (layer_names.empty()) mc::fail_unsupported(o.model_path + ": no pointwise layer to validate (name layers with --layers)");
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < sensitivity.size(); ++i) position[sensitivity[i].node] = i;
  for (const auto& name : layer_names)
    if (!position.count(name)) mc::fail_usage("--layers: '" + name + "' is not a Conv / Gemm / MatMul layer with constant weights");

  // The reference: the float model on the evaluation images, once through the library's own path.
  t = clock::now();
  mc::ReferenceOutputs reference = mc::reference_outputs(model, eval, threads);
  log("reference outputs on " + std::to_string(eval.files.size()) + " held-out images: " + format_fixed(seconds_since(t), 1) + " s");

  std::vector<LayerResult> results;
  double check_kl_suffix = NAN, check_kl_library = NAN;
  for (const auto& name : layer_names) {
    const auto layer_started = clock::now();
    const mc::LayerSensitivity& ls = sensitivity[position.at(name)];
    const mc::LayerGram& gram = stats.layers.at(name);
    const mc::Tensor& weight = *model.graph.initializer(gram.weight);
    LayerResult r;
    r.node = name;
    r.filters = static_cast<int64_t>(ls.filters.size());
    r.k = std::clamp<int64_t>(std::llround(o.k_fraction * static_cast<double>(r.filters)), 1, r.filters);

    // Proxy values; the output energy w^T C w turns the relative error into the absolute one.
    std::vector<double> relative(static_cast<size_t>(r.filters)), absolute(relative.size());
    std::vector<std::vector<double>> covariance(static_cast<size_t>(gram.groups));
    for (int64_t g = 0; g < gram.groups; ++g) covariance[static_cast<size_t>(g)] = gram.moment(g, true);
    std::vector<double> energy(relative.size());
    for (int64_t f = 0; f < r.filters; ++f) {
      auto w = mc::filter_weights(weight, gram, f);
      const auto& c = covariance[static_cast<size_t>(gram.group_of(f))];
      energy[static_cast<size_t>(f)] = mc::quadratic_form(mc::Metric{c.data(), gram.rows}, w);
      relative[static_cast<size_t>(f)] = ls.filters[static_cast<size_t>(f)].error.at(o.format);
      absolute[static_cast<size_t>(f)] = relative[static_cast<size_t>(f)] * energy[static_cast<size_t>(f)];
    }
    auto ascending = [&](const std::vector<double>& key) {
      std::vector<int64_t> order(key.size());
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key[static_cast<size_t>(a)] < key[static_cast<size_t>(b)]; });
      return order;
    };
    const auto by_relative = ascending(relative), by_absolute = ascending(absolute);
    const auto least = first_k(by_relative, r.k);
    const auto most = std::vector<int64_t>(by_relative.end() - r.k, by_relative.end());
    const auto least_absolute = first_k(by_absolute, r.k);
    double sum_most = 0, sum_least = 0;
    for (int64_t f : most) sum_most += absolute[static_cast<size_t>(f)];
    for (int64_t f : least) sum_least += absolute[static_cast<size_t>(f)];
    r.proxy_ratio = sum_least > 0 ? sum_most / sum_least : NAN;
    r.mean_relative_error = std::accumulate(relative.begin(), relative.end(), 0.0) / static_cast<double>(r.filters);

    Suffix suffix = make_suffix(model, name, eval, threads);
    r.suffix_cut = suffix.cut != model.graph.inputs[0].name;
    Distributions ref = suffix_distributions(suffix.model, suffix.inputs, threads);
    r.unmodified = compare(ref, reference.probabilities);
    auto measure = [&](const std::vector<int64_t>& filters, std::vector<double>* per_image = nullptr) {
      return compare(suffix_distributions(mc::quantize_filters(suffix.model, gram, o.format, filters), suffix.inputs, threads), ref, per_image);
    };

    r.least = measure(least);
    r.most = measure(most);
    r.least_by_absolute = measure(least_absolute);
    r.whole_layer = measure(by_relative);
    const uint64_t layer_id = position.at(name);
    for (int64_t d = 0; d < o.random_draws; ++d) {
      r.random.push_back(measure(first_k(mc::seeded_permutation(r.filters, derive_seed(o.seed, layer_id, 100 + static_cast<uint64_t>(d))), r.k)));
      r.random_kl += r.random.back().kl / static_cast<double>(o.random_draws);
      r.random_agreement += r.random.back().top1_agreement / static_cast<double>(o.random_draws);
    }

    // Once per run: the suffix path against the library's whole-model path on the same configuration.
    if (std::isnan(check_kl_library)) {
      check_kl_suffix = r.least.kl;
      check_kl_library = mc::compare_outputs(mc::quantize_filters(model, gram, o.format, least), eval, reference, threads).kl;
    }

    const auto sample = first_k(mc::seeded_permutation(r.filters, derive_seed(o.seed, layer_id, 1)), std::min(o.sample, r.filters));
    // Rounding floor: one sampled filter's weights each moved by one float ulp (no bias change).
    if (!sample.empty()) {
      mc::Model nudged = suffix.model;
      mc::Tensor& w = nudged.graph.initializers.at(gram.weight).values;
      float* p = w.data<float>();
      const mc::WeightGeometry geometry = gram.geometry();
      for (int64_t k = 0; k < gram.rows; ++k) {
        float& v = p[geometry.element(sample[0], k)];
        v = std::nextafter(v, v >= 0 ? INFINITY : -INFINITY);
      }
      r.ulp_floor = compare(suffix_distributions(nudged, suffix.inputs, threads), ref);
    }
    std::vector<double> measured_kl, sample_relative, sample_absolute, sample_energy, sample_in_sample, first_half, second_half, per_image;
    for (int64_t f : sample) {
      SingleFilter s;
      s.filter = f;
      s.relative_error = relative[static_cast<size_t>(f)];
      s.absolute_error = absolute[static_cast<size_t>(f)];
      s.output_energy = energy[static_cast<size_t>(f)];
      s.relative_error_in_sample = in_sample.at(name).filters[static_cast<size_t>(f)].error.at(o.format);
      s.measured = measure({f}, &per_image);
      const size_t half = per_image.size() / 2;
      s.kl_first_half = std::accumulate(per_image.begin(), per_image.begin() + static_cast<std::ptrdiff_t>(half), 0.0) / static_cast<double>(std::max<size_t>(half, 1));
      s.kl_second_half = std::accumulate(per_image.begin() + static_cast<std::ptrdiff_t>(half), per_image.end(), 0.0) /
                         static_cast<double>(std::max<size_t>(per_image.size() - half, 1));
      measured_kl.push_back(s.measured.kl);
      sample_relative.push_back(s.relative_error);
      sample_absolute.push_back(s.absolute_error);
      sample_energy.push_back(s.output_energy);
      sample_in_sample.push_back(s.relative_error_in_sample);
      first_half.push_back(s.kl_first_half);
      second_half.push_back(s.kl_second_half);
      r.singles.push_back(s);
    }
    r.spearman_relative = spearman(sample_relative, measured_kl);
    r.spearman_absolute = spearman(sample_absolute, measured_kl);
    r.spearman_energy = spearman(sample_energy, measured_kl);
    r.spearman_in_sample = spearman(sample_in_sample, measured_kl);
    r.split_half = spearman(first_half, second_half);
    r.seconds = seconds_since(layer_started);
    log(name + ": " + std::to_string(r.filters) + " filters, k " + std::to_string(r.k) + ", KL least " + format_kl(r.least.kl) + " random " +
        format_kl(r.random_kl) + " most " + format_kl(r.most.kl) + ", Spearman e " + format_fixed(r.spearman_relative, 2) + " abs " +
        format_fixed(r.spearman_absolute, 2) + " (" + format_fixed(r.seconds, 1) + " s)");
    results.push_back(std::move(r));
  }

  // All sampled filters together: can the proxy also compare filters of different layers?
  std::vector<double> pooled_kl, pooled_relative, pooled_absolute;
  for (const auto& r : results)
    for (const auto& s : r.singles) {
      pooled_kl.push_back(s.measured.kl);
      pooled_relative.push_back(s.relative_error);
      pooled_absolute.push_back(s.absolute_error);
    }
  const double pooled_spearman_relative = spearman(pooled_relative, pooled_kl), pooled_spearman_absolute = spearman(pooled_absolute, pooled_kl);
  const double total_seconds = seconds_since(started);

  if (o.json || !o.json_out.empty()) {
    nlohmann::ordered_json j;
    j["model"] = o.model_path;
    j["format"] = o.format;
    j["proxy"] = "e = (w-q)^T C (w-q) / (w^T C w), C = centered input covariance; absolute = e * w^T C w";
    j["calibration"] = {{"dir", o.calib}, {"images", calib.files.size()}, {"seed", o.seed}, {"preprocess", o.preprocess}};
    j["eval_images"] = eval.files.size();
    j["k_fraction"] = o.k_fraction;
    j["sample"] = o.sample;
    j["random_draws"] = o.random_draws;
    j["threads"] = threads;
    j["final_softmax_removed"] = stripped_softmax;
    j["check"] = {{"kl_suffix", check_kl_suffix}, {"kl_compare_outputs", check_kl_library}};
    j["seconds"] = {{"statistics", stats_seconds}, {"proxy", proxy_seconds}, {"total", total_seconds}};
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& r : results) {
      nlohmann::ordered_json lj;
      lj["name"] = r.node;
      lj["filters"] = r.filters;
      lj["k"] = r.k;
      lj["suffix_cut"] = r.suffix_cut;
      lj["least"] = end_to_end_json(r.least);
      lj["random"] = {{"kl", r.random_kl}, {"top1_agreement", r.random_agreement}, {"draws", nlohmann::ordered_json::array()}};
      for (const auto& d : r.random) lj["random"]["draws"].push_back(end_to_end_json(d));
      lj["most"] = end_to_end_json(r.most);
      lj["most_over_least"] = nan_safe(r.least.kl > 0 ? r.most.kl / r.least.kl : NAN);
      lj["least_by_absolute"] = end_to_end_json(r.least_by_absolute);
      lj["whole_layer"] = end_to_end_json(r.whole_layer);
      lj["mean_relative_error"] = r.mean_relative_error;
      lj["proxy_most_over_least"] = nan_safe(r.proxy_ratio);
      lj["spearman_relative"] = nan_safe(r.spearman_relative);
      lj["spearman_absolute"] = nan_safe(r.spearman_absolute);
      lj["spearman_output_energy"] = nan_safe(r.spearman_energy);
      lj["spearman_relative_in_sample"] = nan_safe(r.spearman_in_sample);
      lj["split_half_reliability"] = nan_safe(r.split_half);
      lj["unmodified_kl"] = r.unmodified.kl;
      lj["ulp_floor_kl"] = r.ulp_floor.kl;
      lj["singles"] = nlohmann::ordered_json::array();
      for (const auto& s : r.singles)
        lj["singles"].push_back({{"filter", s.filter}, {"relative_error", s.relative_error}, {"absolute_error", s.absolute_error},
                                 {"output_energy", s.output_energy}, {"relative_error_in_sample", s.relative_error_in_sample}, {"kl", s.measured.kl},
                                 {"kl_first_half", s.kl_first_half}, {"kl_second_half", s.kl_second_half}, {"top1_agreement", s.measured.top1_agreement}});
      lj["seconds"] = r.seconds;
      j["layers"].push_back(lj);
    }
    j["pooled"] = {{"spearman_relative", nan_safe(pooled_spearman_relative)}, {"spearman_absolute", nan_safe(pooled_spearman_absolute)},
                   {"filters", pooled_kl.size()}};
    std::vector<double> mean_e, whole_kl;
    for (const auto& r : results) mean_e.push_back(r.mean_relative_error), whole_kl.push_back(r.whole_layer.kl);
    j["across_layers"] = {{"spearman_mean_relative_error_vs_whole_layer_kl", nan_safe(spearman(mean_e, whole_kl))}, {"layers", results.size()}};
    if (!o.json_out.empty()) {
      std::string text = j.dump(1) + "\n";
      std::FILE* f = std::fopen(o.json_out.c_str(), "wb");
      if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
        mc::fail(mc::ErrorKind::output, o.json_out + ": cannot write");
    }
    if (o.json) {
      std::printf("%s", (j.dump(1) + "\n").c_str());
      return 0;
    }
  }

  std::printf("%s, format %s, k = %.2f x filters; proxy on %zu calibration images, KL on %zu held-out images (seed %llu)\n\n", o.model_path.c_str(),
              o.format.c_str(), o.k_fraction, calib.files.size(), eval.files.size(), static_cast<unsigned long long>(o.seed));
  std::printf("| layer | filters | k | KL least | KL random | KL most | most/least | Spearman(e) | Spearman(abs) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : results)
    std::printf("| %s | %lld | %lld | %s | %s | %s | %s | %s | %s |\n", r.node.c_str(), static_cast<long long>(r.filters), static_cast<long long>(r.k),
                format_kl(r.least.kl).c_str(), format_kl(r.random_kl).c_str(), format_kl(r.most.kl).c_str(),
                format_fixed(r.least.kl > 0 ? r.most.kl / r.least.kl : NAN, 1).c_str(), format_fixed(r.spearman_relative, 2).c_str(),
                format_fixed(r.spearman_absolute, 2).c_str());
  std::printf("| all sampled filters, pooled (n = %zu) | | | | | | | %s | %s |\n\n", pooled_kl.size(), format_fixed(pooled_spearman_relative, 2).c_str(),
              format_fixed(pooled_spearman_absolute, 2).c_str());

  std::printf("| layer | mean e | KL whole layer | top-1 agree %% least / random / most | KL random draws min..max | KL least by abs | proxy abs most/least |\n");
  std::printf("|---|---:|---:|---|---|---:|---:|\n");
  std::vector<double> layer_mean_e, layer_whole_kl;
  for (const auto& r : results) {
    double lo = INFINITY, hi = 0;
    for (const auto& d : r.random) lo = std::min(lo, d.kl), hi = std::max(hi, d.kl);
    std::printf("| %s | %.4f | %s | %.1f / %.1f / %.1f | %s..%s | %s | %s |\n", r.node.c_str(), r.mean_relative_error, format_kl(r.whole_layer.kl).c_str(),
                r.least.top1_agreement, r.random_agreement, r.most.top1_agreement, format_kl(lo).c_str(), format_kl(hi).c_str(),
                format_kl(r.least_by_absolute.kl).c_str(), format_fixed(r.proxy_ratio, 1).c_str());
    layer_mean_e.push_back(r.mean_relative_error);
    layer_whole_kl.push_back(r.whole_layer.kl);
  }
  std::printf("\nacross layers: Spearman(mean e, KL whole layer) = %s (n = %zu)\n\n", format_fixed(spearman(layer_mean_e, layer_whole_kl), 2).c_str(),
              results.size());

  std::printf("| layer | n | 95%% CI Spearman(e) | 95%% CI Spearman(abs) | Spearman(w'Cw) | Spearman(e from eval images) | split-half reliability | single-filter KL median | ulp floor KL | s |\n");
  std::printf("|---|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : results) {
    std::vector<double> kls;
    for (const auto& sf : r.singles) kls.push_back(sf.measured.kl);
    auto ci_e = spearman_interval(r.spearman_relative, r.singles.size()), ci_a = spearman_interval(r.spearman_absolute, r.singles.size());
    std::printf("| %s | %zu | %s..%s | %s..%s | %s | %s | %s | %s | %s | %.0f |\n", r.node.c_str(), r.singles.size(), format_fixed(ci_e.first, 2).c_str(),
                format_fixed(ci_e.second, 2).c_str(), format_fixed(ci_a.first, 2).c_str(), format_fixed(ci_a.second, 2).c_str(),
                format_fixed(r.spearman_energy, 2).c_str(), format_fixed(r.spearman_in_sample, 2).c_str(), format_fixed(r.split_half, 2).c_str(),
                format_kl(median(kls)).c_str(), format_kl(r.ulp_floor.kl).c_str(), r.seconds);
  }
  std::printf("\nchecks: unmodified suffix KL ");
  double worst_unmodified = 0;
  for (const auto& r : results) worst_unmodified = std::max(worst_unmodified, r.unmodified.kl);
  std::printf("max %.3g (0 expected); suffix vs mc::compare_outputs on the whole model, %s least set: %.6g vs %.6g; final softmax %s\n",
              worst_unmodified, results.front().node.c_str(), check_kl_suffix, check_kl_library,
              stripped_softmax ? "removed (probabilities from logits in double)" : "not present");
  std::printf("time: statistics %.1f s, proxy %.1f s, total %.1f s on %d threads\n", stats_seconds, proxy_seconds, total_seconds, threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mc::fix_matrix_blocking();  // the same sums as mcompress
  try {
    return run(parse_args(argc, argv));
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "proxy_validation: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "proxy_validation: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "proxy_validation: error: %s\n", e.what());
    return 1;
  }
}
