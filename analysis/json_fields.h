// JSON members of the files mcompress writes and reads back (sweep records and parts). The typed reads
// refuse (input error) a missing key or a value of the wrong type, naming `where` and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace mc {

// An optional number as written: the number, or null.
nlohmann::ordered_json optional_json(const std::optional<double>& v);

const nlohmann::ordered_json& json_member(const nlohmann::ordered_json& j, const char* key, const std::string& where);
std::string json_string(const nlohmann::ordered_json& j, const char* key, const std::string& where);
double json_number(const nlohmann::ordered_json& j, const char* key, const std::string& where);
// null -> nullopt.
std::optional<double> json_optional_number(const nlohmann::ordered_json& j, const char* key, const std::string& where);
int64_t json_integer(const nlohmann::ordered_json& j, const char* key, const std::string& where);
uint64_t json_unsigned(const nlohmann::ordered_json& j, const char* key, const std::string& where);

}  // namespace mc
