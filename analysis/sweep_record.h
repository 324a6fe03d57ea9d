// Lossless JSON of a sweep's rows and float baseline, for what sweeps store to be read back by
// mcompress itself (shard parts: analysis/sweep_part.h; --resume records: app/sweep_resume.h) rather
// than by people. Unlike to_json (analysis/sweep_table.h), which rounds ratios and energies for
// reading, every number here is the double or integer as computed (JSON numbers print the shortest
// decimal that reads back to the same double), so a table assembled from records is the table the
// computation produced, and its CSV, JSON and HTML are byte for byte the same. Pareto marks are not
// stored: they belong to the whole grid and are computed once it is complete.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "analysis/sweep_table.h"

namespace mc {

// The baseline fields of `table` (model, float: source_bytes, fp32_bytes, macs, energy_pj, top1,
// top5; eval_images), not its points.
nlohmann::ordered_json baseline_record(const SweepTable& table);
// Sets those fields of `table`; fails (input) naming `where` and the key when one is missing or has
// the wrong type.
void read_baseline_record(const nlohmann::ordered_json& j, SweepTable& table, const std::string& where);
// Whether two tables have the same baseline fields.
bool same_baseline(const SweepTable& a, const SweepTable& b);

// Every field of a point but its Pareto marks (recipe, budget, error and exit code, the numbers,
// command, output).
nlohmann::ordered_json point_record(const SweepPoint& point);
SweepPoint read_point_record(const nlohmann::ordered_json& j, const std::string& where);

// A checksum that makes a stored record tamper- and damage-evident: SHA-256 of the compact dump of
// the object without its "checksum" key, stored under that key (last). nlohmann's dump of numbers
// read back from a dump is the same text, so a record read and rewritten keeps its checksum.
void add_checksum(nlohmann::ordered_json& record);
// Whether `record` has a "checksum" and it matches.
bool checksum_matches(const nlohmann::ordered_json& record);

}  // namespace mc
