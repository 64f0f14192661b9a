// A small persistent thread pool. Kernels split work into `count` independent tasks and call
// parallelFor; the calling thread takes part, so one thread means no synchronisation at all.
// Workers sleep on a condition variable between jobs (no busy-waiting while JavaScript runs).
#pragma once
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <pthread.h>
#endif

namespace giftjs {

#if defined(__linux__)
// A condition variable on pthread's. GCC 12 moved std::condition_variable::wait to a new
// libstdc++ symbol (GLIBCXX_3.4.30), which would make the prebuilt addon refuse to load on
// distributions with an older C++ runtime; pthread_cond_wait needs only glibc.
class Condition {
 public:
  Condition() { pthread_cond_init(&cond_, nullptr); }
  ~Condition() { pthread_cond_destroy(&cond_); }
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;
  template <class Predicate>
  void wait(std::unique_lock<std::mutex>& lock, Predicate ready) {
    while (!ready()) pthread_cond_wait(&cond_, lock.mutex()->native_handle());
  }
  void notify_all() { pthread_cond_broadcast(&cond_); }

 private:
  pthread_cond_t cond_;
};
#else
using Condition = std::condition_variable;
#endif

class ThreadPool {
 public:
  static ThreadPool& instance();
  // Sets the number of threads used by kernels (>= 1); restarts the workers.
  void setThreads(int n);
  int threads() const { return nThreads_; }
  // Runs task(i) for i in [0, count) across the pool and returns when all have finished.
  void parallelFor(std::size_t count, const std::function<void(std::size_t)>& task);
  ~ThreadPool();

 private:
  ThreadPool();
  void stopWorkers();
  void workerLoop(int id);

  int nThreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  Condition wake_, done_;
  const std::function<void(std::size_t)>* task_ = nullptr;
  std::size_t count_ = 0, next_ = 0, finished_ = 0;
  unsigned long generation_ = 0;
  bool stopping_ = false;
};

}  // namespace giftjs
