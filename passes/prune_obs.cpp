// prune-obs: second-order pruning. Within a layer, weights are removed and the remaining ones
// compensated with the layer's input covariance, in the spirit of Optimal Brain Surgeon (Hassibi &
// Stork 1993) in its row-parallel form (OBC, Frantar & Alistarh 2022; SparseGPT 2023): one sweep
// over the columns (core/gptq.h PruneSpec per_row), each filter pruning its share of every block
// of 64 columns by saliency w^2 / [H^-1]_qq and spreading each removal's error over the weights
// not yet visited; then bias correction. Kept weights stay float (sparse fp32 in the file unless a
// later pass quantizes them, keeping the zeros).
//
// Per-layer sparsity: allocation=uniform gives every layer sparsity S. Otherwise each layer is
// fitted at 10%, 20%, ..., 90% and its proxy cost (relative output error) is scaled by the
// held-out KL measured with that layer alone at 50% (allocation=measured, the default with
// held-out images; allocation=proxy skips the measurement); the layers' options are ranked by cost
// per weight removed (passes/budget.h) and taken until sparsity=S of all the selected layers'
// weights is reached, or, with max-drop=P, while held-out top-1 agreement with the float model
// stays at 100 - P or more.
#include <algorithm>

#include "core/stage_timer.h"
#include "core/thread_pool.h"
#include "passes/budget.h"
#include "core/text.h"
#include "passes/pass.h"
#include "passes/pruning.h"
#include "passes/weight_fit.h"

namespace mc {

namespace {

struct LayerOptions {
  const LayerGram* gram = nullptr;
  std::vector<double> sparsity;                // per option (option 0: 0, no change)
  std::vector<std::vector<FilterFit>> fits;    // per option (option 0: empty)
  std::vector<double> proxy;                   // relative output error per option
  std::vector<double> pruned;                  // weights pruned per option
};

Model build(const Model& base, const std::vector<LayerOptions>& layers, const std::vector<size_t>& chosen, PassContext* ctx) {
  Model m = base;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (chosen[l] == 0) continue;
    std::vector<uint8_t> mask;
    apply_layer_fits(m, *layers[l].gram, layers[l].fits[chosen[l]], ctx ? &mask : nullptr);
    if (ctx) m.graph.set_pruned(layers[l].gram->weight, std::move(mask));
  }
  return m;
}

double relative(const std::vector<FilterFit>& fits) {
  double err = 0, energy = 0;
  for (const auto& f : fits) {
    err += f.abs_error;
    energy += f.energy;
  }
  return energy > 0 ? err / energy : 0.0;
}

}  // namespace

