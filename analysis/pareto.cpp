#include "analysis/pareto.h"

#include <algorithm>
#include <numeric>

namespace mc {

std::vector<bool> pareto_front(const std::vector<TradeOff>& points) {
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // By cost ascending, then gain descending: a point is dominated exactly when some point before it
  // in this order has a strictly higher gain, or an equal gain at a strictly lower cost.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (points[a].cost != points[b].cost) return points[a].cost < points[b].cost;
    return points[a].gain > points[b].gain;
  });
  std::vector<bool> front(points.size(), false);
  bool any = false;
  double best_gain = 0, best_gain_cost = 0;  // best gain so far, and the lowest cost reaching it
  for (size_t i : order) {
    const TradeOff& p = points[i];
    bool dominated = any && (best_gain > p.gain || (best_gain == p.gain && best_gain_cost < p.cost));
    front[i] = !dominated;
    if (!any || p.gain > best_gain) {
      best_gain = p.gain;
      best_gain_cost = p.cost;
      any = true;
    }
  }
  return front;
}

}  // namespace mc
