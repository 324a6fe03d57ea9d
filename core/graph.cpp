#include "core/graph.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace mc {

int64_t Node::attr_int(const std::string& attr, int64_t fallback) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return fallback;
  if (it->second.type != AttrType::integer)
    fail_input(describe() + ": attribute '" + attr + "' should be an integer");
  return it->second.i;
}

float Node::attr_float(const std::string& attr, float fallback) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return fallback;
  if (it->second.type == AttrType::integer) return static_cast<float>(it->second.i);
  if (it->second.type != AttrType::floating)
    fail_input(describe() + ": attribute '" + attr + "' should be a float");
  return it->second.f;
}

std::string Node::attr_string(const std::string& attr, const std::string& fallback) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return fallback;
  if (it->second.type != AttrType::string)
    fail_input(describe() + ": attribute '" + attr + "' should be a string");
  return it->second.s;
}

std::vector<int64_t> Node::attr_ints(const std::string& attr, std::vector<int64_t> fallback) const {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return fallback;
  if (it->second.type != AttrType::integers)
    fail_input(describe() + ": attribute '" + attr + "' should be a list of integers");
  return it->second.ints;
}

size_t Node::input_count() const {
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1].empty()) --n;
  return n;
}

std::string Node::describe() const { return "node '" + name + "' (" + op + ")"; }

const Tensor* Graph::initializer(const std::string& value) const {
  auto it = initializers.find(value);
  return it == initializers.end() ? nullptr : &it->second.values;
}

void Graph::encode(const std::string& value, EncodedTensor encoding) {
  auto it = initializers.find(value);
  if (it == initializers.end()) fail_internal("encode: no initializer '" + value + "'");
  it->second.values = decode_tensor(encoding, value);
  it->second.encoding = std::make_shared<const EncodedTensor>(std::move(encoding));
  it->second.pruned.reset();  // the encoding holds whatever the mask said (zeros, or its own mask)
}

void Graph::set_pruned(const std::string& value, std::vector<uint8_t> mask) {
  auto it = initializers.find(value);
  if (it == initializers.end()) fail_internal("set_pruned: no initializer '" + value + "'");
  if (it->second.encoded()) fail_internal("set_pruned: weight '" + value + "' is already encoded");
  it->second.pruned = std::make_shared<const std::vector<uint8_t>>(std::move(mask));
}

const std::vector<uint8_t>* Graph::pruned_mask(const std::string& value) const {
  auto it = initializers.find(value);
  return it == initializers.end() || !it->second.pruned ? nullptr : it->second.pruned.get();
}

bool Graph::is_encoded(const std::string& value) const {
  auto it = initializers.find(value);
  return it != initializers.end() && it->second.encoded();
}

void Graph::check_not_encoded(const std::string& value, const std::string& who) const {
  auto it = initializers.find(value);
  if (it != initializers.end() && it->second.encoded())
    fail_unsupported(who + ": weight '" + value + "' is already encoded by an earlier pass (" +
                     encoding_name(it->second.encoding->parts.at(0).encoding) +
                     "); run passes that rewrite float weights before the passes that quantize them");
}

std::string broken_initializer(const Graph& graph) {
  for (const auto& [name, init] : graph.initializers) {
    if (init.encoding) {
      const Tensor decoded = decode_tensor(*init.encoding, name);
      if (decoded.dtype() != init.values.dtype() || decoded.shape() != init.values.shape() ||
          std::memcmp(decoded.raw(), init.values.raw(), decoded.byte_size()) != 0)
        return "weight '" + name + "': its values are not what its encoding decodes to";
    }
    if (init.pruned) {
      if (init.values.dtype() != DType::f32 || static_cast<int64_t>(init.pruned->size()) != init.values.numel())
        return "weight '" + name + "': its pruning mask does not match its shape";
      const float* v = init.values.data<float>();
      for (size_t i = 0; i < init.pruned->size(); ++i)
        if ((*init.pruned)[i] && v[i] != 0.0f) return "weight '" + name + "': a pruned weight is no longer zero";
    }
  }
  return "";
}

