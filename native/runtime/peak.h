// The machine's limits, measured on the thread pool: what `gift bench peak` prints and the other
// benchmarks divide their rates by.
#pragma once

#include <cstddef>

namespace giftjs {

struct MachinePeak {
  double f32Gflops = 0;   // register-only float32 FMA chains
  double bf16Gflops = 0;  // register-only bf16 dot products (vdpbf16ps); 0 where the CPU has none
  double amxGflops = 0;   // AMX tile bf16 dot products (tdpbf16ps); 0 where the CPU or OS offers none
  double streamGBs = 0;   // reading a buffer far larger than the caches
  double firstTouchGBs = 0;  // writing that buffer's new pages the first time (page faults)
  int threads = 0;
  const char* isa = "";   // the instructions the FMA loops ran on
};

// Each figure the best of a few timings of about `seconds` / 16 each, in two alternating rounds;
// `streamBytes` of memory read.
MachinePeak measurePeak(double seconds, std::size_t streamBytes);

// The memory stream of measurePeak alone (its streamGBs): a benchmark times it beside each round of
// its own timed work, in the same minute, where the machine's share of memory drifts between minutes.
double measureStream(std::size_t streamBytes);

}  // namespace giftjs
