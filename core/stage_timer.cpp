#include "core/stage_timer.h"

#include <sys/resource.h>

namespace mc {

namespace {
thread_local StageTimer* current_timer = nullptr;
}

StageTimer::StageTimer() : start_(Clock::now()) {}

StageTimer::Install::Install(StageTimer& timer) : previous_(current_timer) { current_timer = &timer; }
StageTimer::Install::~Install() { current_timer = previous_; }
StageTimer* StageTimer::current() { return current_timer; }

void StageTimer::begin(const std::string& name) {
  size_t index = 0;
  while (index < stages_.size() && stages_[index].name != name) ++index;
  if (index == stages_.size()) stages_.push_back(Stage{name, 0, 0});
  ++stages_[index].count;
  open_.push_back(Open{index, Clock::now(), 0});
}

void StageTimer::end() {
  if (open_.empty()) return;
  const Open o = open_.back();
  open_.pop_back();
  const double elapsed = std::chrono::duration<double>(Clock::now() - o.start).count();
  stages_[o.stage].seconds += elapsed - o.children;
  if (!open_.empty()) open_.back().children += elapsed;
}

StageTimer::Snapshot StageTimer::snapshot() const {
  Snapshot snap;
  std::vector<Stage>& out = snap.stages;
  out = stages_;
  // Stages still open (stages() called inside one) count up to now.
  const Clock::time_point now = Clock::now();
  double nested = 0;
  for (size_t i = open_.size(); i-- > 0;) {
    const double elapsed = std::chrono::duration<double>(now - open_[i].start).count();
    out[open_[i].stage].seconds += elapsed - open_[i].children - nested;
    nested = elapsed;
  }
  double accounted = 0;
  for (const auto& s : out) accounted += s.seconds;
  snap.total_seconds = std::chrono::duration<double>(now - start_).count();
  const double rest = snap.total_seconds - accounted;
  out.push_back(Stage{"other", rest > 0 ? rest : 0, 1});
  snap.peak_rss_bytes = peak_rss_bytes();
  return snap;
}

TimedStage::TimedStage(const std::string& name) : timer_(StageTimer::current()) {
  if (timer_) timer_->begin(name);
}
TimedStage::~TimedStage() {
  if (timer_) timer_->end();
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
}

}  // namespace mc
