// Where the time goes: wall seconds per named stage of one command (reading the model, calibration
// statistics, each pass, budget probes, writing, evaluation), printed by `compress --verbose` and
// `profile --verbose` and stored under `timing` in `compress --json` (docs/KEYS.md).
//
// A command creates one StageTimer and installs it (StageTimer::Install) on the thread that runs
// the work; code anywhere below marks a stage with a TimedStage scope, which does nothing when no
// timer is installed on its thread (thread pool workers never see one). Stages nest: a stage's
// seconds are its exclusive time (a pass that computes calibration statistics is charged only for
// what is not the statistics), so the stages and "other" add up to the total.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace mc {

class StageTimer {
 public:
  struct Stage {
    std::string name;
    double seconds = 0;  // exclusive wall time, summed over every entry
    int64_t count = 0;   // how many times the stage was entered
  };

  StageTimer();  // the total clock starts here

  // Installs `timer` as the current thread's timer for the lifetime of this object.
  class Install {
   public:
    explicit Install(StageTimer& timer);
    ~Install();
    Install(const Install&) = delete;
    Install& operator=(const Install&) = delete;

   private:
    StageTimer* previous_;
  };
  static StageTimer* current();

  void begin(const std::string& name);
  void end();

  // Measured now: the stages in the order first entered, then "other" (total minus every stage),
  // the total wall seconds since construction, and the process's peak resident memory.
  struct Snapshot {
    std::vector<Stage> stages;
    double total_seconds = 0;
    int64_t peak_rss_bytes = 0;
  };
  Snapshot snapshot() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Open {
    size_t stage;
    Clock::time_point start;
    double children = 0;  // seconds spent in nested stages
  };
  Clock::time_point start_;
  std::vector<Stage> stages_;
  std::vector<Open> open_;
};

// Marks a stage for the lifetime of the object on the current thread's timer; no-op without one.
class TimedStage {
 public:
  explicit TimedStage(const std::string& name);
  ~TimedStage();
  TimedStage(const TimedStage&) = delete;
  TimedStage& operator=(const TimedStage&) = delete;

 private:
  StageTimer* timer_;
};

// The process's peak resident set size in bytes so far (getrusage ru_maxrss), 0 if unknown.
int64_t peak_rss_bytes();

}  // namespace mc
