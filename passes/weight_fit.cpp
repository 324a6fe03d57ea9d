#include "passes/weight_fit.h"

#include "core/adaround.h"
#include "core/thread_pool.h"

#include <Eigen/Core>
#include <Eigen/LU>
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "core/weighted_op.h"
#include "analysis/sensitivity.h"
#include "core/gptq.h"
#include "core/quantizers.h"
#include "passes/pass.h"

namespace mc {

namespace {

// Symbol of residual-ternary term t in level code c (base-3 digits: 0 -> 0, 1 -> +1, 2 -> -1).
uint8_t term_symbol(int32_t code, int t) {
  for (int i = 0; i < t; ++i) code /= 3;
  return static_cast<uint8_t>(code % 3);
}

// Every value sum_t s_t a_t, summed in float32 in term order as the decoder does, with its code.
LevelSet ternary_levels(const std::vector<float>& scales) {
  const int k = static_cast<int>(scales.size());
  int32_t combos = 1;
  for (int t = 0; t < k; ++t) combos *= 3;
  std::vector<std::pair<double, int32_t>> v;
  for (int32_t c = 0; c < combos; ++c) {
    float acc = 0.0f;
    for (int t = 0; t < k; ++t) {
      uint8_t s = term_symbol(c, t);
      acc += s == 1 ? scales[static_cast<size_t>(t)] : (s == 2 ? -scales[static_cast<size_t>(t)] : 0.0f);
    }
    v.emplace_back(acc, c);
  }
  std::sort(v.begin(), v.end());
  LevelSet ls;
  for (const auto& [value, code] : v) {
    ls.levels.push_back(value);
    ls.codes.push_back(code);
  }
  return ls;
}

LevelSet uniform_levels(float scale, int32_t qmax) {
  LevelSet ls;
  for (int32_t q = -qmax; q <= qmax; ++q) {
    ls.levels.push_back(static_cast<double>(static_cast<float>(q) * scale));
    ls.codes.push_back(q);
  }
  return ls;
}

// Fills a FilterFit from level codes (the plain or GPTQ result) for the given level parameters.
FilterFit from_codes(const std::vector<int32_t>& codes, const FitOptions& o, float scale, const std::vector<float>& term_scales) {
  FilterFit fit;
  const size_t k = codes.size();
  fit.values.resize(k);
  if (o.format == WeightFormat::ternary) {
    fit.term_scales = term_scales;
    fit.term_symbols.assign(term_scales.size(), std::vector<uint8_t>(k));
    for (size_t i = 0; i < k; ++i) {
      float acc = 0.0f;
      for (size_t t = 0; t < term_scales.size(); ++t) {
        uint8_t s = term_symbol(codes[i], static_cast<int>(t));
        fit.term_symbols[t][i] = s;
        acc += s == 1 ? term_scales[t] : (s == 2 ? -term_scales[t] : 0.0f);
      }
      fit.values[i] = acc;
    }
  } else {
    fit.scale = scale;
    fit.q = codes;
    for (size_t i = 0; i < k; ++i) fit.values[i] = static_cast<float>(codes[i]) * scale;
  }
  return fit;
}

// Least-squares scales for fixed level patterns under C: ternary terms' scales jointly, or the
// single uniform scale. Returns false if the system is singular.
bool refit_scales(FilterFit& fit, std::span<const double> w, const std::vector<double>& c, const FitOptions& o) {
  const Eigen::Index k = static_cast<Eigen::Index>(w.size());
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> cm(c.data(), k, k);
  Eigen::Map<const Eigen::VectorXd> wv(w.data(), k);
  const Eigen::Index terms = o.format == WeightFormat::ternary ? static_cast<Eigen::Index>(fit.term_scales.size()) : 1;
  Eigen::MatrixXd basis(k, terms);
  for (Eigen::Index i = 0; i < k; ++i)
    for (Eigen::Index t = 0; t < terms; ++t) {
      if (o.format == WeightFormat::ternary) {
        uint8_t s = fit.term_symbols[static_cast<size_t>(t)][static_cast<size_t>(i)];
        basis(i, t) = s == 1 ? 1.0 : (s == 2 ? -1.0 : 0.0);
      } else {
        basis(i, t) = fit.q[static_cast<size_t>(i)];
      }
    }
  Eigen::MatrixXd normal = basis.transpose() * cm * basis;
  Eigen::VectorXd rhs = basis.transpose() * cm * wv;
  Eigen::FullPivLU<Eigen::MatrixXd> lu(normal);
  if (lu.rank() < terms) return false;
  Eigen::VectorXd a = lu.solve(rhs);
  for (Eigen::Index t = 0; t < terms; ++t)
    if (!std::isfinite(a(t))) return false;
  if (o.format == WeightFormat::ternary) {
    std::vector<float> scales(static_cast<size_t>(terms));
    std::vector<int32_t> codes(static_cast<size_t>(k), 0);
    for (Eigen::Index t = 0; t < terms; ++t) scales[static_cast<size_t>(t)] = static_cast<float>(a(t));
    // Rebuild codes from the symbols (term t is base-3 digit t).
    for (Eigen::Index i = 0; i < k; ++i) {
      int32_t code = 0, mul = 1;
      for (Eigen::Index t = 0; t < terms; ++t) {
        code += fit.term_symbols[static_cast<size_t>(t)][static_cast<size_t>(i)] * mul;
        mul *= 3;
      }
      codes[static_cast<size_t>(i)] = code;
    }
    fit = from_codes(codes, o, 0, scales);
  } else {
    if (!(a(0) > 0)) return false;
    fit = from_codes(fit.q, o, static_cast<float>(a(0)), {});
  }
  return true;
}

// The fit's error under the layer's centered covariance c, absolute and relative to the filter's own
// `energy` (w' c w: the same for every fit of w, so computed once), and the bias shift that corrects
// the mean change.
void score(FilterFit& fit, std::span<const double> w, const std::vector<double>& c, const std::vector<double>& mu, double energy) {
  Metric h{c.data(), static_cast<int64_t>(w.size())};
  std::vector<double> diff(w.size());
  double shift = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    diff[i] = w[i] - fit.values[i];
    shift += diff[i] * mu[i];
  }
  fit.abs_error = quadratic_form(h, diff);
  fit.energy = energy;
  fit.error = energy > 0 ? fit.abs_error / energy : 0.0;
  fit.bias_shift = shift;
}

// The nearest float16 value of a uniform grid's scale, when that is a normal float16 number
// (relative error at most 2^-11); otherwise the scale unchanged.
float half_scale(float scale) {
  const float h = half_to_float(float_to_half(scale));
  return std::isfinite(h) && std::abs(h) >= 6.103515625e-05f ? h : scale;
}

}  // namespace

