// parallelChunks: splits [0, n) into one contiguous chunk per pool thread (fewer when chunks
// would hold under minChunk items) and runs fn(begin, end) on each.
#pragma once
#include <cstddef>

#include "thread_pool.h"

namespace giftjs {

template <typename Fn>
void parallelChunks(std::size_t n, std::size_t minChunk, Fn&& fn) {
  ThreadPool& pool = ThreadPool::instance();
  std::size_t chunks = static_cast<std::size_t>(pool.threads());
  if (minChunk > 0 && n / minChunk < chunks) chunks = n / minChunk;
  if (chunks <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  pool.parallelFor(chunks, [&](std::size_t c) { fn(n * c / chunks, n * (c + 1) / chunks); });
}

}  // namespace giftjs
