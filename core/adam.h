// Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015) with its usual
// constants, on one parameter (double) or on arrays of them (Eigen arrays) alike: the learned
// rounding of one layer (core/adaround) and of a block (passes/block_fit) share it.
#pragma once

#include <cmath>

namespace mc {

struct Adam {
  static constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  double c1 = 1, c2 = 1;  // b1^t, b2^t
  // Once per iteration, before its updates.
  void step() { c1 *= b1, c2 *= b2; }
  // Updates the moments m1, m2 of gradient g and returns the bias-corrected step to subtract. For an
  // Eigen array the step is an expression reading m1 and m2: use it before they change.
  template <class T, class G>
  auto update(const G& g, T& m1, T& m2, double rate) const {
    using std::sqrt;
    m1 = b1 * m1 + (1 - b1) * g;
    m2 = b2 * m2 + (1 - b2) * g * g;
    return rate * (m1 / (1 - c1)) / (sqrt(m2 / (1 - c2)) + eps);
  }
};

}  // namespace mc
