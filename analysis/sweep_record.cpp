#include "analysis/sweep_record.h"

#include <cstddef>
#include <span>

#include "core/error.h"
#include "formats/checksum.h"

namespace mc {

namespace {

using Json = nlohmann::ordered_json;

const Json& member(const Json& j, const char* key, const std::string& where) {
  if (!j.is_object()) fail_input(where + ": expected a JSON object");
  auto it = j.find(key);
  if (it == j.end()) fail_input(where + ": missing '" + key + "'");
  return *it;
}

std::string string_at(const Json& j, const char* key, const std::string& where) {
  const Json& v = member(j, key, where);
  if (!v.is_string()) fail_input(where + ": '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

double number_at(const Json& j, const char* key, const std::string& where) {
  const Json& v = member(j, key, where);
  if (!v.is_number()) fail_input(where + ": '" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}

std::optional<double> optional_number_at(const Json& j, const char* key, const std::string& where) {
  const Json& v = member(j, key, where);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number()) fail_input(where + ": '" + key + "' must be a number or null, got " + v.dump());
  return v.get<double>();
}

int64_t integer_at(const Json& j, const char* key, const std::string& where) {
  const Json& v = member(j, key, where);
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  fail_input(where + ": '" + key + "' must be a whole number, got " + v.dump());
}

uint64_t unsigned_at(const Json& j, const char* key, const std::string& where) {
  const Json& v = member(j, key, where);
  if (!v.is_number_unsigned()) fail_input(where + ": '" + key + "' must be a whole number >= 0, got " + v.dump());
  return v.get<uint64_t>();
}

Json optional_json(const std::optional<double>& v) { return v ? Json(*v) : Json(); }

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
  t.model = string_at(j, "model", where);
  t.source_bytes = unsigned_at(j, "source_bytes", where);
  t.fp32_bytes = unsigned_at(j, "fp32_bytes", where);
  t.macs = integer_at(j, "macs", where);
  t.energy_pj_fp32 = number_at(j, "energy_pj", where);
  t.top1_float = optional_number_at(j, "top1", where);
  t.top5_float = optional_number_at(j, "top5", where);
  t.eval_images = integer_at(j, "eval_images", where);
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
  p.recipe = string_at(j, "recipe", where);
  p.budget = string_at(j, "budget", where);
  if (j.is_object() && j.contains("error")) {
    p.error = string_at(j, "error", where);
    if (p.error.empty()) fail_input(where + ": 'error' must not be empty");
    p.exit_code = static_cast<int>(integer_at(j, "exit_code", where));
    if (p.exit_code < 1 || p.exit_code > 5) fail_input(where + ": 'exit_code' must be 1 to 5, got " + std::to_string(p.exit_code));
  } else {
    p.bytes = unsigned_at(j, "bytes", where);
    p.compression_ratio = number_at(j, "compression_ratio", where);
    p.muls = integer_at(j, "muls", where);
    p.adds = integer_at(j, "adds", where);
    p.fp32_macs = integer_at(j, "fp32_macs", where);
    p.int8_macs = integer_at(j, "int8_macs", where);
    p.ternary_adds = integer_at(j, "ternary_adds", where);
    p.energy_pj = number_at(j, "energy_pj", where);
    p.top1 = optional_number_at(j, "top1", where);
    p.top5 = optional_number_at(j, "top5", where);
  }
  p.command = string_at(j, "command", where);
  p.output = string_at(j, "output", where);
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
