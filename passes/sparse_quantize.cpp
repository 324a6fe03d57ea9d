// sparse-quantize: per-layer choice of bit width and sparsity for the smallest file within an
// accuracy budget (the `sparse` recipe; after Choi et al., "Learning Sparse Low-Precision Neural
// Networks With Learnable Regularization": prune, quantize, entropy-code; here post-training).
//
// Candidates per layer: uniform symmetric grids of `bits` (default 8, 6, 5, 4, 3 bits: levels
// -qmax..qmax with qmax = round(2^(b-1)) - 1, so 127, 31, 15, 7, 3; fractional widths such as 4.5
// (qmax 10) and 3.5 (qmax 5) may be listed; one scale per filter) times `sparsity` (default 0, 25%, 50% of each
// filter's weights pruned), each fitted in one compensated sweep (core/gptq.h: OBS pruning and
// GPTQ rounding together) under the layer's centered input covariance, scales refitted, bias
// corrected; a layer with fewer fit samples than inputs is then scored on the held-out images'
// inputs (held-out-scoring=on). A layer pruned by an earlier pass keeps its zeros and only its bit
// width is chosen.
// Stored as int8 (qmax > 7) or int4 (qmax <= 7) parts whose symbols the .mcz writer entropy-codes,
// so fewer levels and more zeros both shrink the file; a candidate's size is estimated as its
// symbols' order-0 entropy plus its scales (the coder lands within ~1% of that, README "Entropy
// coding").
//
// Choice (passes/budget.h): a candidate's cost is its relative output error scaled by the held-out
// KL measured with that layer alone at 4 bits (allocation=measured, the default; allocation=proxy
// skips the measurement), its benefit the bytes it saves against 8 bits dense; the ranked steps
// are taken while the held-out damage stays within max-drop (criterion=expected, the default: the
// label-free expected top-1 drop; criterion=agreement: top-1 agreement with the float model, see
// passes/budget.h). Biases of the chosen layers are stored as float16 (bias=fp16, the default; every
// probe already computes with the rounded bias), and so are the per-filter scales (scales=fp16, the
// default: rounded inside the fit, before scoring and bias correction; the .mcz writer then stores
// them in 2 bytes). Activations stay float.
#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

#include "core/stage_timer.h"
#include "core/thread_pool.h"
#include "formats/rans.h"
#include "passes/budget.h"
#include "core/text.h"
#include "passes/pass.h"
#include "passes/weight_fit.h"