Tensor& Graph::values_to_change(const std::string& value, const std::string& who) {
  auto it = initializers.find(value);
  if (it == initializers.end()) fail_internal(who + ": no initializer '" + value + "'");
  if (it->second.encoded()) fail_internal(who + ": changes encoded weight '" + value + "' without re-encoding it");
  return it->second.values;
}

const Node* Graph::node(const std::string& node_name) const {
  for (const auto& n : nodes)
    if (n.name == node_name) return &n;
  return nullptr;
}

int Graph::producer(const std::string& value) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (o == value) return static_cast<int>(i);
  return -1;
}

std::vector<int> Graph::consumers(const std::string& value) const {
  std::vector<int> out;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& in : nodes[i].inputs)
      if (in == value) {
        out.push_back(static_cast<int>(i));
        break;
      }
  return out;
}

bool Graph::is_graph_output(const std::string& value) const {
  for (const auto& o : outputs)
    if (o.name == value) return true;
  return false;
}

void Graph::sort() {
  std::unordered_map<std::string, int> produced_by;
  std::unordered_set<std::string> available;
  for (const auto& in : inputs) available.insert(in.name);
  for (const auto& [init_name, init] : initializers) available.insert(init_name);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name.empty()) nodes[i].name = nodes[i].op + "_" + std::to_string(i);
    for (const auto& o : nodes[i].outputs) {
      if (o.empty()) continue;
      if (available.count(o) || produced_by.count(o))
        fail_input(nodes[i].describe() + ": output '" + o + "' is already defined elsewhere in the graph");
      produced_by[o] = static_cast<int>(i);
    }
  }
  // Kahn's algorithm; among ready nodes the earliest in file order goes first, so an already
  // sorted graph keeps its order.
  std::vector<int> missing(nodes.size(), 0);
  std::vector<std::vector<int>> users(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<int> deps;
    for (const auto& in : nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      auto it = produced_by.find(in);
      if (it == produced_by.end())
        fail_input(nodes[i].describe() + ": input '" + in +
                   "' is not produced by any node, initializer or graph input");
      deps.insert(it->second);
    }
    missing[i] = static_cast<int>(deps.size());
    for (int d : deps) users[static_cast<size_t>(d)].push_back(static_cast<int>(i));
  }
  std::set<int> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (missing[i] == 0) ready.insert(static_cast<int>(i));
  std::vector<int> order;
  while (!ready.empty()) {
    int n = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(n);
    for (int u : users[static_cast<size_t>(n)])
      if (--missing[static_cast<size_t>(u)] == 0) ready.insert(u);
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (missing[i] > 0) fail_input("graph has a cycle through " + nodes[i].describe());
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (int i : order) sorted.push_back(std::move(nodes[static_cast<size_t>(i)]));
  nodes = std::move(sorted);
  for (const auto& o : outputs)
    if (!available.count(o.name) && !produced_by.count(o.name))
      fail_input("graph output '" + o.name + "' is not produced by any node");
}

void Graph::remove_dead() {
  std::unordered_set<std::string> live;
  for (const auto& o : outputs) live.insert(o.name);
  std::vector<bool> keep(nodes.size(), false);
  for (size_t k = nodes.size(); k-- > 0;) {
    bool used = false;
    for (const auto& o : nodes[k].outputs) used = used || live.count(o);
    if (!used) continue;
    keep[k] = true;
    for (const auto& in : nodes[k].inputs) live.insert(in);
  }
  std::vector<Node> kept;
  for (size_t k = 0; k < nodes.size(); ++k)
    if (keep[k]) kept.push_back(std::move(nodes[k]));
  nodes = std::move(kept);
  for (auto it = initializers.begin(); it != initializers.end();) {
    if (!live.count(it->first)) it = initializers.erase(it);
    else ++it;
  }
}

std::string Graph::fresh_name(const std::string& base) const {
  std::unordered_set<std::string> used;
  for (const auto& in : inputs) used.insert(in.name);
  for (const auto& [n, init] : initializers) used.insert(n);
  for (const auto& node : nodes)
    for (const auto& o : node.outputs) used.insert(o);
  if (!used.count(base)) return base;
  for (int k = 1;; ++k) {
    std::string candidate = base + "_" + std::to_string(k);
    if (!used.count(candidate)) return candidate;
  }
}

}  // namespace mc
