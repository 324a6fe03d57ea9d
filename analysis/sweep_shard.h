// Which points of a sweep grid a shard computes (`mcompress sweep ... --shard K/N`). The assignment
// is fixed and documented (docs/SHARDING.md) so that shards run anywhere, in any order, and a merge
// can check that the parts cover the grid: the grid's point i (0-based, in the grid's canonical
// order) belongs to shard (i mod N) + 1. Round robin rather than contiguous blocks because the grid
// lists a recipe's budget points together and their costs differ by recipe: dealing them out keeps
// the shards' run times close.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mc {

struct ShardSpec {
  int64_t index = 1;  // K, 1-based
  int64_t count = 1;  // N; 1/1 is the whole grid
  std::string label() const { return std::to_string(index) + "/" + std::to_string(count); }
  bool operator==(const ShardSpec&) const = default;
};

// More shards than this is a typo, not a plan (each shard repeats the float model's evaluation).
inline constexpr int64_t max_shards = 100000;

// "K/N" -> {K, N}: decimal integers, 1 <= K <= N <= max_shards. Fails (usage) naming `flag` and the
// text: "expected K/N" for anything else, "K must be between 1 and N" when K is out of range.
ShardSpec parse_shard(const std::string& text, const std::string& flag = "--shard");

// The shard (1-based) of the grid's point `point_index` among `count` shards: (i mod N) + 1.
int64_t shard_of_point(size_t point_index, int64_t count);

// The grid indices shard `shard` computes out of a grid of `grid_size` points, ascending (empty
// when the shard's K exceeds the grid size).
std::vector<size_t> shard_points(const ShardSpec& shard, size_t grid_size);

}  // namespace mc
