// equalize: cross-layer equalization (Nagel, van Baalen, Blankevoort, Welling, "Data-Free
// Quantization Through Weight Equalization and Bias Correction", ICCV 2019, section 4.1).
//
// For two consecutive layers where output channel i of layer 1 feeds exactly input channel i of
// layer 2, y2 = W2 f(W1 x + b1) = (W2 S) f(S^-1 W1 x + S^-1 b1) for any positive diagonal S when f
// is positively homogeneous (f(x / s) = f(x) / s for s > 0; ReLU is). Choosing
//   s_i = sqrt(r1_i / r2_i),  r1_i = max|W1[i, ...]| (output filter i),  r2_i = max|W2[:, i, ...]|
// (everything that reads input channel i) makes both ranges sqrt(r1_i r2_i), which is the
// equalization of section 4.1 (their equation 10). Per-tensor quantization of the two layers then
// wastes less of its range; this matters most for MobileNet's depthwise layers, whose filters'
// ranges differ by orders of magnitude after fold-bn.
//
// Layers: Conv (any group count: dense, grouped or depthwise) or Gemm (transA=0; weight [N, K] with
// transB=1 or [K, N] with transB=0). Layer 1's output must reach layer 2's data input (input 0)
// through at most a few element-wise activations, every intermediate value having exactly one reader
// and not being a graph output. Allowed activations: Relu, Clip(0, hi) with constant bounds, and
// Min(x, constant) (scalar or per-channel, e.g. from an earlier run of this pass). Anything else
// (BatchNormalization, Add, Concat, pooling, Clip with a lower bound other than 0, ...) blocks the pair.
//
// Chains (pw -> dw -> pw) couple neighbouring pairs: the depthwise layer is layer 2 of one pair and
// layer 1 of the next. The pass therefore sweeps all pairs repeatedly (Gauss-Seidel order) until the
// largest relative change of any scale in a sweep is below 1e-6 or `iterations` sweeps have run.
// Scales are accumulated in double against the original weights and every weight is rounded to
// float once at the end, so the model differs from the original by float rounding only. On
// MobileNetV1 0.25 one sweep removes most of the depthwise layers' per-channel spread (geometric
// mean of max/median filter range 12.4 -> 2.2) and 20 sweeps settle it (1.4); what keeps changing
// (hundreds of sweeps on a 27-layer chain) is mostly each layer's overall magnitude drifting along
// the chain, which per-tensor quantization does not care about.
//
// Not done here: bias absorption (section 4.1.1 of the paper). Dividing b1 by a small s_i makes
// channel i's activations larger; for a nearly dead filter with a positive bias that constant
// activation can dominate the tensor's range for activation quantization.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/op_registry.h"
#include "passes/pass.h"
#include "core/weighted_op.h"

