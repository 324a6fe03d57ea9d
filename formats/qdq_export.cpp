#include "formats/qdq_export.h"

#include <algorithm>
#include <limits>
#include <set>

#include "core/shape_inference.h"

namespace mc {

namespace {

// --- Raising the opset to 13 --------------------------------------------------------------------
// Only the ops mcompress has kernels for (core/ops/op_list.def) can occur. Between opset 6 and 13
// these changed form: Clip (11), Pad (11) and Slice (10) took their attributes as inputs, Squeeze,
// Unsqueeze and Split (13) too; Dropout lost is_test (7) and took ratio as an input (12), its mask
// became bool (10); BatchNormalization lost is_test (7) and spatial (9); the arithmetic ops and Gemm
// lost `broadcast`/`axis` for numpy broadcasting (7); Softmax (13) normalizes over one axis instead
// of all dims from `axis` on. Everything else reads the same at 13.

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

// The one part of an int8 tensor DequantizeLinear can express, or nullptr.
const EncodedPart* qdq_part(const McTensor& t) {
  if (t.encoded.dtype != DType::f32 || t.encoded.parts.size() != 1) return nullptr;
  const EncodedPart& p = t.encoded.parts[0];
  // int4 values fit int8's range exactly; a sparse part's masked weights are q = 0.
  if (p.encoding != Encoding::int8 && p.encoding != Encoding::int4) return nullptr;
  if (p.channel_begin != 0 || p.channel_end != t.encoded.channels()) return nullptr;
  if (static_cast<int64_t>(p.scales.size()) != t.encoded.channels()) return nullptr;
  // An int8 x needs an int8 zero point; the format allows -128..255.
  for (int32_t zp : p.zero_points)
    if (zp < -128 || zp > 127) return nullptr;
  return &p;
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

Model with_qdq_weights(const Model& decoded, const McFile& file) {
  std::vector<const McTensor*> int8_tensors;
  for (const auto& t : file.tensors)
    if (qdq_part(t) && decoded.graph.initializer(t.name)) int8_tensors.push_back(&t);
  if (int8_tensors.empty()) return decoded;

  Model model = upgraded_to_opset13(decoded);
  Graph& g = model.graph;
  std::set<std::string> node_names;
  for (const auto& node : g.nodes) node_names.insert(node.name);
  size_t inserted = 0;
  for (const McTensor* t : int8_tensors) {
    const EncodedTensor e = decode_streams(file, *t);  // validated: symbol counts and ranges
    const EncodedPart& p = e.parts[0];
    const int64_t channels = e.channels();
    // q = symbol - 128 (int8) or symbol - 8 (int4): the integer values the file stores, unchanged;
    // a sparse part's masked weights are 0 (with a zero point, the decoder's 0.0 is q = zp).
    Tensor q(DType::i8, e.shape);
    int8_t* pq = q.data<int8_t>();
    const int32_t offset = p.encoding == Encoding::int8 ? 128 : 8;
    const std::vector<uint8_t>& values = p.streams[p.sparse ? 1 : 0];
    const int64_t inner = e.channel_size();
    size_t next = 0;
    for (size_t i = 0; i < static_cast<size_t>(e.channels() * inner); ++i) {
      if (p.sparse && !p.streams[0][i]) {
        pq[i] = static_cast<int8_t>(p.zero_points.empty() ? 0 : p.zero_points[i / static_cast<size_t>(inner)]);
        continue;
      }
      pq[i] = static_cast<int8_t>(static_cast<int32_t>(values[next++]) - offset);
    }
    std::vector<int8_t> zero_points(static_cast<size_t>(channels), 0);
    for (size_t c = 0; c < p.zero_points.size(); ++c) zero_points[c] = static_cast<int8_t>(p.zero_points[c]);
    // Per-axis along the channel axis 0; a rank-0 tensor (one channel) is per-tensor.
    const Shape param_shape = e.shape.empty() ? Shape{} : Shape{channels};

    g.initializers.erase(t->name);
    const std::string q_name = add_constant(g, t->name + "_int8", std::move(q));
    const std::string scale_name = add_constant(g, t->name + "_scale", Tensor::from_vector<float>(param_shape, p.scales));
    const std::string zero_point_name = add_constant(g, t->name + "_zero_point", Tensor::from_vector<int8_t>(param_shape, zero_points));
    Node dq;
    dq.name = t->name + "_dequantize";
    for (int k = 1; node_names.count(dq.name); ++k) dq.name = t->name + "_dequantize_" + std::to_string(k);
    node_names.insert(dq.name);
    dq.op = "DequantizeLinear";
    dq.inputs = {q_name, scale_name, zero_point_name};
    dq.outputs = {t->name};  // consumers keep reading the original name
    if (!e.shape.empty()) dq.attrs["axis"] = Attribute{AttrType::integer, 0, 0, {}, {}, {}, {}, {}};
    // It reads initializers only, so it goes first and the order stays topological. Inserted now,
    // so that fresh_name sees its output and no later initializer takes the name.
    g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(inserted++), std::move(dq));
  }
  return model;
}

}  // namespace mc