namespace mc {

namespace {

struct LayerCandidate {
  int32_t qmax = 127;  // levels -qmax..qmax
  double sparsity = 0;
  std::vector<int8_t> q;          // filter-major codes (K per filter)
  std::vector<float> scales;      // per filter
  std::vector<double> bias_shift; // per filter
  std::vector<double> error;      // per filter: (w-q)'C(w-q)
  double energy = 0;              // the layer's sum of w'Cw
  double proxy = 0;               // relative output error of the layer
  double bytes = 0;               // estimated stored bytes
  double bytes_per_scale = 4;
};

struct LayerChoice {
  const LayerGram* gram = nullptr;
  std::vector<LayerCandidate> candidates;
};

// A budget unit: filters [begin, end) of one layer, which take one candidate together. Rows of a
// GPTQ sweep are independent (core/gptq.h), so a unit's share of a whole-layer fit is exactly what
// fitting those filters alone would give; splitting a large layer into units only makes the
// ranked steps finer (a classifier's 5 -> 4 bit step is otherwise a tenth of the file at once).
struct Unit {
  size_t layer = 0;
  int64_t begin = 0, end = 0;
};

// Estimated stored bytes of filters [begin, end) of a candidate: order-0 bound of their codes, a
// frequency table (about 2 bytes per symbol used) and their scales.
double unit_bytes(const LayerCandidate& c, int64_t k, int64_t begin, int64_t end) {
  std::vector<uint8_t> symbols;
  symbols.reserve(static_cast<size_t>((end - begin) * k));
  for (int64_t i = begin * k; i < end * k; ++i) symbols.push_back(static_cast<uint8_t>(c.q[static_cast<size_t>(i)] + 128));
  size_t distinct = 0;
  std::vector<bool> seen(256, false);
  for (uint8_t s : symbols)
    if (!seen[s]) {
      seen[s] = true;
      ++distinct;
    }
  return order0_entropy_bits(std::span<const uint8_t>(symbols.data(), symbols.size())) / 8.0 + 2.0 * static_cast<double>(distinct) +
         c.bytes_per_scale * static_cast<double>(end - begin);
}

// Bits of a grid of 2 qmax + 1 levels: log2(qmax + 1) + 1 (8 bits: 127; 4.5 bits: 10 or 11).
double grid_bits(int32_t qmax) { return std::log2(static_cast<double>(qmax) + 1.0) + 1.0; }
// The grid for `bits` (whole or not): qmax = round(2^(bits-1)) - 1.
int32_t grid_qmax(double bits) { return static_cast<int32_t>(std::lround(std::exp2(bits - 1.0))) - 1; }

FitOptions options_for(int32_t qmax, double sparsity, double damping, bool half_scales) {
  FitOptions o;
  o.threads = 1;  // the candidates of a layer run in parallel already
  o.half_scales = half_scales;
  o.format = qmax <= 7 ? WeightFormat::int4 : WeightFormat::int8;
  o.qmax = qmax;
  o.damping = damping;
  o.pruning.sparsity = sparsity;
  return o;
}

LayerCandidate compact(const std::vector<FilterFit>& fits, int32_t qmax, double sparsity, double bytes_per_scale) {
  LayerCandidate c;
  c.qmax = qmax;
  c.sparsity = sparsity;
  c.bytes_per_scale = bytes_per_scale;
  double err = 0;
  for (const auto& f : fits) {
    c.scales.push_back(f.scale);
    c.bias_shift.push_back(f.bias_shift);
    for (int32_t q : f.q) c.q.push_back(static_cast<int8_t>(q));
    c.error.push_back(f.abs_error);
    err += f.abs_error;
    c.energy += f.energy;
  }
  c.proxy = c.energy > 0 ? err / c.energy : 0.0;
  const int64_t k = fits.empty() ? 0 : static_cast<int64_t>(fits[0].q.size());
  c.bytes = unit_bytes(c, k, 0, static_cast<int64_t>(fits.size()));
  return c;
}

std::vector<FilterFit> expand(const LayerCandidate& c, const LayerGram& gram) {
  std::vector<FilterFit> fits(c.scales.size());
  const size_t k = static_cast<size_t>(gram.rows);
  for (size_t f = 0; f < fits.size(); ++f) {
    FilterFit& fit = fits[f];
    fit.scale = c.scales[f];
    fit.bias_shift = c.bias_shift[f];
    fit.q.resize(k);
    fit.values.resize(k);
    for (size_t i = 0; i < k; ++i) {
      fit.q[i] = c.q[f * k + i];
      fit.values[i] = static_cast<float>(fit.q[i]) * fit.scale;  // as weight_fit's from_codes
    }
  }
  return fits;
}

// The model with every unit at its chosen candidate; with `encode`, also each weight's encoding (one
// part per run of consecutive units of a layer at the same candidate) and its bias's (fp16_bias).
Model build(const Model& base, const std::vector<LayerChoice>& layers, const std::vector<Unit>& units, const std::vector<size_t>& chosen,
            bool fp16_bias, bool encode) {
  Model m = base;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerGram& gram = *layers[l].gram;
    std::vector<FilterFit> fits;
    // Parts: [begin, end) filter ranges with their candidate.
    std::vector<std::tuple<int64_t, int64_t, size_t>> runs;
    for (size_t u = 0; u < units.size(); ++u) {
      if (units[u].layer != l) continue;
      auto unit_fits = expand(layers[l].candidates[chosen[u]], gram);
      fits.insert(fits.end(), std::make_move_iterator(unit_fits.begin() + units[u].begin), std::make_move_iterator(unit_fits.begin() + units[u].end));
      if (!runs.empty() && std::get<2>(runs.back()) == chosen[u] && std::get<1>(runs.back()) == units[u].begin) std::get<1>(runs.back()) = units[u].end;
      else runs.emplace_back(units[u].begin, units[u].end, chosen[u]);
    }
    apply_layer_fits(m, gram, fits);
    Tensor* bias = bias_for(m, gram.node);
    if (bias && fp16_bias) {
      // The corrected bias rounded to float16 (every probe sees the rounding the file will hold).
      EncodedTensor half = encode_fp16(*bias);
      if (encode) {
        for (const auto& node : m.graph.nodes)
          if (node.name == gram.node) m.graph.encode(node.inputs.at(2), std::move(half));
      } else {
        *bias = decode_tensor(half, gram.node + " bias");
      }
    }
    if (!encode) continue;
    EncodedTensor e;
    const Tensor& w = *m.graph.initializer(gram.weight);
    e.dtype = DType::f32;
    e.shape = w.shape();
    for (const auto& [begin, end, candidate] : runs) {
      const std::vector<FilterFit> part(fits.begin() + begin, fits.begin() + end);
      e.parts.push_back(make_part(part, options_for(layers[l].candidates[candidate].qmax, 0, 0, false), begin, end));
    }
    m.graph.encode(gram.weight, std::move(e));
  }
  return m;
}

}  // namespace

