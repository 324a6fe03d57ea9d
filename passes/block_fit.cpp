#include "passes/block_fit.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "core/adam.h"
#include "core/adaround.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/op_registry.h"
#include "core/weighted_op.h"
#include "passes/sequential_fit.h"

namespace mc {

namespace {

struct ConvShape {
  int64_t inputs = 0, outputs = 0, groups = 1, kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  bool spatial = false;
};

// A 2-D Conv the chain model computes: explicit pads, no dilation; 1x1 layers ungrouped (a grouped
// or padded or strided 1x1 counts as the spatial layer).
std::optional<ConvShape> conv_shape(const Graph& g, const Node& n) {
  if (n.op != "Conv") return std::nullopt;
  const auto layer = weighted_layer(g, n);
  if (!layer || layer->geometry.filter_columns) return std::nullopt;
  const Shape& w = g.initializer(layer->weight)->shape();
  if (w.size() != 4) return std::nullopt;
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && !auto_pad.empty()) return std::nullopt;
  for (int64_t d : n.attr_ints("dilations", {1, 1}))
    if (d != 1) return std::nullopt;
  const auto strides = n.attr_ints("strides", {1, 1});
  const auto pads = auto_pad == "VALID" ? std::vector<int64_t>{0, 0, 0, 0} : n.attr_ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || pads.size() != 4) return std::nullopt;
  ConvShape s;
  s.groups = layer->geometry.groups;
  s.outputs = w[0], s.inputs = w[1] * s.groups, s.kh = w[2], s.kw = w[3];
  s.sh = strides[0], s.sw = strides[1], s.pt = pads[0], s.pl = pads[1], s.pb = pads[2], s.pr = pads[3];
  s.spatial = s.kh != 1 || s.kw != 1 || s.sh != 1 || s.sw != 1 || s.pt || s.pl || s.pb || s.pr || s.groups != 1;
  return s;
}

float scalar_of(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32: return t.data<float>()[0];
    case DType::u8: return t.data<uint8_t>()[0];
    case DType::i8: return t.data<int8_t>()[0];
    default: return 0;
  }
}

// The activation quantization step (QuantizeLinear -> DequantizeLinear, per tensor) whose output is
// `value`, and the value it quantizes; `value` itself and no step otherwise.
std::pair<std::string, FakeQuant> quant_step(const Graph& g, const std::string& value) {
  const int dq = g.producer(value);
  if (dq < 0 || g.nodes[static_cast<size_t>(dq)].op != "DequantizeLinear") return {value, {}};
  const int q = g.producer(g.nodes[static_cast<size_t>(dq)].inputs[0]);
  if (q < 0 || g.nodes[static_cast<size_t>(q)].op != "QuantizeLinear") return {value, {}};
  const Node& qn = g.nodes[static_cast<size_t>(q)];
  const Tensor* scale = qn.has_input(1) ? g.initializer(qn.inputs[1]) : nullptr;
  const Tensor* zero = qn.has_input(2) ? g.initializer(qn.inputs[2]) : nullptr;
  if (!scale || scale->numel() != 1 || scale->dtype() != DType::f32 || (zero && zero->numel() != 1)) return {value, {}};
  FakeQuant f;
  f.on = true;
  f.scale = scale->data<float>()[0];
  const bool is_signed = zero && zero->dtype() == DType::i8;
  f.zero_point = zero ? static_cast<int32_t>(scalar_of(*zero)) : 0;
  f.qmin = is_signed ? -128 : 0;
  f.qmax = is_signed ? 127 : 255;
  if (!(f.scale > 0)) return {value, {}};
  return {qn.inputs[0], f};
}

// FNV-1a: a portable hash of a name, for seeds.
uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mean over all samples of the squared output error (no dropping).
double full_error(const Chain& chain, const ChainParams& params, const ChainSamples& samples) {
  double total = 0;
  constexpr int64_t chunk = 512;
  for (int64_t first = 0; first < samples.count; first += chunk) {
    std::vector<int64_t> batch;
    for (int64_t s = first; s < std::min(samples.count, first + chunk); ++s) batch.push_back(s);
    total += ChainPass(chain, params, samples, batch).loss() * static_cast<double>(batch.size());
  }
  return samples.count > 0 ? total / static_cast<double>(samples.count) : 0.0;
}

