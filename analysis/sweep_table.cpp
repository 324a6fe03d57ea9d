#include "analysis/sweep_table.h"

#include <charconv>
#include <cstdio>

#include "analysis/json_fields.h"
#include "analysis/pareto.h"
#include "analysis/rounding.h"
#include "core/error.h"

namespace mc {

void mark_pareto(SweepTable& table) {
  std::vector<size_t> measured;
  std::vector<TradeOff> by_size, by_muls;
  for (size_t i = 0; i < table.points.size(); ++i) {
    SweepPoint& p = table.points[i];
    p.pareto_size = p.pareto_muls = false;
    if (!p.ok() || !p.top1) continue;
    measured.push_back(i);
    by_size.push_back({static_cast<double>(p.bytes), *p.top1});
    by_muls.push_back({static_cast<double>(p.muls), *p.top1});
  }
  std::vector<bool> size_front = pareto_front(by_size), muls_front = pareto_front(by_muls);
  for (size_t k = 0; k < measured.size(); ++k) {
    table.points[measured[k]].pareto_size = size_front[k];
    table.points[measured[k]].pareto_muls = muls_front[k];
  }
}

void finish_sweep_table(SweepTable& table) {
  const SweepPoint* first_failure = nullptr;
  size_t failures = 0;
  for (const auto& p : table.points)
    if (!p.ok()) {
      ++failures;
      if (!first_failure) first_failure = &p;
    }
  if (first_failure && failures == table.points.size()) {
    const int code = first_failure->exit_code >= 1 && first_failure->exit_code <= 5 ? first_failure->exit_code : 1;
    throw Error(static_cast<ErrorKind>(code), "every sweep point failed (first: " + first_failure->label() + ": " + first_failure->error + ")");
  }
  mark_pareto(table);
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The shortest text that reads back to exactly `v`.
std::string number(double v) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

std::string optional_number(const std::optional<double>& v) { return v ? number(*v) : ""; }

std::optional<double> optional_number_at(const nlohmann::ordered_json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number()) fail_input(where + ": '" + key + "' must be a number or null, got " + j[key].dump());
  return j[key].get<double>();
}

template <typename T>
T required_at(const nlohmann::ordered_json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) fail_input(where + ": missing '" + key + "'");
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    fail_input(where + ": '" + key + "' has the wrong type: " + j[key].dump());
  }
}

}  // namespace

std::optional<double> top1_change(const SweepTable& table, const SweepPoint& point) {
  if (!point.top1 || !table.top1_float) return std::nullopt;
  return percent_value(*point.top1 - *table.top1_float);
}

std::string to_csv(const SweepTable& t) {
  std::string out =
      "recipe,budget,status,bytes,compression_ratio,muls,adds,fp32_macs,int8_macs,ternary_adds,energy_pj,top1,top5,top1_change,"
      "pareto_size,pareto_muls,command\n";
  for (const auto& p : t.points) {
    out += csv_field(p.recipe) + "," + csv_field(p.budget) + "," + csv_field(p.ok() ? "ok" : "failed: " + p.error) + ",";
    if (p.ok())
      out += std::to_string(p.bytes) + "," + number(ratio_value(p.compression_ratio)) + "," + std::to_string(p.muls) + "," +
             std::to_string(p.adds) + "," + std::to_string(p.fp32_macs) + "," + std::to_string(p.int8_macs) + "," +
             std::to_string(p.ternary_adds) + "," + number(pj_value(p.energy_pj)) + "," + optional_number(p.top1) + "," +
             optional_number(p.top5) + "," + optional_number(top1_change(t, p)) + ",";
    else
      out += ",,,,,,,,,,,";
    out += std::string(p.pareto_size ? "1" : "0") + "," + (p.pareto_muls ? "1" : "0") + "," + csv_field(p.command) + "\n";
  }
  return out;
}

