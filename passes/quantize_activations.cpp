// quantize-activations: int8 (uint8) per-tensor quantization of every layer's input activation, with
// ranges calibrated on the calibration images. PROM (RESEARCH.md section 2) keeps activations in 8
// bits so that a ternary pointwise layer becomes int8 additions and subtractions only; this pass
// makes the model compute exactly what such an integer pipeline computes at the layer inputs.
//
// For each Conv / Gemm / MatMul with a constant weight, its data input x becomes
//   x -> QuantizeLinear(scale, zero_point) -> DequantizeLinear(scale, zero_point) -> layer
// (one pair per tensor, shared by every layer reading it; other readers of x keep the float value).
// Non-negative tensors (after ReLU / ReLU6) use [0, hi] with zero point 0; tensors with negative
// values use the asymmetric [lo, hi] with zero point round(-lo / scale), so 0.0 (padding, ReLU
// zeros) is exact. Ranges: method=mse clips to the range minimizing the expected squared
// quantization error over the calibration histogram (TensorRange::mse_int8_range, intersected with
// the observed [min, max] so a one-sided tail does not waste levels); method=minmax uses [min, max].
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <set>

#include "core/text.h"
#include "formats/qdq_export.h"
#include "passes/activation_quant.h"
#include "passes/pass.h"
#include "core/weighted_op.h"

namespace mc {

Uint8Quantization uint8_quantization(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  Uint8Quantization q;
  const float scale = static_cast<float>((hi - lo) / 255.0);
  // A zero-width (or non-finite) range: every value is 0, which any scale represents exactly.
  if (!std::isfinite(scale) || scale < FLT_MIN) return q;
  q.scale = scale;
  const double zero_point = std::nearbyint(-lo / static_cast<double>(scale));
  q.zero_point = static_cast<uint8_t>(std::clamp(zero_point, 0.0, 255.0));
  return q;
}

bool input_is_quantized(const Model& model, const Node& layer) {
  const Graph& g = model.graph;
  if (!layer.has_input(0)) return false;
  const int p = g.producer(layer.inputs[0]);
  if (p < 0) return false;
  const Node& dq = g.nodes[static_cast<size_t>(p)];
  return dq.op == "DequantizeLinear" && dq.has_input(0) && !g.initializer(dq.inputs[0]);
}

namespace {

// The weight is an initializer, or the DequantizeLinear of one (a model exported with --qdq).
bool has_constant_weight(const Graph& g, const Node& node) {
  const WeightedOpTraits* traits = weighted_op_traits(node.op);
  if (!traits || !traits->float_weight) return false;
  if (!node.has_input(traits->data_input) || !node.has_input(traits->weight_input)) return false;
  if (g.initializer(node.inputs[traits->data_input])) return false;  // constant data: nothing to calibrate
  if (const Tensor* w = g.initializer(node.inputs[traits->weight_input])) return w->dtype() == DType::f32;
  const int p = g.producer(node.inputs[traits->weight_input]);
  if (p < 0) return false;
  const Node& dq = g.nodes[static_cast<size_t>(p)];
  return dq.op == "DequantizeLinear" && dq.has_input(0) && g.initializer(dq.inputs[0]);
}

}  // namespace

void run_quantize_activations(Model& model, const PassOptions& options, PassContext& ctx) {
  const std::string method = options.text("method");
  Graph& g = model.graph;

  // Which tensors to quantize, in first-use order, and the layers reading each.
  std::vector<std::string> tensors;
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    if (!has_constant_weight(g, node) || input_is_quantized(model, node)) continue;
    auto [it, fresh] = readers.try_emplace(node.inputs[0]);
    if (fresh) tensors.push_back(node.inputs[0]);
    it->second.push_back(i);
  }
  if (tensors.empty()) {
    if (ctx.log) ctx.log("quantize-activations: no layer input to quantize");
    return;
  }
  // QuantizeLinear exists from opset 10 (and the export's per-axis DequantizeLinear needs 13): an
  // older model (ResNet / SqueezeNet exports at opset 7 to 9) is raised to opset 13 first, its nodes
  // rewritten where their form changed (formats/qdq_export.h; a form with no exact opset-13
  // equivalent is refused, naming the node). Nodes keep their order, so `readers` stays valid.
  if (model.opset < 10) {
    const int64_t from = model.opset;
    model = upgraded_to_opset13(model);
    if (ctx.log) ctx.log("quantize-activations: opset " + std::to_string(from) + " raised to 13 for QuantizeLinear");
  }
  const CalibrationStats& stats = ctx.statistics(model);

