#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace mc {

namespace {

// Set while the thread runs a task, so a nested parallel_for runs inline instead of re-entering
// the pool (which would wait on itself).
thread_local bool inside_task = false;

// How long an idle worker polls for the next loop, and the caller for the last worker to finish,
// before sleeping: an executor issues one loop per layer, and waking a sleeping thread costs tens
// of microseconds.
constexpr auto idle_spin = std::chrono::microseconds(50);

}  // namespace

int ThreadPool::default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) : shares_(static_cast<size_t>(threads <= 0 ? default_threads() : threads)) {
  for (int i = 1; i < static_cast<int>(shares_.size()); ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_tasks(const std::function<void(int64_t)>& task, int self, int64_t chunk) {
  const bool was_inside = inside_task;
  inside_task = true;
  const int participants = size();
  for (int k = 0; k < participants; ++k) {
    Share& share = shares_[static_cast<size_t>((self + k) % participants)];
    for (;;) {
      const int64_t begin = share.next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= share.end) break;
      const int64_t end = std::min(share.end, begin + chunk);
      for (int64_t i = begin; i < end; ++i) {
        try {
          task(i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (!error_) error_ = std::current_exception();
        }
      }
    }
  }
  inside_task = was_inside;
}

void ThreadPool::worker_loop(int self) {
  uint64_t seen = 0;
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + idle_spin;
    while (generation_.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < spin_until)
      std::this_thread::yield();
    const std::function<void(int64_t)>* task;
    int64_t chunk;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      // A loop that already finished (its caller cleared task_) or none at all: nothing to join.
      if (!task_) continue;
      task = task_;
      chunk = chunk_;
      busy_.fetch_add(1, std::memory_order_relaxed);
    }
    run_tasks(*task, self, chunk);
    bool last;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last = busy_.fetch_sub(1, std::memory_order_release) == 1;
    }
    if (last) done_.notify_all();
  }
}

void ThreadPool::parallel_for(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  if (workers_.empty() || count == 1 || inside_task) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  // Each participant owns a contiguous share of the indices and runs it first: kernels number their
  // tasks image by image (and a plane's positions in order), so with the same share in every layer
  // a thread mostly reads what it wrote itself, from its own cache. Whoever finishes early helps
  // with the others' shares. Claiming several indices at once keeps the counters cold on long
  // loops of small tasks. All of this changes only which thread runs a task, never what a task
  // computes.
  const int64_t participants = size();
  const int64_t chunk = std::max<int64_t>(1, count / (participants * 16));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    chunk_ = chunk;
    for (int64_t p = 0; p < participants; ++p) {
      shares_[static_cast<size_t>(p)].next.store(p * count / participants, std::memory_order_relaxed);
      shares_[static_cast<size_t>(p)].end = (p + 1) * count / participants;
    }
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(task, 0, chunk);
  const auto spin_until = std::chrono::steady_clock::now() + idle_spin;
  while (busy_.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() < spin_until)
    std::this_thread::yield();
  std::exception_ptr error;
  {
    // Every index is claimed; wait for the workers still running theirs, then retire the loop so
    // a late-waking worker does not touch `task` after it goes out of scope.
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_.load(std::memory_order_relaxed) == 0; });
    task_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mc