nlohmann::ordered_json to_json(const SweepTable& t) {
  nlohmann::ordered_json j;
  j["model"] = t.model;
  j["float"] = {{"source_bytes", t.source_bytes}, {"fp32_bytes", t.fp32_bytes},         {"macs", t.macs},
                {"energy_pj", pj_value(t.energy_pj_fp32)}, {"top1", optional_json(t.top1_float)}, {"top5", optional_json(t.top5_float)}};
  j["eval_images"] = t.eval_images;
  j["points"] = nlohmann::ordered_json::array();
  for (const auto& p : t.points) {
    nlohmann::ordered_json pj;
    pj["recipe"] = p.recipe;
    pj["budget"] = p.budget;
    pj["status"] = p.ok() ? "ok" : "failed";
    if (!p.ok()) pj["error"] = p.error;
    if (p.ok()) {
      pj["bytes"] = p.bytes;
      pj["compression_ratio"] = ratio_value(p.compression_ratio);
      pj["muls"] = p.muls;
      pj["adds"] = p.adds;
      pj["fp32_macs"] = p.fp32_macs;
      pj["int8_macs"] = p.int8_macs;
      pj["ternary_adds"] = p.ternary_adds;
      pj["energy_pj"] = pj_value(p.energy_pj);
      pj["top1"] = optional_json(p.top1);
      pj["top5"] = optional_json(p.top5);
      pj["top1_change"] = optional_json(top1_change(t, p));
    }
    pj["pareto_size"] = p.pareto_size;
    pj["pareto_muls"] = p.pareto_muls;
    pj["command"] = p.command;
    if (!p.output.empty()) pj["output"] = p.output;
    j["points"].push_back(pj);
  }
  return j;
}

SweepTable sweep_from_json(const nlohmann::ordered_json& j, const std::string& name) {
  if (!j.is_object() || !j.contains("points") || !j["points"].is_array())
    fail_input(name + ": not a sweep result (expected a JSON object with a 'points' array, as 'mcompress sweep --json' writes)");
  SweepTable t;
  if (j.contains("model") && j["model"].is_string()) t.model = j["model"].get<std::string>();
  if (j.contains("float") && j["float"].is_object()) {
    const auto& f = j["float"];
    const std::string where = name + ": float";
    if (f.contains("source_bytes")) t.source_bytes = required_at<uint64_t>(f, "source_bytes", where);
    if (f.contains("fp32_bytes")) t.fp32_bytes = required_at<uint64_t>(f, "fp32_bytes", where);
    if (f.contains("macs")) t.macs = required_at<int64_t>(f, "macs", where);
    if (f.contains("energy_pj")) t.energy_pj_fp32 = required_at<double>(f, "energy_pj", where);
    t.top1_float = optional_number_at(f, "top1", where);
    t.top5_float = optional_number_at(f, "top5", where);
  }
  if (j.contains("eval_images") && j["eval_images"].is_number_integer()) t.eval_images = j["eval_images"].get<int64_t>();
  size_t index = 0;
  for (const auto& pj : j["points"]) {
    const std::string where = name + ": points[" + std::to_string(index++) + "]";
    if (!pj.is_object()) fail_input(where + " must be an object");
    SweepPoint p;
    p.recipe = required_at<std::string>(pj, "recipe", where);
    if (pj.contains("budget")) p.budget = required_at<std::string>(pj, "budget", where);
    std::string status = required_at<std::string>(pj, "status", where);
    if (status != "ok" && status != "failed") fail_input(where + ": 'status' must be \"ok\" or \"failed\", got \"" + status + "\"");
    if (status == "failed") {
      p.error = pj.contains("error") ? required_at<std::string>(pj, "error", where) : std::string("failed");
      if (p.error.empty()) p.error = "failed";
    } else {
      p.bytes = required_at<uint64_t>(pj, "bytes", where);
      p.compression_ratio = required_at<double>(pj, "compression_ratio", where);
      p.muls = required_at<int64_t>(pj, "muls", where);
      p.adds = required_at<int64_t>(pj, "adds", where);
      if (pj.contains("fp32_macs")) p.fp32_macs = required_at<int64_t>(pj, "fp32_macs", where);
      if (pj.contains("int8_macs")) p.int8_macs = required_at<int64_t>(pj, "int8_macs", where);
      if (pj.contains("ternary_adds")) p.ternary_adds = required_at<int64_t>(pj, "ternary_adds", where);
      p.energy_pj = required_at<double>(pj, "energy_pj", where);
      p.top1 = optional_number_at(pj, "top1", where);
      p.top5 = optional_number_at(pj, "top5", where);
    }
    if (pj.contains("command")) p.command = required_at<std::string>(pj, "command", where);
    if (pj.contains("output")) p.output = required_at<std::string>(pj, "output", where);
    t.points.push_back(p);
  }
  mark_pareto(t);  // recomputed: the file's flags are not trusted
  return t;
}

}  // namespace mc