namespace mc {

namespace {

// Guards against degenerate channels (besides s_i = 1 where a range is 0 or not finite): the
// cumulative scale of a channel stays in this range, so a dead filter (MobileNetV1 has some with
// max|w| ~ 1e-12 after fold-bn) cannot scale its partner's weights and its own bias without bound.
constexpr double min_scale = 1e-4;
constexpr double max_scale = 1e4;
constexpr double converged_change = 1e-6;
constexpr size_t max_activations = 3;

// A weight layer and how its weight elements map to its output and input channels.
struct Layer {
  int node = -1;
  bool gemm = false;
  bool weight_transposed = false;  // Gemm with transB=0: weight [K, N]
  int64_t out_channels = 0;
  int64_t in_channels = 0;
  int64_t in_per_group = 0;   // Conv: weight dim 1
  int64_t out_per_group = 0;  // Conv: out_channels / group
  int64_t kernel_size = 1;    // Conv: product of the spatial weight dims
  int64_t output_rank = 0;    // rank of the layer's output (Conv: weight rank; Gemm: 2)
  std::vector<float> weight;  // the original values
  int out_pair = -1;          // pair in which this is layer 1
  int in_pair = -1;           // pair in which this is layer 2
};

struct Pair {
  int first = -1;   // layer index of layer 1
  int second = -1;  // layer index of layer 2
  std::vector<int> activations;  // node indices between them, in order
  std::vector<double> scale;     // cumulative s_i per channel
};

// Calls f(element index, output channel, input channel) for every weight element.
template <class F> void for_each_weight(const Layer& l, F&& f) {
  if (l.gemm) {
    const int64_t rows = l.weight_transposed ? l.in_channels : l.out_channels;
    const int64_t cols = l.weight_transposed ? l.out_channels : l.in_channels;
    for (int64_t r = 0, e = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c, ++e) {
        if (l.weight_transposed) f(e, c, r);
        else f(e, r, c);
      }
    return;
  }
  int64_t e = 0;
  for (int64_t o = 0; o < l.out_channels; ++o) {
    const int64_t first_input = (o / l.out_per_group) * l.in_per_group;
    for (int64_t j = 0; j < l.in_per_group; ++j)
      for (int64_t k = 0; k < l.kernel_size; ++k, ++e) f(e, o, first_input + j);
  }
}

// The weight as it currently stands: original * s_in(input channel) / s_out(output channel).
template <class F> void for_each_scaled_weight(const Layer& l, const std::vector<Pair>& pairs, F&& f) {
  const std::vector<double>* in = l.in_pair >= 0 ? &pairs[static_cast<size_t>(l.in_pair)].scale : nullptr;
  const std::vector<double>* out = l.out_pair >= 0 ? &pairs[static_cast<size_t>(l.out_pair)].scale : nullptr;
  for_each_weight(l, [&](int64_t e, int64_t o, int64_t i) {
    double w = l.weight[static_cast<size_t>(e)];
    if (in) w *= (*in)[static_cast<size_t>(i)];
    if (out) w /= (*out)[static_cast<size_t>(o)];
    f(e, o, i, w);
  });
}

// max |w| per output channel (by_output) or per input channel.
std::vector<double> channel_ranges(const Layer& l, const std::vector<Pair>& pairs, bool by_output) {
  std::vector<double> r(static_cast<size_t>(by_output ? l.out_channels : l.in_channels), 0.0);
  for_each_scaled_weight(l, pairs, [&](int64_t, int64_t o, int64_t i, double w) {
    double& m = r[static_cast<size_t>(by_output ? o : i)];
    // A NaN weight makes the channel's range NaN, which leaves the channel unscaled.
    if (std::isnan(w)) m = w;
    else if (std::fabs(w) > m) m = std::fabs(w);
  });
  return r;
}

const Tensor* float_initializer(const Graph& g, const Node& n, size_t slot) {
  if (!n.has_input(slot)) return nullptr;
  const Tensor* t = g.initializer(n.inputs[slot]);
  return t && t->dtype() == DType::f32 ? t : nullptr;
}

// Describes `node` as a layer if its weights are constants this pass can rescale.
std::optional<Layer> as_layer(const Graph& g, int index) {
  const Node& n = g.nodes[static_cast<size_t>(index)];
  // Layers with a bias slot (Conv, Gemm): rescaling a layer's outputs rescales its bias too.
  const auto wl = weighted_layer(g, n);
  if (!wl || wl->traits->bias_input < 0 || n.outputs.size() != 1) return std::nullopt;
  const Tensor* w = g.initializer(wl->weight);
  Layer l;
  l.node = index;
  if (wl->traits->convolution) {
    const int64_t groups = wl->geometry.groups;
    l.out_channels = w->dim(0);
    l.in_per_group = w->dim(1);
    l.in_channels = w->dim(1) * groups;
    l.out_per_group = w->dim(0) / groups;
    l.kernel_size = w->numel() / std::max<int64_t>(1, w->dim(0) * w->dim(1));
    l.output_rank = static_cast<int64_t>(w->rank());
  } else {
    l.gemm = true;
    l.weight_transposed = wl->geometry.filter_columns;
    l.out_channels = wl->geometry.filters;
    l.in_channels = wl->geometry.inputs_per_filter;
    l.output_rank = 2;
  }
  if (l.out_channels <= 0 || l.in_channels <= 0) return std::nullopt;
  l.weight.assign(w->data<float>(), w->data<float>() + w->numel());
  return l;
}

// Layer 1's bias must be a constant we can rescale per output channel (Gemm: [N], [1, N] or a
// scalar, which is expanded).
bool bias_rescalable(const Graph& g, const Layer& l) {
  const Node& n = g.nodes[static_cast<size_t>(l.node)];
  if (!n.has_input(2)) return true;
  const Tensor* b = float_initializer(g, n, 2);
  if (!b) return false;
  if (!l.gemm) return b->numel() == l.out_channels;
  return b->numel() == 1 || (b->numel() == l.out_channels && b->rank() >= 1 && b->dim(b->rank() - 1) == l.out_channels);
}

// A constant the channel scales can be applied to: a scalar, or one value per channel laid out to
// broadcast against the layer's output (shape [C, 1, ..., 1] or [1, C, 1, ..., 1]).
bool per_channel_or_scalar(const Tensor& t, int64_t channels, int64_t output_rank) {
  if (t.numel() == 1) return static_cast<int64_t>(t.rank()) <= output_rank;
  const int64_t rank = static_cast<int64_t>(t.rank());
  if (t.numel() != channels || rank > output_rank || rank < output_rank - 1) return false;
  const int64_t channel_axis = 1 - (output_rank - rank);
  for (int64_t d = 0; d < rank; ++d)
    if (t.dim(static_cast<size_t>(d)) != (d == channel_axis ? channels : 1)) return false;
  return true;
}

// Clip(0, hi) with finite hi: needs the per-channel rewrite (see rescale_activation).
bool bounded_clip(const Node& n, int64_t opset, const Graph& g) {
  if (n.op != "Clip") return false;
  auto clip = clip_as_fusable(n, opset, g);
  return clip && clip->hi < std::numeric_limits<float>::max();
}

// Whether `n`, reading `value` as its data input, commutes with per-channel positive scaling
// (possibly after rewriting it, which needs Min with broadcasting: opset 8).
bool equalizable_activation(const Graph& g, int64_t opset, const Node& n, const std::string& value, const Layer& l1) {
  if (n.outputs.size() != 1 || n.inputs.empty()) return false;
  if (n.op == "Relu") return n.inputs[0] == value;
  if (n.op == "Clip") {
    if (n.inputs[0] != value) return false;
    auto clip = clip_as_fusable(n, opset, g);
    if (!clip || clip->lo != 0.0f || !(clip->hi > 0.0f)) return false;
    return clip->hi >= std::numeric_limits<float>::max() || opset >= 8;
  }
  if (n.op == "Min") {
    if (n.input_count() != 2 || n.inputs.size() != 2) return false;
    size_t data = n.inputs[0] == value ? 0 : 1;
    if (n.inputs[data] != value || n.inputs[1 - data] == value) return false;
    const Tensor* c = float_initializer(g, n, 1 - data);
    return c && per_channel_or_scalar(*c, l1.out_channels, l1.output_rank);
  }
  return false;
}

// Writes `t` as input `slot` of node `index`: in place when nobody else reads that initializer,
// otherwise under a new name (the original stays for its other readers).
void store_input(Graph& g, int index, size_t slot, Tensor t, const std::string& suffix) {
  const std::string name = g.nodes[static_cast<size_t>(index)].inputs[slot];
  g.check_not_encoded(name, "equalize");
  if (g.initializer(name) && g.consumers(name).size() == 1 && !g.is_graph_output(name)) {
    g.initializers[name] = std::move(t);
    return;
  }
  std::string fresh = g.fresh_name(g.nodes[static_cast<size_t>(index)].name + suffix);
  g.initializers[fresh] = std::move(t);
  g.nodes[static_cast<size_t>(index)].inputs[slot] = fresh;
}

Shape per_channel_shape(const Layer& l) {
  Shape s(static_cast<size_t>(l.output_rank - 1), 1);
  s[0] = l.out_channels;
  return s;
}

void write_layer(Graph& g, const Layer& l, const std::vector<Pair>& pairs) {
  const Node& n = g.nodes[static_cast<size_t>(l.node)];
  Tensor w(DType::f32, g.initializer(n.inputs[1])->shape());
  float* pw = w.data<float>();
  for_each_scaled_weight(l, pairs, [&](int64_t e, int64_t, int64_t, double v) { pw[e] = static_cast<float>(v); });
  store_input(g, l.node, 1, std::move(w), "_equalized_weight");
  if (l.out_pair < 0 || !n.has_input(2)) return;
  const Tensor& b = *g.initializer(n.inputs[2]);
  const auto& s = pairs[static_cast<size_t>(l.out_pair)].scale;
  Tensor nb(DType::f32, b.numel() == 1 && l.out_channels != 1 ? Shape{l.out_channels} : b.shape());
  for (int64_t c = 0; c < l.out_channels; ++c)
    nb.data<float>()[c] = static_cast<float>(b.data<float>()[b.numel() == 1 ? 0 : c] / s[static_cast<size_t>(c)]);
  store_input(g, l.node, 2, std::move(nb), "_equalized_bias");
}

// Makes the activations between the layers of `p` act on the rescaled channels.
//
// ReLU6 = Clip(0, 6) is not positively homogeneous: once channel i carries y_i / s_i it must clip at
// 6 / s_i. The Clip becomes Relu followed by Min(x, c) with c_i = hi / s_i (shape [C, 1, ..., 1]),
// which keeps the float function exact (min(relu(y / s), hi / s) = min(relu(y), hi) / s); an
// existing Min's constant is divided by s the same way, so repeated runs compose. A later
// activation-quantization pass sees the per-channel clip as an explicit Min with its constants.
void rescale_activations(Graph& g, int64_t opset, const Layer& l1, const Pair& p) {
  for (int index : p.activations) {
    Node& n = g.nodes[static_cast<size_t>(index)];
    if (n.op == "Relu" || (n.op == "Clip" && !bounded_clip(n, opset, g))) continue;
    Tensor c(DType::f32, per_channel_shape(l1));
    if (n.op == "Clip") {
      const double hi = clip_as_fusable(n, opset, g)->hi;
      for (int64_t i = 0; i < l1.out_channels; ++i)
        c.data<float>()[i] = static_cast<float>(hi / p.scale[static_cast<size_t>(i)]);
      const std::string data = n.inputs[0], out = n.outputs[0], name = n.name;
      const std::string relu_out = g.fresh_name(out + "_relu");
      n.op = "Relu";
      n.attrs.clear();
      n.inputs = {data};
      n.outputs = {relu_out};
      const std::string c_name = g.fresh_name(name + "_channel_max");
      g.initializers[c_name] = std::move(c);
      // Appended; Graph::sort moves it next to its Relu.
      g.nodes.push_back(Node{g.fresh_name(name + "_min"), "Min", {relu_out, c_name}, {out}, {}});
      continue;
    }
    // Min(x, constant)
    const size_t slot = float_initializer(g, n, 0) ? 0 : 1;
    const Tensor& old = *g.initializer(n.inputs[slot]);
    for (int64_t i = 0; i < l1.out_channels; ++i)
      c.data<float>()[i] = static_cast<float>(old.data<float>()[old.numel() == 1 ? 0 : i] / p.scale[static_cast<size_t>(i)]);
    store_input(g, index, slot, std::move(c), "_channel_max");
  }
}

std::string describe_pair(const Graph& g, const std::vector<Layer>& layers, const Pair& p) {
  std::string s = g.nodes[static_cast<size_t>(layers[static_cast<size_t>(p.first)].node)].name;
  for (int a : p.activations) s += " -> " + g.nodes[static_cast<size_t>(a)].op;
  return s + " -> " + g.nodes[static_cast<size_t>(layers[static_cast<size_t>(p.second)].node)].name;
}

}  // namespace

void run_equalize(Model& model, const PassOptions& options, PassContext& context) {
  const int64_t iterations = options.integer("iterations");
  Graph& g = model.graph;

  std::vector<Layer> layers;
  std::vector<int> layer_of_node(g.nodes.size(), -1);
  auto layer_index = [&](int node) -> int {
    if (layer_of_node[static_cast<size_t>(node)] >= 0) return layer_of_node[static_cast<size_t>(node)];
    auto l = as_layer(g, node);
    if (!l) return -1;
    layers.push_back(std::move(*l));
    return layer_of_node[static_cast<size_t>(node)] = static_cast<int>(layers.size() - 1);
  };

  // Find the pairs.
  std::vector<Pair> pairs;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const Node& n1 = g.nodes[static_cast<size_t>(i)];
    const int first = layer_index(i);
    if (first < 0 || !bias_rescalable(g, layers[static_cast<size_t>(first)])) continue;
    Pair p;
    p.first = first;
    std::string value = n1.outputs[0];
    while (true) {
      if (g.is_graph_output(value)) break;
      auto readers = g.consumers(value);
      if (readers.size() != 1) break;
      const Node& next = g.nodes[static_cast<size_t>(readers[0])];
      if (weighted_op_traits(next.op)) {
        if (next.inputs[0] != value ||
            std::count(next.inputs.begin(), next.inputs.end(), value) != 1)
          break;
        const int second = layer_index(readers[0]);
        if (second < 0 || layers[static_cast<size_t>(second)].in_channels != layers[static_cast<size_t>(first)].out_channels)
          break;
        p.second = second;
        break;
      }
      if (p.activations.size() == max_activations ||
          !equalizable_activation(g, model.opset, next, value, layers[static_cast<size_t>(first)]))
        break;
      p.activations.push_back(readers[0]);
      value = next.outputs[0];
    }
    if (p.second < 0) continue;
    p.scale.assign(static_cast<size_t>(layers[static_cast<size_t>(first)].out_channels), 1.0);
    layers[static_cast<size_t>(first)].out_pair = static_cast<int>(pairs.size());
    layers[static_cast<size_t>(p.second)].in_pair = static_cast<int>(pairs.size());
    pairs.push_back(std::move(p));
  }

