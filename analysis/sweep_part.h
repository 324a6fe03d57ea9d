// The part file a sharded sweep writes (`mcompress sweep ... --shard K/N -o PART.json`) and
// `mcompress sweep --merge` reads: which sweep it belongs to (model content, settings, grid, the
// mcompress version), which shard it is, the float baseline, and the rows of the shard's points,
// stored losslessly (analysis/sweep_record.h). The layout and the rules are docs/SHARDING.md.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/sweep_shard.h"
#include "analysis/sweep_table.h"

namespace mc {

// The "format" value that marks a part, and the layout version this mcompress writes and reads.
inline constexpr const char* sweep_part_format = "mcompress sweep part";
inline constexpr int64_t sweep_part_version = 1;

// What makes two runs the same sweep: the settings that change any byte of the outputs (an object,
// built by app/sweep_identity.h) and the grid's point labels in grid order.
struct SweepIdentity {
  std::string model_sha256;        // the source model's content
  nlohmann::ordered_json settings;  // an object
  std::vector<std::string> grid;   // SweepPoint::label() of every grid point, in grid order
  // SHA-256 of the compact JSON of {settings, grid}: equal fingerprints, same sweep.
  std::string fingerprint() const;
};

struct SweepPart {
  std::string mcompress_version = MCOMPRESS_VERSION;  // of the mcompress that wrote it
  ShardSpec shard;
  SweepIdentity identity;
  SweepTable table;             // the float baseline, and the shard's rows in grid order (no Pareto marks)
  std::vector<size_t> indices;  // the grid index of each row of `table.points`
};

// The part as JSON (with its checksum, analysis/sweep_record.h).
nlohmann::ordered_json part_to_json(const SweepPart& part);

// Reads a part from a file's bytes, named `name` in every error (input, exit 3): not JSON, not a
// part, another layout version, written by another mcompress version, checksum mismatch (changed or
// damaged), a missing or mistyped key, and rows that are not exactly the shard's points (a point of
// another shard, a point twice, a point missing, a row whose recipe and budget are not its grid
// point's).
SweepPart read_sweep_part(const std::vector<std::byte>& bytes, const std::string& name);

}  // namespace mc
