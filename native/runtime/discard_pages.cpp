// Pages given back at once: a buffer the pool stops keeping (src/tensor/memory.ts) is JavaScript
// memory, freed only when the garbage collector gets round to it, so the pages of every buffer
// dropped during a step would stay resident until then and the step's peak would hold both the old
// buffers and their replacements. MADV_DONTNEED on the whole pages inside the view returns them
// now, as free() returns a large block in C; the view stays valid and reads zeros (a new page on the
// next touch). Only for memory whose values nobody wants: anonymous memory, never a file's mapping
// (there it would bring back the file's bytes -- releaseMappedPages is that case).
#include "discard_pages.h"

#include "view_pages.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

Napi::Value DiscardPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "discardPages(view)");
#if defined(__linux__) && defined(MADV_DONTNEED)
  // Whole pages inside the view only: a page it shares with other memory keeps its values.
  const giftjs::WholePages pages = giftjs::wholePagesInside(info[0].As<Napi::TypedArray>(), static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE)));
  if (pages.bytes == 0) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, madvise(pages.first, pages.bytes, MADV_DONTNEED) == 0);
#else
  return Napi::Boolean::New(env, false);
#endif
}
