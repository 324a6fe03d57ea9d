#include "analysis/sweep_part.h"

#include <span>

#include "analysis/json_fields.h"
#include "analysis/sweep_record.h"
#include "core/error.h"
#include "formats/checksum.h"

namespace mc {

namespace {

using Json = nlohmann::ordered_json;

}  // namespace

std::string SweepIdentity::fingerprint() const {
  const Json j = {{"settings", settings}, {"grid", grid}};
  const std::string text = j.dump();
  return sha256_hex(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

Json part_to_json(const SweepPart& part) {
  Json j;
  j["format"] = sweep_part_format;
  j["version"] = sweep_part_version;
  j["mcompress"] = part.mcompress_version;
  j["shard"] = {{"index", part.shard.index}, {"count", part.shard.count}};
  j["model_sha256"] = part.identity.model_sha256;
  j["fingerprint"] = part.identity.fingerprint();
  j["settings"] = part.identity.settings;
  j["grid"] = part.identity.grid;
  j["float"] = baseline_record(part.table);
  j["points"] = Json::array();
  for (size_t r = 0; r < part.table.points.size(); ++r) {
    Json row = {{"index", part.indices.at(r)}};
    const Json fields = point_record(part.table.points[r]);
    for (const auto& [key, value] : fields.items()) row[key] = value;
    j["points"].push_back(row);
  }
  add_checksum(j);
  return j;
}

SweepPart read_sweep_part(const std::vector<std::byte>& bytes, const std::string& name) {
  const char* text = reinterpret_cast<const char*>(bytes.data());
  const Json j = Json::parse(text, text + bytes.size(), nullptr, false);
  const std::string what = "expected the -o file of 'mcompress sweep --shard K/N'";
  if (j.is_discarded()) fail_input(name + ": not valid JSON (" + what + ")");
  if (!j.is_object() || !j.contains("format") || j["format"] != sweep_part_format) fail_input(name + ": not a sweep part (" + what + ")");
  const int64_t version = json_integer(j, "version", name);
  if (version != sweep_part_version)
    fail_input(name + ": sweep part layout version " + std::to_string(version) + "; this mcompress reads version " +
               std::to_string(sweep_part_version));
  SweepPart part;
  part.mcompress_version = json_string(j, "mcompress", name);
  if (part.mcompress_version != MCOMPRESS_VERSION)
    fail_input(name + ": written by mcompress " + part.mcompress_version + ", this is mcompress " MCOMPRESS_VERSION
               ": run every shard and the merge with one version (results may differ between versions)");
  if (!checksum_matches(j)) fail_input(name + ": checksum mismatch: the part was changed or damaged after it was written");

  const Json& shard = json_member(j, "shard", name);
  if (!shard.is_object()) fail_input(name + ": 'shard' must be an object");
  part.shard.index = json_integer(shard, "index", name + ": shard");
  part.shard.count = json_integer(shard, "count", name + ": shard");
  if (part.shard.count < 1 || part.shard.count > max_shards || part.shard.index < 1 || part.shard.index > part.shard.count)
    fail_input(name + ": shard " + part.shard.label() + " is not a shard K/N with 1 <= K <= N");
  part.identity.model_sha256 = json_string(j, "model_sha256", name);
  const Json& settings = json_member(j, "settings", name);
  if (!settings.is_object()) fail_input(name + ": 'settings' must be an object");
  part.identity.settings = settings;
  const Json& grid = json_member(j, "grid", name);
  if (!grid.is_array() || grid.empty()) fail_input(name + ": 'grid' must be a non-empty array of point names");
  for (const auto& label : grid) {
    if (!label.is_string()) fail_input(name + ": 'grid' must hold point names (strings), got " + label.dump());
    part.identity.grid.push_back(label.get<std::string>());
  }
  if (json_string(j, "fingerprint", name) != part.identity.fingerprint())
    fail_input(name + ": 'fingerprint' does not match its settings and grid");
  const Json& baseline = json_member(j, "float", name);
  if (!baseline.is_object()) fail_input(name + ": 'float' must be an object");
  read_baseline_record(baseline, part.table, name + ": float");

  const Json& points = json_member(j, "points", name);
  if (!points.is_array()) fail_input(name + ": 'points' must be an array");
  const std::vector<size_t> mine = shard_points(part.shard, part.identity.grid.size());
  size_t r = 0;
  for (const auto& row : points) {
    const std::string where = name + ": points[" + std::to_string(r) + "]";
    if (!row.is_object()) fail_input(where + " must be an object");
    const int64_t index = json_integer(row, "index", where);
    if (index < 0 || static_cast<size_t>(index) >= part.identity.grid.size())
      fail_input(where + ": index " + std::to_string(index) + " is outside the grid of " + std::to_string(part.identity.grid.size()) + " points");
    const size_t i = static_cast<size_t>(index);
    if (shard_of_point(i, part.shard.count) != part.shard.index)
      fail_input(where + ": point " + std::to_string(i) + " (" + part.identity.grid[i] + ") belongs to shard " +
                 std::to_string(shard_of_point(i, part.shard.count)) + "/" + std::to_string(part.shard.count) + ", not to this part's " +
                 part.shard.label());
    if (r >= mine.size() || i != mine[r]) {
      const bool repeated = r > 0 && i <= part.indices.back();
      fail_input(where + ": " + (repeated ? "point " + std::to_string(i) + " (" + part.identity.grid[i] + ") is listed twice or out of order"
                                          : "point " + std::to_string(mine[r]) + " (" + part.identity.grid[mine[r]] + ") is missing"));
    }
    SweepPoint p = read_point_record(row, where);
    if (p.label() != part.identity.grid[i])
      fail_input(where + ": row '" + p.label() + "' is not grid point " + std::to_string(i) + " ('" + part.identity.grid[i] + "')");
    part.table.points.push_back(std::move(p));
    part.indices.push_back(i);
    ++r;
  }
  if (r < mine.size())
    fail_input(name + ": shard " + part.shard.label() + " lacks point " + std::to_string(mine[r]) + " (" + part.identity.grid[mine[r]] +
               "): " + std::to_string(r) + " of its " + std::to_string(mine.size()) + " points are in the part");
  return part;
}

}  // namespace mc
