// discardPages(view): gives the whole pages inside a typed array back to the system now
// (discard_pages.cpp); the view then reads zeros.
#pragma once
#include <napi.h>

Napi::Value DiscardPages(const Napi::CallbackInfo& info);