std::vector<FilterFit> fit_filters(const Tensor& weight, const LayerGram& layer, const std::vector<int64_t>& filters,
                                   const FitOptions& o, const std::vector<uint8_t>* fixed_mask) {
  std::vector<FilterFit> out(filters.size());
  std::map<int64_t, std::vector<size_t>> by_group;
  for (size_t i = 0; i < filters.size(); ++i) by_group[layer.group_of(filters[i])].push_back(i);
  const int64_t k = layer.rows;
  const bool pruning = o.pruning.active() || fixed_mask != nullptr;
  // One pool for the call, on `o.threads` threads: the per-filter work of a layer with many filters
  // (each filter in its own task) and AdaRound's rows of a group with more than 16 filters (blocks
  // whose bounds depend on the shapes only). Neither result depends on the thread count.
  std::unique_ptr<ThreadPool> pool;
  if (filters.size() > 16 && o.threads != 1) pool = std::make_unique<ThreadPool>(o.threads);
  ThreadPool* filter_pool = filters.size() >= 32 ? pool.get() : nullptr;
  auto for_each_member = [&](size_t n, const std::function<void(size_t)>& f) {
    if (!filter_pool) {
      for (size_t r = 0; r < n; ++r) f(r);
      return;
    }
    filter_pool->parallel_for(static_cast<int64_t>(n), [&](int64_t r) { f(static_cast<size_t>(r)); });
  };
  PruneSpec spec;
  if (fixed_mask) {
    spec.mode = PruneSpec::Mode::fixed;
  } else if (o.pruning.nm_group > 0) {
    // N:M along input channels: at each kernel position, groups of M consecutive input channels.
    const int64_t spatial = layer.kernel_positions;
    const int64_t channels = spatial > 0 ? k / spatial : 0;
    if (channels % o.pruning.nm_group != 0)
      fail_usage("layer '" + layer.node + "': N:M pruning with M=" + std::to_string(o.pruning.nm_group) + " needs M to divide its " +
                       std::to_string(channels) + " input channels per group");
    spec.mode = PruneSpec::Mode::groups;
    spec.group_keep = o.pruning.nm_keep;
    spec.column_group.resize(static_cast<size_t>(k));
    for (int64_t col = 0; col < k; ++col) spec.column_group[static_cast<size_t>(col)] = (col / spatial / o.pruning.nm_group) * spatial + col % spatial;
  } else if (o.pruning.sparsity > 0) {
    spec.mode = PruneSpec::Mode::per_row;
    spec.sparsity = o.pruning.sparsity;
  }
  for (const auto& [g, members] : by_group) {
    const std::vector<double> c = layer.moment(g, true);
    const std::vector<double> mu = layer.mean(g);
    Metric h{c.data(), k};
    std::vector<double> w_all;
    std::vector<LevelSet> level_sets;
    std::vector<FilterFit> plain;
    std::vector<float> plain_scale;
    std::vector<std::vector<float>> plain_scales;
    std::vector<double> energies;
    if (fixed_mask) spec.fixed_mask.clear();
    // Filters are fitted independently, each alone in its own slot, then gathered in filter order:
    // spread over the threads, the results are those of one thread.
    std::vector<std::vector<double>> weights(members.size());
    std::vector<FilterFit> fits(members.size());
    std::vector<LevelSet> sets(members.size());
    energies.resize(members.size());
    for_each_member(members.size(), [&](size_t r) {
      auto w = filter_weights(weight, layer, filters[members[r]]);
      FilterFit fit;
      if (o.format == WeightFormat::float32) {
        fit.values = w;
      } else if (o.format == WeightFormat::ternary) {
        auto terms = fit_residual_ternary(w, o.terms, h);
        std::vector<float> scales;
        for (const auto& t : terms) scales.push_back(t.scale);
        sets[r] = ternary_levels(scales);
        // The plain fit's own codes: each term's signs as fitted.
        std::vector<int32_t> codes(static_cast<size_t>(k), 0);
        for (size_t i = 0; i < static_cast<size_t>(k); ++i) {
          int32_t code = 0, mul = 1;
          for (const auto& t : terms) {
            code += (t.signs[i] == 1 ? 1 : (t.signs[i] == -1 ? 2 : 0)) * mul;
            mul *= 3;
          }
          codes[i] = code;
        }
        fit = from_codes(codes, o, 0, scales);
      } else {
        const int32_t qmax = o.uniform_qmax();
        UniformFit u = fit_uniform_levels(w, qmax, h);
        fit = from_codes(u.q, o, u.scale, {});
        sets[r] = uniform_levels(u.scale, qmax);
      }
      energies[r] = quadratic_form(h, w);
      score(fit, w, c, mu, energies[r]);
      fits[r] = std::move(fit);
      weights[r] = std::move(w);
    });
    for (size_t r = 0; r < members.size(); ++r) {
      w_all.insert(w_all.end(), weights[r].begin(), weights[r].end());
      if (fixed_mask) {
        auto fm = filter_mask(*fixed_mask, layer, filters[members[r]]);
        spec.fixed_mask.insert(spec.fixed_mask.end(), fm.begin(), fm.end());
      }
      level_sets.push_back(std::move(sets[r]));
      plain_scale.push_back(fits[r].scale);
      plain_scales.push_back(fits[r].term_scales);
      plain.push_back(std::move(fits[r]));
    }
    // Pruning always goes through the compensated sweep (the plain fits are dense).
    const bool sweep = o.gptq || pruning;
    GptqResult gq;
    if (sweep) gq = gptq_quantize(w_all, static_cast<int64_t>(members.size()), k, c, level_sets, o.damping, spec);
    // Learned rounding on the plain fit's levels (not for float or pruning-only fits).
    GptqResult learned;
    const bool learn = o.adaround && o.format != WeightFormat::float32 && (spec.mode == PruneSpec::Mode::none || spec.mode == PruneSpec::Mode::fixed);
    if (learn) {
      std::vector<uint8_t> zeros = spec.mode == PruneSpec::Mode::fixed ? spec.fixed_mask : std::vector<uint8_t>{};
      AdaRoundOptions ao;
      ao.iterations = o.adaround_iterations;
      learned = adaround_quantize(w_all, static_cast<int64_t>(members.size()), k, c, level_sets, zeros, ao,
                                  members.size() > 16 ? pool.get() : nullptr);
    }
    for_each_member(members.size(), [&](size_t r) {
      std::span<const double> w(w_all.data() + r * static_cast<size_t>(k), static_cast<size_t>(k));
      const double energy = energies[r];
      FilterFit best = std::move(plain[r]);
      if (sweep) {
        const auto from = static_cast<std::ptrdiff_t>(r * static_cast<size_t>(k)), to = static_cast<std::ptrdiff_t>((r + 1) * static_cast<size_t>(k));
        FilterFit compensated;
        if (o.format == WeightFormat::float32) {
          compensated.values.assign(gq.values.begin() + from, gq.values.begin() + to);
          score(compensated, w, c, mu, energy);
        } else {
          std::vector<int32_t> codes(gq.codes.begin() + from, gq.codes.begin() + to);
          compensated = o.format == WeightFormat::ternary ? from_codes(codes, o, 0, best.term_scales) : from_codes(codes, o, best.scale, {});
          FilterFit refit = compensated;
          score(compensated, w, c, mu, energy);
          // A refit keeps every pruned weight at 0: its level pattern (code 0) does not change.
          if (refit_scales(refit, w, c, o)) {
            score(refit, w, c, mu, energy);
            if (refit.abs_error < compensated.abs_error) compensated = std::move(refit);
          }
        }
        if (pruning) {
          compensated.pruned.assign(gq.pruned.begin() + from, gq.pruned.begin() + to);
          best = std::move(compensated);
        } else if (compensated.abs_error < best.abs_error) {
          best = std::move(compensated);
        }
      }
      if (learn) {
        const auto from = static_cast<std::ptrdiff_t>(r * static_cast<size_t>(k)), to = static_cast<std::ptrdiff_t>((r + 1) * static_cast<size_t>(k));
        std::vector<int32_t> codes(learned.codes.begin() + from, learned.codes.begin() + to);
        FilterFit rounded = o.format == WeightFormat::ternary ? from_codes(codes, o, 0, plain_scales[r]) : from_codes(codes, o, plain_scale[r], {});
        // (Refitting the scale to the learned pattern, as for the GPTQ fit, lowered this objective but
        // not the output error of the network: MobileNetV1 0.25 w4a8, KL from float 0.157 -> 0.160.)
        score(rounded, w, c, mu, energy);
        if (pruning) rounded.pruned.assign(gq.pruned.begin() + from, gq.pruned.begin() + to);
        if (rounded.abs_error < best.abs_error) best = std::move(rounded);
      }
      if (o.half_scales && o.format != WeightFormat::ternary && o.format != WeightFormat::float32) {
        std::vector<uint8_t> pruned = std::move(best.pruned);
        best = from_codes(best.q, o, half_scale(best.scale), {});
        score(best, w, c, mu, energy);
        best.pruned = std::move(pruned);
      }
      out[members[r]] = std::move(best);
    });
  }
  return out;
}

