// A backend whose buffers the host cannot address: the reference kernels behind opaque boxes.
//
// It stands in for a device backend (WebGPU) in tests: its memory has no host view, download()
// returns a copy (so code that writes into what it read changes nothing), and every kernel call
// refuses a raw Float32Array / Uint16Array where a buffer belongs. A model that trains on it to
// the same bits as on `ref` reaches its values only through the Backend interface and the
// Tensor's host boundaries, which is what a device backend needs of ops/, nn/, models/, peft/ and
// train/.
import type { Backend, BackendMemory, DeviceBuffer, HostValues } from '../backend/backend.js';
import { refBackend } from '../backend/ref/index.js';
import { float32ToBf16 } from '../formats/dtype.js';
import { GiftjsError } from '../errors.js';

class Box implements DeviceBuffer {
  constructor(readonly values: HostValues) {}
  get length(): number {
    return this.values.length;
  }
}

function unbox(buffer: unknown, where: string): HostValues {
  if (buffer instanceof Box) return buffer.values;
  throw new GiftjsError(`boxed backend: ${where} was given ${describe(buffer)} instead of one of its buffers`);
}

function describe(value: unknown): string {
  return value instanceof Float32Array || value instanceof Uint16Array ? `a host ${value.constructor.name}` : String(value);
}

const boxedMemory: BackendMemory = {
  space: 'boxed',
  alloc: (length) => new Box(new Float32Array(length)),
  free: () => {},
  hostView: () => null,
  upload(buffer, values) {
    const dst = unbox(buffer, 'upload');
    if (dst.constructor !== values.constructor || dst.length !== values.length) {
      throw new GiftjsError(`boxed backend: upload of ${values.length} ${values.constructor.name} values into ${dst.length} ${dst.constructor.name}`);
    }
    dst.set(values as never);
  },
  download: (buffer) => unbox(buffer, 'download').slice(),
  downloadAsync: async (buffer) => unbox(buffer, 'downloadAsync').slice(),
  toBf16: (buffer) => new Box(float32ToBf16(unbox(buffer, 'toBf16') as Float32Array)),
  isBf16: (buffer) => unbox(buffer, 'isBf16') instanceof Uint16Array,
};

/** Replaces boxes by their arrays in a kernel's arguments (and in a GEMM's argument object). */
function unboxArgument(value: unknown, where: string): unknown {
  if (value instanceof Box) return value.values;
  if (value instanceof Float32Array || value instanceof Uint16Array) unbox(value, where);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unboxArgument(v, `${where}.${k}`)]));
  }
  return value;
}

/**
 * The ref kernels on boxed memory; `calls` counts kernel invocations by name. With
 * `{ syncReads: false }` the host reads only asynchronously, as from WebGPU: download() and
 * sumOfSquares() refuse, sumOfSquaresInto() leaves the sum in the backend's memory (float32).
 */
export function createBoxedBackend(options: { syncReads?: boolean } = {}): Backend & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const kernels: Record<string, unknown> = {};
  for (const [name, kernel] of Object.entries(refBackend)) {
    if (typeof kernel !== 'function') continue;
    kernels[name] = (...args: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return (kernel as (...a: unknown[]) => unknown)(...args.map((a, i) => unboxArgument(a, `${name} argument ${i}`)));
    };
  }
  const backend: Backend & { calls: Map<string, number> } = { ...(kernels as unknown as Backend), name: 'boxed', memory: boxedMemory, calls };
  if (options.syncReads !== false) return backend;
  const refuse = (what: string) => () => {
    throw new GiftjsError(`boxed backend without synchronous reads: ${what} was called; use readAsync (or sumOfSquaresInto)`);
  };
  return {
    ...backend,
    name: 'boxed-async',
    memory: { ...boxedMemory, download: refuse('download') },
    sumOfSquares: refuse('sumOfSquares'),
    sumOfSquaresInto(buffer, n, result, index) {
      calls.set('sumOfSquaresInto', (calls.get('sumOfSquaresInto') ?? 0) + 1);
      (unbox(result, 'sumOfSquaresInto result') as Float32Array)[index] = refBackend.sumOfSquares(unbox(buffer, 'sumOfSquaresInto') as Float32Array, n);
    },
  };
}
