// The size / operations / energy / accuracy report of a compressed model (`mcompress report`,
// `compress --report`). Read-only over a parsed .mcz: sizes come from its tensor table (no payload
// is decoded except ternary streams, whose non-zeros set the addition count), operations from the
// counting conventions of ../shared/docs/RESEARCH.md applied per weight part, energy from an
// EnergyTable. docs/COUNTING.md states every rule and the source of every number.
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
  int64_t params = 0;
  uint64_t bytes = 0;       // stored bytes of `tensors`
  uint64_t fp32_bytes = 0;  // the same tensors at fp32 (integer tensors at their own size)
  uint64_t fp16_bytes = 0;  // ... at fp16
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

  // Size. `fp32_bytes` = 4 x every float tensor element + the raw bytes of integer tensors.
  uint64_t bytes = 0;         // the whole .mcz file
  uint64_t weight_bytes = 0;  // every stored stream (the rest of the file is graph, tables, metadata)
  uint64_t fp32_bytes = 0, fp16_bytes = 0;
  uint64_t source_bytes = 0;  // the source ONNX file (metadata source.bytes; 0 if unknown)
  int64_t params = 0;
  std::vector<EncodingBytes> by_encoding;  // every tensor of the file

  std::vector<LayerReport> layers;  // every Conv / Gemm / MatMul, in execution order
  LayerReport totals;               // the sum of `layers`
  // Stored tensors that no weighted layer reads (Clip bounds, shapes, a BatchNorm left unfolded, ...).
  int64_t other_tensors = 0, other_params = 0;
  uint64_t other_bytes = 0, other_fp32_bytes = 0;

  OperationCounts ops;           // = totals.ops
  int64_t macs_original = 0;     // the source model's MACs, all fp32
  bool macs_original_from_metadata = false;  // metadata source.macs; else the layers' float MACs
  double energy_pj = 0;          // = totals.energy_pj
  double energy_pj_original = 0;  // macs_original at fp32
  double energy_pj_fp16 = 0;      // macs_original at fp16
  double weight_read_pj = 0, weight_read_pj_original = 0;  // = totals'

  std::optional<Accuracy> accuracy;

  double compression_ratio() const;            // fp32_bytes / bytes
  double compression_ratio_vs_fp16() const;    // fp16_bytes / bytes
  double compression_ratio_vs_source() const;  // source_bytes / bytes (0 if unknown)
};

// `structure` is structure_of_mcz(file): the graph with placeholder weights, for shapes. Accuracy
// given here replaces the metadata's. Errors name `name`.
Report build_report(const McFile& file, const Model& structure, const EnergyTable& table, const std::string& name = "<mcz>",
                    std::optional<Accuracy> accuracy = std::nullopt);

// The report as JSON (keys of ../shared/docs/CLI.md, "report --json", and more).
nlohmann::ordered_json to_json(const Report& report);
// A per-layer table and the totals with their ratios, for a terminal.
std::string to_text(const Report& report);

// Everything in one call, for `compress --report`: parses the .mcz bytes, builds and renders.
nlohmann::ordered_json report_json_for(const std::vector<std::byte>& mcz_bytes, const std::string& name, const EnergyTable& table);

}  // namespace mc
