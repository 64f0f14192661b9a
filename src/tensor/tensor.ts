// The Tensor: a shape, a buffer owned by the current backend (shared between views through a
// reference count, so that reshape never copies), and the autograd fields (requiresGrad, grad,
// gradFn). Kernels receive `buffer`; the host reaches the values only through the boundaries
// below (read, assign, writeHost), which cost nothing in the CPU backends' host memory.

import { runBackward, valuesDeferred, type GradNode } from './autograd.js';
import { bf16ToFloat32, float16ToFloat32, float32ToBf16, float32ToFloat16, type StorageDType } from '../formats/dtype.js';
import { keep, poolFor, trackInScope, type BufferPool } from './memory.js';
import { assertFormat, notQuantizable, quantizeReference, QuantizedMatrix, QUANT_FORMATS, type MatrixFormat, type QuantFormat } from '../formats/quantized.js';
import { Random } from './random.js';
import { assertValidShape, shapeString, sizeOf, type Shape } from './shape.js';
import type { BackendMemory, DeviceBuffer } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { frozenWeightQuantized } from '../backend/huge_pages.js';
import { GiftjsError } from '../errors.js';

/**
 * A buffer shared by the tensors that view it: float32 values (returned to its pool at zero
 * references when it came from one), or the bfloat16 bits of a frozen weight stored at half size.
 */
class Storage {
  refs = 1;
  private held: DeviceBuffer | null;
  constructor(
    buffer: DeviceBuffer | null,
    readonly memory: BackendMemory,
    /** The pool the buffer returns to, or null for a wrapped host array. */
    public pool: BufferPool | null,
    /**
     * With no buffer: this many values allocated from the pool at their first use, fresh zeros, or
     * what `compute` writes into them (a deferred value: Tensor.computedBy).
     */
    private readonly deferredLength = 0,
    private compute: ((out: DeviceBuffer) => void) | null = null,
  ) {
    this.held = buffer;
  }

  get buffer(): DeviceBuffer {
    if (this.held) return this.held;
    const compute = this.compute;
    if (!compute) return (this.held = this.pool!.acquireZeroed(this.deferredLength));
    const out = this.pool!.acquire(this.deferredLength);
    try {
      compute(out);
    } catch (e) {
      this.pool!.release(out);
      throw e;
    }
    this.compute = null;
    return (this.held = out);
  }

  set buffer(buffer: DeviceBuffer) {
    this.held = buffer;
  }

  /** A deferred value not computed yet. */
  get pending(): boolean {
    return this.held === null && this.compute !== null;
  }

  /** False for deferred zeros never used (a parameter whose checkpoint values replaced them unread). */
  get allocated(): boolean {
    return this.held !== null;
  }
}

