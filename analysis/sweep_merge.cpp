#include "analysis/sweep_merge.h"

#include <map>

#include "analysis/sweep_record.h"
#include "core/error.h"

namespace mc {

namespace {

std::string shown(const nlohmann::ordered_json& v) {
  std::string text = v.is_null() ? std::string("(absent)") : v.dump();
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

// The first difference between two identities with different fingerprints, as "KEY is X here, Y in OTHER".
std::string first_difference(const SweepIdentity& mine, const SweepIdentity& theirs, const std::string& other) {
  for (const auto& [key, value] : mine.settings.items()) {
    const auto it = theirs.settings.find(key);
    const nlohmann::ordered_json their_value = it == theirs.settings.end() ? nlohmann::ordered_json() : *it;
    if (value != their_value) return "'" + key + "' is " + shown(value) + " here, " + shown(their_value) + " in " + other;
  }
  for (const auto& [key, value] : theirs.settings.items())
    if (!mine.settings.contains(key)) return "'" + key + "' is (absent) here, " + shown(value) + " in " + other;
  if (mine.grid.size() != theirs.grid.size())
    return "the grid has " + std::to_string(mine.grid.size()) + " points here, " + std::to_string(theirs.grid.size()) + " in " + other;
  for (size_t i = 0; i < mine.grid.size(); ++i)
    if (mine.grid[i] != theirs.grid[i])
      return "grid point " + std::to_string(i) + " is '" + mine.grid[i] + "' here, '" + theirs.grid[i] + "' in " + other;
  return "the fingerprints differ";
}

std::string short_hash(const std::string& sha) { return sha.substr(0, 12); }

}  // namespace

SweepTable merge_sweep_parts(const std::vector<NamedPart>& parts) {
  if (parts.empty()) fail_usage("--merge needs the part files of every shard");
  const NamedPart& first = parts.front();
  const SweepIdentity& identity = first.part.identity;
  const int64_t count = first.part.shard.count;
  std::map<int64_t, const NamedPart*> by_shard;
  for (const NamedPart& np : parts) {
    const SweepPart& p = np.part;
    if (p.identity.model_sha256 != identity.model_sha256)
      fail_input(np.name + ": part of another model: " + p.table.model + " (sha256 " + short_hash(p.identity.model_sha256) + "...), while " +
                 first.name + " is of " + first.part.table.model + " (sha256 " + short_hash(identity.model_sha256) + "...)");
    if (p.identity.fingerprint() != identity.fingerprint())
      fail_input(np.name + ": part of another sweep than " + first.name + ": " + first_difference(p.identity, identity, first.name));
    if (p.shard.count != count)
      fail_input(np.name + ": shard " + p.shard.label() + ", while " + first.name + " is a shard of " + std::to_string(count) +
                 ": every part must come from one split");
    const auto [it, inserted] = by_shard.emplace(p.shard.index, &np);
    if (!inserted) fail_input(np.name + ": duplicate part: shard " + p.shard.label() + " is also " + it->second->name);
    if (!same_baseline(p.table, first.part.table))
      fail_input(np.name + ": its float baseline (model size, operations or top-1 on the evaluation images) differs from " + first.name +
                 "'s, for the same settings: were the model or the images changed between the shards' runs?");
  }
  if (static_cast<int64_t>(by_shard.size()) != count) {
    std::string missing, given;
    size_t listed = 0, absent = 0;
    for (int64_t k = 1; k <= count; ++k)
      if (!by_shard.count(k)) {
        ++absent;
        if (listed++ < 8) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
      }
    if (absent > 8) missing += ", ...";
    for (const NamedPart& np : parts) given += (given.empty() ? "" : ", ") + np.name + " (" + np.part.shard.label() + ")";
    fail_input("missing part" + std::string(absent == 1 ? ": shard " : "s: shards ") + missing + " of " + std::to_string(count) +
               " (given: " + given + ")");
  }

  SweepTable table = first.part.table;
  table.points.assign(identity.grid.size(), SweepPoint{});
  for (const auto& [k, np] : by_shard)
    for (size_t r = 0; r < np->part.indices.size(); ++r) table.points[np->part.indices[r]] = np->part.table.points[r];
  finish_sweep_table(table);
  return table;
}

}  // namespace mc
