// core/stage_timer.h: exclusive per-stage seconds that add up to the total, nothing recorded
// without an installed timer or on another thread, peak resident memory.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "core/stage_timer.h"

namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

const mc::StageTimer::Stage* find(const mc::StageTimer::Snapshot& s, const std::string& name) {
  for (const auto& st : s.stages)
    if (st.name == name) return &st;
  return nullptr;
}

}  // namespace

TEST_CASE("test_stage_timer: nested stages are charged exclusively and add up to the total") {
  mc::StageTimer timer;
  {
    const mc::StageTimer::Install install(timer);
    {
      mc::TimedStage outer("outer");
      sleep_ms(30);
      {
        mc::TimedStage inner("inner");
        sleep_ms(60);
      }
      mc::TimedStage again("inner");  // entered twice, summed
      sleep_ms(10);
    }
  }
  {
    mc::TimedStage ignored("not installed");  // no timer on this thread any more: not recorded
    sleep_ms(1);
  }
  std::thread([] { mc::TimedStage other_thread("worker"); }).join();
  const auto snap = timer.snapshot();
  REQUIRE(snap.stages.size() == 3);  // outer, inner, other
  CHECK(snap.stages[0].name == "outer");
  CHECK(snap.stages[1].name == "inner");
  CHECK(snap.stages[2].name == "other");
  CHECK(find(snap, "not installed") == nullptr);
  CHECK(find(snap, "worker") == nullptr);
  const auto* outer = find(snap, "outer");
  const auto* inner = find(snap, "inner");
  CHECK(inner->count == 2);
  CHECK(outer->count == 1);
  CHECK(inner->seconds >= 0.069);
  CHECK(outer->seconds >= 0.029);
  CHECK(outer->seconds < 0.069);  // the inner 60 ms are not charged to outer
  double sum = 0;
  for (const auto& s : snap.stages) sum += s.seconds;
  CHECK(sum == doctest::Approx(snap.total_seconds).epsilon(1e-6));
  CHECK(snap.peak_rss_bytes > 0);
}

TEST_CASE("test_stage_timer: a snapshot inside an open stage counts it up to now") {
  mc::StageTimer timer;
  const mc::StageTimer::Install install(timer);
  mc::TimedStage outer("outer");
  sleep_ms(20);
  mc::TimedStage inner("inner");
  sleep_ms(20);
  const auto snap = timer.snapshot();
  CHECK(find(snap, "outer")->seconds >= 0.019);
  CHECK(find(snap, "outer")->seconds < 0.039);
  CHECK(find(snap, "inner")->seconds >= 0.019);
}
