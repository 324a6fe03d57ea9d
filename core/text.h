// Small text helpers shared by the command line, the benches and the graph code.
#pragma once

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

}  // namespace mc
