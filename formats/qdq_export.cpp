#include "formats/qdq_export.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <map>
#include <set>

#include "core/qdq_conv.h"
#include "core/shape_inference.h"
#include "core/text.h"
#include "formats/qdq_terms.h"
#include "core/weighted_op.h"

namespace mc {

namespace {

// --- Raising the opset to 13 --------------------------------------------------------------------
// Only the ops mcompress has kernels for (core/ops/op_list.def) can occur. Between opset 6 and 13
// these changed form: Clip (11), Pad (11) and Slice (10) took their attributes as inputs, Squeeze,
// Unsqueeze, Split and ReduceSum (13) too; Dropout lost is_test (7) and took ratio as an input (12),
// its mask became bool (10); BatchNormalization lost is_test (7) and spatial (9); the arithmetic ops
// and Gemm lost `broadcast`/`axis` for numpy broadcasting (7), and PRelu's slope broadcasts numpy-style
// from 7 (a per-channel slope of PRelu-6 gets trailing 1s); Softmax (13) normalizes over one axis
// instead of all dims from `axis` on. Everything else reads the same at 13 (the activations changed
// only their types; ReduceMean, ReduceMax and ReduceMin keep their axes attribute until 18).
// A model at opset 13 or later is kept as it is: the QDQ export writes DequantizeLinear with `axis`
// (13), ConvInteger, Cast, Mul and Add, which read the same in every later opset up to 21.

[[noreturn]] void cannot_upgrade(const Node& node, int64_t opset, const std::string& why) {
  fail_unsupported(node.describe() + ": cannot be carried from opset " + std::to_string(opset) +
                   " to opset 13, which per-axis DequantizeLinear needs: " + why +
                   " (export without --qdq to keep the model's opset)");
}

std::string add_constant(Graph& g, const std::string& base, Tensor t) {
  std::string name = g.fresh_name(base);
  g.initializers[name] = std::move(t);
  return name;
}

Tensor int64_vector(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

// Moves integer-list attribute `attr` into input slot `slot` (an int64 1-D initializer); slots in
// between are left omitted ("").
void attribute_to_input(Graph& g, Node& node, const std::string& attr, size_t slot) {
  if (!node.has(attr)) return;
  std::string name = add_constant(g, node.name + "_" + attr, int64_vector(node.attr_ints(attr)));
  node.attrs.erase(attr);
  if (node.inputs.size() <= slot) node.inputs.resize(slot + 1);
  node.inputs[slot] = name;
}

const Shape& shape_of(const InferredGraph& shapes, const Node& node, const std::string& value) {
  auto it = shapes.types.find(value);
  if (it == shapes.types.end()) fail_internal(node.describe() + ": no inferred shape for '" + value + "'");
  return it->second.shape;
}

bool value_is_used(const Graph& g, const std::string& value) {
  return !value.empty() && (!g.consumers(value).empty() || g.is_graph_output(value));
}

void upgrade_node(Graph& g, Node& node, int64_t opset, const InferredGraph& shapes, const InferredGraph& shapes_batch2) {
  const std::string& op = node.op;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    if (opset >= 7) return;
    const bool broadcast = node.attr_int("broadcast", 0) != 0;
    const bool has_axis = node.has("axis");
    const int64_t axis_attr = node.attr_int("axis", 0);
    node.attrs.erase("broadcast");
    node.attrs.erase("axis");
    if (!broadcast) return;  // equal shapes: numpy broadcasting reads them the same
    const Shape& a = shape_of(shapes, node, node.inputs.at(0));
    const Shape& b = shape_of(shapes, node, node.inputs.at(1));
    const int64_t rank_a = static_cast<int64_t>(a.size()), rank_b = static_cast<int64_t>(b.size());
    int64_t axis = has_axis ? axis_attr : rank_a - rank_b;
    if (axis < 0) axis += rank_a;
    if (shape_numel(b) == 1 || axis + rank_b == rank_a) return;  // scalar or suffix: numpy aligns the same
    // B sits at `axis`: give it trailing 1s so numpy aligns it there.
    const Tensor* constant_b = g.initializer(node.inputs[1]);
    if (!constant_b) cannot_upgrade(node, opset, "B is broadcast at axis " + std::to_string(axis) + " and is not a constant");
    Tensor reshaped = *constant_b;
    Shape padded = b;
    padded.resize(static_cast<size_t>(rank_a - axis), 1);
    reshaped.reshape(padded);
    node.inputs[1] = add_constant(g, node.inputs[1] + "_at_axis", std::move(reshaped));
  } else if (op == "Gemm") {
    node.attrs.erase("broadcast");  // legacy broadcast of C aligns trailing dims, as numpy does
  } else if (op == "Clip") {
    if (opset >= 11) return;
    // Clip-6's bounds default to the float range (not infinities): store them explicitly.
    const float lo = node.attr_float("min", std::numeric_limits<float>::lowest());
    const float hi = node.attr_float("max", std::numeric_limits<float>::max());
    node.attrs.erase("min");
    node.attrs.erase("max");
    node.inputs.resize(1);
    node.inputs.push_back(add_constant(g, node.name + "_min", Tensor::scalar_f32(lo)));
    node.inputs.push_back(add_constant(g, node.name + "_max", Tensor::scalar_f32(hi)));
  } else if (op == "Pad") {
    if (opset >= 11) return;
    const float value = node.attr_float("value", 0.0f);
    attribute_to_input(g, node, "pads", 1);
    node.attrs.erase("value");
    if (value != 0.0f) {
      node.inputs.resize(3);
      node.inputs[2] = add_constant(g, node.name + "_constant_value", Tensor::scalar_f32(value));
    }
  } else if (op == "Slice") {
    if (opset >= 10) return;
    attribute_to_input(g, node, "starts", 1);
    attribute_to_input(g, node, "ends", 2);
    attribute_to_input(g, node, "axes", 3);
  } else if (op == "Squeeze" || op == "Unsqueeze") {
    attribute_to_input(g, node, "axes", 1);
  } else if (op == "Split") {
    attribute_to_input(g, node, "split", 1);
  } else if (op == "ReduceSum") {
    attribute_to_input(g, node, "axes", 1);
  } else if (op == "PRelu") {
    if (opset >= 7) return;
    // PRelu-6's one-per-channel slope (1-D, as long as X's dim 1) sits at axis 1: give it trailing 1s.
    const Shape& x = shape_of(shapes, node, node.inputs.at(0));
    const Shape& slope = shape_of(shapes, node, node.inputs.at(1));
    if (shape_numel(slope) == 1 || slope == x) return;  // the same under numpy broadcasting
    const Tensor* constant_slope = g.initializer(node.inputs[1]);
    if (!constant_slope) cannot_upgrade(node, opset, "its per-channel slope is not a constant");
    Tensor reshaped = *constant_slope;
    Shape per_channel(x.size() - 1, 1);
    per_channel[0] = slope.at(0);
    reshaped.reshape(per_channel);
    node.inputs[1] = add_constant(g, node.inputs[1] + "_per_channel", std::move(reshaped));
  } else if (op == "Dropout") {
    node.attrs.erase("is_test");
    node.attrs.erase("ratio");  // inference ignores it
    if (opset < 10 && node.outputs.size() > 1 && value_is_used(g, node.outputs[1]))
      cannot_upgrade(node, opset, "its mask output is used, and the mask's element type becomes bool at opset 10");
  } else if (op == "BatchNormalization") {
    if (node.attr_int("spatial", 1) != 1) cannot_upgrade(node, opset, "spatial=0 has no opset-13 form");
    node.attrs.erase("is_test");
    node.attrs.erase("spatial");
  } else if (op == "Softmax") {
    // Before 13: softmax over all dims from `axis` on, flattened; from 13: over `axis` alone. The
    // same when every dim after the axis is 1 (checked at two batch sizes: symbolic dims vary).
    const int64_t rank = static_cast<int64_t>(shape_of(shapes, node, node.inputs.at(0)).size());
    int64_t axis = node.attr_int("axis", 1);
    if (axis < 0) axis += rank;
    for (const InferredGraph* s : {&shapes, &shapes_batch2}) {
      const Shape& x = shape_of(*s, node, node.inputs.at(0));
      for (size_t d = static_cast<size_t>(axis) + 1; d < x.size(); ++d)
        if (x[d] != 1)
          cannot_upgrade(node, opset, "Softmax over the flattened dims from axis " + std::to_string(axis) + " of " +
                                          shape_str(x) + " has no single-axis opset-13 form");
    }
    node.attrs["axis"] = Attribute{AttrType::integer, 0, axis, {}, {}, {}, {}, {}};
  }
}

// --- int8 tensors -------------------------------------------------------------------------------

// Whether every part of `t` has an encoding qdq_terms can express (checked before decoding).
bool term_encodable(const EncodedTensor& e) {
  if (e.dtype != DType::f32 || e.shape.empty() || e.parts.empty()) return false;
  for (const auto& p : e.parts)
    if (!encoding_traits(p.encoding).int8_terms) return false;
  return true;
}

// Whether every reader of `value` takes it as the weight of a layer that is linear in it and can be
// split into one layer per term: Conv, or Gemm with transB=1 (filters as rows).
bool splittable_weight(const Graph& g, const std::string& value) {
  if (g.is_graph_output(value)) return false;
  const auto readers = g.consumers(value);
  if (readers.empty()) return false;
  for (int i : readers) {
    const Node& n = g.nodes[static_cast<size_t>(i)];
    // Filters as rows, with a bias slot (Conv, Gemm with transB=1): the per-channel terms split along axis 0.
    const auto layer = weighted_layer(g, n);
    if (!layer || layer->geometry.filter_columns || layer->traits->bias_input < 0 || layer->weight != value ||
        n.inputs[layer->traits->data_input] == value || layer->bias == value)
      return false;
  }
  return true;
}

// --- int8 layers ONNX Runtime would run in float ------------------------------------------------
// ONNX Runtime computes DequantizeLinear -> Conv -> [Relu|Clip] -> QuantizeLinear in integers
// (QLinearConv). A Conv on an 8-bit activation with int8 weights whose output goes elsewhere (into a
// residual Add, a Concat, a pooling, another term of a hybrid weight) it would run in float, on
// dequantized values, with its own summation order: ulp-level differences that move values across
// the next quantizer's rounding ties. Those layers are written instead as
//   ConvInteger(x_q, w_q, x_zp, w_zp) -> Cast(float) -> Mul(x_scale * w_scale[m]) [-> Add(bias)]
// the same function with exact integer sums and then single elementwise float operations, which
// every runtime computes identically.

// The Convs match_qdq_conv (core/qdq_conv.h) finds not requantized: the same conditions the
// executor's QLinearConv fusion checks, so what one runs in integers the other writes in integers.
void write_integer_convs(Graph& g, int64_t opset, std::set<std::string>& node_names) {
  std::vector<Node> nodes;
  for (const Node& node : g.nodes) {
    const auto match = match_qdq_conv(g, node, opset);
    if (!match || match->quantize) {
      nodes.push_back(node);
      continue;
    }
    const std::string& x_q = match->x_dequantize->inputs[0];
    const std::string& x_zero_point = match->x_dequantize->inputs[2];
    const std::string& w_q = match->w_dequantize->inputs[0];
    const std::string& w_zero_point = match->w_dequantize->inputs[2];
    const Tensor* wq = match->w_q;
    const Tensor* w_scale = match->w_scale;
    const Tensor* w_zp = match->w_zero_point;
    const Tensor* bias = match->bias;
    const bool per_tensor = match->per_tensor;
    const int64_t channels = match->channels();
    const float x_scale = match->x_scale;
    // Per-channel constants shaped to broadcast over [N, M, spatial...].
    Shape per_channel_shape(wq->rank(), 1);
    per_channel_shape[1] = channels;
    Tensor scale(DType::f32, per_channel_shape);
    for (int64_t m = 0; m < channels; ++m)
      scale.data<float>()[m] = x_scale * w_scale->data<float>()[per_tensor ? 0 : m];
    bool zero_points_zero = true;
    for (int64_t m = 0; m < w_zp->numel(); ++m) zero_points_zero = zero_points_zero && w_zp->data<int8_t>()[m] == 0;

    const std::string& out = node.outputs[0];
    Node conv_integer = node;
    conv_integer.op = "ConvInteger";
    conv_integer.name = take_unique_name(node_names, node.name + "_integer");
    conv_integer.inputs = {x_q, w_q, x_zero_point, zero_points_zero ? std::string() : w_zero_point};
    if (zero_points_zero) {
      conv_integer.inputs[3] = g.fresh_name(node.name + "_weight_zero_point");
      g.initializers[conv_integer.inputs[3]] = Tensor::from_vector<int8_t>({}, {0});
    }
    conv_integer.outputs = {g.fresh_name(out + "_int32")};
    Node cast;
    cast.name = take_unique_name(node_names, node.name + "_to_float");
    cast.op = "Cast";
    cast.inputs = {conv_integer.outputs[0]};
    cast.outputs = {g.fresh_name(out + "_sums")};
    cast.attrs["to"] = Attribute{AttrType::integer, 0, static_cast<int64_t>(DType::f32), {}, {}, {}, {}, {}};
    Node mul;
    mul.name = take_unique_name(node_names, node.name + "_scale");
    mul.op = "Mul";
    const std::string scale_name = g.fresh_name(node.name + "_output_scale");
    g.initializers[scale_name] = std::move(scale);
    mul.inputs = {cast.outputs[0], scale_name};
    mul.outputs = {bias ? g.fresh_name(out + "_scaled") : out};
    nodes.push_back(std::move(conv_integer));
    nodes.push_back(std::move(cast));
    nodes.push_back(mul);
    if (bias) {
      Tensor b = *bias;
      b.reshape(per_channel_shape);
      const std::string bias_name = g.fresh_name(node.name + "_output_bias");
      g.initializers[bias_name] = std::move(b);
      Node add;
      add.name = take_unique_name(node_names, node.name + "_bias");
      add.op = "Add";
      add.inputs = {mul.outputs[0], bias_name};
      add.outputs = {out};
      nodes.push_back(std::move(add));
    }
  }
  g.nodes = std::move(nodes);
  g.remove_dead();
}

}  // namespace

Model upgraded_to_opset13(const Model& model) {
  if (model.opset >= 13) return model;
  Model out = model;
  const InferredGraph shapes = infer_shapes(model, 1);
  const InferredGraph shapes_batch2 = infer_shapes(model, 2);
  for (auto& node : out.graph.nodes) upgrade_node(out.graph, node, model.opset, shapes, shapes_batch2);
  out.opset = 13;
  out.ir_version = std::max<int64_t>(out.ir_version, 7);  // opset 13 came with IR version 7
  return out;
}

Model with_qdq_weights(const Model& decoded) {
  // The encodings are shared (not copied) with the upgraded model below, which erases and adds
  // initializers: hold them here.
  std::vector<std::pair<std::string, std::shared_ptr<const EncodedTensor>>> candidates;
  for (const auto& [name, init] : decoded.graph.initializers)
    if (init.encoding && term_encodable(*init.encoding)) candidates.emplace_back(name, init.encoding);
  if (candidates.empty()) return decoded;

  Model model = upgraded_to_opset13(decoded);
  Graph& g = model.graph;
  std::set<std::string> node_names;
  for (const auto& node : g.nodes) node_names.insert(node.name);
  std::vector<Node> dequantize;  // DequantizeLinear nodes (read initializers only: they go first)
  // Value names are taken before the nodes that write them are in the graph: remember them.
  std::set<std::string> reserved;
  auto fresh = [&](const std::string& base) {
    std::string name = g.fresh_name(base);
    for (int k = 1; reserved.count(name); ++k) name = g.fresh_name(base + "_" + std::to_string(k));
    reserved.insert(name);
    return name;
  };
  auto constant = [&](const std::string& base, Tensor value) {
    std::string name = fresh(base);
    g.initializers[name] = std::move(value);
    return name;
  };
  // Adds int8 initializer + scale + zero point and a per-channel DequantizeLinear writing `output`.
  auto add_dequantize = [&](const std::string& base, QdqTerm term, const std::string& output) {
    Node dq;
    dq.name = take_unique_name(node_names, base + "_dequantize");
    dq.op = "DequantizeLinear";
    dq.inputs = {constant(base + "_int8", std::move(term.values)), constant(base + "_scale", std::move(term.scales)),
                 constant(base + "_zero_point", std::move(term.zero_points))};
    dq.outputs = {output};
    dq.attrs["axis"] = Attribute{AttrType::integer, 0, 0, {}, {}, {}, {}, {}};
    dequantize.push_back(std::move(dq));
  };
  for (const auto& [name, e] : candidates) {
    auto terms = qdq_terms(*e);
    if (!terms) continue;
    if (terms->size() > 1 && !splittable_weight(g, name)) continue;  // stays float
    g.initializers.erase(name);
    if (terms->size() == 1) {
      // One int8 tensor holds every value (int8, int4 and one-term ternary channels alike):
      // consumers keep reading the original name.
      add_dequantize(name, std::move((*terms)[0]), name);
      continue;
    }
    // Several terms: each reader layer becomes one layer per term (the bias on the first) and a
    // chain of Adds that writes the layer's output.
    std::vector<std::string> weights;
    for (size_t k = 0; k < terms->size(); ++k) {
      const std::string base = name + "_term" + std::to_string(k);
      weights.push_back(fresh(base));
      add_dequantize(base, std::move((*terms)[k]), weights.back());
    }
    std::vector<Node> rewritten;
    for (auto& node : g.nodes) {
      if (node.inputs.size() < 2 || node.inputs[1] != name) {
        rewritten.push_back(std::move(node));
        continue;
      }
      const std::string output = node.outputs.at(0);
      std::string sum;
      for (size_t k = 0; k < weights.size(); ++k) {
        Node part = node;
        part.name = take_unique_name(node_names, node.name + "_term" + std::to_string(k));
        part.inputs[1] = weights[k];
        if (k > 0 && part.inputs.size() > 2) part.inputs.resize(2);  // bias once
        part.outputs = {fresh(output + "_term" + std::to_string(k))};
        const std::string term_out = part.outputs[0];
        rewritten.push_back(std::move(part));
        if (k == 0) {
          sum = term_out;
          continue;
        }
        Node add;
        add.name = take_unique_name(node_names, node.name + "_sum" + std::to_string(k));
        add.op = "Add";
        add.inputs = {sum, term_out};
        add.outputs = {k + 1 == weights.size() ? output : fresh(output + "_sum" + std::to_string(k))};
        sum = add.outputs[0];
        rewritten.push_back(std::move(add));
      }
    }
    g.nodes = std::move(rewritten);
  }
  g.nodes.insert(g.nodes.begin(), std::make_move_iterator(dequantize.begin()), std::make_move_iterator(dequantize.end()));
  write_integer_convs(g, model.opset, node_names);
  return model;
}

bool has_quantized_activations(const Model& model) {
  for (const auto& node : model.graph.nodes)
    if (node.op == "QuantizeLinear") return true;
  return false;
}

// with_qdq_weights(decoded) when the activations are quantized, else `decoded`; also `decoded` when
// the model has no opset-13 form (unsupported): then it runs on its float weights.
Model model_to_run(const Model& decoded) {
  if (!has_quantized_activations(decoded)) return decoded;
  try {
    return with_qdq_weights(decoded);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::unsupported) throw;
    return decoded;
  }
}

}  // namespace mc