std::vector<uint8_t> filter_mask(const std::vector<uint8_t>& mask, const LayerGram& layer, int64_t filter) {
  const WeightGeometry g = layer.geometry();
  std::vector<uint8_t> m(static_cast<size_t>(layer.rows));
  for (int64_t k = 0; k < layer.rows; ++k) m[static_cast<size_t>(k)] = mask[static_cast<size_t>(g.element(filter, k))];
  return m;
}

void store_masks(std::vector<uint8_t>& mask, const LayerGram& layer, const std::vector<int64_t>& filters, const std::vector<FilterFit>& fits) {
  const WeightGeometry g = layer.geometry();
  for (size_t i = 0; i < filters.size(); ++i) {
    if (fits[i].pruned.empty()) continue;
    for (int64_t k = 0; k < layer.rows; ++k) mask[static_cast<size_t>(g.element(filters[i], k))] = fits[i].pruned[static_cast<size_t>(k)];
  }
}

void write_filter_values(Tensor& weight, const WeightGeometry& geometry, const std::vector<int64_t>& filters,
                         const std::vector<FilterFit>& fits) {
  for (size_t i = 0; i < filters.size(); ++i) write_filter(weight, geometry, filters[i], fits[i].values);
}

void apply_fits(Tensor& weight, Tensor* bias, const LayerGram& layer, const std::vector<int64_t>& filters,
                const std::vector<FilterFit>& fits) {
  write_filter_values(weight, layer.geometry(), filters, fits);
  if (!bias) return;
  for (size_t i = 0; i < filters.size(); ++i)
    if (bias->numel() > filters[i]) bias->data<float>()[filters[i]] += static_cast<float>(fits[i].bias_shift);
}

