// Host memory: the memory of the CPU backends (ref and native). A buffer is a Float32Array (or
// the Uint16Array of a bfloat16 weight's bits) that the kernels address directly, so every host
// boundary (hostView, download) is the buffer itself and costs nothing.
import type { BackendMemory, DeviceBuffer, HostValues } from './backend.js';
import { float32ToBf16 } from '../formats/dtype.js';
import { GiftjsError } from '../errors.js';
import { QuantizedMatrix } from '../formats/quantized.js';
import { loadAddon } from './native/binding.js';
import { frozenWeightHalves } from './huge_pages.js';

function asHost(buffer: DeviceBuffer): HostValues {
  if (buffer instanceof Float32Array || buffer instanceof Uint16Array) return buffer;
  if (buffer instanceof QuantizedMatrix) throw new GiftjsError(`host memory: this buffer holds a ${buffer.format} weight, which only the GEMM and the embedding read; dequantize it first`);
  throw new GiftjsError('host memory: this buffer belongs to another backend (its tensor was created under a different one)');
}

export const hostMemory: BackendMemory = {
  space: 'host',
  alloc: (length) => new Float32Array(length),
  free: () => {},
  // The pages go back at once through the addon where it is built (native/runtime/discard_pages.cpp);
  // without it they wait for the garbage collector, as free's do.
  discard: (buffer) => void loadAddon().addon?.discardPages?.(asHost(buffer)),
  prefix(buffer, length) {
    const whole = asHost(buffer);
    if (!(whole instanceof Float32Array) || length > whole.length) throw new GiftjsError(`host memory: no prefix of ${length} values in a buffer of ${whole.length}`);
    return new Float32Array(whole.buffer, whole.byteOffset, length);
  },
  hostView: asHost,
  upload(buffer, values) {
    const dst = asHost(buffer);
    if (dst.constructor !== values.constructor || dst.length !== values.length) {
      throw new GiftjsError(`host memory: cannot copy ${values.length} values of another type into a buffer of ${dst.length}`);
    }
    if (dst !== values) dst.set(values as never);
  },
  download: asHost,
  downloadAsync: async (buffer) => asHost(buffer),
  toBf16(buffer) {
    const src = asHost(buffer);
    if (!(src instanceof Float32Array)) throw new GiftjsError('host memory: the buffer is bfloat16 already');
    // A frozen weight's new home for the rest of the run, read whole by every decoding step.
    return float32ToBf16(src, frozenWeightHalves(src.length));
  },
  isBf16: (buffer) => !(buffer instanceof QuantizedMatrix) && asHost(buffer) instanceof Uint16Array,
  adoptBf16: (bits) => bits,
  adoptQuantized: (q) => q,
  quantizedOf: (buffer) => (buffer instanceof QuantizedMatrix ? buffer : null),
};
