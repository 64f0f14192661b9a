// The whole pages inside a typed array's memory, for advice given page by page (madvise): a page the
// view shares with other memory is left out, so the advice never reaches what the view does not own.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace giftjs {

struct WholePages {
  char* first = nullptr;
  std::size_t bytes = 0;  // 0 where no page of `pageBytes` lies wholly inside the view
};

inline WholePages wholePagesInside(const Napi::TypedArray& view, std::uintptr_t pageBytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(static_cast<char*>(view.ArrayBuffer().Data()) + view.ByteOffset());
  const std::uintptr_t end = begin + view.ByteLength();
  const std::uintptr_t first = (begin + pageBytes - 1) / pageBytes * pageBytes, last = end / pageBytes * pageBytes;
  if (last <= first) return {};
  return {reinterpret_cast<char*>(first), static_cast<std::size_t>(last - first)};
}

}  // namespace giftjs
