#include "analysis/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "analysis/op_count.h"
#include "analysis/rounding.h"
#include "core/error.h"
#include "core/shape_inference.h"
#include "core/text.h"
#include "core/weighted_op.h"

namespace mc {

namespace {

void add_encoding(std::vector<EncodingBytes>& list, const std::string& encoding, int64_t weights, uint64_t bytes) {
  for (auto& e : list)
    if (e.encoding == encoding) {
      e.weights += weights;
      e.bytes += bytes;
      return;
    }
  list.push_back({encoding, weights, bytes});
}

uint64_t part_bytes(const McTensor& t, size_t part) {
  uint64_t n = 0;
  for (const auto& s : t.streams[part]) n += s.length;
  return n;
}

int64_t part_weight_count(const EncodedTensor& e, const EncodedPart& p) {
  return (p.channel_end - p.channel_begin) * e.channel_size();
}

int64_t elements(const McTensor& t) { return static_cast<int64_t>(t.weights()); }
bool is_float(const McTensor& t) { return t.encoded.dtype == DType::f32; }

bool is_weighted_layer(const Node& node) {
  const WeightedOpTraits* traits = weighted_op_traits(node.op);
  return traits && traits->float_weight;
}

struct LayerInputs {
  const McTensor* weight = nullptr;
  bool weight_via_dequantize = false;  // weight = DequantizeLinear(stored integer tensor)
  std::string data;                    // the activation input
  std::vector<const McTensor*> tensors;  // stored tensors the layer reads (through a weight's DequantizeLinear too)
};

class LayerResolver {
 public:
  LayerResolver(const McFile& file, const Graph& graph) : graph_(graph) {
    for (const auto& t : file.tensors) stored_[t.name] = &t;
  }

  const McTensor* stored(const std::string& value) const {
    auto it = stored_.find(value);
    return it == stored_.end() ? nullptr : it->second;
  }

  // The DequantizeLinear node producing `value`, or null.
  const Node* dequantize_producer(const std::string& value) const {
    int p = graph_.producer(value);
    if (p < 0 || graph_.nodes[static_cast<size_t>(p)].op != "DequantizeLinear") return nullptr;
    return &graph_.nodes[static_cast<size_t>(p)];
  }

  // A stored tensor directly, or the stored integer tensor behind a DequantizeLinear (QDQ weights).
  const McTensor* weight_behind(const std::string& value, bool& via_dequantize) const {
    via_dequantize = false;
    if (const McTensor* t = stored(value)) return t;
    if (const Node* dq = dequantize_producer(value); dq && dq->has_input(0)) {
      const McTensor* t = stored(dq->inputs[0]);
      if (t && !is_float(*t)) {
        via_dequantize = true;
        return t;
      }
    }
    return nullptr;
  }

  LayerInputs resolve(const Node& node) const {
    LayerInputs in;
    // Conv's weight is input 1; Gemm / MatMul may hold it in either operand (input 1 preferred).
    size_t weight_index = 1;
    bool via = false;
    if (node.has_input(1)) in.weight = weight_behind(node.inputs[1], via);
    if (!in.weight && !weighted_op_traits(node.op)->convolution && node.has_input(0)) {
      in.weight = weight_behind(node.inputs[0], via);
      if (in.weight) weight_index = 0;
    }
    in.weight_via_dequantize = via;
    size_t data_index = in.weight ? 1 - weight_index : 0;
    if (node.has_input(data_index)) in.data = node.inputs[data_index];
    for (const auto& value : node.inputs)
      if (const McTensor* t = value.empty() ? nullptr : stored(value)) in.tensors.push_back(t);
    if (in.weight_via_dequantize)
      for (const auto& value : dequantize_producer(node.inputs[weight_index])->inputs)
        if (const McTensor* t = value.empty() ? nullptr : stored(value)) in.tensors.push_back(t);
    return in;
  }

