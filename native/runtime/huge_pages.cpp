// Transparent huge pages for a large buffer that is written once and then kept (a quantized weight):
// the whole 2 MiB pages inside a typed array's memory get MADV_HUGEPAGE, so that its first writes
// fault in 2 MiB at a time instead of 4 KiB. Where the kernel makes huge pages only when asked
// (transparent_hugepage "madvise", the common default), the 4 KiB faults had made an int4 load spend
// most of its time making pages: 0.28 GB/s on a virtual machine, 0.41 GB/s asked for huge pages
// (1.7-1.9 GB/s once the process had used huge pages before). Decoding reads such a weight whole every
// token, and reads it faster from huge pages: the 1B shape's bf16 GEMVs (2.47 GB a token, 2 threads of
// a Zen 4) ran 4-7% faster over buffers made of them than over small pages, in 19 of 20 alternating
// timings; a BF16 file mapped in place was made of them already (the page cache's large folios).
// The advice changes no value; where it is refused (another kernel, huge pages off) the buffer is
// simply made of small pages.
#include "huge_pages.h"

#include "view_pages.h"

Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Whole huge pages inside the view only: a page it shares with other memory keeps its advice.
  return giftjs::adviseWholePages(info, "adviseHugePages", std::uintptr_t(2) << 20, MADV_HUGEPAGE);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}