// One layer's weights in AdaRound's relaxation: w = lo + h(v) gap where free, lo elsewhere.
struct SoftLayer {
  std::vector<double> lo, gap, v, m1, m2;
  std::vector<uint8_t> free;
  std::vector<size_t> lo_index;
  std::vector<LevelSet> levels;  // per filter
  int64_t per_filter = 0;
};

// The relaxation starts at the layer-wise fit: each weight chooses between its fitted level and the
// next level towards its unrounded target, its rest a tenth of the way to that neighbour (so
// the hard choice is the fit's). Relaxing around the target itself, as AdaRound does for one layer,
// starts far worse than GPTQ's compensated fit (MobileNetV1 0.25, w4a8: block errors 3-20x the
// fit's), and GPTQ's choices are often several levels away from the target.
SoftLayer relax(const std::vector<float>& target, const std::vector<FilterFit>& fits, const FitOptions& options) {
  SoftLayer s;
  const auto filters = static_cast<int64_t>(fits.size());
  s.per_filter = filters ? static_cast<int64_t>(target.size()) / filters : 0;
  const size_t n = target.size();
  s.lo.assign(n, 0), s.gap.assign(n, 0), s.v.assign(n, 0), s.m1.assign(n, 0), s.m2.assign(n, 0), s.free.assign(n, 0), s.lo_index.assign(n, 0);
  const double start = soft_rounding::inverse(0.1);
  for (int64_t f = 0; f < filters; ++f) {
    const FilterFit& fit = fits[static_cast<size_t>(f)];
    const LevelSet& ls = s.levels.emplace_back(fit_levels(fit, options));
    for (int64_t k = 0; k < s.per_filter; ++k) {
      const auto at = static_cast<size_t>(f * s.per_filter + k);
      const double value = fit.values[static_cast<size_t>(k)];
      const auto it = std::lower_bound(ls.levels.begin(), ls.levels.end(), value);
      if (it == ls.levels.end() || *it != value) fail_internal("block fit: a fitted weight is not on its level set");
      const size_t i = static_cast<size_t>(it - ls.levels.begin());
      const bool pruned = !fit.pruned.empty() && fit.pruned[static_cast<size_t>(k)];
      const bool up = target[at] >= value;
      s.lo_index[at] = i, s.lo[at] = value;
      if (pruned || (up ? i + 1 >= ls.levels.size() : i == 0)) continue;  // fixed at its level
      if (!up) s.lo_index[at] = i - 1, s.lo[at] = ls.levels[i - 1];
      s.gap[at] = ls.levels[s.lo_index[at] + 1] - ls.levels[s.lo_index[at]];
      s.free[at] = s.gap[at] > 0;
      if (s.free[at]) s.v[at] = up ? start : -start;
    }
  }
  return s;
}

// The level index weight `at` rounds to.
size_t hard_index(const SoftLayer& s, size_t at) { return s.lo_index[at] + (s.free[at] && s.v[at] >= 0 ? 1 : 0); }

void soft_weights(const SoftLayer& s, std::vector<float>& w, bool hard) {
  for (size_t i = 0; i < w.size(); ++i) {
    if (hard) w[i] = static_cast<float>(s.levels[i / static_cast<size_t>(s.per_filter)].levels[hard_index(s, i)]);
    else w[i] = static_cast<float>(s.free[i] ? s.lo[i] + soft_rounding::h(s.v[i]) * s.gap[i] : s.lo[i]);
  }
}

}  // namespace