export type TensorDType = 'float32' | 'bfloat16' | MatrixFormat;

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  /** True when gradients flow to or through this tensor. Parameters set it; ops propagate it. */
  requiresGrad = false;
  /** The accumulated gradient of a leaf tensor (a parameter) after backward(). */
  grad: Tensor | null = null;
  /** How this tensor was computed, when it needs a gradient; null for leaves. */
  gradFn: GradNode | null = null;
  /** An optional name, used in error messages (parameters carry their module path). */
  name: string | undefined;
  /**
   * True once a recorded backward will read this tensor's values (autograd's record sets it): a
   * layer's scope (releasingUnread) gives back the buffers of the tensors it made that stay false.
   */
  valueNeeded = false;
  /**
   * Recorded backwards that read this tensor's values and have not run yet (autograd's record counts
   * them up, runBackward down); Infinity once markValueNeeded says an undeclared backward reads it.
   */
  pendingReads = 0;
  /**
   * Set by a layer's scope (releasingUnread) on the tensors it made, did not return, and a backward
   * reads: runBackward gives back their buffers when pendingReads reaches 0.
   */
  releaseWhenRead = false;
  private storage: Storage | null;

  /**
   * Wraps host values: exactly sizeOf(shape) floats, owned by the tensor from now on (in host
   * memory the array becomes the tensor's buffer; a device backend copies it).
   */
  constructor(data: Float32Array, shape: Shape);
  constructor(data: Float32Array | null, shape: Shape, storage: Storage);
  constructor(data: Float32Array | null, shape: Shape, storage?: Storage) {
    assertValidShape(shape);
    const size = sizeOf(shape);
    this.shape = Object.freeze(shape.slice());
    this.size = size;
    if (storage) {
      this.storage = storage;
    } else {
      if (!data || data.length !== size) {
        throw new GiftjsError(`Tensor: ${data?.length ?? 0} values cannot have shape ${shapeString(shape)} (${size} values)`);
      }
      const memory = getBackend().memory;
      if (memory.hostView(data) === data) {
        this.storage = new Storage(data, memory, null);
      } else {
        const pool = poolFor(memory);
        const buffer = pool.acquire(size);
        memory.upload(buffer, data);
        this.storage = new Storage(buffer, memory, pool);
      }
    }
    trackInScope(this);
  }

  /** A new tensor with a pooled, uninitialised buffer of the current backend: every op writes all of it. */
  static empty(shape: Shape): Tensor {
    assertValidShape(shape);
    const memory = getBackend().memory;
    const pool = poolFor(memory);
    return new Tensor(null, shape, new Storage(pool.acquire(sizeOf(shape)), memory, pool));
  }

  /**
   * An op's output, float32 values that `compute` writes into its buffer, all of them. Computed now,
   * except inside valuesDeferred() (a checkpointed layer's recomputation): then at the first read of
   * the buffer, which for the layer's last projection and residual sum never comes (their backward
   * reads no values, and the layer's output is already known), so that work is skipped. compute
   * must reach its inputs through their tensors, not buffers taken early: an input given back since
   * (releasingUnread) then throws when read instead of reading a reused buffer. A backward that will
   * read a deferred value computes it when it records (autograd's record), while its inputs live.
   */
  static computedBy(shape: Shape, compute: (out: DeviceBuffer) => void): Tensor {
    if (!valuesDeferred()) {
      const t = Tensor.empty(shape);
      compute(t.buffer);
      return t;
    }
    assertValidShape(shape);
    const memory = getBackend().memory;
    return new Tensor(null, shape, new Storage(null, memory, poolFor(memory), sizeOf(shape), compute));
  }

  /** Computes a deferred value now (Tensor.computedBy); nothing for any other tensor. */
  computeDeferred(): void {
    if (this.storage?.pending) void this.storage.buffer;
  }

  static zeros(shape: Shape): Tensor {
    return Tensor.full(shape, 0);
  }

  static full(shape: Shape, value: number): Tensor {
    const t = Tensor.empty(shape);
    getBackend().fill(t.buffer, value, t.size);
    return t;
  }

  /**
   * Zeros in freshly allocated memory, written by no one: a parameter built to be filled from a
   * checkpoint touches none of its memory (an 8B model's 32 GB of float32 zeros would be resident
   * before the first weight is read), and a bfloat16 weight that replaces it never costs float32.
   */
  static freshZeros(shape: Shape): Tensor {
    assertValidShape(shape);
    const memory = getBackend().memory;
    const pool = poolFor(memory);
    // Allocated at first use: an 8B model's 32 GB of float32 zeros, replaced by mapped bfloat16
    // bits unread, would still cost the allocator and the garbage collector seconds.
    pool.chargeBudget(sizeOf(shape)); // a model larger than its checkpoint is refused as it is built, as if allocated
    return new Tensor(null, shape, new Storage(null, memory, pool, sizeOf(shape)));
  }

  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  /**
   * A new tensor whose values `fill` writes on the host into a Float32Array of its size: in host
   * memory that array is the tensor's buffer; elsewhere it is uploaded afterwards.
   */
  static fromHost(shape: Shape, fill: (values: Float32Array) => void): Tensor {
    const t = Tensor.empty(shape);
    t.writeHost(fill);
    return t;
  }

  /** Copies values (a flat list in row-major order) into a new tensor. */
  static fromArray(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
    assertValidShape(shape);
    if (values.length !== sizeOf(shape)) {
      throw new GiftjsError(`Tensor.fromArray: ${values.length} values cannot have shape ${shapeString(shape)}`);
    }
    assertFlatNumbers(values, 'Tensor.fromArray');
    return Tensor.fromHost(shape, (d) => d.set(values));
  }

  /** Converts stored values (F32, or the bits of BF16 / F16) to a float32 tensor. */
  static fromStorage(values: Float32Array | Uint16Array, dtype: StorageDType, shape: Shape): Tensor {
    if (values.length !== sizeOf(shape)) {
      throw new GiftjsError(`Tensor.fromStorage: ${values.length} ${dtype} values cannot have shape ${shapeString(shape)}`);
    }
    return Tensor.fromHost(shape, (d) => {
      if (dtype === 'F32') d.set(values as Float32Array);
      else if (dtype === 'BF16') bf16ToFloat32(values as Uint16Array, d);
      else float16ToFloat32(values as Uint16Array, d);
    });
  }

  static scalar(value: number): Tensor {
    return Tensor.fromArray([value], []);
  }

  /** Normal(0, std) values from a seeded generator. */
  static randn(shape: Shape, rng: Random, std = 1): Tensor {
    return Tensor.fromHost(shape, (d) => {
      for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    });
  }

  /** Uniform values in [low, high) from a seeded generator. */
  static uniform(shape: Shape, rng: Random, low = 0, high = 1): Tensor {
    return Tensor.fromHost(shape, (d) => {
      for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * rng.uniform();
    });
  }

  private live(): Storage {
    if (!this.storage) throw new GiftjsError(`${this.describe()} was disposed and cannot be used`);
    return this.storage;
  }

  /** The backend buffer, for kernels. */
  get buffer(): DeviceBuffer {
    return this.live().buffer;
  }

  /**
   * The float32 buffer itself, in host memory (the CPU backends). Writing to it changes the tensor
   * and its views. Code that must also run on a device backend uses read(), assign() or writeHost().
   */
  get data(): Float32Array {
    const storage = this.live();
    const view = storage.memory.hostView(storage.buffer);
    if (view === null) throw new GiftjsError(`${this.describe()} lives in ${storage.memory.space} memory; read it with read() or readAsync()`);
    if (!(view instanceof Float32Array)) {
      throw new GiftjsError(`${this.describe()} is stored as bfloat16 (a frozen weight): only linear and embedding read it directly; use toFloat32()`);
    }
    return view;
  }

  /**
   * The values on the host (the boundary where a loss is read or a file written). In host memory
   * this is the buffer itself, not a copy: do not write to it, and do not keep it past dispose().
   */
  read(): Float32Array {
    const storage = this.live();
    this.refuseQuantized('read()');
    if (storage.memory.isBf16(storage.buffer)) throw new GiftjsError(`${this.describe()} is stored as bfloat16; read toFloat32() instead`);
    return storage.memory.download(storage.buffer) as Float32Array;
  }

  /**
   * The values on the host once the work queued for them is done: the read that every backend
   * offers, a GPU backend's only one. A copy on a device backend, the buffer itself in host memory.
   */
  async readAsync(): Promise<Float32Array> {
    const storage = this.live();
    this.refuseQuantized('readAsync()');
    if (storage.memory.isBf16(storage.buffer)) throw new GiftjsError(`${this.describe()} is stored as bfloat16; read toFloat32() instead`);
    return (await storage.memory.downloadAsync(storage.buffer)) as Float32Array;
  }

  /**
   * Lets `fill` write the values on the host: into the buffer itself in host memory, otherwise into
   * a host array uploaded afterwards. For float32 tensors (loading checkpoints into parameters).
   */
  writeHost(fill: (values: Float32Array) => void): void {
    const storage = this.live();
    this.refuseQuantized('writeHost');
    if (storage.memory.isBf16(storage.buffer)) throw new GiftjsError(`writeHost: ${this.describe()} is stored as bfloat16; use assign()`);
    // A meta tensor keeps no values: nothing is filled (BERT-base built as shapes spent 2.5 s drawing them).
    if (storage.memory.space === 'meta') return;
    const view = storage.memory.hostView(storage.buffer);
    if (view instanceof Float32Array) {
      fill(view);
      return;
    }
    const host = new Float32Array(this.size);
    fill(host);
    storage.memory.upload(storage.buffer, host);
  }

  get dtype(): TensorDType {
    if (!this.storage || this.storage.pending) return 'float32'; // a deferred value is an op's float32 output
    const q = this.storage.memory.quantizedOf?.(this.storage.buffer);
    if (q) return q.format;
    return this.storage.memory.isBf16(this.storage.buffer) ? 'bfloat16' : 'float32';
  }

  /** The quantized matrix (int8, int4) a frozen weight is stored as, or null. */
  get quantized(): QuantizedMatrix | null {
    const m = this.storedMatrix;
    return m?.isQuantized ? m : null;
  }

  /** The matrix a frozen weight is held as when only the GEMM and the embedding read it: quantized, or float16 as stored; else null. */
  get storedMatrix(): QuantizedMatrix | null {
    const storage = this.live();
    return storage.memory.quantizedOf?.(storage.buffer) ?? null;
  }

  private refuseQuantized(what: string): void {
    const q = this.storedMatrix;
    if (q) throw new GiftjsError(`${what}: ${this.describe()} is stored as ${q.format} (${q.isQuantized ? 'a quantized' : 'as its checkpoint stores it, a'} frozen weight); read toFloat32() instead`);
  }

  /** The bfloat16 bits of a tensor stored as bfloat16 (a host copy on a device backend). */
  get bf16Bits(): Uint16Array {
    const storage = this.live();
    this.refuseQuantized('bf16Bits');
    if (!storage.memory.isBf16(storage.buffer)) throw new GiftjsError(`${this.describe()} is float32, not bfloat16`);
    return storage.memory.download(storage.buffer) as Uint16Array;
  }

  /** A float32 copy, whatever the storage (a quantized weight dequantized). */
  toFloat32(): Tensor {
    const q = this.storedMatrix;
    if (q) return Tensor.fromHost(this.shape, (d) => q.dequantize(d));
    if (this.dtype === 'float32') return this.clone();
    const bits = this.bf16Bits;
    return Tensor.fromHost(this.shape, (d) => bf16ToFloat32(bits, d));
  }

  /**
   * Re-stores this tensor as bfloat16 (rounded to nearest even), in place: the float32 buffer is
   * freed. Only frozen leaves can be stored so: nothing differentiates through them.
   */
  storeAsBf16(): this {
    if (this.dtype === 'bfloat16') return this;
    if (this.requiresGrad || this.gradFn) throw new GiftjsError(`storeAsBf16: ${this.describe()} is trainable; only frozen weights are stored as bfloat16`);
    const storage = this.live();
    if (storage.refs !== 1) throw new GiftjsError(`storeAsBf16: ${this.describe()} shares its buffer with a view`);
    const f32 = storage.buffer;
    storage.buffer = storage.memory.toBf16(f32);
    // Not back to the pool: no step will ask for a buffer of a weight's size, so keeping it
    // idle would only hold the memory the conversion was meant to free.
    if (storage.pool) storage.pool.forget(f32);
    storage.pool = null;
    return this;
  }

  /**
   * Takes these bfloat16 bits as the tensor's values, stored as bfloat16 from now on (a frozen
   * weight kept as its checkpoint stores it); the float32 buffer is freed. False, changing nothing,
   * where the backend keeps no bfloat16 weights.
   */
  adoptBf16Bits(bits: Uint16Array): boolean {
    if (bits.length !== this.size) throw new GiftjsError(`adoptBf16Bits: ${bits.length} values for ${this.describe()}`);
    // A parameter being loaded may still be marked trainable: the adapter attached next freezes it
    // or widens it back (storeAsFloat32). A computed tensor is never replaced.
    if (this.gradFn) throw new GiftjsError(`adoptBf16Bits: ${this.describe()} is computed, not a parameter`);
    const storage = this.live();
    if (!storage.memory.adoptBf16) return false;
    if (storage.refs !== 1) throw new GiftjsError(`adoptBf16Bits: ${this.describe()} shares its buffer with a view`);
    const old = storage.allocated ? storage.buffer : null;
    storage.buffer = storage.memory.adoptBf16(bits);
    if (old && !storage.memory.isBf16(old) && storage.pool) storage.pool.forget(old);
    storage.pool = null;
    return true;
  }

  /**
   * Re-stores a bfloat16 or float16 tensor as float32 (exactly: every value of either is a float32),
   * in place; one about to be trained. A quantized one is refused.
   */
  storeAsFloat32(): this {
    if (this.dtype === 'float32') return this;
    const storage = this.live();
    if (this.dtype !== 'float16') this.refuseQuantized('storeAsFloat32');
    if (storage.refs !== 1) throw new GiftjsError(`storeAsFloat32: ${this.describe()} shares its buffer with a view`);
    const halves = this.storedMatrix; // float16 as stored, or null for bfloat16 bits
    const bits = halves ? null : (storage.memory.download(storage.buffer) as Uint16Array);
    const widen = (out?: Float32Array) => (halves ? halves.dequantize(out) : bf16ToFloat32(bits!, out));
    const pool = poolFor(storage.memory);
    const f32 = pool.acquire(this.size);
    const view = storage.memory.hostView(f32);
    if (view instanceof Float32Array) widen(view);
    else storage.memory.upload(f32, widen());
    storage.buffer = f32;
    storage.pool = pool;
    return this;
  }

  /**
   * Re-stores a frozen matrix [rows, cols] quantized (src/formats/quantized.ts), in place: the
   * float32 or bfloat16 buffer is freed. False, changing nothing, where the backend keeps no
   * quantized weights (WebGPU). `what` names the weight in a refusal (a value not finite).
   */
  quantize(format: QuantFormat, what = this.describe()): boolean {
    assertFormat(format, QUANT_FORMATS, `quantize ${what}`);
    if (this.quantized) {
      if (this.quantized.format === format) return true;
      throw new GiftjsError(`quantize: ${this.describe()} is ${this.quantized.format} already`);
    }
    if (this.dtype === 'float16') this.storeAsFloat32(); // exact; quantized from those values
    if (this.rank !== 2) throw new GiftjsError(`quantize: ${this.describe()} is not a matrix`);
    // A parameter being loaded may still be marked trainable: attaching an adapter that would
    // train it refuses (attachAdapter). A computed tensor is never replaced.
    if (this.gradFn) throw new GiftjsError(`quantize: ${this.describe()} is computed, not a parameter`);
    const storage = this.live();
    if (!storage.memory.adoptQuantized) return false;
    if (storage.refs !== 1) throw new GiftjsError(`quantize: ${this.describe()} shares its buffer with a view`);
    const values = storage.memory.download(storage.buffer);
    return this.adoptQuantized(quantizeValues(values, this.shape[0]!, this.shape[1]!, format, what));
  }

  /**
   * Takes a quantized matrix of this shape as the tensor's values (a weight quantized as it is
   * loaded, or given back its quantized values after a merge); the old buffer is freed. False,
   * changing nothing, where the backend keeps no quantized weights.
   */
  adoptQuantized(q: QuantizedMatrix): boolean {
    if (this.rank !== 2 || q.rows !== this.shape[0] || q.cols !== this.shape[1]) throw new GiftjsError(`adoptQuantized: ${q.format} [${q.rows}, ${q.cols}] for ${this.describe()}`);
    if (this.gradFn) throw new GiftjsError(`adoptQuantized: ${this.describe()} is computed, not a parameter`);
    const storage = this.live();
    if (!storage.memory.adoptQuantized) return false;
    if (storage.refs !== 1) throw new GiftjsError(`adoptQuantized: ${this.describe()} shares its buffer with a view`);
    const old = storage.allocated ? storage.buffer : null;
    storage.buffer = storage.memory.adoptQuantized(q);
    if (old && storage.pool) storage.pool.forget(old);
    storage.pool = null;
    return true;
  }

  /**
   * Takes these float16 bits as the values of a frozen matrix, held as they are stored from now on (a
   * checkpoint's F16 weight; only the GEMM and the embedding read it, widening it exactly); the old
   * buffer is freed. False, changing nothing, where the backend keeps no such matrices (WebGPU).
   */
  adoptFloat16Bits(halves: Uint16Array): boolean {
    if (this.rank !== 2 || halves.length !== this.size) throw new GiftjsError(`adoptFloat16Bits: ${halves.length} values for ${this.describe()}, which must be a matrix`);
    return this.adoptQuantized(QuantizedMatrix.ofFloat16(this.shape[0]!, this.shape[1]!, halves));
  }

  /** Overwrites the values from float32 (rounded when the tensor is stored as bfloat16 or float16). */
  assign(values: Float32Array): void {
    if (values.length !== this.size) throw new GiftjsError(`assign: ${values.length} values for ${this.describe()}`);
    assertFlatNumbers(values, 'assign');
    const storage = this.live();
    if (this.dtype === 'float16') {
      // Rounded to nearest even; a merged float16 weight is rounded once, as PEFT merges into one.
      if (!this.adoptFloat16Bits(float32ToFloat16(values))) throw new GiftjsError(`assign: the backend no longer keeps ${this.describe()} as float16`);
      return;
    }
    this.refuseQuantized('assign');
    if (storage.memory.isBf16(storage.buffer)) {
      // A new buffer rather than a write into this one, which may map the checkpoint's file: its
      // pages are released and read back as the file holds them (releaseMappedPages).
      if (storage.memory.adoptBf16) storage.buffer = storage.memory.adoptBf16(float32ToBf16(values));
      else storage.memory.upload(storage.buffer, float32ToBf16(values));
    }
    else this.writeHost((d) => d.set(values));
  }

  get rank(): number {
    return this.shape.length;
  }

  /** True when no other tensor views this one's buffer (writing to it in place affects nothing else). */
  get ownsBufferAlone(): boolean {
    return this.storage !== null && this.storage.refs === 1;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  describe(): string {
    return `tensor${this.name ? ` '${this.name}'` : ''} of shape ${shapeString(this.shape)}`;
  }

  /** A tensor of another shape over the same buffer (no copy). Used by reshape. */
  view(shape: Shape): Tensor {
    const storage = this.storage;
    if (!storage) throw new GiftjsError(`${this.describe()} was disposed and cannot be used`);
    if (sizeOf(shape) !== this.size) throw new GiftjsError(`view: ${this.describe()} cannot be viewed as ${shapeString(shape)}`);
    storage.refs++;
    return new Tensor(null, shape, storage);
  }

  /** A copy with its own buffer. */
  clone(): Tensor {
    this.refuseQuantized('clone');
    if (this.dtype === 'bfloat16') throw new GiftjsError(`clone: ${this.describe()} is stored as bfloat16; use toFloat32()`);
    const t = Tensor.empty(this.shape);
    getBackend().copyBlocks(this.buffer, 0, 0, t.buffer, 0, 0, 1, this.size);
    return t;
  }

  /** The same values, cut from the autograd graph. Shares the buffer. */
  detach(): Tensor {
    return this.view(this.shape);
  }

  item(): number {
    if (this.size !== 1) throw new GiftjsError(`item(): ${this.describe()} holds ${this.size} values, not one`);
    return this.read()[0]!;
  }

  /** A copy of the values as a Float32Array, whatever the storage (safe to keep after the tensor is disposed). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return Float32Array.from(this.read());
    const widened = this.toFloat32(); // bfloat16 or quantized storage
    const values = Float32Array.from(widened.read());
    widened.dispose();
    return values;
  }

  toArray(): number[] {
    return Array.from(this.read());
  }

  /** Marks this tensor as a trainable leaf: backward() will fill .grad. */
  requireGrad(flag = true): this {
    if (this.gradFn) throw new GiftjsError(`requireGrad: ${this.describe()} is computed by an op, not a leaf`);
    this.requiresGrad = flag;
    return this;
  }

  /** Keeps this tensor alive past the enclosing tidy() scopes. */
  keep(): this {
    return keep(this);
  }

  /** Backpropagates from this tensor (a scalar, unless a gradient of its shape is given). */
  backward(gradient?: Tensor): void {
    runBackward(this, gradient);
  }

  /** Releases the buffer (back to the pool once no view shares it) and the graph node. Safe to call twice. */
  dispose(): void {
    this.releaseValue();
    this.gradFn = null;
  }

  /**
   * Releases the buffer (back to the pool once no view shares it) but keeps the tensor in the graph:
   * for an intermediate whose values no backward reads, whose gradient still flows through it. Its
   * values cannot be read afterwards (that throws). Safe to call twice.
   */
  releaseValue(): void {
    const storage = this.storage;
    if (!storage) return;
    this.storage = null;
    if (--storage.refs === 0 && storage.allocated) {
      if (storage.pool) storage.pool.release(storage.buffer);
      else storage.memory.free(storage.buffer);
    }
  }

  /** Disposes the accumulated gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
}

/**
 * Quantized values of a [rows, cols] matrix: the backend's quantizer where it has one, the
 * reference otherwise (and for the message when a value or scale cannot be held).
 */
/**
 * A plain array's nested arrays or strings would be stored as NaN without a word (a typed array
 * holds numbers only): refused, by position.
 */
function assertFlatNumbers(values: ArrayLike<unknown>, op: string): void {
  if (!Array.isArray(values)) return;
  const bad = values.findIndex((v) => typeof v !== 'number');
  if (bad < 0) return;
  const v = values[bad];
  const what = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  throw new GiftjsError(`${op}: value ${bad} is ${what}, not a number (give the values flat, with a shape)`);
}

export function quantizeValues(values: Float32Array | Uint16Array, rows: number, cols: number, format: QuantFormat, what: string, into?: QuantizedMatrix): QuantizedMatrix {
  if (values.length !== rows * cols) throw new GiftjsError(`quantize: ${values.length} values for [${rows}, ${cols}]`);
  if (into?.interleaved) throw new GiftjsError('quantize: a matrix of GGUF blocks as stored is read, never quantized into');
  if (into && (into.format !== format || into.rows !== rows || into.cols !== cols)) throw new GiftjsError(`quantize: into ${into.format} [${into.rows}, ${into.cols}] for ${format} [${rows}, ${cols}]`);
  const backend = getBackend();
  if (backend.quantize) {
    const q = into ?? frozenWeightQuantized(format, rows, cols); // written once below, read whole by every decoding step
    if (backend.quantize(values as Float32Array, q)) return q;
  }
  const q = quantizeReference(values, rows, cols, format, what, into?.group);
  if (backend.quantize) throw notQuantizable(what, `the ${backend.name} quantizer refused what the reference accepts (group ${q.group})`);
  if (into) {
    into.codes.set(q.codes);
    into.scales.set(q.scales);
    return into;
  }
  return q;
}
