// `mcompress sweep --merge PART.json...`: the parts of one sharded sweep back into the table an
// unsharded run of the same sweep produces, after checking they are exactly its shards.
#pragma once

#include <string>
#include <vector>

#include "analysis/sweep_part.h"
#include "analysis/sweep_table.h"

namespace mc {

struct NamedPart {
  std::string name;  // the file, as errors name it
  SweepPart part;    // read_sweep_part has checked it on its own
};

// Fails (input, exit 3) naming the part concerned when a part is of another model (content hash) or
// of another sweep (settings or grid, the first difference named), of another shard count, when a
// shard comes twice (the same file given twice, or two files of one shard), when its float baseline
// differs from the others', or when a shard has no part. Otherwise returns the whole table, every
// row in grid order, finished (finish_sweep_table: Pareto marks on the whole grid; fails as an
// unsharded run does when every point failed).
SweepTable merge_sweep_parts(const std::vector<NamedPart>& parts);

}  // namespace mc