void run_sparse_quantize(Model& model, const PassOptions& options, PassContext& ctx) {
  const double max_drop = options.number("max-drop");
  const double damping = options.number("damping");
  const std::string sample_damping = options.text("sample-damping");
  // Grids by bits; whole or not (4.5 bits: levels -10..10), each the grid -qmax..qmax with
  // qmax = round(2^(bits-1)) - 1.
  std::vector<int32_t> grids;
  for (double b : options.numbers("bits")) grids.push_back(grid_qmax(b));
  std::vector<double> sparsities = options.numbers("sparsity");
  std::sort(grids.rbegin(), grids.rend());
  grids.erase(std::unique(grids.begin(), grids.end()), grids.end());
  std::sort(sparsities.begin(), sparsities.end());
  sparsities.erase(std::unique(sparsities.begin(), sparsities.end()), sparsities.end());
  const double confidence = options.given("confidence") ? options.number("confidence") : 0.0;  // 0: the context's
  const DropCriterion criterion = drop_criterion(options);
  const bool fp16_bias = options.text("bias") == "fp16";
  const double unit_share = options.number("unit-share");
  const bool half_scales = options.text("scales") == "fp16";
  const std::string allocation = options.text("allocation");

  // Held-out views: with 2 (the default) every held-out image is also judged mirrored and the two
  // views' costs are averaged per image: the estimate keeps its meaning and its standard error
  // (over images) shrinks as far as the views disagree on which predictions flip. Every held-out
  // judgement of this pass uses this view of the set (its float reference is cached by it).
  const bool mirrored = options.integer("views") == 2;
  // Per-layer cost scales and held-out scoring see the search images only (a label-free decision is
  // confirmed on the other half); with --val, the whole held-out set.
  const CalibrationSet held_views = ctx.has_validation() ? [&] {
    CalibrationSet all = ctx.held_out;
    all.mirrored = mirrored;
    return all;
  }() : search_images(ctx.held_out, mirrored);

  const CalibrationStats& stats = ctx.statistics(model);
  auto selected = select_layers(model, options.text("layers"));
  if (selected.empty()) fail_unsupported("sparse-quantize: the model has no layers to quantize");

  // A layer whose fit saw fewer input samples than it has inputs (a classifier after global pooling:
  // one per image) is scored on the held-out images' inputs instead (held_out_scoring=on): in-sample
  // its compensation hides error in directions the sample never saw, most at the lowest widths.
  const std::string held_out_scoring = options.text("held-out-scoring");
  StatsOptions poor{ctx.threads, true, false, {}};
  for (const Node* node : selected) {
    const LayerGram& g = stats.layers.at(node->name);
    if (held_out_scoring == "on" && g.samples < g.rows) poor.only.push_back(node->name);
  }
  const CalibrationStats held_out_stats = poor.only.empty() ? CalibrationStats{} : collect_calibration_stats(model, held_views, poor);
  for (const auto& name : poor.only)
    if (ctx.log) ctx.log("sparse-quantize: " + name + ": " + std::to_string(stats.layers.at(name).samples) + " fit samples of " +
                         std::to_string(stats.layers.at(name).rows) + " inputs; candidates scored on the held-out images");

  ThreadPool pool(ctx.threads);
  std::vector<LayerChoice> layers;
  for (const Node* node : selected) {
    LayerChoice lc;
    lc.gram = &stats.layers.at(node->name);
    const std::vector<uint8_t>* mask = model.graph.pruned_mask(lc.gram->weight);
    // Candidate grid, 8 bits dense first (the starting point of every layer).
    std::vector<std::pair<int32_t, double>> grid;
    for (double s : mask ? std::vector<double>{0.0} : sparsities)
      for (int32_t q : grids) grid.emplace_back(q, s);
    std::stable_sort(grid.begin(), grid.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    lc.candidates.resize(grid.size());
    // A layer with fewer input samples than inputs (a classifier after global pooling sees one per
    // image) has a rank-deficient covariance: compensation along its unseen directions fits noise.
    // sample-damping=on raises the ridge in proportion (inputs / samples), as shrinkage estimators
    // of a covariance do when the sample is small against the dimension.
    const double layer_damping = sample_damping == "on" && lc.gram->samples > 0
                                     ? damping * std::max(1.0, static_cast<double>(lc.gram->rows) / static_cast<double>(lc.gram->samples))
                                     : damping;
    const auto held = held_out_stats.layers.find(node->name);
    std::optional<OutOfSampleScorer> held_out_score;
    if (held != held_out_stats.layers.end()) held_out_score.emplace(*model.graph.initializer(lc.gram->weight), held->second);
    pool.parallel_for(static_cast<int64_t>(grid.size()), [&](int64_t i) {
      const auto [q, s] = grid[static_cast<size_t>(i)];
      auto fits = fit_layer(model, *lc.gram, options_for(q, s, layer_damping, half_scales), mask);
      if (held_out_score) held_out_score->score(fits);
      lc.candidates[static_cast<size_t>(i)] = compact(fits, q, s, half_scales ? 2.0 : 4.0);
    });
    layers.push_back(std::move(lc));
    if (ctx.log) ctx.log("sparse-quantize: fitted " + node->name);
  }

  // Cost scale per layer: held-out KL of the layer alone at the candidate nearest 4 bits dense.
  std::vector<double> scale(layers.size(), 1.0);
  if (allocation == "measured") {
    TimedStage timed("allocation probes");
    const double base_kl = compare_outputs(model, held_views, ctx.float_reference(held_views), ctx.threads).kl;
    for (size_t l = 0; l < layers.size(); ++l) {
      size_t probe = 0;
      for (size_t c = 0; c < layers[l].candidates.size(); ++c) {
        const LayerCandidate& cand = layers[l].candidates[c];
        if (cand.sparsity == 0 && std::abs(grid_bits(cand.qmax) - 4) < std::abs(grid_bits(layers[l].candidates[probe].qmax) - 4)) probe = c;
      }
      // The layer alone: every other layer stays float.
      Model m = model;
      auto fits = expand(layers[l].candidates[probe], *layers[l].gram);
      apply_layer_fits(m, *layers[l].gram, fits);
      scale[l] = kl_per_proxy(m, base_kl, layers[l].candidates[probe].proxy, ctx, held_views);
      if (ctx.log)
        ctx.log("sparse-quantize: " + layers[l].gram->node + ": KL per unit proxy " + std::to_string(scale[l]) + " (proxy " +
                std::to_string(layers[l].candidates[probe].proxy) + ", " + std::to_string(layers[l].gram->samples) + " samples of " +
                std::to_string(layers[l].gram->rows) + " inputs)");
    }
  }
  // Budget units: a layer holding more than `unit_share` of the 8-bit weight bytes is split into
  // about that many bytes per unit (consecutive filters), so no single step moves much of the file.
  double dense8_bytes = 0;
  for (const auto& lc : layers) dense8_bytes += lc.candidates[0].bytes;
  std::vector<Unit> units;
  for (size_t l = 0; l < layers.size(); ++l) {
    const int64_t filters = static_cast<int64_t>(layers[l].candidates[0].scales.size());
    int64_t count = unit_share > 0 ? std::llround(layers[l].candidates[0].bytes / (unit_share * dense8_bytes)) : 1;
    count = std::clamp<int64_t>(count, 1, std::max<int64_t>(1, filters / 16));
    if (layers[l].gram->filter_columns) count = 1;  // parts split axis 0, which is not the filters there
    for (int64_t i = 0; i < count; ++i) units.push_back(Unit{l, filters * i / count, filters * (i + 1) / count});
  }
  // A unit's cost: the layer's cost scale times its filters' share of the layer's relative error,
  // so the units of a layer add up to the layer's cost.
  std::vector<std::vector<BudgetOption>> budget(units.size());
  for (size_t u = 0; u < units.size(); ++u) {
    const LayerChoice& lc = layers[units[u].layer];
    const int64_t k = lc.gram->rows;
    const double base_bytes = unit_bytes(lc.candidates[0], k, units[u].begin, units[u].end);
    for (const auto& c : lc.candidates) {
      double err = 0;
      for (int64_t f = units[u].begin; f < units[u].end; ++f) err += c.error[static_cast<size_t>(f)];
      const double proxy = c.energy > 0 ? err / c.energy : 0.0;
      budget[u].push_back(BudgetOption{scale[units[u].layer] * proxy, base_bytes - unit_bytes(c, k, units[u].begin, units[u].end)});
    }
  }
  if (ctx.log) ctx.log("sparse-quantize: " + std::to_string(layers.size()) + " layers in " + std::to_string(units.size()) + " budget units");
  const auto steps = ranked_steps(budget);
  std::vector<double> saved(steps.size() + 1, 0.0);
  for (size_t i = 0; i < steps.size(); ++i) saved[i + 1] = saved[i] + steps[i].benefit;
  BudgetQuery q;
  q.pass = "sparse-quantize";
  q.max_drop = max_drop;
  q.count = steps.size();
  q.build = [&](size_t k) { return build(model, layers, units, options_after(steps, k, units.size()), fp16_bias, false); };
  q.benefit_through = [&](size_t k) { return saved[k]; };
  q.resolution = 0.002 * dense8_bytes;
  q.benefit_unit = "bytes saved";
  q.criterion = criterion;
  q.confidence = confidence;
  q.mirrored_views = mirrored;
  const size_t n = budget_search(ctx, q);
  const auto chosen = options_after(steps, n, units.size());
  for (size_t u = 0; u < units.size(); ++u) {
    const LayerChoice& lc = layers[units[u].layer];
    const LayerCandidate& c = lc.candidates[chosen[u]];
    if (ctx.log)
      ctx.log("sparse-quantize: " + lc.gram->node + " filters " + std::to_string(units[u].begin) + ".." + std::to_string(units[u].end - 1) + ": levels -" +
              std::to_string(c.qmax) + ".." + std::to_string(c.qmax) + " (" + std::to_string(grid_bits(c.qmax)).substr(0, 4) + " bits), sparsity " +
              std::to_string(c.sparsity) + ", ~" + std::to_string(static_cast<int64_t>(unit_bytes(c, lc.gram->rows, units[u].begin, units[u].end))) + " bytes");
  }
  model = build(model, layers, units, chosen, fp16_bias, true);
  if (ctx.note) {
    // Weighted by the weights each unit holds.
    double weights = 0, bits = 0, pruned = 0, narrowest = 99, widest = 0;
    for (size_t u = 0; u < units.size(); ++u) {
      const LayerCandidate& c = layers[units[u].layer].candidates[chosen[u]];
      const double w = static_cast<double>((units[u].end - units[u].begin) * layers[units[u].layer].gram->rows);
      weights += w;
      bits += w * grid_bits(c.qmax);
      pruned += w * c.sparsity;
      narrowest = std::min(narrowest, grid_bits(c.qmax));
      widest = std::max(widest, grid_bits(c.qmax));
    }
    ctx.note("sparse-quantize: " + count_of(static_cast<int64_t>(layers.size()), "layer") + " at " + fixed(narrowest, 1) + " to " +
             fixed(widest, 1) + " bits (mean " + fixed(bits / std::max(weights, 1.0), 2) + "), " + fixed(100.0 * pruned / std::max(weights, 1.0), 1) +
             "% of their weights pruned; weights about " + with_commas(static_cast<int64_t>(dense8_bytes - saved[n])) + " bytes (" +
             with_commas(static_cast<int64_t>(dense8_bytes)) + " at 8 bits dense)");
  }
}

}  // namespace mc
