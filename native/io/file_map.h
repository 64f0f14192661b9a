// mapFile(path, offset, length): a private, copy-on-write mapping of part of a file (file_map.cpp).
#pragma once
#include <napi.h>

Napi::Value MapFile(const Napi::CallbackInfo& info);
