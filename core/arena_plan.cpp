#include "core/arena_plan.h"

#include <algorithm>
#include <numeric>

namespace mc {

size_t ArenaAssignment::total_bytes() const { return std::accumulate(buffer_bytes.begin(), buffer_bytes.end(), size_t{0}); }

ArenaAssignment plan_arena(const std::vector<TensorLifetime>& tensors) {
  ArenaAssignment out;
  out.buffer.assign(tensors.size(), -1);
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].bytes > tensors[b].bytes; });
  std::vector<std::vector<size_t>> members;  // per buffer: the tensors assigned to it
  auto overlaps = [&](size_t a, size_t b) { return tensors[a].first <= tensors[b].last && tensors[b].first <= tensors[a].last; };
  for (size_t t : order) {
    int best = -1;
    for (size_t b = 0; b < members.size(); ++b) {
      if (std::any_of(members[b].begin(), members[b].end(), [&](size_t m) { return overlaps(t, m); })) continue;
      // In decreasing size every buffer is already at least this large: best fit is the smallest.
      if (best < 0 || out.buffer_bytes[b] < out.buffer_bytes[static_cast<size_t>(best)]) best = static_cast<int>(b);
    }
    if (best < 0) {
      best = static_cast<int>(members.size());
      members.emplace_back();
      out.buffer_bytes.push_back(tensors[t].bytes);
    }
    members[static_cast<size_t>(best)].push_back(t);
    out.buffer[t] = best;
  }
  return out;
}

}  // namespace mc