  std::set<std::string> node_names;
  for (const auto& node : g.nodes) node_names.insert(node.name);
  // Value names for the new nodes' outputs: fresh, and distinct from those of pairs not yet placed.
  std::set<std::string> new_values;
  auto new_value_name = [&](const std::string& base) {
    std::string name = g.fresh_name(base);
    for (int k = 1; new_values.count(name); ++k) name = g.fresh_name(base + "_" + std::to_string(k));
    new_values.insert(name);
    return name;
  };
  // By node index: the Quantize/Dequantize pair to place before that node (a tensor's first reader).
  std::map<size_t, std::vector<Node>> pairs;
  int64_t layers = 0, asymmetric = 0;
  for (const auto& x : tensors) {
    auto range_it = stats.ranges.find(x);
    if (range_it == stats.ranges.end() || range_it->second.count == 0)
      fail_internal("quantize-activations: no calibration range for tensor '" + x + "'");
    const TensorRange& r = range_it->second;
    double lo = r.min, hi = r.max;
    if (method == "mse") {
      auto [mse_lo, mse_hi] = r.mse_int8_range();
      lo = std::max(lo, mse_lo);
      hi = std::min(hi, mse_hi);
    }
    const Uint8Quantization q = uint8_quantization(lo, hi);
    asymmetric += q.zero_point != 0;

    const std::string scale_name = g.fresh_name(x + "_act_scale");
    g.initializers[scale_name] = Tensor::scalar_f32(q.scale);
    const std::string zero_point_name = g.fresh_name(x + "_act_zero_point");
    g.initializers[zero_point_name] = Tensor::from_vector<uint8_t>({}, {q.zero_point});
    // The .mcz writer stores every initializer: the parameters are kept exactly.
    g.encode(scale_name, encode_fp32_planes(*g.initializer(scale_name)));
    g.encode(zero_point_name, encode_raw(*g.initializer(zero_point_name)));

    const Node& first_reader = g.nodes[readers.at(x).front()];
    Node quantize;
    quantize.name = take_unique_name(node_names, first_reader.name + "_input_quantize");
    quantize.op = "QuantizeLinear";
    quantize.inputs = {x, scale_name, zero_point_name};
    quantize.outputs = {new_value_name(x + "_uint8")};
    Node dequantize;
    dequantize.name = take_unique_name(node_names, first_reader.name + "_input_dequantize");
    dequantize.op = "DequantizeLinear";
    dequantize.inputs = {quantize.outputs[0], scale_name, zero_point_name};
    dequantize.outputs = {new_value_name(x + "_dequantized")};
    for (size_t reader : readers.at(x)) {
      g.nodes[reader].inputs[0] = dequantize.outputs[0];
      ++layers;
    }
    if (ctx.log)
      ctx.log("quantize-activations: '" + x + "' range [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "] -> scale " + std::to_string(q.scale) + ", zero point " + std::to_string(q.zero_point));
    // Q and DQ are placed just before the first reader: x is available there (the graph is sorted).
    pairs[readers.at(x).front()] = {std::move(quantize), std::move(dequantize)};
  }
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() + 2 * pairs.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    auto it = pairs.find(i);
    if (it != pairs.end())
      for (auto& n : it->second) nodes.push_back(std::move(n));
    nodes.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(nodes);
  if (ctx.note)
    ctx.note("quantize-activations: " + count_of(static_cast<int64_t>(tensors.size()), "activation") + " feeding " +
             count_of(layers, "layer") + " quantized to uint8 (" + method + " ranges)");
  if (ctx.log)
    ctx.log("quantize-activations: " + std::to_string(tensors.size()) + " activations (" + std::to_string(asymmetric) +
            " with a zero point) feeding " + std::to_string(layers) + " layers are now uint8 (method " + method + ")");
}

}  // namespace mc
