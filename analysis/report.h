// The size / operations / energy / accuracy report of a compressed model (`mcompress report`,
// `compress --report`, and `info`'s layer table through build_size_report). Read-only over a parsed
// .mcz: sizes come from its tensor table (no payload is decoded except ternary streams, whose
// non-zeros set the addition count), operations from the counting conventions of
// ../shared/docs/RESEARCH.md applied per weight part, energy from an EnergyTable.
// docs/COUNTING.md states every rule and the source of every number, docs/KEYS.md every key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/energy.h"
#include "core/graph.h"
#include "formats/mcz.h"
#include "formats/mcz_metadata.h"

namespace mc {

// Accuracy measured when the model was compressed (metadata "report.accuracy"), percent 0-100.
using Accuracy = McAccuracy;

// Stored weights and bytes of one encoding (label as `info` prints it: "int8", "ternaryx2", "sparse-int4").
struct EncodingBytes {
  std::string encoding;
  int64_t weights = 0;
  uint64_t bytes = 0;
};

// One part (a contiguous range of output channels with one encoding) of a layer's weight tensor.
struct PartReport {
  std::string encoding;  // label, as in EncodingBytes
  WeightArithmetic arithmetic = WeightArithmetic::as_stored;  // from the encoding's traits row
  uint8_t terms = 1;
  bool sparse = false;
  int64_t channel_begin = 0, channel_end = 0;
  int64_t weights = 0;
  uint64_t bytes = 0;                    // its streams' stored lengths
  std::vector<int64_t> ternary_nonzeros;  // ternary: non-zero symbols of each term
  int64_t macs = 0;                      // the float model's MACs of these weights
  OperationCounts ops;
  double energy_pj = 0;
};

// One weighted layer (Conv, Gemm, MatMul), or the sum of all of them (Report::totals).
struct LayerReport {
  std::string name, op;
  std::string weight;              // the weight tensor ("" if the layer reads no stored weight)
  bool int8_activations = false;   // its data input comes straight from a DequantizeLinear
  std::vector<std::string> tensors;  // stored tensors counted in this layer (weight, bias, ...)
  int64_t params = 0;       // parameters (analysis/op_count.h) among `tensors`
  uint64_t bytes = 0;       // stored bytes of `tensors`
  uint64_t fp32_bytes = 0;  // 4 x params
  uint64_t fp16_bytes = 0;  // 2 x params
  std::vector<EncodingBytes> by_encoding;
  std::vector<PartReport> parts;  // of `weight`
  int64_t macs = 0;               // the float model's MACs (Conv: Cout*Hout*Wout*(Cin/groups)*Kh*Kw)
  OperationCounts ops;            // after compression
  double energy_pj = 0;           // compute energy after compression
  double energy_pj_original = 0;  // `macs` at fp32
  double energy_pj_fp16 = 0;      // `macs` at fp16
  double weight_read_pj = 0;      // reading `bytes` once from SRAM (separate from compute)
  double weight_read_pj_original = 0;  // reading `fp32_bytes` once from SRAM
};

struct Report {
  std::string file;
  std::string recipe;
  EnergyTable table;

  // Size. One parameter count (analysis/op_count.h's rule) and the parameters at 4 and 2 bytes:
  // the float model the file stands for, whatever else the file stores.
  uint64_t bytes = 0;         // the whole .mcz file
  uint64_t weight_bytes = 0;  // every stored stream (the rest of the file is graph, tables, metadata)
  int64_t params = 0;
  uint64_t fp32_bytes = 0, fp16_bytes = 0;  // 4 x params, 2 x params
  uint64_t source_bytes = 0;  // the source ONNX file (metadata source.bytes; 0 if unknown)
  int64_t source_params = 0;  // the source model's parameters (metadata source.params; 0 if unknown)
  std::vector<EncodingBytes> by_encoding;  // every tensor of the file

  std::vector<LayerReport> layers;  // every Conv / Gemm / MatMul, in execution order
  LayerReport totals;               // the sum of `layers`
  // Stored tensors that no weighted layer reads (Clip bounds, shapes, a BatchNorm left unfolded, ...).
  int64_t other_tensors = 0, other_params = 0;  // other_fp32_bytes = 4 x other_params
  uint64_t other_bytes = 0, other_fp32_bytes = 0;
  // What those tensors are, by the op of the first node reading each: {"Clip", 54}, {"QuantizeLinear", 28}.
  std::vector<std::pair<std::string, int64_t>> other_readers;

  OperationCounts ops;           // = totals.ops
  int64_t macs_original = 0;     // the source model's MACs, all fp32
  bool macs_original_from_metadata = false;  // metadata source.macs; else the layers' float MACs
  double energy_pj = 0;          // = totals.energy_pj
  double energy_pj_original = 0;  // macs_original at fp32
  double energy_pj_fp16 = 0;      // macs_original at fp16
  double weight_read_pj = 0, weight_read_pj_original = 0;  // = totals'

  std::optional<Accuracy> accuracy;
  // The budget decision the recipe made (metadata `budget`, passes/budget_record.h), as stored; null
  // when it had none.
  nlohmann::ordered_json budget;

  double compression_ratio() const;            // fp32_bytes / bytes
  double compression_ratio_vs_fp16() const;    // fp16_bytes / bytes
  double compression_ratio_vs_source() const;  // source_bytes / bytes (0 if unknown)
};

// `structure` is structure_of_mcz(file): the graph with placeholder weights, for shapes. Accuracy
// given here replaces the metadata's. Errors name `name`.
Report build_report(const McFile& file, const Model& structure, const EnergyTable& table, const std::string& name = "<mcz>",
                    std::optional<Accuracy> accuracy = std::nullopt);

// The sizes and float MACs of build_report without operations or energy (their fields stay 0 and
// `table` empty): no payload is decoded at all (`info`).
Report build_size_report(const McFile& file, const Model& structure, const std::string& name = "<mcz>");

// "int8", or "int8:96+ternaryx3:32" for a weight split into channel ranges (channels per part);
// "-" for a layer without a stored weight.
std::string encoding_summary(const LayerReport& layer, const std::string& separator = "+");

// The report as JSON (keys of ../shared/docs/CLI.md, "report --json", and more; docs/KEYS.md), the
// derived numbers rounded as analysis/rounding.h states.
nlohmann::ordered_json to_json(const Report& report);
// A per-layer table and the totals with their ratios, for a terminal.
std::string to_text(const Report& report);

// Wording shared by the text and HTML reports, so they say the same thing the same way.
// "1 layer", "2 layers" (`plural` when not singular + "s"); n with thousands separators.
std::string count_noun(int64_t n, const std::string& singular, const std::string& plural = "");
// A count against the float model's: "77.2% fewer", "40.3% more", "the same".
std::string fewer_or_more(double now, double before);
// A file's size against another size: "4.74x smaller than", "1.20x larger than".
std::string smaller_or_larger(double bytes, double reference);
// An energy against another: "12.81x less than", "3.07x more than", "the same as" (within 0.5%).
std::string less_or_more(double energy, double reference);

// "Clip 54, QuantizeLinear 28" (Report::other_readers).
std::string readers_summary(const Report& report);

// Everything in one call, for `compress --report`: parses the .mcz bytes, builds and renders.
nlohmann::ordered_json report_json_for(const std::vector<std::byte>& mcz_bytes, const std::string& name, const EnergyTable& table);

}  // namespace mc