EncodedPart make_part(const std::vector<FilterFit>& fits, const FitOptions& o, int64_t begin, int64_t end) {
  EncodedPart p;
  p.channel_begin = begin;
  p.channel_end = end;
  if (o.format == WeightFormat::ternary) {
    p.encoding = Encoding::ternary;
    p.terms = static_cast<uint8_t>(o.terms);
    p.streams.assign(static_cast<size_t>(o.terms), {});
    p.symbol_bits.assign(static_cast<size_t>(o.terms), encoding_traits(Encoding::ternary).symbol_bits);
    for (const auto& f : fits) {
      for (int t = 0; t < o.terms; ++t) {
        p.scales.push_back(f.term_scales[static_cast<size_t>(t)]);
        auto& s = p.streams[static_cast<size_t>(t)];
        s.insert(s.end(), f.term_symbols[static_cast<size_t>(t)].begin(), f.term_symbols[static_cast<size_t>(t)].end());
      }
    }
    return p;
  }
  if (o.format == WeightFormat::float32) {
    // Pruned float weights: one sparse fp32 part (core/encoding.h encode_fp32_sparse).
    const int64_t k = fits.empty() ? 0 : static_cast<int64_t>(fits[0].values.size());
    Tensor rows(DType::f32, {static_cast<int64_t>(fits.size()), k});
    for (size_t f = 0; f < fits.size(); ++f)
      for (int64_t i = 0; i < k; ++i) rows.data<float>()[static_cast<int64_t>(f) * k + i] = static_cast<float>(fits[f].values[static_cast<size_t>(i)]);
    EncodedPart sparse = encode_fp32_sparse(rows).parts[0];
    sparse.channel_begin = begin;
    sparse.channel_end = end;
    return sparse;
  }
  p.encoding = o.format == WeightFormat::int8 ? Encoding::int8 : Encoding::int4;
  const EncodingTraits& traits = encoding_traits(p.encoding);
  p.streams.assign(1, {});
  p.symbol_bits.assign(1, traits.symbol_bits);
  for (const auto& f : fits) {
    p.scales.push_back(f.scale);
    for (int32_t q : f.q) p.streams[0].push_back(static_cast<uint8_t>(q + traits.symbol_offset));
  }
  return p;
}