  // Sweep until the scales settle.
  int64_t sweeps = 0;
  double change = 0;
  for (; sweeps < iterations; ++sweeps) {
    change = 0;
    for (auto& p : pairs) {
      const auto r1 = channel_ranges(layers[static_cast<size_t>(p.first)], pairs, true);
      const auto r2 = channel_ranges(layers[static_cast<size_t>(p.second)], pairs, false);
      for (size_t c = 0; c < p.scale.size(); ++c) {
        if (!(r1[c] > 0 && r2[c] > 0 && std::isfinite(r1[c]) && std::isfinite(r2[c]))) continue;
        const double updated = std::clamp(p.scale[c] * std::sqrt(r1[c] / r2[c]), min_scale, max_scale);
        change = std::max(change, std::fabs(updated / p.scale[c] - 1.0));
        p.scale[c] = updated;
      }
    }
    if (change < converged_change) {
      ++sweeps;
      break;
    }
  }

  std::vector<std::string> pair_names;
  for (const auto& p : pairs) pair_names.push_back(describe_pair(g, layers, p));

  // Write the weights (rounded to float once), biases and activations.
  auto changed = [](const Pair& p) {
    return std::any_of(p.scale.begin(), p.scale.end(), [](double s) { return s != 1.0; });
  };
  for (const auto& l : layers) {
    bool touched = (l.out_pair >= 0 && changed(pairs[static_cast<size_t>(l.out_pair)])) ||
                   (l.in_pair >= 0 && changed(pairs[static_cast<size_t>(l.in_pair)]));
    if (touched) write_layer(g, l, pairs);
  }
  for (const auto& p : pairs)
    if (changed(p)) rescale_activations(g, model.opset, layers[static_cast<size_t>(p.first)], p);
  g.sort();
  g.remove_dead();

  if (context.log) {
    std::ostringstream line;
    line << "equalize: " << pairs.size() << " pairs, " << sweeps << " sweeps, last max scale change " << change;
    context.log(line.str());
    for (const auto& name : pair_names) context.log("equalize: pair " + name);
  }
}

}  // namespace mc
