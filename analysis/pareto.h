// Pareto-optimal points of a two-objective trade-off: a point is on the front when no other point is
// at least as good on both objectives and strictly better on one. Used by `mcompress sweep` for
// (smaller .mcz, higher top-1) and (fewer multiplications, higher top-1).
#pragma once

#include <vector>

namespace mc {

struct TradeOff {
  double cost = 0;  // lower is better (bytes, MULs)
  double gain = 0;  // higher is better (top-1)
};

// One flag per point, in the same order. Points with equal cost and gain are both on the front (or
// both off it). O(n log n); the result does not depend on the input order.
std::vector<bool> pareto_front(const std::vector<TradeOff>& points);

}  // namespace mc
