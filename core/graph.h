// The graph IR: ONNX-shaped (values are named, nodes read and write names), but owned by us so
// passes can rewrite it freely. Nodes are kept in topological order (Graph::sort establishes it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs;   // runtime inputs (initializers are not listed here)
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;
  std::map<std::string, Tensor> initializers;

  const Tensor* initializer(const std::string& value) const;
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
