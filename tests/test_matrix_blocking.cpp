// core/matrix_blocking: Eigen's products are blocked for fixed cache sizes, not the machine's, so
// their sums (and every file they lead to) do not depend on which machine ran them.
#include <doctest/doctest.h>

#include <Eigen/Core>
#include <cstring>

#include "core/matrix_blocking.h"

TEST_CASE("test_matrix_blocking: the cache sizes Eigen blocks for are fixed, and they decide the sums") {
  mc::fix_matrix_blocking();  // (the test binary's main does it too, as mcompress's does)
  CHECK(Eigen::l1CacheSize() == 32 << 10);
  CHECK(Eigen::l2CacheSize() == 1 << 20);
  CHECK(Eigen::l3CacheSize() == 32 << 20);
  // Why it matters: the same product blocked for another machine's caches (an Intel Xeon's) sums in
  // another order (a product of a 3x3 convolution's size, 512 filters of 4608 inputs at 196 positions).
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(512, 4608), b = Eigen::MatrixXf::Random(4608, 196);
  const Eigen::MatrixXf fixed = a * b;
  Eigen::setCpuCacheSizes(48 << 10, 2 << 20, 260 << 20);
  const Eigen::MatrixXf other = a * b;
  mc::fix_matrix_blocking();
  const Eigen::MatrixXf again = a * b;
  CHECK(std::memcmp(fixed.data(), again.data(), sizeof(float) * static_cast<size_t>(fixed.size())) == 0);
  CHECK(std::memcmp(fixed.data(), other.data(), sizeof(float) * static_cast<size_t>(fixed.size())) != 0);
}
