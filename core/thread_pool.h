// A fixed pool of worker threads running index-parallel loops. Work is split into tasks whose
// boundaries never depend on the number of threads, so results are bit-identical at any
// --threads value (each task computes its outputs alone, in a fixed order).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mc {

class ThreadPool {
 public:
  // threads <= 0 means "all cores".
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls task(i) for every i in [0, count), spread over the pool; the caller's thread helps.
  // Exceptions thrown by a task are rethrown here (the first one).
  void parallel_for(int64_t count, const std::function<void(int64_t)>& task);

  static int default_threads();

 private:
  void worker_loop();
  void run_tasks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  int64_t next_ = 0;
  int64_t finished_ = 0;
  uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace mc
