// Transparent huge pages under a large new buffer that is written once and kept (a frozen weight made
// in new memory: quantized, rounded to bfloat16): native/runtime/huge_pages.cpp says why. Given before
// the buffer's first write, where the pages are made. The advice changes no value; false where the
// addon is not built, the kernel refuses, or the view holds no whole 2 MiB page.
import { loadAddon } from './native/binding.js';
import { environmentSwitch } from '../environment.js';
import { emptyQuantized, type QuantFormat, type QuantizedMatrix } from '../formats/quantized.js';

export function adviseHugePages(view: ArrayBufferView): boolean {
  if (!environmentSwitch('GIFTJS_HUGE_PAGES')) return false;
  return loadAddon().addon?.adviseHugePages?.(view) ?? false;
}

/** New memory for a frozen weight's `length` bfloat16 or float16 bits, asked for huge pages before anything is written. */
export function frozenWeightHalves(length: number): Uint16Array {
  const bits = new Uint16Array(length);
  adviseHugePages(bits);
  return bits;
}

/** A new quantized matrix for a frozen weight (emptyQuantized), its codes asked for huge pages before anything is written. */
export function frozenWeightQuantized(format: QuantFormat, rows: number, cols: number, group?: number): QuantizedMatrix {
  const q = emptyQuantized(format, rows, cols, group);
  adviseHugePages(q.codes);
  return q;
}
