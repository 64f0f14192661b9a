// adviseHugePages(view): asks for transparent huge pages under a new buffer before it is first
// written (huge_pages.cpp).
#pragma once
#include <napi.h>

Napi::Value AdviseHugePages(const Napi::CallbackInfo& info);
