#include "analysis/json_fields.h"

#include "core/error.h"

namespace mc {

using Json = nlohmann::ordered_json;

Json optional_json(const std::optional<double>& v) { return v ? Json(*v) : Json(); }

const Json& json_member(const Json& j, const char* key, const std::string& where) {
  if (!j.is_object()) fail_input(where + ": expected a JSON object");
  auto it = j.find(key);
  if (it == j.end()) fail_input(where + ": missing '" + key + "'");
  return *it;
}

std::string json_string(const Json& j, const char* key, const std::string& where) {
  const Json& v = json_member(j, key, where);
  if (!v.is_string()) fail_input(where + ": '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

double json_number(const Json& j, const char* key, const std::string& where) {
  const Json& v = json_member(j, key, where);
  if (!v.is_number()) fail_input(where + ": '" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}

std::optional<double> json_optional_number(const Json& j, const char* key, const std::string& where) {
  const Json& v = json_member(j, key, where);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number()) fail_input(where + ": '" + key + "' must be a number or null, got " + v.dump());
  return v.get<double>();
}

int64_t json_integer(const Json& j, const char* key, const std::string& where) {
  const Json& v = json_member(j, key, where);
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  fail_input(where + ": '" + key + "' must be a whole number, got " + v.dump());
}

uint64_t json_unsigned(const Json& j, const char* key, const std::string& where) {
  const Json& v = json_member(j, key, where);
  if (!v.is_number_unsigned()) fail_input(where + ": '" + key + "' must be a whole number >= 0, got " + v.dump());
  return v.get<uint64_t>();
}

}  // namespace mc