std::vector<ChainSpec> find_chains(const Model& model, const std::vector<std::string>& layers) {
  const Graph& g = model.graph;
  std::vector<ChainSpec> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    ChainSpec& spec = out.emplace_back();
    spec.layers = {layers[i]};
    const Node* node = g.node(layers[i]);
    const auto shape = node ? conv_shape(g, *node) : std::nullopt;
    if (!shape) continue;
    auto add = [&](const ConvShape& s, const FakeQuant& quant) {
      ChainLayer l;
      l.inputs = s.inputs, l.outputs = s.outputs, l.groups = s.spatial ? s.groups : 1, l.spatial = s.spatial, l.input_quant = quant;
      if (s.spatial) {
        spec.chain.taps = s.kh * s.kw;
        spec.kernel_h = s.kh, spec.kernel_w = s.kw, spec.stride_h = s.sh, spec.stride_w = s.sw;
        spec.pad_top = s.pt, spec.pad_left = s.pl, spec.pad_bottom = s.pb, spec.pad_right = s.pr;
      }
      spec.chain.layers.push_back(l);
    };
    const auto [input, quant] = quant_step(g, node->inputs[0]);
    spec.input = input;
    add(*shape, quant);
    bool spatial = shape->spatial;
    int after_spatial = 0;
    std::string y;
    for (;;) {
      y = node->outputs[0];
      auto readers = g.consumers(y);
      if (readers.size() == 1) {
        const Node& act = g.nodes[static_cast<size_t>(readers[0])];
        const auto clip = clip_as_fusable(act, model.opset, g);
        if (clip && act.inputs[0] == y) {
          ChainLayer& last = spec.chain.layers.back();
          last.clip = true, last.lo = clip->lo, last.hi = clip->hi;
          y = act.outputs[0];
          readers = g.consumers(y);
        }
      }
      if (i + 1 >= layers.size() || readers.size() != 1) break;
      const Node* next = g.node(layers[i + 1]);
      const auto next_shape = next ? conv_shape(g, *next) : std::nullopt;
      if (!next_shape) break;
      const auto [next_input, next_quant] = quant_step(g, next->inputs[0]);
      if (next_input != y || g.consumers(next->inputs[0]).size() != 1) break;
      if (next_quant.on) {  // y -> QuantizeLinear -> DequantizeLinear -> next, nothing else reading either step
        const Node& q = g.nodes[static_cast<size_t>(readers[0])];
        if (q.op != "QuantizeLinear" || g.consumers(q.outputs[0]).size() != 1) break;
      }
      if (next_shape->spatial ? spatial : (spatial ? after_spatial >= 1 : spec.chain.layers.size() >= 3)) break;
      if (spatial) ++after_spatial;
      spatial = spatial || next_shape->spatial;
      spec.layers.push_back(layers[++i]);
      add(*next_shape, next_quant);
      node = next;
    }
    spec.output = y;
    const auto readers = g.consumers(y);
    if (readers.size() == 1) {
      const Node& add_node = g.nodes[static_cast<size_t>(readers[0])];
      if (add_node.op == "Add" && add_node.inputs.size() == 2 &&
          ((add_node.inputs[0] == y && add_node.inputs[1] == spec.input) || (add_node.inputs[1] == y && add_node.inputs[0] == spec.input))) {
        spec.chain.residual = true;
        spec.output = add_node.outputs[0];
      }
    }
  }
  return out;
}

