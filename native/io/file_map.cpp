// Files mapped into memory, for weights read where they lie: mapFile(path, offset, length) maps
// `length` bytes of the file from `offset` privately (copy-on-write: a write changes this process's
// copy, never the file) and returns them as an ArrayBuffer that unmaps itself when collected.
// Pages are read from the file (or the page cache) when first touched, and stay reclaimable: a
// 16 GB checkpoint "loads" at once, and an embedding table costs only the rows a run looks up.
// releaseMappedPages(view) drops this process's pages of a mapped file range (MADV_DONTNEED): the
// file's pages stay in the page cache, and the next touch maps them again (a minor fault per 64 KiB
// or so). The caller vouches that the range was never written -- a private mapping's written pages
// would go back to the file's bytes.
#include "file_map.h"

#include "../runtime/view_pages.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct Mapping {
  void* base;
  size_t length;
};

void unmap(Napi::Env, void*, Mapping* m) {
  munmap(m->base, m->length);
  delete m;
}

}  // namespace

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "mapFile(path, offset, length)");
  }
  const std::string path = info[0].As<Napi::String>();
  const double offsetArg = info[1].As<Napi::Number>().DoubleValue();
  const double lengthArg = info[2].As<Napi::Number>().DoubleValue();
  if (offsetArg < 0 || lengthArg <= 0 || offsetArg != static_cast<double>(static_cast<int64_t>(offsetArg)) || lengthArg != static_cast<double>(static_cast<int64_t>(lengthArg))) {
    throw Napi::RangeError::New(env, "mapFile: offset and length must be whole numbers, length > 0");
  }
  const auto offset = static_cast<off_t>(offsetArg);
  const auto length = static_cast<size_t>(lengthArg);
  // Node 20 aborts on an external ArrayBuffer of 4 GB or more (a double free): refused here, and the caller reads.
  if (length >= (static_cast<size_t>(1) << 32)) throw Napi::RangeError::New(env, "mapFile: ranges of 4 GB or more are not mapped (map it in parts)");
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, "mapFile: cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || offset + static_cast<off_t>(length) > st.st_size) {
    close(fd);
    throw Napi::RangeError::New(env, "mapFile: " + path + " is shorter than the range asked for");
  }
  // mmap wants a page-aligned offset: map from the page holding `offset` and hand out the rest.
  const long page = sysconf(_SC_PAGESIZE);
  const off_t start = offset - offset % page;
  const size_t lead = static_cast<size_t>(offset - start);
  void* base = mmap(nullptr, length + lead, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, start);
  const int mapError = errno;
  close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED) throw Napi::Error::New(env, "mapFile: cannot map " + path + ": " + std::strerror(mapError));
  auto* mapping = new Mapping{base, length + lead};
  return Napi::ArrayBuffer::New(env, static_cast<char*>(base) + lead, length, unmap, mapping);
}

Napi::Value ReleaseMappedPages(const Napi::CallbackInfo& info) {
  // Whole pages inside the view only: a page it shares with a neighbour stays.
  return giftjs::adviseWholePages(info, "releaseMappedPages", giftjs::systemPageBytes(), MADV_DONTNEED);
}
