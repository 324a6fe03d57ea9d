#include "passes/sequential_fit.h"

#include <Eigen/Dense>

#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "core/error.h"
#include "core/stage_timer.h"
#include "passes/block_fit.h"
#include "passes/pass.h"

namespace mc {

namespace {

// Moves the filters of one layer to the least-squares target (see the header) and its bias by
// w'mu - w*'mu~; returns the model's statistics for the fit that follows.
LayerGram move_to_target(Model& model, const std::string& node, const PairedLayerStats& paired, double damping) {
  const LayerGram& layer = paired.layer;
  const std::string weight_name = layer.weight;
  const Tensor& weight = *model.graph.initializer(weight_name);
  const int64_t k = layer.rows, count = filter_count(weight, layer);
  std::vector<FilterFit> targets(static_cast<size_t>(count));
  for (int64_t g = 0; g < layer.groups; ++g) {
    std::vector<int64_t> filters;
    for (int64_t f = 0; f < count; ++f)
      if (layer.group_of(f) == g) filters.push_back(f);
    if (filters.empty()) continue;
    const auto c = layer.moment(g, true), x = paired.cross_covariance(g);
    const auto mu = paired.reference_mean(g), mu_model = layer.mean(g);
    const Eigen::Map<const Eigen::MatrixXd> cov(c.data(), k, k), cross_t(x.data(), k, k);  // column-major view: cross^T
    Eigen::MatrixXd w(k, static_cast<Eigen::Index>(filters.size()));
    for (size_t i = 0; i < filters.size(); ++i) {
      const auto wf = filter_weights(weight, layer, filters[i]);
      for (int64_t j = 0; j < k; ++j) w(j, static_cast<Eigen::Index>(i)) = wf[static_cast<size_t>(j)];
    }
    double mean_diagonal = cov.diagonal().mean();
    if (!(mean_diagonal > 0)) mean_diagonal = 1;
    Eigen::MatrixXd regularized = cov;
    regularized.diagonal().array() += damping * mean_diagonal;
    // (Cov(x~, x) - C~) w, with Cov(x~, x) row i = the model's input i.
    const Eigen::MatrixXd moved = w + regularized.ldlt().solve(cross_t.transpose() * w - cov * w);
    const Eigen::Map<const Eigen::VectorXd> m_ref(mu.data(), k), m_model(mu_model.data(), k);
    for (size_t i = 0; i < filters.size(); ++i) {
      const auto f = static_cast<size_t>(filters[i]);
      const auto col = static_cast<Eigen::Index>(i);
      targets[f].values.assign(moved.col(col).data(), moved.col(col).data() + k);
      for (double& v : targets[f].values) v = static_cast<double>(static_cast<float>(v));
      const Eigen::Map<const Eigen::VectorXd> stored(targets[f].values.data(), k);
      targets[f].bias_shift = w.col(col).dot(m_ref) - stored.dot(m_model);
    }
  }
  std::vector<int64_t> all(static_cast<size_t>(count));
  for (int64_t f = 0; f < count; ++f) all[static_cast<size_t>(f)] = f;
  Tensor* bias = bias_for(model, node);
  Tensor& w = model.graph.values_to_change(weight_name, "sequential fit of " + node);
  apply_fits(w, bias, layer, all, targets);
  return layer;
}

}  // namespace

std::string float_counterpart(const Graph& g, std::string value) {
  for (;;) {
    const int dq = g.producer(value);
    if (dq < 0 || g.nodes[static_cast<size_t>(dq)].op != "DequantizeLinear") return value;
    const int q = g.producer(g.nodes[static_cast<size_t>(dq)].inputs[0]);
    if (q < 0 || g.nodes[static_cast<size_t>(q)].op != "QuantizeLinear") return value;
    value = g.nodes[static_cast<size_t>(q)].inputs[0];
  }
}

bool defines(const Graph& g, const std::string& value) {
  if (g.producer(value) >= 0) return true;
  for (const auto& in : g.inputs)
    if (in.name == value) return true;
  return false;
}

void quantize_sequentially(Model& model, const std::vector<std::string>& layers, const std::function<FitOptions(size_t)>& options_for,
                           const SequentialFit& run) {
  const Graph& reference = run.reference->graph;
  std::vector<ChainSpec> chains;
  if (run.block) {
    chains = find_chains(model, layers);
  } else {
    for (const auto& name : layers) chains.emplace_back().layers = {name};
  }
  size_t done = 0;
  for (const ChainSpec& spec : chains) {
    std::vector<std::vector<FilterFit>> fits;
    std::vector<std::vector<float>> targets;
    std::vector<FitOptions> options;
    std::vector<std::string> weights;
    for (const std::string& name : spec.layers) {
      const Node* node = model.graph.node(name);
      if (!node) fail_internal("sequential fit: no layer '" + name + "'");
      const std::string input = float_counterpart(model.graph, node->inputs[0]);
      if (!defines(reference, input))
        fail_internal("sequential fit of " + node->describe() + ": its input '" + input + "' is not a value of the float model");
      options.push_back(options_for(done));
      PairedLayerStats paired;
      {
        TimedStage timed("sequential statistics");
        paired = collect_paired_layer_stats(model, name, *run.reference, input, *run.images, run.threads);
      }
      CalibrationStats stats;
      stats.layers.emplace(name, move_to_target(model, name, paired, options.back().damping));
      stats.images = static_cast<int64_t>(run.images->files.size());
      if (run.block) {  // the weights before rounding, which block reconstruction relaxes around
        const Tensor& moved = *model.graph.initializer(node->inputs[1]);
        targets.emplace_back(moved.data<float>(), moved.data<float>() + moved.numel());
      }
      weights.push_back(node->inputs[1]);
      // fit_and_apply may add a bias input and an initializer to the layer, never a node.
      fits.push_back(fit_and_apply(model, stats, name, options.back()));
      if (run.log) run.log("sequential fit: " + name + " (" + std::to_string(options.back().uniform_bits()) + "-bit grid)");
      ++done;
      if (run.progress) run.progress(static_cast<int64_t>(done), static_cast<int64_t>(layers.size()));
    }
    if (run.block && !spec.chain.layers.empty()) {
      TimedStage timed("block reconstruction");
      std::string why;
      const ChainSamples samples = collect_chain_samples(model, spec, *run.reference, *run.images, run.threads, *run.block, why);
      std::string names;
      for (const auto& name : spec.layers) names += (names.empty() ? "" : "+") + name;
      if (samples.count == 0) {
        if (run.log) run.log("block fit: " + names + " left layer-wise: " + why);
      } else {
        const ChainRefinement r = refine_chain(model, spec, samples, fits, targets, options, *run.block);
        if (run.log)
          run.log("block fit: " + names + " (" + std::to_string(samples.count) + " positions): error " + std::to_string(r.layerwise_error) +
                  " layer-wise, " + std::to_string(r.learned_error) + " learned" + (r.kept ? "" : " (layer-wise kept)"));
      }
    }
    for (size_t i = 0; i < weights.size(); ++i) encode_fits(model, weights[i], fits[i], options[i]);
  }
}

void fit_selected_layers(Model& model, const std::vector<const Node*>& layers, const std::function<FitOptions(const Node*)>& options_for,
                         const PassOptions& options, PassContext& ctx) {
  const bool block = options.text("method") == "block";
  if (block && options.text("sequential") != "on") fail_usage("method=block needs sequential=on (each block is fitted to the quantized network's own inputs)");
  if (options.text("sequential") != "on") {
    const CalibrationStats& stats = ctx.statistics(model);
    for (const Node* n : layers) quantize_layers(model, stats, {n}, options_for(n));
    return;
  }
  std::vector<std::string> names;
  std::vector<FitOptions> per_layer;
  for (const Node* n : layers) names.push_back(n->name), per_layer.push_back(options_for(n));
  CalibrationSet images = ctx.calibration;
  if (options.text("images") == "all") images.files.insert(images.files.end(), ctx.held_out.files.begin(), ctx.held_out.files.end());
  SequentialFit run;
  run.reference = &ctx.analyses.float_model();
  run.images = &images;
  run.threads = ctx.threads;
  run.log = ctx.log;
  run.progress = ctx.progress;
  BlockFitOptions block_options;
  if (options.declares("iterations")) block_options.iterations = static_cast<int>(options.integer("iterations"));
  if (block) run.block = &block_options;
  quantize_sequentially(model, names, [&](size_t i) { return per_layer[i]; }, run);
}

}  // namespace mc