ChainSamples collect_chain_samples(const Model& model, const ChainSpec& spec, const Model& reference, const CalibrationSet& images,
                                   int threads, const BlockFitOptions& options, std::string& why) {
  ChainSamples out;
  const Chain& chain = spec.chain;
  if (!defines(reference.graph, spec.output)) {
    why = "the float model has no value '" + spec.output + "'";
    return out;
  }
  bool graph_input = false;
  for (const auto& in : model.graph.inputs) graph_input = graph_input || in.name == spec.input;
  // The executors keep references to their models.
  const Model to_input = graph_input ? Model{} : truncated_at(model, spec.input);
  const Model to_output = truncated_at(reference, spec.output);
  std::optional<Executor> here;
  if (!graph_input) here.emplace(to_input, ExecutorOptions{threads});
  Executor there(to_output, ExecutorOptions{threads});
  const int64_t views = static_cast<int64_t>(images.files.size()) * (images.mirrored ? 2 : 1);
  const int64_t per_image = std::max<int64_t>(1, (options.samples + views - 1) / std::max<int64_t>(views, 1));
  const int64_t c_in = chain.input_channels(), c_out = chain.output_channels();
  const uint64_t seed = mix(options.seed ^ name_hash(spec.output));
  for_each_calibration_batch(images, [&](const Tensor& batch, int64_t first) {
    if (!why.empty()) return;
    const Tensor x = graph_input ? batch : std::move(here->run({batch}).at(0));
    const Tensor t = std::move(there.run({batch}).at(0));
    const Shape& xs = x.shape();
    const Shape& ts = t.shape();
    if (x.dtype() != DType::f32 || t.dtype() != DType::f32 || xs.size() != 4 || ts.size() != 4 || xs[0] != ts[0] || xs[1] != c_in || ts[1] != c_out) {
      why = "its input " + shape_str(xs) + " or output " + shape_str(ts) + " does not match its layers";
      return;
    }
    const int64_t h = xs[2], w = xs[3];
    const int64_t oh = (h + spec.pad_top + spec.pad_bottom - spec.kernel_h) / spec.stride_h + 1;
    const int64_t ow = (w + spec.pad_left + spec.pad_right - spec.kernel_w) / spec.stride_w + 1;
    if (oh != ts[2] || ow != ts[3] || (chain.residual && (oh != h || ow != w || c_in != c_out))) {
      why = "its output " + shape_str(ts) + " is not what its geometry computes from " + shape_str(xs);
      return;
    }
    const float* xp = x.data<float>();
    const float* tp = t.data<float>();
    for (int64_t n = 0; n < xs[0]; ++n) {
      const auto order = seeded_permutation(oh * ow, mix(seed + static_cast<uint64_t>(first + n)));
      for (int64_t p = 0; p < std::min(per_image, oh * ow); ++p) {
        const int64_t y0 = order[static_cast<size_t>(p)] / ow, x0 = order[static_cast<size_t>(p)] % ow;
        for (int64_t i = 0; i < spec.kernel_h; ++i)
          for (int64_t j = 0; j < spec.kernel_w; ++j) {
            const int64_t iy = y0 * spec.stride_h - spec.pad_top + i, ix = x0 * spec.stride_w - spec.pad_left + j;
            const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            out.valid.push_back(inside ? 1 : 0);
            for (int64_t c = 0; c < c_in; ++c) out.input.push_back(inside ? xp[((n * c_in + c) * h + iy) * w + ix] : 0.0f);
          }
        for (int64_t c = 0; c < c_out; ++c) {
          out.target.push_back(tp[((n * c_out + c) * oh + y0) * ow + x0]);
          if (chain.residual) out.skip.push_back(xp[((n * c_in + c) * h + y0) * w + x0]);
        }
        ++out.count;
      }
    }
  });
  if (!why.empty()) return ChainSamples{};
  return out;
}

ChainParams chain_params(const Model& model, const ChainSpec& spec) {
  ChainParams p;
  for (const std::string& name : spec.layers) {
    const Node* node = model.graph.node(name);
    const auto layer = node ? weighted_layer(model.graph, *node) : std::nullopt;
    if (!layer) fail_internal("block fit: no layer '" + name + "'");
    const Tensor& w = *model.graph.initializer(layer->weight);
    p.weights.emplace_back(w.data<float>(), w.data<float>() + w.numel());
    std::vector<float> bias(static_cast<size_t>(layer->geometry.filters), 0.0f);
    if (!layer->bias.empty()) {
      const Tensor* b = model.graph.initializer(layer->bias);
      if (!b || b->numel() != layer->geometry.filters) fail_internal("block fit: the bias of " + node->describe() + " is not a constant");
      std::copy_n(b->data<float>(), b->numel(), bias.begin());
    }
    p.biases.push_back(std::move(bias));
  }
  return p;
}

