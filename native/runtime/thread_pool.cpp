#include "thread_pool.h"

#include <cstdlib>

namespace giftjs {

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::ThreadPool() {
  int n = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* env = std::getenv("GIFTJS_NUM_THREADS")) n = std::atoi(env);
  setThreads(n > 0 ? n : 1);
}

ThreadPool::~ThreadPool() { stopWorkers(); }

void ThreadPool::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  stopping_ = false;
}

void ThreadPool::setThreads(int n) {
  if (n < 1) n = 1;
  stopWorkers();
  nThreads_ = n;
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

void ThreadPool::workerLoop(int) {
  unsigned long seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    while (next_ < count_) {
      std::size_t i = next_++;
      lock.unlock();
      (*task_)(i);
      lock.lock();
      if (++finished_ == count_) done_.notify_all();
    }
  }
}

void ThreadPool::parallelFor(std::size_t count, const std::function<void(std::size_t)>& task) {
  if (count == 0) return;
  if (nThreads_ == 1 || count == 1) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  task_ = &task;
  count_ = count;
  next_ = 0;
  finished_ = 0;
  ++generation_;
  wake_.notify_all();
  while (next_ < count_) {
    std::size_t i = next_++;
    lock.unlock();
    task(i);
    lock.lock();
    ++finished_;
  }
  done_.wait(lock, [&] { return finished_ == count_; });
  task_ = nullptr;
  count_ = 0;
}

}  // namespace giftjs
