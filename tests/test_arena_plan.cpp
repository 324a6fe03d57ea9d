// core/arena_plan.h: tensors whose lifetimes overlap never share a buffer; the others do, largest first.
#include <doctest/doctest.h>

#include <cstring>

#include "core/arena_plan.h"
#include "core/executor.h"
#include "tests/model_builder.h"

using namespace mc;

namespace {

bool overlaps(const TensorLifetime& a, const TensorLifetime& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

TEST_CASE("test_arena_plan: a chain shares two buffers; overlapping lifetimes never share") {
  // A chain: each tensor written by step i and read by step i + 1 (inclusive lifetimes [i, i + 1]).
  std::vector<TensorLifetime> chain;
  for (int i = 0; i < 6; ++i) chain.push_back({i, i + 1, static_cast<size_t>(100 * (6 - i))});
  const ArenaAssignment a = plan_arena(chain);
  CHECK(a.buffer_bytes.size() == 2);
  CHECK(a.total_bytes() == 600 + 500);
  for (size_t i = 0; i + 1 < chain.size(); ++i) CHECK(a.buffer[i] != a.buffer[i + 1]);
  // A step's output never shares with its own input: [0, 2] and [2, 3] overlap at step 2.
  const ArenaAssignment touching = plan_arena({{0, 2, 10}, {2, 3, 10}});
  CHECK(touching.buffer[0] != touching.buffer[1]);
  // Best fit: the small late tensor goes into the smaller free buffer.
  const ArenaAssignment fit = plan_arena({{0, 1, 1000}, {0, 1, 50}, {2, 3, 40}});
  CHECK(fit.buffer[2] == fit.buffer[1]);
  CHECK(fit.total_bytes() == 1050);
}

TEST_CASE("test_arena_plan: random lifetimes: every buffer holds its tensors, no two overlapping") {
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<TensorLifetime> t;
    const int n = 1 + static_cast<int>(next() % 40);
    for (int i = 0; i < n; ++i) {
      const int first = static_cast<int>(next() % 30);
      t.push_back({first, first + static_cast<int>(next() % 6), 1 + next() % 1000});
    }
    const ArenaAssignment a = plan_arena(t);
    REQUIRE(a.buffer.size() == t.size());
    size_t unshared = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      unshared += t[i].bytes;
      REQUIRE(a.buffer[i] >= 0);
      CHECK(a.buffer_bytes.at(static_cast<size_t>(a.buffer[i])) >= t[i].bytes);
      for (size_t j = i + 1; j < t.size(); ++j)
        if (overlaps(t[i], t[j])) CHECK(a.buffer[i] != a.buffer[j]);
    }
    CHECK(a.total_bytes() <= unshared);
    CHECK(plan_arena(t).buffer == a.buffer);  // deterministic
  }
}

TEST_CASE("test_arena_plan: the executor's arena runs give the unplanned run's bits (family models)") {
  for (const Model& model : {test::mobilenet_v3_model(), test::efficientnet_model(), test::resnet_model(), test::squeezenet_model(),
                             test::shufflenet_v1_model(), test::ghostnet_model()}) {
    test::TestRandom random{7};
    const std::vector<float> values = random.values(3 * 16 * 16, 4.0f);
    const Tensor input = Tensor::from_vector<float>({1, 3, 16, 16}, values);
    for (int threads : {1, 3}) {
      Executor exec(model, ExecutorOptions{threads, true});
      const Tensor first = exec.run({input})[0];
      CHECK(exec.arena_stats().planned);
      CHECK(exec.arena_stats().bytes <= exec.arena_stats().unshared_bytes);
      for (int run = 0; run < 3; ++run) {
        const Tensor again = exec.run({input})[0];
        REQUIRE(again.byte_size() == first.byte_size());
        CHECK(std::memcmp(again.raw(), first.raw(), first.byte_size()) == 0);
      }
    }
  }
}