void run_prune_obs(Model& model, const PassOptions& options, PassContext& ctx) {
  const bool has_sparsity = options.given("sparsity"), has_drop = options.given("max-drop");
  const double target = has_sparsity ? options.number("sparsity") : 0.0;
  const double max_drop = has_drop ? options.number("max-drop") : 0.0;
  FitOptions fit;
  fit.format = WeightFormat::float32;
  fit.damping = options.number("damping");
  std::string allocation = options.text("allocation");
  if (allocation == "auto") allocation = ctx.held_out.files.empty() ? "proxy" : "measured";
  const double confidence = options.given("confidence") ? options.number("confidence") : 0.0;  // 0: the context's
  const DropCriterion criterion = drop_criterion(options);

  const CalibrationStats& stats = ctx.statistics(model);
  auto selected = pruning_layers(model, options);
  if (selected.empty()) fail_unsupported("prune-obs: the model has no " + options.text("layers") + " layers to prune");
  if (target == 0 && has_sparsity) return;  // sparsity 0: nothing to do

  std::vector<double> grid;
  if (allocation == "uniform") grid = {target};
  else
    for (int i = 1; i <= 9; ++i) grid.push_back(i / 10.0);

  ThreadPool pool(ctx.threads);
  std::vector<LayerOptions> layers;
  double total_weights = 0;
  for (const Node* node : selected) {
    LayerOptions lo;
    lo.gram = &stats.layers.at(node->name);
    const double n = static_cast<double>(model.graph.initializer(lo.gram->weight)->numel());
    total_weights += n;
    lo.sparsity.push_back(0);
    lo.fits.emplace_back();
    lo.proxy.push_back(0);
    lo.pruned.push_back(0);
    std::vector<std::vector<FilterFit>> fits(grid.size());
    pool.parallel_for(static_cast<int64_t>(grid.size()), [&](int64_t i) {
      FitOptions o = fit;
      o.threads = 1;  // the grid's points run in parallel already
      o.pruning.sparsity = grid[static_cast<size_t>(i)];
      fits[static_cast<size_t>(i)] = fit_layer(model, *lo.gram, o);
    });
    for (size_t i = 0; i < grid.size(); ++i) {
      double count = 0;
      for (const auto& f : fits[i])
        for (uint8_t p : f.pruned) count += p;
      lo.sparsity.push_back(grid[i]);
      lo.proxy.push_back(relative(fits[i]));
      lo.pruned.push_back(count);
      lo.fits.push_back(std::move(fits[i]));
    }
    layers.push_back(std::move(lo));
    if (ctx.log) ctx.log("prune-obs: fitted " + node->name);
  }

  std::vector<size_t> chosen(layers.size(), 1);  // uniform: every layer at its one option
  if (allocation != "uniform") {
    std::vector<double> scale(layers.size(), 1.0);
    if (allocation == "measured") {
      // Measured on the images a label-free budget search sees, never on those it is confirmed on (all
      // held-out images when no label-free decision follows).
      const CalibrationSet allocation_images = has_sparsity || ctx.has_validation() ? ctx.held_out : search_images(ctx.held_out, false);
      TimedStage timed("allocation probes");
      const double base_kl = compare_outputs(model, allocation_images, ctx.float_reference(allocation_images), ctx.threads).kl;
      for (size_t l = 0; l < layers.size(); ++l) {
        std::vector<size_t> one(layers.size(), 0);
        one[l] = 5;  // 50%
        scale[l] = kl_per_proxy(build(model, layers, one, nullptr), base_kl, layers[l].proxy[5], ctx, allocation_images);
      }
    }
    std::vector<std::vector<BudgetOption>> budget(layers.size());
    for (size_t l = 0; l < layers.size(); ++l)
      for (size_t o = 0; o < layers[l].proxy.size(); ++o) budget[l].push_back(BudgetOption{scale[l] * layers[l].proxy[o], layers[l].pruned[o]});
    const auto steps = ranked_steps(budget);
    std::vector<double> through(steps.size() + 1, 0.0);
    for (size_t i = 0; i < steps.size(); ++i) through[i + 1] = through[i] + steps[i].benefit;
    size_t n = 0;
    if (has_sparsity) {
      while (n < steps.size() && through[n] < target * total_weights) ++n;
    } else {
      BudgetQuery q;
      q.pass = "prune-obs";
      q.max_drop = max_drop;
      q.count = steps.size();
      q.build = [&](size_t k) { return build(model, layers, options_after(steps, k, layers.size()), nullptr); };
      q.benefit_through = [&](size_t k) { return through[k]; };
      q.resolution = 0.005 * total_weights;
      q.benefit_unit = "weights pruned";
      q.criterion = criterion;
      q.confidence = confidence;
      n = budget_search(ctx, q);
    }
    chosen = options_after(steps, n, layers.size());
  }
  double pruned = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    pruned += layers[l].pruned[chosen[l]];
    if (ctx.log) ctx.log("prune-obs: " + layers[l].gram->node + " sparsity " + std::to_string(layers[l].sparsity[chosen[l]]));
  }
  const std::string note = "prune-obs: " + with_commas(static_cast<int64_t>(pruned)) + " of " + count_of(static_cast<int64_t>(total_weights), "weight") +
                           " pruned (" + fixed(100.0 * pruned / std::max(total_weights, 1.0), 1) + "%)";
  if (ctx.log) ctx.log(note);
  if (ctx.note) ctx.note(note);
  model = build(model, layers, chosen, &ctx);
}

}  // namespace mc
