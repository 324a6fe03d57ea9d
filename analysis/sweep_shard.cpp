#include "analysis/sweep_shard.h"

#include <charconv>

#include "core/error.h"

namespace mc {

namespace {

// A whole decimal number without sign, spaces or leading '+'; nothing when `text` is not one.
bool parse_count(const std::string& text, int64_t& value) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

ShardSpec parse_shard(const std::string& text, const std::string& flag) {
  const size_t slash = text.find('/');
  ShardSpec s;
  if (slash == std::string::npos || !parse_count(text.substr(0, slash), s.index) || !parse_count(text.substr(slash + 1), s.count))
    fail_usage(flag + " '" + text + "': expected K/N, shard K of N (e.g. 2/3)");
  if (s.count < 1 || s.count > max_shards)
    fail_usage(flag + " '" + text + "': N must be between 1 and " + std::to_string(max_shards));
  if (s.index < 1 || s.index > s.count)
    fail_usage(flag + " '" + text + "': K must be between 1 and N (" + std::to_string(s.count) + ")");
  return s;
}

int64_t shard_of_point(size_t point_index, int64_t count) {
  return static_cast<int64_t>(point_index % static_cast<size_t>(count)) + 1;
}

std::vector<size_t> shard_points(const ShardSpec& shard, size_t grid_size) {
  std::vector<size_t> points;
  for (size_t i = static_cast<size_t>(shard.index - 1); i < grid_size; i += static_cast<size_t>(shard.count)) points.push_back(i);
  return points;
}

}  // namespace mc
