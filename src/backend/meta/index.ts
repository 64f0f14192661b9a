// The `meta` backend: tensors with shapes and no storage (tinygrad's META device). A model built
// on it is the real module tree -- every parameter with its shape, an adapter attached as it would
// be -- at no memory cost, so sizes (parameter counts, what a command will hold) come from the
// model itself rather than from a second description of each architecture. Nothing can be
// computed or read: every kernel but fill (which has nothing to write) refuses by name.
import type { Backend, BackendMemory, DeviceBuffer } from '../backend.js';
import { refBackend } from '../ref/index.js';
import { GiftjsError } from '../../errors.js';

/** A buffer of the meta space: a length, and whether it stands for bfloat16 bits. */
class MetaBuffer implements DeviceBuffer {
  constructor(readonly length: number, readonly bf16 = false) {}
}

function meta(buffer: DeviceBuffer): MetaBuffer {
  if (buffer instanceof MetaBuffer) return buffer;
  throw new GiftjsError('meta memory: this buffer belongs to another backend (its tensor was created under a different one)');
}

const noValues = (what: string): never => {
  throw new GiftjsError(`the meta backend holds shapes only: ${what} has no values to read`);
};

export const metaMemory: BackendMemory = {
  space: 'meta',
  alloc: (length) => new MetaBuffer(length),
  free: () => {},
  hostView: () => null,
  upload: (buffer) => void meta(buffer), // values given to a meta tensor (a seeded init) are dropped
  download: () => noValues('a tensor'),
  downloadAsync: async () => noValues('a tensor'),
  toBf16: (buffer) => new MetaBuffer(meta(buffer).length, true),
  isBf16: (buffer) => meta(buffer).bf16,
  adoptBf16: (bits) => new MetaBuffer(bits.length, true),
};

function refuse(kernel: string): () => never {
  return () => {
    throw new GiftjsError(`the meta backend holds shapes only: ${kernel} cannot run on it`);
  };
}

/** Every kernel of the Backend interface refusing by name, except fill. */
export const metaBackend: Backend = {
  ...(Object.fromEntries(Object.keys(refBackend).filter((k) => k !== 'name' && k !== 'memory').map((k) => [k, refuse(k)])) as unknown as Backend),
  name: 'meta',
  memory: metaMemory,
  fill: () => {},
};

/**
 * The meta backend for a dry run: every kernel runs and computes nothing (a sum of squares is 0), so a
 * forward and its backward allocate, hold and give back the buffers they would, and the meta pool's
 * peak (BufferPool.peakLiveBytes) is what a step holds at once -- measured on the model itself rather
 * than counted from a second description of it. Nothing is read: a value asked for is refused, as on meta.
 */
export const metaDryRunBackend: Backend = {
  ...(Object.fromEntries(Object.keys(refBackend).filter((k) => k !== 'name' && k !== 'memory').map((k) => [k, () => {}])) as unknown as Backend),
  name: 'meta',
  memory: metaMemory,
  sumOfSquares: () => 0,
};
