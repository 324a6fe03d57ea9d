// Small text helpers shared by the command line, the benches and the graph code.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace mc {

// "a,b,,c" -> {"a", "b", "c"}: comma-separated items, empty ones dropped.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) items.push_back(item);
  return items;
}

// `base`, or `base_1`, `base_2`, ... : the first not in `taken`, which is then added to it.
inline std::string take_unique_name(std::set<std::string>& taken, const std::string& base) {
  std::string name = base;
  for (int k = 1; taken.count(name); ++k) name = base + "_" + std::to_string(k);
  taken.insert(name);
  return name;
}

// 1234567 -> "1,234,567".
inline std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

// The number `text` spells in full ("0.5", "1e3"), or nothing (empty, trailing characters, not a number).
inline std::optional<double> parse_double(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (text.empty() || used != text.size()) return std::nullopt;
  return v;
}

// `v` with `decimals` digits after the point ("28.52"), for numbers a person reads.
inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// "1 layer", "3 layers": `count` with the noun in the right number (plural: noun + "s" unless given).
inline std::string count_of(int64_t count, const std::string& noun, const std::string& plural = "") {
  return with_commas(count) + " " + (count == 1 ? noun : plural.empty() ? noun + "s" : plural);
}

// The shortest decimal that reads back as `v` (0.1 -> "0.1", 20 -> "20", 1e-06 -> "1e-06").
inline std::string format_number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace mc
