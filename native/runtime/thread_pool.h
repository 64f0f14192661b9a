// A small persistent thread pool. Kernels split work into `count` independent tasks and call
// parallelFor; the calling thread takes part, so one thread means no synchronisation at all.
// After a job, workers spin for a short while (a training step issues thousands of jobs, a few
// microseconds of JavaScript apart) and then sleep on a condition variable, so an idle process
// burns no CPU: waking a sleeping thread costs tens of microseconds on every job otherwise.
#pragma once
#include <atomic>
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
  // Runs task(i) for i in [0, count) across the pool and returns when all have finished. A call
  // made while another is running (from another thread, or from inside a task) runs serially.
  void parallelFor(std::size_t count, const std::function<void(std::size_t)>& task);
  ~ThreadPool();

 private:
  // One parallelFor: lives on the caller's stack; workers reach it through job_ only while the
  // caller waits (see parallelFor).
  struct Job {
    const std::function<void(std::size_t)>* task;
    std::size_t count;
    std::atomic<std::size_t> next{0}, finished{0};
  };

  ThreadPool();
  void stopWorkers();
  // Counts n threads, the caller's and n - 1 workers started here (none running before).
  void startWorkers(int n);
  void workerLoop(int id);
  static void runShare(Job& job);

  int nThreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  Condition wake_;
  std::atomic<Job*> job_{nullptr};
  std::atomic<unsigned long> generation_{0};
  std::atomic<int> active_{0}, sleepers_{0};
  std::atomic<bool> busy_{false}, stopping_{false};
};

}  // namespace giftjs