std::vector<const Node*> select_layers(const Model& model, const std::string& selection, bool skip_last) {
  std::vector<const Node*> all;
  for (const auto& node : model.graph.nodes) {
    // Filters as rows only: the encodings' parts split axis 0 (fc-to-gemm turns MatMul layers into such Gemms).
    const auto layer = weighted_layer(model.graph, node);
    if (layer && !layer->geometry.filter_columns) all.push_back(&node);
  }
  if (skip_last && !all.empty()) all.pop_back();
  std::vector<const Node*> out;
  for (const Node* n : all) {
    if (model.graph.is_encoded(n->inputs[1])) continue;
    std::string kind = layer_kind(model, *n);
    bool wanted = selection == "all";
    size_t pos = 0;
    while (!wanted && pos <= selection.size()) {
      size_t plus = selection.find('+', pos);
      std::string item = selection.substr(pos, plus == std::string::npos ? std::string::npos : plus - pos);
      wanted = item == kind;
      if (plus == std::string::npos) break;
      pos = plus + 1;
    }
    if (wanted) out.push_back(n);
  }
  return out;
}

FitOptions fit_options(WeightFormat format, const PassOptions& options) {
  FitOptions o;
  o.format = format;
  o.gptq = options.text("method") != "rtn";
  o.adaround = options.text("method") == "adaround";
  if (options.declares("iterations")) o.adaround_iterations = static_cast<int>(options.integer("iterations"));
  o.damping = options.number("damping");
  o.terms = format == WeightFormat::ternary ? static_cast<int>(options.integer("terms")) : 1;
  o.bits = format == WeightFormat::int8 && options.given("bits") ? static_cast<int>(options.integer("bits")) : 0;
  return o;
}

