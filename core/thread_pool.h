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
  void worker_loop(int self);
  // Runs participant `self`'s share of the indices front to back, `chunk` at a time, then helps
  // with the others' shares until none are left.
  void run_tasks(const std::function<void(int64_t)>& task, int self, int64_t chunk);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // One participant's share of the current loop: indices [next, end), claimed lock-free.
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  // The current loop, valid while task_ is set (guarded by mutex_; shares_ are claimed lock-free).
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t chunk_ = 1;
  std::vector<Share> shares_;  // one per participant: the caller (0) and each worker (1...)
  std::atomic<uint64_t> generation_{0};  // bumped for every loop and at shutdown
  std::atomic<int> busy_{0};              // workers inside run_tasks (changed under mutex_)
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace mc