ChainRefinement refine_chain(Model& model, const ChainSpec& spec, const ChainSamples& samples, std::vector<std::vector<FilterFit>>& fits,
                             const std::vector<std::vector<float>>& targets, const std::vector<FitOptions>& options,
                             const BlockFitOptions& block) {
  ChainRefinement result;
  const Chain& chain = spec.chain;
  const size_t n = chain.layers.size();
  const ChainParams layerwise = chain_params(model, spec);
  result.layerwise_error = result.learned_error = full_error(chain, layerwise, samples);
  for (const auto& o : options)
    if (o.format == WeightFormat::float32) return result;
  if (!(result.layerwise_error > 0) || samples.count == 0) return result;
  std::vector<SoftLayer> soft;
  int64_t free_weights = 0;
  for (size_t i = 0; i < n; ++i) {
    soft.push_back(relax(targets[i], fits[i], options[i]));
    free_weights += std::count(soft.back().free.begin(), soft.back().free.end(), 1);
  }
  ChainParams params = layerwise;
  std::vector<std::vector<double>> bias(n), bias_m1(n), bias_m2(n);
  for (size_t i = 0; i < n; ++i) {
    bias[i].assign(layerwise.biases[i].begin(), layerwise.biases[i].end());
    bias_m1[i].assign(bias[i].size(), 0), bias_m2[i].assign(bias[i].size(), 0);
  }
  AdaRoundOptions schedule;
  schedule.iterations = block.iterations;
  // The error relative to the layer-wise fit's, scaled so that one weight a whole level off costs
  // about 1 (the error spread evenly over the free weights, each off by a uniform fraction of its
  // gap: mean square 1/12), against lambda per weight for the regularizer: AdaRound's balance.
  const double rec_scale = static_cast<double>(std::max<int64_t>(free_weights, 1)) / (12.0 * result.layerwise_error);
  uint64_t state = mix(block.seed ^ name_hash(spec.output) ^ 0x5151);
  Adam adam;
  std::vector<int64_t> batch(static_cast<size_t>(std::min(block.batch, samples.count)));
  for (int it = 0; it < block.iterations; ++it) {
    for (size_t i = 0; i < n; ++i) {
      soft_weights(soft[i], params.weights[i], false);
      for (size_t f = 0; f < bias[i].size(); ++f) params.biases[i][f] = static_cast<float>(bias[i][f]);
    }
    for (auto& s : batch) s = static_cast<int64_t>((state = mix(state)) % static_cast<uint64_t>(samples.count));
    const ChainPass pass(chain, params, samples, batch, block.drop, mix(state + 1));
    const ChainParams grad = pass.backward();
    const double beta = soft_rounding::beta_at(schedule, it);
    adam.step();
    for (size_t i = 0; i < n; ++i) {
      SoftLayer& s = soft[i];
      for (size_t e = 0; e < s.v.size(); ++e) {
        if (!s.free[e]) continue;
        const double dh = soft_rounding::dh(s.v[e]);
        double g = grad.weights[i][e] * s.gap[e] * dh * rec_scale;
        if (beta > 0) g += soft_rounding::regularizer_gradient(block.lambda, soft_rounding::h(s.v[e]), beta) * dh;
        s.v[e] -= adam.update(g, s.m1[e], s.m2[e], block.learning_rate);
      }
      for (size_t f = 0; f < bias[i].size(); ++f)
        bias[i][f] -= adam.update(grad.biases[i][f], bias_m1[i][f], bias_m2[i][f], block.bias_learning_rate);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    soft_weights(soft[i], params.weights[i], true);
    for (size_t f = 0; f < bias[i].size(); ++f) params.biases[i][f] = static_cast<float>(bias[i][f]);
  }
  result.learned_error = full_error(chain, params, samples);
  if (!(result.learned_error < result.layerwise_error)) return result;
  result.kept = true;
  for (size_t i = 0; i < n; ++i) {
    const SoftLayer& s = soft[i];
    std::vector<FilterFit>& layer_fits = fits[i];
    for (size_t f = 0; f < layer_fits.size(); ++f) {
      std::vector<int32_t> codes(static_cast<size_t>(s.per_filter));
      for (int64_t k = 0; k < s.per_filter; ++k) {
        const size_t at = f * static_cast<size_t>(s.per_filter) + static_cast<size_t>(k);
        codes[static_cast<size_t>(k)] = s.levels[f].codes[hard_index(s, at)];
      }
      layer_fits[f] = fit_with_codes(codes, options[i], layer_fits[f]);
    }
    const Node* node = model.graph.node(spec.layers[i]);
    const auto layer = weighted_layer(model.graph, *node);
    std::vector<int64_t> filters(layer_fits.size());
    std::iota(filters.begin(), filters.end(), 0);
    write_filter_values(model.graph.values_to_change(layer->weight, "block fit of " + node->describe()), layer->geometry, filters, layer_fits);
    Tensor* b = bias_for(model, spec.layers[i]);
    if (!b) fail_internal("block fit: " + node->describe() + " has no bias");
    std::copy(params.biases[i].begin(), params.biases[i].end(), b->data<float>());
  }
  return result;
}

}  // namespace mc