  // PROM-style int8 activations: the data input is the output of a DequantizeLinear of a runtime
  // value (a QuantizeLinear/DequantizeLinear pair), so the layer can run on the 8-bit values.
  bool int8_activations(const LayerInputs& in) const {
    if (in.data.empty()) return false;
    const Node* dq = dequantize_producer(in.data);
    return dq && dq->has_input(0) && !stored(dq->inputs[0]);
  }

 private:
  const Graph& graph_;
  std::map<std::string, const McTensor*> stored_;
};

// Part `pi` of a weight as stored: encoding, channel range, elements, bytes (no operations yet).
PartReport stored_part(const McTensor& weight, size_t pi) {
  const EncodedPart& p = weight.encoded.parts[pi];
  PartReport part;
  part.encoding = encoding_label(p);
  part.arithmetic = encoding_traits(p.encoding).arithmetic;
  part.terms = p.terms;
  part.sparse = p.sparse;
  part.channel_begin = p.channel_begin;
  part.channel_end = p.channel_end;
  part.weights = part_weight_count(weight.encoded, p);
  part.bytes = part_bytes(weight, pi);
  return part;
}

// Splits one layer's operations among its weight tensor's parts (docs/COUNTING.md, "Operations").
void count_part_ops(const McFile& file, const McTensor& weight, bool via_dequantize, bool int8_activations, const Node& node,
                    const std::string& name, LayerReport& layer) {
  const EncodedTensor& e = weight.encoded;
  const int64_t weight_elements = elements(weight);
  // Every weight takes part in the same number of MACs (Conv: once per output position of its
  // filter; Gemm/MatMul: once per row of the other operand), so a part's MACs, ternary additions
  // and scale multiplications all scale with `uses`.
  const bool exact = weight_elements > 0 && layer.macs % weight_elements == 0;
  const int64_t uses = exact ? layer.macs / weight_elements : 0;
  auto ternary = [](const EncodedPart& p) { return encoding_traits(p.encoding).arithmetic == WeightArithmetic::ternary_adds; };
  if (!exact && layer.macs > 0 && (e.parts.size() > 1 || ternary(e.parts[0])))
    fail_unsupported(name + ": " + node.describe() + ": its " + std::to_string(layer.macs) + " MACs are not a multiple of its weight '" +
                     weight.name + "' (" + std::to_string(weight_elements) + " elements), so they cannot be split among the weight's parts");
  bool have_ternary = false;
  for (const auto& p : e.parts) have_ternary = have_ternary || ternary(p);
  EncodedTensor decoded;
  if (have_ternary && layer.macs > 0) decoded = decode_streams(file, weight);

  for (size_t pi = 0; pi < e.parts.size(); ++pi) {
    const EncodedPart& p = e.parts[pi];
    PartReport part = stored_part(weight, pi);
    part.macs = exact ? part.weights * uses : layer.macs;
    switch (part.arithmetic) {
      case WeightArithmetic::ternary_adds: {
        // Ternary: one add/subtract per non-zero ternary weight per use, and one multiplication by
        // the term's scale per output per term (RESEARCH.md, "Operation counting conventions").
        int64_t nonzero_total = 0;
        if (layer.macs > 0) {
          const auto& streams = decoded.parts[pi].streams;
          for (size_t t = 0; t < p.terms; ++t) {
            int64_t nonzero = 0;
            for (uint8_t s : streams.at(t + (p.sparse ? 1 : 0))) nonzero += s != 0;
            part.ternary_nonzeros.push_back(nonzero);
            nonzero_total += nonzero;
          }
        }
        (int8_activations ? part.ops.ternary_adds_int32 : part.ops.ternary_adds_fp32) = nonzero_total * uses;
        part.ops.scale_muls = (p.channel_end - p.channel_begin) * p.terms * uses;
        break;
      }
      case WeightArithmetic::integer_mac:
        // 8-bit (or 4-bit) weights meet 8-bit activations in an integer MAC; with float
        // activations the weights are dequantized on the fly and the MAC is fp32.
        (int8_activations ? part.ops.int8_macs : part.ops.fp32_macs) = part.macs;
        break;
      case WeightArithmetic::as_stored:
        (via_dequantize && int8_activations ? part.ops.int8_macs : part.ops.fp32_macs) = part.macs;
        break;
      case WeightArithmetic::float_mac:
        // fp16 is a storage format here: the weights are widened and the MAC runs at fp32.
        part.ops.fp32_macs = part.macs;
        break;
    }
    layer.ops += part.ops;
    layer.parts.push_back(std::move(part));
  }
}

void add_layer(LayerReport& total, const LayerReport& l) {
  total.params += l.params;
  total.bytes += l.bytes;
  total.fp32_bytes += l.fp32_bytes;
  total.fp16_bytes += l.fp16_bytes;
  for (const auto& e : l.by_encoding) add_encoding(total.by_encoding, e.encoding, e.weights, e.bytes);
  total.macs += l.macs;
  total.ops += l.ops;
  total.energy_pj += l.energy_pj;
  total.energy_pj_original += l.energy_pj_original;
  total.energy_pj_fp16 += l.energy_pj_fp16;
  total.weight_read_pj += l.weight_read_pj;
  total.weight_read_pj_original += l.weight_read_pj_original;
}

}  // namespace

double Report::compression_ratio() const { return ratio_or_zero(static_cast<double>(fp32_bytes), static_cast<double>(bytes)); }
double Report::compression_ratio_vs_fp16() const { return ratio_or_zero(static_cast<double>(fp16_bytes), static_cast<double>(bytes)); }
double Report::compression_ratio_vs_source() const { return ratio_or_zero(static_cast<double>(source_bytes), static_cast<double>(bytes)); }

namespace {

// Sizes and float MACs always; operations and energy (which decode ternary streams) when `table`.
Report build(const McFile& file, const Model& structure, const EnergyTable* table, const std::string& name) {
  Report r;
  r.file = name;
  if (table) r.table = *table;
  const McMetadata meta = parse_metadata(file.metadata, name);
  r.recipe = meta.recipe;

  // Size of the whole file and of every tensor as stored.
  r.bytes = file.file_bytes;
  for (const auto& t : file.tensors) {
    r.weight_bytes += t.stored_bytes();
    for (size_t p = 0; p < t.encoded.parts.size(); ++p)
      add_encoding(r.by_encoding, encoding_label(t.encoded.parts[p]), part_weight_count(t.encoded, t.encoded.parts[p]), part_bytes(t, p));
  }
  if (meta.source) {
    r.source_bytes = meta.source->bytes;
    r.source_params = meta.source->params;
    if (meta.source->macs) {
      r.macs_original = *meta.source->macs;
      r.macs_original_from_metadata = true;
    }
  }

  // Layers: every Conv / Gemm / MatMul in execution order. A stored tensor read by several layers
  // is counted (params, bytes) in the first; its MACs in every one.
  const Graph& g = structure.graph;
  const std::set<std::string> parameters = parameter_tensors(g);
  InferredGraph shapes = infer_shapes(structure, 1);
  LayerResolver resolver(file, g);
  std::set<std::string> assigned;
  r.totals.name = "total";
  for (const auto& node : g.nodes) {
    if (!is_weighted_layer(node)) continue;
    LayerReport layer;
    layer.name = node.name.empty() ? node.outputs.at(0) : node.name;
    layer.op = node.op;
    LayerInputs in = resolver.resolve(node);
    layer.int8_activations = resolver.int8_activations(in);
    for (const McTensor* t : in.tensors) {
      if (!assigned.insert(t->name).second) continue;
      layer.tensors.push_back(t->name);
      if (parameters.count(t->name)) layer.params += elements(*t);
      layer.bytes += t->stored_bytes();
      for (size_t p = 0; p < t->encoded.parts.size(); ++p)
        add_encoding(layer.by_encoding, encoding_label(t->encoded.parts[p]), part_weight_count(t->encoded, t->encoded.parts[p]),
                     part_bytes(*t, p));
    }
    layer.fp32_bytes = 4 * static_cast<uint64_t>(layer.params);
    layer.fp16_bytes = 2 * static_cast<uint64_t>(layer.params);
    layer.macs = node_macs(node, shapes);
    if (in.weight) layer.weight = in.weight->name;
    if (table) {
      if (in.weight) count_part_ops(file, *in.weight, in.weight_via_dequantize, layer.int8_activations, node, name, layer);
      else layer.ops.fp32_macs = layer.macs;  // activation x activation: float
      for (auto& part : layer.parts) part.energy_pj = compute_energy_pj(part.ops, *table);
      layer.energy_pj = compute_energy_pj(layer.ops, *table);
      layer.energy_pj_original = static_cast<double>(layer.macs) * fp32_mac_pj(*table);
      layer.energy_pj_fp16 = static_cast<double>(layer.macs) * fp16_mac_pj(*table);
      layer.weight_read_pj = weight_read_pj(*table, layer.bytes);
      layer.weight_read_pj_original = weight_read_pj(*table, layer.fp32_bytes);
    } else if (in.weight) {
      // The parts without their operations: what the file stores, channel range by channel range.
      for (size_t pi = 0; pi < in.weight->encoded.parts.size(); ++pi) layer.parts.push_back(stored_part(*in.weight, pi));
    }
    add_layer(r.totals, layer);
    r.layers.push_back(std::move(layer));
  }

  // Tensors outside every weighted layer.
  for (const auto& t : file.tensors) {
    if (assigned.count(t.name)) continue;
    r.other_tensors += 1;
    r.other_bytes += t.stored_bytes();
    if (parameters.count(t.name)) r.other_params += elements(t);
    std::string reader = "no node";
    for (const auto& node : g.nodes)
      if (std::find(node.inputs.begin(), node.inputs.end(), t.name) != node.inputs.end()) {
        reader = node.op;
        break;
      }
    auto it = std::find_if(r.other_readers.begin(), r.other_readers.end(), [&](const auto& e) { return e.first == reader; });
    if (it == r.other_readers.end()) r.other_readers.push_back({reader, 1});
    else ++it->second;
  }
  r.other_fp32_bytes = 4 * static_cast<uint64_t>(r.other_params);
  r.params = r.totals.params + r.other_params;
  r.fp32_bytes = 4 * static_cast<uint64_t>(r.params);
  r.fp16_bytes = 2 * static_cast<uint64_t>(r.params);

  r.ops = r.totals.ops;
  if (!r.macs_original_from_metadata) r.macs_original = r.totals.macs;
  if (table) {
    r.energy_pj = r.totals.energy_pj;
    r.energy_pj_original = static_cast<double>(r.macs_original) * fp32_mac_pj(*table);
    r.energy_pj_fp16 = static_cast<double>(r.macs_original) * fp16_mac_pj(*table);
    r.weight_read_pj = r.totals.weight_read_pj;
    r.weight_read_pj_original = r.totals.weight_read_pj_original;
  }
  r.accuracy = meta.accuracy;
  r.budget = meta.budget;
  return r;
}

}  // namespace

Report build_report(const McFile& file, const Model& structure, const EnergyTable& table, const std::string& name,
                    std::optional<Accuracy> accuracy) {
  Report r = build(file, structure, &table, name);
  if (accuracy) r.accuracy = accuracy;
  return r;
}

Report build_size_report(const McFile& file, const Model& structure, const std::string& name) {
  return build(file, structure, nullptr, name);
}

std::string encoding_summary(const LayerReport& l, const std::string& separator) {
  if (l.parts.empty()) return l.weight.empty() ? "-" : "?";
  if (l.parts.size() == 1) return l.parts[0].encoding;
  std::string s;
  for (const auto& p : l.parts) s += (s.empty() ? "" : separator) + p.encoding + ":" + std::to_string(p.channel_end - p.channel_begin);
  return s;
}

namespace {

nlohmann::ordered_json ops_json(const OperationCounts& o) {
  return {{"fp32_macs", o.fp32_macs},   {"int8_macs", o.int8_macs},   {"ternary_adds", o.ternary_adds()},
          {"muls", o.muls()},           {"adds", o.adds()},           {"scale_muls", o.scale_muls},
          {"ternary_adds_int32", o.ternary_adds_int32}, {"ternary_adds_fp32", o.ternary_adds_fp32}};
}

nlohmann::ordered_json encodings_json(const std::vector<EncodingBytes>& list) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& e : list)
    j.push_back({{"encoding", e.encoding}, {"weights", e.weights}, {"bytes", e.bytes},
                 {"bits_per_weight", ratio_value(ratio_or_zero(8.0 * static_cast<double>(e.bytes), static_cast<double>(e.weights)))}});
  return j;
}

