// split-hybrid: per-layer hybrid filter banks (Gope et al., "Ternary MobileNets via Per-Layer Hybrid
// Filter Banks"), post-training. In each selected layer (default: pointwise convolutions, not the
// classifier) the least sensitive filters become residual ternary (additions only) and the rest
// stay in a multiplying bank (int8 by default, or float). The file stores each layer's banks
// contiguously (bank filters, then ternary filters) with a channel permutation, so the graph and
// the network's function are unchanged but for quantization error.
//
// Which filters: every candidate filter f of every layer gets its ternary fit; its cost is its
// relative output error e_f (core of the sensitivity profile), scaled per layer by the measured
// held-out KL that layer's ternary filters add (allocation=measured), and its benefit the
// multiplications it removes, (K - terms) x output positions. Filters are taken in increasing e_f per MUL removed,
// across layers, until either `fraction` of all the network's MACs are removed or, with
// max-drop=P, as many as keep the estimated top-1 loss on the held-out images within P points (a
// bisection over the ranked list, each probe a forward pass of the held-out images). The held-out
// images have no labels, so the loss is estimated against the float model: criterion=expected
// (default) takes the float model's output distribution as the distribution of the label and
// charges each image p[float top-1] - p[compressed top-1] and accepts a candidate when the mean plus
// one standard error is within P; criterion=agreement charges every changed
// top-1 a full image (100 - agreement), which is far stricter than the real loss
// (docs/SENSITIVITY.md, "Estimating the drop").
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "analysis/op_count.h"
#include "core/stage_timer.h"
#include "core/shape_inference.h"
#include "passes/budget.h"
#include "core/text.h"
#include "passes/pass.h"
#include "passes/weight_fit.h"

