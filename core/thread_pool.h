// A fixed pool of worker threads running index-parallel loops. Work is split into tasks whose
// boundaries never depend on the number of threads, so results are bit-identical at any
// --threads value (each task computes its outputs alone, in a fixed order). Which thread runs
// which task is decided at run time and does not matter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
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
  // Exceptions thrown by a task are rethrown here (the first one caught). A parallel_for called
  // from inside a task runs serially on the calling thread.
  void parallel_for(int64_t count, const std::function<void(int64_t)>& task);

  static int default_threads();

 private:
  void worker_loop();
  // Claims indices from next_ (`chunk` at a time) and runs them until none are left.
  void run_tasks(const std::function<void(int64_t)>& task, int64_t count, int64_t chunk);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The current loop, valid while task_ is set (guarded by mutex_; next_ is claimed lock-free).
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  int64_t chunk_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> generation_{0};  // bumped for every loop and at shutdown
  std::atomic<int> busy_{0};              // workers inside run_tasks (changed under mutex_)
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace mc