nlohmann::ordered_json layer_json(const LayerReport& l) {
  nlohmann::ordered_json j;
  j["name"] = l.name;
  j["op"] = l.op;
  j["weight"] = l.weight;
  j["int8_activations"] = l.int8_activations;
  j["tensors"] = l.tensors;
  j["params"] = l.params;
  j["bytes"] = l.bytes;
  j["fp32_bytes"] = l.fp32_bytes;
  j["fp16_bytes"] = l.fp16_bytes;
  j["bits_per_weight"] = ratio_value(ratio_or_zero(8.0 * static_cast<double>(l.bytes), static_cast<double>(l.params)));
  j["compression_ratio"] = ratio_value(ratio_or_zero(static_cast<double>(l.fp32_bytes), static_cast<double>(l.bytes)));
  j["by_encoding"] = encodings_json(l.by_encoding);
  j["parts"] = nlohmann::ordered_json::array();
  int64_t weight_elements = 0;
  for (const auto& p : l.parts) weight_elements += p.weights;
  for (const auto& p : l.parts) {
    nlohmann::ordered_json pj;
    pj["encoding"] = p.encoding;
    pj["channels"] = {p.channel_begin, p.channel_end};
    pj["weights"] = p.weights;
    pj["share"] = ratio_value(ratio_or_zero(static_cast<double>(p.weights), static_cast<double>(weight_elements)));  // of the weight tensor
    pj["bytes"] = p.bytes;
    pj["bits_per_weight"] = ratio_value(ratio_or_zero(8.0 * static_cast<double>(p.bytes), static_cast<double>(p.weights)));
    if (p.arithmetic == WeightArithmetic::ternary_adds) {
      pj["terms"] = p.terms;
      pj["ternary_nonzeros"] = p.ternary_nonzeros;
    }
    pj["macs"] = p.macs;
    pj["ops"] = ops_json(p.ops);
    pj["energy_pj"] = pj_value(p.energy_pj);
    j["parts"].push_back(pj);
  }
  j["macs"] = l.macs;
  j["ops"] = ops_json(l.ops);
  j["energy_pj"] = pj_value(l.energy_pj);
  j["energy_pj_original"] = pj_value(l.energy_pj_original);
  j["energy_pj_fp16"] = pj_value(l.energy_pj_fp16);
  j["weight_read_pj"] = pj_value(l.weight_read_pj);
  j["weight_read_pj_original"] = pj_value(l.weight_read_pj_original);
  return j;
}

}  // namespace

