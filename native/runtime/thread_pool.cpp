#include "thread_pool.h"

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace giftjs {

namespace {

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long a worker keeps looking for the next job before it sleeps.
constexpr auto kSpin = std::chrono::microseconds(300);

}  // namespace

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
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  stopping_.store(false);
}

void ThreadPool::setThreads(int n) {
  if (n < 1) n = 1;
  const int before = nThreads_;
  stopWorkers();
  try {
    startWorkers(n);
  } catch (const std::system_error& e) {
    // The system would not start that many (a process or memory limit): back to the count before,
    // and the caller told, not the process ended by an uncaught exception.
    const std::size_t started = workers_.size() + 1;
    stopWorkers();
    startWorkers(before);
    throw std::runtime_error("could not start " + std::to_string(n) + " threads (" + std::to_string(started) + " started: " + e.what() +
                             "); the pool keeps " + std::to_string(before));
  }
}

void ThreadPool::startWorkers(int n) {
  nThreads_ = n;
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

void ThreadPool::runShare(Job& job) {
  for (std::size_t i; (i = job.next.fetch_add(1)) < job.count;) {
    (*job.task)(i);
    job.finished.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::workerLoop(int) {
  unsigned long seen = generation_.load();
  for (;;) {
    // Wait for a new generation: spin first, then sleep until parallelFor (or stopping) wakes us.
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int spins = 0; generation_.load() == seen && !stopping_.load(); ++spins) {
      cpuRelax();
      if ((spins & 255) == 255 && std::chrono::steady_clock::now() > until) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        break;
      }
    }
    if (stopping_.load()) return;
    seen = generation_.load();
    // Announce ourselves before looking at the job, so that the caller does not return (and free
    // the job on its stack) while we might still touch it.
    active_.fetch_add(1);
    if (Job* job = job_.load()) runShare(*job);
    active_.fetch_sub(1);
  }
}

void ThreadPool::parallelFor(std::size_t count, const std::function<void(std::size_t)>& task) {
  if (count == 0) return;
  bool expected = false;
  if (nThreads_ == 1 || count == 1 || !busy_.compare_exchange_strong(expected, true)) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  Job job;
  job.task = &task;
  job.count = count;
  job_.store(&job);
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    // Taking the mutex orders this wake-up after a sleeper's check of the generation.
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  runShare(job);
  while (job.finished.load(std::memory_order_acquire) != count) cpuRelax();
  // No worker may reach the job once it is withdrawn; wait for those that already did.
  job_.store(nullptr);
  while (active_.load() != 0) cpuRelax();
  busy_.store(false);
}

}  // namespace giftjs
