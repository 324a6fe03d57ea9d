// Energy per arithmetic operation and the energy of an operation mix. The figures come from a JSON
// table (data/energy_45nm.json: Horowitz, ISSCC 2014, 45 nm) so users can swap in their own
// hardware's numbers with `--energy-table`; the same file is compiled in as the default, so the
// built-in table always equals it. docs/COUNTING.md states which figure prices which operation.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mc {

// Picojoules per single operation. The required figures are the ones a report prices; the
// optional ones are kept (and validated) so a table can document its whole source.
struct EnergyTable {
  // Where it was read from, as reports print it (and .mcz metadata embeds it): the path given to
  // --energy-table, or "built-in (Horowitz, ISSCC 2014, 45 nm)", never a path of the source tree.
  std::string origin;
  std::string name;    // the table's "name", if any
  std::string source;  // the table's "source" (citation), if any

  double add_int32_pj = 0;   // required
  double add_fp16_pj = 0;    // required
  double add_fp32_pj = 0;    // required
  double mult_int8_pj = 0;   // required
  double mult_fp16_pj = 0;   // required
  double mult_fp32_pj = 0;   // required
  double sram_read_32bit_pj = 0;  // required: one 32-bit read from a small on-chip SRAM
  std::optional<double> add_int8_pj, add_int16_pj, mult_int16_pj, mult_int32_pj, dram_read_32bit_pj;

  // Parses a table (schema in docs/COUNTING.md). Fails (input error) naming `origin` and the key
  // for invalid JSON, a missing required figure, a value that is not a finite number >= 0, an
  // unknown key inside "add", "mult" or "memory", or a "unit" other than "pJ".
  static EnergyTable parse(std::string_view json_text, const std::string& origin);
  // Reads and parses PATH (file errors as read_binary_file reports them).
  static EnergyTable load(const std::string& path);
  // data/energy_45nm.json as it was when mcompress was built.
  static const EnergyTable& builtin();

  // The table as JSON in the file's schema (plus "origin").
  nlohmann::ordered_json to_json() const;
};

// Energy of one operation of each kind the report counts (docs/COUNTING.md, "Energy").
double fp32_mac_pj(const EnergyTable& t);  // fp32 mult + fp32 add
double fp16_mac_pj(const EnergyTable& t);  // fp16 mult + fp16 add
double int8_mac_pj(const EnergyTable& t);  // int8 mult + int32 add (the accumulator is 32-bit)
// A ternary weight's add/subtract: int32 (the accumulator's width) with int8 activations, fp32
// with float activations.
double ternary_add_pj(const EnergyTable& t, bool int8_activations);
double scale_mult_pj(const EnergyTable& t);  // a ternary scale applied to a partial sum: fp32 mult
// Reading `bytes` of stored weights once from SRAM at the 32-bit read figure per 32 bits (bytes / 4
// reads, not rounded, so per-layer figures add up to the total).
double weight_read_pj(const EnergyTable& t, uint64_t bytes);

// Arithmetic operations of one inference (batch 1), by kind and precision.
struct OperationCounts {
  int64_t fp32_macs = 0;
  int64_t int8_macs = 0;           // int8 x int8 products accumulated in int32
  int64_t ternary_adds_int32 = 0;  // ternary weight x int8 activation: an add/subtract into an int32 accumulator
  int64_t ternary_adds_fp32 = 0;   // ternary weight x float activation: an fp32 add/subtract
  int64_t scale_muls = 0;          // fp32 multiplications by a ternary term's scale

  int64_t macs() const { return fp32_macs + int8_macs; }
  int64_t ternary_adds() const { return ternary_adds_int32 + ternary_adds_fp32; }
  int64_t muls() const { return fp32_macs + int8_macs + scale_muls; }
  int64_t adds() const { return macs() + ternary_adds(); }
  OperationCounts& operator+=(const OperationCounts& o);
  bool operator==(const OperationCounts&) const = default;
};

// Compute energy of the mix: each operation at its figure above. No memory traffic.
double compute_energy_pj(const OperationCounts& ops, const EnergyTable& t);

}  // namespace mc