nlohmann::ordered_json to_json(const Report& r) {
  nlohmann::ordered_json j;
  j["file"] = r.file;
  j["recipe"] = r.recipe;
  j["size"] = {{"bytes", r.bytes},
               {"fp32_bytes", r.fp32_bytes},
               {"compression_ratio", ratio_value(r.compression_ratio())},
               {"fp16_bytes", r.fp16_bytes},
               {"compression_ratio_vs_fp16", ratio_value(r.compression_ratio_vs_fp16())},
               {"source_bytes", r.source_bytes},
               {"compression_ratio_vs_source", ratio_value(r.compression_ratio_vs_source())},
               {"source_params", r.source_params},
               {"weight_bytes", r.weight_bytes},
               {"container_bytes", r.bytes >= r.weight_bytes ? r.bytes - r.weight_bytes : 0},
               {"params", r.params},
               {"bits_per_weight", ratio_value(ratio_or_zero(8.0 * static_cast<double>(r.weight_bytes), static_cast<double>(r.params)))},
               {"by_encoding", encodings_json(r.by_encoding)}};
  j["ops"] = ops_json(r.ops);
  OperationCounts original;
  original.fp32_macs = r.macs_original;
  j["ops_original"] = ops_json(original);
  j["ops_original"]["from"] = r.macs_original_from_metadata ? "metadata source.macs" : "the stored graph's float MACs";
  j["energy_pj"] = pj_value(r.energy_pj);
  j["energy_pj_original"] = pj_value(r.energy_pj_original);
  j["energy_pj_fp16"] = pj_value(r.energy_pj_fp16);
  j["energy"] = {{"ratio_vs_original", ratio_value(ratio_or_zero(r.energy_pj_original, r.energy_pj))},
                 {"ratio_vs_fp16", ratio_value(ratio_or_zero(r.energy_pj_fp16, r.energy_pj))},
                 {"scope", "arithmetic only, per image (batch 1): MACs, ternary additions and scale multiplications of the "
                           "Conv/Gemm/MatMul layers; no memory traffic, activations, bias, pooling or decoding"},
                 {"per_op_pj",
                  {{"fp32_mac", pj_value(fp32_mac_pj(r.table))},
                   {"fp16_mac", pj_value(fp16_mac_pj(r.table))},
                   {"int8_mac", pj_value(int8_mac_pj(r.table))},
                   {"ternary_add_int8_activations", pj_value(ternary_add_pj(r.table, true))},
                   {"ternary_add_float_activations", pj_value(ternary_add_pj(r.table, false))},
                   {"scale_mult", pj_value(scale_mult_pj(r.table))}}},
                 {"table", r.table.to_json()}};
  j["memory"] = {{"weight_read_pj", pj_value(r.weight_read_pj)},
                 {"weight_read_pj_original", pj_value(r.weight_read_pj_original)},
                 {"scope", "separate from energy_pj: every stored weight byte of the layers read once from on-chip SRAM at the "
                           "table's memory.sram_read_32bit figure per 32 bits (original: the fp32 weights); no DRAM, activations "
                           "or entropy decoding"}};
  if (r.accuracy) {
    nlohmann::ordered_json a = nlohmann::ordered_json::object();
    const Accuracy& acc = *r.accuracy;
    // As measured, so they equal what `eval --json` prints for the same file and images.
    if (acc.top1_before) a["top1_before"] = *acc.top1_before;
    if (acc.top1_after) a["top1_after"] = *acc.top1_after;
    if (acc.top5_before) a["top5_before"] = *acc.top5_before;
    if (acc.top5_after) a["top5_after"] = *acc.top5_after;
    if (acc.images) a["images"] = *acc.images;
    if (acc.top1_before && acc.top1_after) a["top1_drop"] = percent_value(*acc.top1_before - *acc.top1_after);
    j["accuracy"] = a;
  }
  if (!r.budget.is_null()) j["budget"] = r.budget;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : r.layers) j["layers"].push_back(layer_json(l));
  nlohmann::ordered_json totals = layer_json(r.totals);
  for (const char* key : {"name", "op", "weight", "int8_activations", "tensors", "parts"}) totals.erase(key);
  j["totals"] = totals;
  j["other_tensors"] = {{"count", r.other_tensors},
                        {"params", r.other_params},
                        {"bytes", r.other_bytes},
                        {"fp32_bytes", r.other_fp32_bytes},
                        {"read_by", readers_summary(r)}};
  return j;
}

