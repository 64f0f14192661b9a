// The whole pages inside a typed array's memory, for advice given page by page (madvise): a page the
// view shares with other memory is left out, so the advice never reaches what the view does not own.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif

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

/** The system's page size in bytes (4096 where it cannot be asked). */
inline std::uintptr_t systemPageBytes() {
#if defined(__unix__) || defined(__APPLE__)
  return static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
#else
  return 4096;
#endif
}

/**
 * madvise(advice) on the whole pages of `pageBytes` inside the one typed array the call was given
 * (`call` names the function in the error another argument gets); false where no page lies wholly
 * inside it or the kernel refuses. The callers decide where the advice exists at all.
 */
inline Napi::Value adviseWholePages(const Napi::CallbackInfo& info, const char* call, std::uintptr_t pageBytes, int advice) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, std::string(call) + "(view)");
  const WholePages pages = wholePagesInside(info[0].As<Napi::TypedArray>(), pageBytes);
  if (pages.bytes == 0) return Napi::Boolean::New(env, false);
#if defined(__unix__) || defined(__APPLE__)
  return Napi::Boolean::New(env, madvise(pages.first, pages.bytes, advice) == 0);
#else
  (void)advice;
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace giftjs
