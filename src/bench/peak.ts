// The machine's limits, measured in this process on the native threads (native/runtime/peak.cpp):
// register-only FMA chains in float32 and, where the CPU has them, bf16 dot products; and a memory
// stream. `gift bench peak` prints them, and the other benchmarks print their rates as a fraction of them.
import { nativeAddon } from '../backend/index.js';
import type { Module } from '../nn/module.js';

export interface MachinePeak {
  f32Gflops: number;
  /** null where the CPU has no bf16 dot products (AVX-512 BF16). */
  bf16Gflops: number | null;
  /** null where the CPU or OS offers no AMX tiles: what bf16 compute runs on where it does. */
  amxGflops: number | null;
  streamGBs: number;
  /**
   * Writing the stream's buffer the first time, its new pages made as touched: what a load pays per
   * byte it keeps (a virtual machine whose host backs guest memory only when touched: 0.3-0.6 GB/s).
   */
  firstTouchGBs: number;
  threads: number;
  /** The instructions the FMA loops ran on: avx512, avx2 or portable. */
  isa: string;
}

/** Bytes the stream reads: far past any cache, as decoding reads a model's weights. */
const STREAM_BYTES = 512 * 1024 * 1024;

let measured: { threads: number; peak: MachinePeak } | null = null;

/**
 * The peak on the current thread count (measured once per count, ~2 s), or null without the native
 * kernels. With `again`, measured once more and each figure the best of all this process measured on
 * this count: on a shared virtual machine a neighbour now and then halves the stream for a minute, and a
 * rate timed outside that minute then read as more than the limit (1.12 of the stream, once). A
 * benchmark measures before its timed work and again after it.
 */
export function machinePeak(seconds = 2, again = false): MachinePeak | null {
  const addon = nativeAddon();
  if (!addon?.measurePeak) return null;
  const threads = addon.getThreads();
  if (measured?.threads !== threads) {
    measured = { threads, peak: addon.measurePeak(seconds, STREAM_BYTES) };
  } else if (again) {
    const now = addon.measurePeak(seconds, STREAM_BYTES);
    const was = measured.peak;
    measured.peak = {
      ...was,
      f32Gflops: Math.max(was.f32Gflops, now.f32Gflops),
      bf16Gflops: was.bf16Gflops === null || now.bf16Gflops === null ? null : Math.max(was.bf16Gflops, now.bf16Gflops),
      amxGflops: was.amxGflops === null || now.amxGflops === null ? null : Math.max(was.amxGflops, now.amxGflops),
      streamGBs: Math.max(was.streamGBs, now.streamGBs),
      firstTouchGBs: Math.max(was.firstTouchGBs, now.firstTouchGBs),
    };
  }
  return measured.peak;
}

/**
 * The memory stream alone, measured now (GB/s; null without the native kernels): what a benchmark
 * times beside each round of its own work, so that each round's rate meets the limit of its minute.
 */
export function streamNow(): number | null {
  return nativeAddon()?.measureStream?.(STREAM_BYTES) ?? null;
}

export function describePeak(p: MachinePeak): string {
  return [
    `f32 FMA peak: ${p.f32Gflops.toFixed(1)} GFLOP/s (register-only ${p.isa} FMA chains, ${p.threads} threads)`,
    p.bf16Gflops === null ? 'bf16 dot-product peak: none (this CPU has no AVX-512 BF16)' : `bf16 dot-product peak: ${p.bf16Gflops.toFixed(1)} GFLOP/s (vdpbf16ps chains)`,
    ...(p.amxGflops === null ? [] : [`bf16 AMX tile peak: ${p.amxGflops.toFixed(1)} GFLOP/s (tdpbf16ps on four tiles; bf16 compute runs on them here)`]),
    `memory stream: ${p.streamGBs.toFixed(1)} GB/s (reading ${STREAM_BYTES / 2 ** 20} MiB)`,
    `new memory: ${p.firstTouchGBs.toFixed(2)} GB/s (writing those ${STREAM_BYTES / 2 ** 20} MiB the first time, each page made as touched: what loading pays per byte it keeps)`,
  ].join('\n');
}

/**
 * The bytes a decoding step reads from a model's weights: every matrix and vector as held (quantized,
 * bfloat16 or float32), less an untied embedding, of which a token reads one row.
 */
export function weightBytesPerToken(model: Module): number {
  let bytes = 0;
  const params = model.namedParameters();
  const untied = params.some(([n]) => n === 'lm_head.weight');
  for (const [name, p] of params) {
    if (untied && name.endsWith('embed_tokens.weight')) continue;
    bytes += p.quantized ? p.quantized.bytes : p.size * (p.dtype === 'float32' ? 4 : 2);
  }
  return bytes;
}