std::string count_noun(int64_t n, const std::string& singular, const std::string& plural) {
  return with_commas(n) + " " + (n == 1 ? singular : plural.empty() ? singular + "s" : plural);
}

std::string fewer_or_more(double now, double before) {
  if (now == before) return "the same";
  if (before <= 0) return "more";
  const double percent = 100.0 * std::fabs(now - before) / before;
  char buf[48];
  if (percent < 0.05) std::snprintf(buf, sizeof buf, "<0.1%% %s", now < before ? "fewer" : "more");
  else std::snprintf(buf, sizeof buf, "%.1f%% %s", percent, now < before ? "fewer" : "more");
  return buf;
}

std::string smaller_or_larger(double bytes, double reference) {
  if (bytes <= 0 || reference <= 0) return "?";
  char buf[48];
  if (bytes <= reference) std::snprintf(buf, sizeof buf, "%.2fx smaller than", reference / bytes);
  else std::snprintf(buf, sizeof buf, "%.2fx larger than", bytes / reference);
  return buf;
}

std::string less_or_more(double energy, double reference) {
  if (energy <= 0 || reference <= 0) return "?";
  char buf[48];
  if (std::fabs(energy - reference) <= 0.005 * reference) return "the same as";
  if (energy < reference) std::snprintf(buf, sizeof buf, "%.2fx less than", reference / energy);
  else std::snprintf(buf, sizeof buf, "%.2fx more than", energy / reference);
  return buf;
}

