#include "analysis/sweep_record.h"

#include <cstddef>
#include <span>

#include "analysis/json_fields.h"
#include "core/error.h"
#include "formats/checksum.h"

namespace mc {

namespace {

using Json = nlohmann::ordered_json;

bool same_optional(const std::optional<double>& a, const std::optional<double>& b) { return a.has_value() == b.has_value() && (!a || *a == *b); }

}  // namespace

Json baseline_record(const SweepTable& t) {
  Json j;
  j["model"] = t.model;
  j["source_bytes"] = t.source_bytes;
  j["fp32_bytes"] = t.fp32_bytes;
  j["macs"] = t.macs;
  j["energy_pj"] = t.energy_pj_fp32;
  j["top1"] = optional_json(t.top1_float);
  j["top5"] = optional_json(t.top5_float);
  j["eval_images"] = t.eval_images;
  return j;
}

void read_baseline_record(const Json& j, SweepTable& t, const std::string& where) {
  t.model = json_string(j, "model", where);
  t.source_bytes = json_unsigned(j, "source_bytes", where);
  t.fp32_bytes = json_unsigned(j, "fp32_bytes", where);
  t.macs = json_integer(j, "macs", where);
  t.energy_pj_fp32 = json_number(j, "energy_pj", where);
  t.top1_float = json_optional_number(j, "top1", where);
  t.top5_float = json_optional_number(j, "top5", where);
  t.eval_images = json_integer(j, "eval_images", where);
}

bool same_baseline(const SweepTable& a, const SweepTable& b) {
  return a.model == b.model && a.source_bytes == b.source_bytes && a.fp32_bytes == b.fp32_bytes && a.macs == b.macs &&
         a.energy_pj_fp32 == b.energy_pj_fp32 && same_optional(a.top1_float, b.top1_float) && same_optional(a.top5_float, b.top5_float) &&
         a.eval_images == b.eval_images;
}

Json point_record(const SweepPoint& p) {
  Json j;
  j["recipe"] = p.recipe;
  j["budget"] = p.budget;
  if (!p.ok()) {
    j["error"] = p.error;
    j["exit_code"] = p.exit_code;
  } else {
    j["bytes"] = p.bytes;
    j["compression_ratio"] = p.compression_ratio;
    j["muls"] = p.muls;
    j["adds"] = p.adds;
    j["fp32_macs"] = p.fp32_macs;
    j["int8_macs"] = p.int8_macs;
    j["ternary_adds"] = p.ternary_adds;
    j["energy_pj"] = p.energy_pj;
    j["top1"] = optional_json(p.top1);
    j["top5"] = optional_json(p.top5);
  }
  j["command"] = p.command;
  j["output"] = p.output;
  return j;
}

SweepPoint read_point_record(const Json& j, const std::string& where) {
  SweepPoint p;
  p.recipe = json_string(j, "recipe", where);
  p.budget = json_string(j, "budget", where);
  if (j.is_object() && j.contains("error")) {
    p.error = json_string(j, "error", where);
    if (p.error.empty()) fail_input(where + ": 'error' must not be empty");
    p.exit_code = static_cast<int>(json_integer(j, "exit_code", where));
    if (p.exit_code < 1 || p.exit_code > 5) fail_input(where + ": 'exit_code' must be 1 to 5, got " + std::to_string(p.exit_code));
  } else {
    p.bytes = json_unsigned(j, "bytes", where);
    p.compression_ratio = json_number(j, "compression_ratio", where);
    p.muls = json_integer(j, "muls", where);
    p.adds = json_integer(j, "adds", where);
    p.fp32_macs = json_integer(j, "fp32_macs", where);
    p.int8_macs = json_integer(j, "int8_macs", where);
    p.ternary_adds = json_integer(j, "ternary_adds", where);
    p.energy_pj = json_number(j, "energy_pj", where);
    p.top1 = json_optional_number(j, "top1", where);
    p.top5 = json_optional_number(j, "top5", where);
  }
  p.command = json_string(j, "command", where);
  p.output = json_string(j, "output", where);
  return p;
}

namespace {

std::string checksum_of(const Json& record) {
  Json body = record;
  body.erase("checksum");
  const std::string text = body.dump();
  return sha256_hex(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

}  // namespace

void add_checksum(Json& record) {
  record.erase("checksum");
  record["checksum"] = checksum_of(record);
}

bool checksum_matches(const Json& record) {
  if (!record.is_object() || !record.contains("checksum") || !record["checksum"].is_string()) return false;
  return record["checksum"].get<std::string>() == checksum_of(record);
}

}  // namespace mc
