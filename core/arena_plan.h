// The executor's activation arena plan: which intermediate tensors share a buffer. Each tensor
// lives from the step that writes it to the last step that reads it (both inclusive, so a step's
// outputs never share with its own inputs); tensors whose lifetimes do not overlap may share one
// buffer. Greedy by size (as TensorFlow Lite's shared-object planner): tensors in decreasing
// size, each into the smallest existing buffer none of whose tensors it overlaps, else a new
// buffer of its size. Deterministic: ties go by index.
#pragma once

#include <cstddef>
#include <vector>

namespace mc {

struct TensorLifetime {
  int first = 0, last = 0;  // steps, inclusive
  size_t bytes = 0;
};

struct ArenaAssignment {
  std::vector<int> buffer;          // per tensor: its buffer
  std::vector<size_t> buffer_bytes;  // per buffer: the largest tensor assigned to it
  size_t total_bytes() const;
};

ArenaAssignment plan_arena(const std::vector<TensorLifetime>& tensors);

}  // namespace mc