namespace mc {

namespace {

struct FilterCandidate {
  size_t layer;
  int64_t filter;
  double cost;     // relative ternary error
  double benefit;  // MULs removed
};

struct HybridLayer {
  std::string node, weight;
  int64_t filters = 0;
  std::vector<FilterFit> ternary;  // per filter
  std::vector<FilterFit> bank;     // per filter (int8 bank), empty for a float bank
};

// Applies the choice (the first `n` ranked candidates are ternary) to a copy of the model; with
// `encode`, also encodes each layer's weight (a probe needs only the values).
Model build(const Model& base, const CalibrationStats& stats, const std::vector<HybridLayer>& layers, const std::vector<FilterCandidate>& ranked,
            size_t n, const FitOptions& ternary_options, const FitOptions& bank_options, bool int8_bank, bool encode) {
  Model m = base;
  std::vector<std::vector<bool>> is_ternary(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) is_ternary[l].assign(static_cast<size_t>(layers[l].filters), false);
  for (size_t i = 0; i < n; ++i) is_ternary[ranked[i].layer][static_cast<size_t>(ranked[i].filter)] = true;
  for (size_t l = 0; l < layers.size(); ++l) {
    const HybridLayer& hl = layers[l];
    const LayerGram& gram = stats.layers.at(hl.node);
    std::vector<int64_t> bank_filters, ternary_filters;
    std::vector<FilterFit> bank_fits, ternary_fits;
    for (int64_t f = 0; f < hl.filters; ++f) {
      if (is_ternary[l][static_cast<size_t>(f)]) {
        ternary_filters.push_back(f);
        ternary_fits.push_back(hl.ternary[static_cast<size_t>(f)]);
      } else {
        bank_filters.push_back(f);
        if (int8_bank) bank_fits.push_back(hl.bank[static_cast<size_t>(f)]);
      }
    }
    if (!int8_bank && ternary_filters.empty()) continue;  // a float layer, untouched
    Tensor* bias = bias_for(m, hl.node);
    Tensor& w = m.graph.values_to_change(hl.weight, "split-hybrid");
    const Tensor original = w;
    apply_fits(w, bias, gram, ternary_filters, ternary_fits);
    if (int8_bank) apply_fits(w, bias, gram, bank_filters, bank_fits);
    if (!encode) continue;
    EncodedTensor e;
    e.dtype = DType::f32;
    e.shape = w.shape();
    const int64_t nb = static_cast<int64_t>(bank_filters.size());
    if (nb > 0) {
      if (int8_bank) {
        e.parts.push_back(make_part(bank_fits, bank_options, 0, nb));
      } else {
        // Float bank: the original weights of those filters, byte planes (lossless).
        Tensor rows(DType::f32, {nb, gram.rows});
        for (int64_t i = 0; i < nb; ++i)
          std::memcpy(rows.data<float>() + i * gram.rows, original.data<float>() + bank_filters[static_cast<size_t>(i)] * gram.rows,
                      static_cast<size_t>(gram.rows) * sizeof(float));
        EncodedPart p = encode_fp32_planes(rows).parts[0];
        p.channel_begin = 0;
        p.channel_end = nb;
        e.parts.push_back(std::move(p));
      }
    }
    if (!ternary_filters.empty()) e.parts.push_back(make_part(ternary_fits, ternary_options, nb, hl.filters));
    if (!ternary_filters.empty() && nb > 0) {
      for (int64_t f : bank_filters) e.permutation.push_back(static_cast<uint32_t>(f));
      for (int64_t f : ternary_filters) e.permutation.push_back(static_cast<uint32_t>(f));
    }
    m.graph.encode(hl.weight, std::move(e));
  }
  return m;
}

}  // namespace

void run_split_hybrid(Model& model, const PassOptions& options, PassContext& ctx) {
  if (options.text("method") == "block")
    fail_usage("split-hybrid does not take method=block (block reconstruction needs sequential fitting: quantize-int8, ternarize)");
  FitOptions ternary = fit_options(WeightFormat::ternary, options);
  FitOptions bank = fit_options(WeightFormat::int8, options);
  ternary.threads = bank.threads = ctx.threads;
  const bool int8_bank = options.text("bank") == "int8";
  const bool has_fraction = options.given("fraction");  // else max-drop (the registry's rule: exactly one)
  const DropCriterion criterion = drop_criterion(options);
  const double fraction = has_fraction ? options.number("fraction") : 0.0;
  const double max_drop = has_fraction ? 0.0 : options.number("max-drop");

  const CalibrationStats& stats = ctx.statistics(model);
  ctx.filter_sensitivity_format = "ternary" + (ternary.terms > 1 ? "x" + std::to_string(ternary.terms) : std::string());
  auto selected = select_layers(model, options.text("layers"), options.flag("skip-classifier"));
  if (selected.empty()) fail_unsupported("split-hybrid: the model has no " + options.text("layers") + " layers to split");
  InferredGraph shapes = infer_shapes(model, 1);
  const double total_macs = static_cast<double>(count_ops(model, shapes).macs);

  std::vector<HybridLayer> layers;
  std::vector<FilterCandidate> candidates;
  for (const Node* node : selected) {
    const LayerGram& gram = stats.layers.at(node->name);
    HybridLayer hl;
    hl.node = node->name;
    hl.weight = node->inputs[1];
    const Tensor& w = *model.graph.initializer(hl.weight);
    hl.filters = filter_count(w, gram);
    std::vector<int64_t> all(static_cast<size_t>(hl.filters));
    for (int64_t f = 0; f < hl.filters; ++f) all[static_cast<size_t>(f)] = f;
    hl.ternary = fit_filters(w, gram, all, ternary);
    if (int8_bank) hl.bank = fit_filters(w, gram, all, bank);
    const double macs_per_filter = static_cast<double>(node_macs(*node, shapes)) / static_cast<double>(hl.filters);
    const double positions = macs_per_filter / static_cast<double>(gram.rows);
    const double benefit = macs_per_filter - positions * ternary.terms;
    for (int64_t f = 0; f < hl.filters; ++f)
      if (benefit > 0) candidates.push_back(FilterCandidate{layers.size(), f, hl.ternary[static_cast<size_t>(f)].error, benefit});
    std::vector<double>& recorded = ctx.filter_sensitivity[node->name];
    recorded.clear();
    for (const auto& fit : hl.ternary) recorded.push_back(fit.error);
    layers.push_back(std::move(hl));
    if (ctx.log) ctx.log("split-hybrid: fitted " + node->name);
  }
  // Across layers the proxy is a poor guide (docs/SENSITIVITY.md: per-layer Spearman 0.2-0.6), so
  // with held-out images each layer's proxy is scaled by a measured factor: the held-out KL added by
  // making that layer's least sensitive half ternary, per unit of their summed proxy.
  std::string allocation = options.text("allocation");
  if (allocation == "auto") allocation = ctx.held_out.files.empty() ? "proxy" : "measured";
  // Measured on the images a label-free budget search sees, never on those it is confirmed on (all
  // held-out images when no label-free decision follows).
  const CalibrationSet allocation_images = has_fraction || ctx.has_validation() ? ctx.held_out : search_images(ctx.held_out, false);
  if (allocation == "measured") {
    TimedStage timed("allocation probes");
    const ReferenceOutputs& reference = ctx.float_reference(allocation_images);
    const double base_kl = compare_outputs(model, allocation_images, reference, ctx.threads).kl;
    for (size_t l = 0; l < layers.size(); ++l) {
      std::vector<FilterCandidate> own;
      for (const auto& c : candidates)
        if (c.layer == l) own.push_back(c);
      if (own.empty()) continue;
      std::stable_sort(own.begin(), own.end(), [](const FilterCandidate& a, const FilterCandidate& b) { return a.cost < b.cost; });
      own.resize((own.size() + 1) / 2);
      double proxy_sum = 0;
      for (const auto& c : own) proxy_sum += c.cost;
      Model probe = build(model, stats, layers, own, own.size(), ternary, bank, int8_bank, false);
      double added = compare_outputs(probe, allocation_images, reference, ctx.threads).kl - base_kl;
      // A floor keeps a layer whose half measured as free from looking infinitely cheap.
      double weight = std::max(added, 1e-6) / std::max(proxy_sum, 1e-12);
      for (auto& c : candidates)
        if (c.layer == l) c.cost *= weight;
      if (ctx.log) ctx.log("split-hybrid: " + layers[l].node + ": half ternary adds held-out KL " + std::to_string(added));
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const FilterCandidate& a, const FilterCandidate& b) {
    return a.cost / a.benefit < b.cost / b.benefit;
  });
  std::vector<double> removed(candidates.size() + 1, 0.0);
  for (size_t i = 0; i < candidates.size(); ++i) removed[i + 1] = removed[i] + candidates[i].benefit;

  size_t chosen = 0;
  if (has_fraction) {
    while (chosen < candidates.size() && removed[chosen] < fraction * total_macs) ++chosen;
  } else {
    // The largest prefix whose drop stays within the budget (passes/budget.h). Stop bisecting when
    // the interval is below 0.5% of the network's MACs.
    BudgetQuery q;
    q.pass = "split-hybrid";
    q.max_drop = max_drop;
    q.count = candidates.size();
    q.build = [&](size_t n) { return build(model, stats, layers, candidates, n, ternary, bank, int8_bank, false); };
    q.benefit_through = [&](size_t n) { return removed[n]; };
    q.resolution = 0.005 * total_macs;
    q.benefit_unit = "MULs removed";
    q.criterion = criterion;
    if (options.given("confidence")) q.confidence = options.number("confidence");
    chosen = budget_search(ctx, q);
  }
  if (ctx.log)
    ctx.log("split-hybrid: " + std::to_string(chosen) + " of " + std::to_string(candidates.size()) + " filters ternary, " +
            std::to_string(100.0 * removed[chosen] / total_macs) + "% of all MACs");
  model = build(model, stats, layers, candidates, chosen, ternary, bank, int8_bank, true);
  const std::string note = "split-hybrid: " + with_commas(static_cast<int64_t>(chosen)) + " of " +
                           count_of(static_cast<int64_t>(candidates.size()), "filter") + " ternary (" +
                           fixed(100.0 * removed[chosen] / total_macs, 1) + "% of all MACs)";
  if (ctx.note) ctx.note(note);

}

}  // namespace mc