std::vector<FilterFit> fit_and_apply(Model& model, const CalibrationStats& stats, const std::string& node_name, const FitOptions& options) {
  const LayerGram& layer = stats.layers.at(node_name);
  const std::string weight_name = layer.weight;
  const Tensor& weight = *model.graph.initializer(weight_name);
  const int64_t count = filter_count(weight, layer);
  std::vector<int64_t> filters(static_cast<size_t>(count));
  for (int64_t f = 0; f < count; ++f) filters[static_cast<size_t>(f)] = f;
  auto fits = fit_filters(weight, layer, filters, options, model.graph.pruned_mask(weight_name));
  Tensor* bias = bias_for(model, node_name);
  Tensor& w = model.graph.values_to_change(weight_name, "quantize " + node_name);
  apply_fits(w, bias, layer, filters, fits);
  return fits;
}

void encode_fits(Model& model, const std::string& weight_name, const std::vector<FilterFit>& fits, const FitOptions& options) {
  EncodedTensor e;
  e.dtype = DType::f32;
  e.shape = model.graph.initializer(weight_name)->shape();
  e.parts.push_back(make_part(fits, options, 0, static_cast<int64_t>(fits.size())));
  model.graph.encode(weight_name, std::move(e));
}

void quantize_layers(Model& model, const CalibrationStats& stats, const std::vector<const Node*>& layers, const FitOptions& options) {
  // Names first: bias_for may add initializers and inputs, invalidating node pointers' contents.
  std::vector<std::pair<std::string, std::string>> todo;
  for (const Node* n : layers) todo.emplace_back(n->name, n->inputs[1]);
  for (const auto& [node_name, weight_name] : todo) encode_fits(model, weight_name, fit_and_apply(model, stats, node_name, options), options);
}

LevelSet fit_levels(const FilterFit& fit, const FitOptions& options) {
  return options.format == WeightFormat::ternary ? ternary_levels(fit.term_scales) : uniform_levels(fit.scale, options.uniform_qmax());
}

FilterFit fit_with_codes(const std::vector<int32_t>& codes, const FitOptions& options, const FilterFit& like) {
  FilterFit fit = from_codes(codes, options, like.scale, like.term_scales);
  fit.pruned = like.pruned;
  return fit;
}

std::vector<FilterFit> fit_layer(const Model& model, const LayerGram& layer, const FitOptions& options, const std::vector<uint8_t>* fixed_mask) {
  const Tensor& weight = *model.graph.initializer(layer.weight);
  std::vector<int64_t> filters(static_cast<size_t>(filter_count(weight, layer)));
  for (size_t f = 0; f < filters.size(); ++f) filters[f] = static_cast<int64_t>(f);
  return fit_filters(weight, layer, filters, options, fixed_mask);
}