std::string readers_summary(const Report& r) {
  std::string out;
  for (const auto& [op, n] : r.other_readers) out += (out.empty() ? "" : ", ") + op + " " + with_commas(n);
  return out;
}

namespace {

std::string energy_str(double pj) {
  char buf[32];
  if (pj >= 1e6) std::snprintf(buf, sizeof buf, "%.2f uJ", pj / 1e6);
  else if (pj >= 1e3) std::snprintf(buf, sizeof buf, "%.2f nJ", pj / 1e3);
  else std::snprintf(buf, sizeof buf, "%.1f pJ", pj);
  return buf;
}

std::string fit(const std::string& s, size_t width) { return s.size() > width ? s.substr(0, width - 3) + "..." : s; }

void append(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  out += buf;
}

std::string bytes_str(uint64_t bytes) { return with_commas(static_cast<int64_t>(bytes)) + " bytes"; }

}  // namespace

std::string to_text(const Report& r) {
  std::string out;
  append(out, "%s: recipe %s, %s; per image (batch 1); energy table: %s\n\n", r.file.c_str(), r.recipe.empty() ? "?" : r.recipe.c_str(),
         count_noun(static_cast<int64_t>(r.layers.size()), "weighted layer").c_str(), r.table.origin.c_str());
  const char* row = "%-32s %-6s %-22s %-4s %10s %10s %6s %13s %13s %13s %11s\n";
  append(out, row, "layer", "op", "encoding", "act", "params", "bytes", "bits/w", "fp32 MACs", "int8 MACs", "ternary adds", "energy");
  auto line = [&](const LayerReport& l, const std::string& label, const std::string& op, const std::string& split, const std::string& act) {
    char bpw[16];
    std::snprintf(bpw, sizeof bpw, "%.2f", ratio_or_zero(8.0 * static_cast<double>(l.bytes), static_cast<double>(l.params)));
    append(out, row, fit(label, 32).c_str(), op.c_str(), fit(split, 22).c_str(), act.c_str(), with_commas(l.params).c_str(),
           with_commas(static_cast<int64_t>(l.bytes)).c_str(), bpw, with_commas(l.ops.fp32_macs).c_str(), with_commas(l.ops.int8_macs).c_str(),
           with_commas(l.ops.ternary_adds()).c_str(), energy_str(l.energy_pj).c_str());
  };
  for (const auto& l : r.layers) line(l, l.name, l.op, encoding_summary(l), l.int8_activations ? "int8" : "fp32");
  line(r.totals, "total", "", "", "");
  if (r.other_tensors)
    append(out, "in no weighted layer, so in no row: %s (%s, %s), read by: %s\n", count_noun(r.other_tensors, "tensor").c_str(),
           count_noun(r.other_params, "parameter").c_str(), bytes_str(r.other_bytes).c_str(), readers_summary(r).c_str());

  append(out, "\nsize: %s (weights %s, container %s), %s parameters, %.2f bits/weight stored\n", bytes_str(r.bytes).c_str(),
         with_commas(static_cast<int64_t>(r.weight_bytes)).c_str(),
         with_commas(static_cast<int64_t>(r.bytes >= r.weight_bytes ? r.bytes - r.weight_bytes : 0)).c_str(), with_commas(r.params).c_str(),
         ratio_or_zero(8.0 * static_cast<double>(r.weight_bytes), static_cast<double>(r.params)));
  append(out, "      %s the parameters at fp32 (%s), %s them at fp16 (%s)", smaller_or_larger(static_cast<double>(r.bytes), static_cast<double>(r.fp32_bytes)).c_str(),
         bytes_str(r.fp32_bytes).c_str(), smaller_or_larger(static_cast<double>(r.bytes), static_cast<double>(r.fp16_bytes)).c_str(),
         bytes_str(r.fp16_bytes).c_str());
  if (r.source_bytes)
    append(out, ", %s the source file (%s)", smaller_or_larger(static_cast<double>(r.bytes), static_cast<double>(r.source_bytes)).c_str(),
           bytes_str(r.source_bytes).c_str());
  out += "\n      stored:";
  for (const auto& e : r.by_encoding)
    append(out, " %s %s in %s;", e.encoding.c_str(), count_noun(e.weights, "element").c_str(), bytes_str(e.bytes).c_str());
  if (!r.by_encoding.empty()) out.pop_back();
  const double macs0 = static_cast<double>(r.macs_original);
  append(out, "\nops:  fp32 MACs %s, int8 MACs %s, ternary adds %s, scale muls %s\n", with_commas(r.ops.fp32_macs).c_str(),
         with_commas(r.ops.int8_macs).c_str(), with_commas(r.ops.ternary_adds()).c_str(), with_commas(r.ops.scale_muls).c_str());
  append(out, "      muls %s (float model %s, %s), adds %s (float model %s, %s)\n", with_commas(r.ops.muls()).c_str(),
         with_commas(r.macs_original).c_str(), fewer_or_more(static_cast<double>(r.ops.muls()), macs0).c_str(),
         with_commas(r.ops.adds()).c_str(), with_commas(r.macs_original).c_str(), fewer_or_more(static_cast<double>(r.ops.adds()), macs0).c_str());
  append(out, "energy (compute only, no memory traffic): %s, %s the float model at fp32 (%s) and %s at fp16 (%s)\n",
         energy_str(r.energy_pj).c_str(), less_or_more(r.energy_pj, r.energy_pj_original).c_str(), energy_str(r.energy_pj_original).c_str(),
         less_or_more(r.energy_pj, r.energy_pj_fp16).c_str(), energy_str(r.energy_pj_fp16).c_str());
  append(out, "weight reads (separate; SRAM, %.3g pJ per 32 bits, each stored byte once): %s; the parameters at fp32 %s\n",
         r.table.sram_read_32bit_pj, energy_str(r.weight_read_pj).c_str(), energy_str(r.weight_read_pj_original).c_str());
  if (r.accuracy) {
    const Accuracy& a = *r.accuracy;
    out += "accuracy:";
    if (a.top1_before) append(out, " top-1 before %.2f%%", *a.top1_before);
    if (a.top1_after) append(out, " after %.2f%%", *a.top1_after);
    if (a.top5_before) append(out, "; top-5 before %.2f%%", *a.top5_before);
    if (a.top5_after) append(out, " after %.2f%%", *a.top5_after);
    if (a.images) append(out, " (%s)", count_noun(*a.images, "image").c_str());
    out += "\n";
  } else {
    out += "accuracy: not measured (compress with --eval-images to record it)\n";
  }
  return out;
}

nlohmann::ordered_json report_json_for(const std::vector<std::byte>& mcz_bytes, const std::string& name, const EnergyTable& table) {
  McFile file = read_mcz(mcz_bytes, name);
  Model structure = structure_of_mcz(file, name);
  return to_json(build_report(file, structure, table, name));
}

}  // namespace mc
