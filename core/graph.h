// The graph IR: ONNX-shaped (values are named, nodes read and write names), but owned by us so
// passes can rewrite it freely. Nodes are kept in topological order (Graph::sort establishes it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/tensor.h"

namespace mc {

enum class AttrType { floating, integer, string, tensor, floats, integers, strings };

struct Attribute {
  AttrType type = AttrType::integer;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct Node {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has(const std::string& attr) const { return attrs.count(attr) != 0; }
  int64_t attr_int(const std::string& attr, int64_t fallback) const;
  float attr_float(const std::string& attr, float fallback) const;
  std::string attr_string(const std::string& attr, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& attr, std::vector<int64_t> fallback = {}) const;
  // Number of inputs actually given (trailing "" do not count).
  size_t input_count() const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  // "node 'Conv_3' (Conv)": how every message names a node.
  std::string describe() const;
};

// A declared graph input or output. A dimension of -1 is symbolic (its name in dim_params).
struct ValueInfo {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::vector<std::string> dim_params;  // same length as shape; "" for fixed dims
  bool shape_known = true;
};

// A constant tensor of the graph (an ONNX initializer) as one object: the values the model computes
// with and, once a pass has decided how the file stores it, that encoding (codes, scales, terms,
// mask, bank split). Whenever `encoding` is set, `values` is exactly decode_tensor(*encoding): passes
// set both at once with Graph::encode, and the pipeline checks it after every pass
// (verify_encodings), so eval, export, the report and the .mcz writer, which read this one object,
// can never see two different weights.
struct Initializer {
  Tensor values;
  std::shared_ptr<const EncodedTensor> encoding;  // null: not encoded yet (a float or integer constant)
  // Weights a pruning pass set to zero (1 = pruned, in the values' layout), still to be encoded: later
  // quantization passes keep them at zero; null when none.
  std::shared_ptr<const std::vector<uint8_t>> pruned;

  Initializer() = default;
  Initializer(Tensor t) : values(std::move(t)) {}  // NOLINT(google-explicit-constructor): a plain constant
  bool encoded() const { return encoding != nullptr; }
};

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs;   // runtime inputs (initializers are not listed here)
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;
  std::map<std::string, Initializer> initializers;

  // The values of initializer `value`, or nullptr.
  const Tensor* initializer(const std::string& value) const;
  // Stores `encoding` as the initializer's encoding and its decoded values as its values (fails,
  // internal error, if there is no such initializer). The one way a pass encodes a weight.
  void encode(const std::string& value, EncodedTensor encoding);
  // The initializer's values for a pass to change in place; fails (internal error naming `who`)
  // when it is encoded: a changed encoded weight must be re-encoded, so passes that rewrite weights
  // refuse encoded ones first (see check_not_encoded).
  Tensor& values_to_change(const std::string& value, const std::string& who);
  // Records that a pruning pass set the weights where `mask` is 1 to zero (the values must already be
  // zero there: checked after the pass).
  void set_pruned(const std::string& value, std::vector<uint8_t> mask);
  // The pruning mask of a not yet encoded weight, or nullptr.
  const std::vector<uint8_t>* pruned_mask(const std::string& value) const;
  bool is_encoded(const std::string& value) const;
  // Refuses (unsupported error naming `who` and the weight) to rewrite an encoded initializer.
  void check_not_encoded(const std::string& value, const std::string& who) const;
  // The first node named `name`, or nullptr (passes address layers by node name).
  const Node* node(const std::string& node_name) const;
  // Index of the node producing `value`, or -1 (graph input / initializer / missing).
  int producer(const std::string& value) const;
  // Indices of nodes reading `value`.
  std::vector<int> consumers(const std::string& value) const;
  bool is_graph_output(const std::string& value) const;

  // Orders nodes topologically (stable: keeps the file order where it is already valid). Fails with
  // an input error naming the node on a cycle, a value produced twice, or a dangling input.
  void sort();
  // Drops nodes whose outputs nobody uses and initializers nobody reads.
  void remove_dead();
  // Unique value name derived from `base`.
  std::string fresh_name(const std::string& base) const;
};

// The first initializer whose state breaks the Initializer invariants, with why ("" if none): an
// encoding whose decoded values are not bit-identical to the values, or a pruned weight that is not
// zero. Checked by the pass pipeline after every pass.
std::string broken_initializer(const Graph& graph);

struct Model {
  Graph graph;
  int64_t ir_version = 7;
  int64_t opset = 13;  // default ONNX domain
  std::string producer_name;
  std::string producer_version;
  std::string doc;
  std::vector<std::pair<std::string, std::string>> metadata;
};

}  // namespace mc
