// Transparent huge pages for a large buffer that is written once and then kept (a quantized weight):
// the whole 2 MiB pages inside a typed array's memory get MADV_HUGEPAGE, so that its first writes
// fault in 2 MiB at a time instead of 4 KiB. Where the kernel makes huge pages only when asked
// (transparent_hugepage "madvise", the common default), the 4 KiB faults had made an int4 load spend
// most of its time making pages: 0.28 GB/s on a virtual machine, 0.41 GB/s asked for huge pages
// (1.7-1.9 GB/s once the process had used huge pages before). The advice changes no value; where it
// is refused (another kernel, huge pages off) the buffer is simply made of small pages.
#include "huge_pages.h"

#include <cstdint>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "adviseHugePages(view)");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  auto view = info[0].As<Napi::TypedArray>();
  const std::uintptr_t huge = std::uintptr_t(2) << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(static_cast<char*>(view.ArrayBuffer().Data()) + view.ByteOffset());
  const std::uintptr_t end = begin + view.ByteLength();
  // Whole huge pages inside the view only: a page it shares with other memory keeps its advice.
  const std::uintptr_t first = (begin + huge - 1) & ~(huge - 1), last = end & ~(huge - 1);
  if (last <= first) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0);
#else
  return Napi::Boolean::New(env, false);
#endif
}
