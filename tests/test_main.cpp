#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include "core/matrix_blocking.h"
#include "tests/test_util.h"

namespace mc::test {
// As mcompress's main does: the tests see the same sums as the command.
[[maybe_unused]] const bool matrix_blocking_fixed = (fix_matrix_blocking(), true);

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path = std::filesystem::temp_directory_path() /
         ("mcompress-test-" + std::to_string(rd()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(path);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}
}  // namespace mc::test
