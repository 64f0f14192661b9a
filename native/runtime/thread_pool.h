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

namespace giftjs {

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
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)>* task_ = nullptr;
  std::size_t count_ = 0, next_ = 0, finished_ = 0;
  unsigned long generation_ = 0;
  bool stopping_ = false;
};

}  // namespace giftjs