OutOfSampleScorer::OutOfSampleScorer(const Tensor& weight, const LayerGram& other) : k_(other.rows) {
  std::map<int64_t, std::vector<size_t>> by_group;
  for (int64_t f = 0; f < filter_count(weight, other); ++f) by_group[other.group_of(f)].push_back(static_cast<size_t>(f));
  for (const auto& [g, filters] : by_group) {
    Group& group = groups_.emplace_back();
    group.filters = filters;
    group.covariance = other.moment(g, true);
    group.mean = other.mean(g);
    for (size_t f : filters) {
      const auto wf = filter_weights(weight, other, static_cast<int64_t>(f));
      group.weights.insert(group.weights.end(), wf.begin(), wf.end());
    }
    const auto rows = static_cast<Eigen::Index>(filters.size());
    const Eigen::Map<const Eigen::MatrixXd> cov(group.covariance.data(), k_, k_);
    const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> w(group.weights.data(), rows, k_);
    const Eigen::VectorXd energy = ((w * cov).array() * w.array()).rowwise().sum();
    group.energy.assign(energy.data(), energy.data() + energy.size());
  }
}

void OutOfSampleScorer::score(std::vector<FilterFit>& fits) const {
  for (const Group& group : groups_) {
    const auto rows = static_cast<Eigen::Index>(group.filters.size());
    const Eigen::Map<const Eigen::MatrixXd> cov(group.covariance.data(), k_, k_);
    const Eigen::Map<const Eigen::VectorXd> mean(group.mean.data(), k_);
    // One row per filter: its weight error; then all quadratic forms at once.
    Eigen::MatrixXd d(rows, k_);
    for (Eigen::Index i = 0; i < rows; ++i) {
      const FilterFit& fit = fits.at(group.filters[static_cast<size_t>(i)]);
      for (int64_t j = 0; j < k_; ++j)
        d(i, j) = group.weights[static_cast<size_t>(i * k_ + j)] - fit.values[static_cast<size_t>(j)];
    }
    const Eigen::VectorXd error = ((d * cov).array() * d.array()).rowwise().sum();
    const Eigen::VectorXd shift = d * mean;
    for (Eigen::Index i = 0; i < rows; ++i) {
      FilterFit& fit = fits[group.filters[static_cast<size_t>(i)]];
      const double offset = shift(i) - fit.bias_shift;
      fit.abs_error = std::max(0.0, error(i)) + offset * offset;
      fit.energy = std::max(0.0, group.energy[static_cast<size_t>(i)]);
      fit.error = fit.energy > 0 ? fit.abs_error / fit.energy : 0.0;
    }
  }
}

void apply_layer_fits(Model& model, const LayerGram& layer, const std::vector<FilterFit>& fits, std::vector<uint8_t>* mask) {
  std::vector<int64_t> filters(fits.size());
  for (size_t f = 0; f < filters.size(); ++f) filters[f] = static_cast<int64_t>(f);
  Tensor* bias = bias_for(model, layer.node);
  Tensor& w = model.graph.values_to_change(layer.weight, "fit " + layer.node);
  apply_fits(w, bias, layer, filters, fits);
  if (mask) {
    mask->assign(static_cast<size_t>(w.numel()), 0);
    store_masks(*mask, layer, filters, fits);
  }
}

Tensor* bias_for(Model& model, const std::string& node_name) {
  for (auto& node : model.graph.nodes) {
    if (node.name != node_name) continue;
    const auto layer = weighted_layer(model.graph, node);
    if (!layer || layer->traits->bias_input < 0) return nullptr;
    if (!layer->bias.empty()) {
      model.graph.check_not_encoded(layer->bias, "bias correction of " + node.describe());
      return &model.graph.values_to_change(layer->bias, "bias correction of " + node.describe());
    }
    const int64_t outputs = layer->geometry.filters;
    const size_t slot = static_cast<size_t>(layer->traits->bias_input);
    std::string name = model.graph.fresh_name(node.name + "_bias");
    Tensor b(DType::f32, {outputs});
    std::fill(b.data<float>(), b.data<float>() + outputs, 0.0f);
    model.graph.initializers[name] = std::move(b);
    node.inputs.resize(std::max(node.inputs.size(), slot + 1));
    node.inputs[slot] = name;
    return &model.graph.values_to_change(name, "bias correction of " + node.describe());
  }
  return nullptr;
}

}  // namespace mc
