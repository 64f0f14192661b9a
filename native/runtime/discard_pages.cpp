// Pages given back at once: a buffer the pool stops keeping (src/tensor/memory.ts) is JavaScript
// memory, freed only when the garbage collector gets round to it, so the pages of every buffer
// dropped during a step would stay resident until then and the step's peak would hold both the old
// buffers and their replacements. MADV_DONTNEED on the whole pages inside the view returns them
// now, as free() returns a large block in C; the view stays valid and reads zeros (a new page on the
// next touch). Only for memory whose values nobody wants: anonymous memory, never a file's mapping
// (there it would bring back the file's bytes -- releaseMappedPages is that case).
#include "discard_pages.h"

#include "view_pages.h"

Napi::Value DiscardPages(const Napi::CallbackInfo& info) {
#if defined(__linux__) && defined(MADV_DONTNEED)
  return giftjs::adviseWholePages(info, "discardPages", giftjs::systemPageBytes(), MADV_DONTNEED);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}
