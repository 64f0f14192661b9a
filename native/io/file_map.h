// mapFile(path, offset, length): a private, copy-on-write mapping of part of a file (file_map.cpp).
#pragma once
#include <napi.h>

Napi::Value MapFile(const Napi::CallbackInfo& info);
// releaseMappedPages(view): drops this process's pages of a never-written mapped file range (they stay in the page cache).
Napi::Value ReleaseMappedPages(const Napi::CallbackInfo& info);
