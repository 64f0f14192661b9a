// The Tensor: a shape, a float32 buffer (shared between views through a reference count, so that
// reshape never copies), and the autograd fields (requiresGrad, grad, gradFn).

import { runBackward, type GradNode } from './autograd.js';
import { bf16ToFloat32, float16ToFloat32, float32ToBf16, type StorageDType } from './dtype.js';
import { bufferPool, keep, trackInScope } from './memory.js';
import { Random } from './random.js';
import { assertValidShape, shapeString, sizeOf, type Shape } from './shape.js';
import { GiftjsError } from '../errors.js';

/**
 * A buffer shared by the tensors that view it: float32 values (returned to the pool at zero
 * references), or the bfloat16 bits of a frozen weight stored at half size.
 */
class Storage {
  refs = 1;
  constructor(public data: Float32Array | Uint16Array) {}
}

export type TensorDType = 'float32' | 'bfloat16';

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
  private storage: Storage | null;

  /** Wraps a buffer of exactly sizeOf(shape) floats; the tensor takes ownership of it. */
  constructor(data: Float32Array, shape: Shape, storage?: Storage) {
    assertValidShape(shape);
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new GiftjsError(`Tensor: ${data.length} values cannot have shape ${shapeString(shape)} (${size} values)`);
    }
    this.shape = Object.freeze([...shape]);
    this.size = size;
    this.storage = storage ?? new Storage(data);
    trackInScope(this);
  }

  /** A new tensor with a pooled, uninitialised buffer: every op writes all of it. */
  static empty(shape: Shape): Tensor {
    assertValidShape(shape);
    return new Tensor(bufferPool.acquire(sizeOf(shape)), shape);
  }

  static zeros(shape: Shape): Tensor {
    const t = Tensor.empty(shape);
    t.data.fill(0);
    return t;
  }

  static full(shape: Shape, value: number): Tensor {
    const t = Tensor.empty(shape);
    t.data.fill(value);
    return t;
  }

  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  /** Copies values (a flat list in row-major order) into a new tensor. */
  static fromArray(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
    assertValidShape(shape);
    if (values.length !== sizeOf(shape)) {
      throw new GiftjsError(`Tensor.fromArray: ${values.length} values cannot have shape ${shapeString(shape)}`);
    }
    const t = Tensor.empty(shape);
    t.data.set(values);
    return t;
  }

  /** Converts stored values (F32, or the bits of BF16 / F16) to a float32 tensor. */
  static fromStorage(values: Float32Array | Uint16Array, dtype: StorageDType, shape: Shape): Tensor {
    if (values.length !== sizeOf(shape)) {
      throw new GiftjsError(`Tensor.fromStorage: ${values.length} ${dtype} values cannot have shape ${shapeString(shape)}`);
    }
    const t = Tensor.empty(shape);
    if (dtype === 'F32') t.data.set(values as Float32Array);
    else if (dtype === 'BF16') bf16ToFloat32(values as Uint16Array, t.data);
    else float16ToFloat32(values as Uint16Array, t.data);
    return t;
  }

  static scalar(value: number): Tensor {
    return Tensor.fromArray([value], []);
  }

  /** Normal(0, std) values from a seeded generator. */
  static randn(shape: Shape, rng: Random, std = 1): Tensor {
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    return t;
  }

  /** Uniform values in [low, high) from a seeded generator. */
  static uniform(shape: Shape, rng: Random, low = 0, high = 1): Tensor {
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * rng.uniform();
    return t;
  }

  /** The underlying float32 buffer (row-major). Writing to it changes the tensor and its views. */
  get data(): Float32Array {
    if (!this.storage) throw new GiftjsError(`${this.describe()} was disposed and cannot be used`);
    const d = this.storage.data;
    if (!(d instanceof Float32Array)) {
      throw new GiftjsError(`${this.describe()} is stored as bfloat16 (a frozen weight): only linear and embedding read it directly; use toFloat32()`);
    }
    return d;
  }

  get dtype(): TensorDType {
    return this.storage && this.storage.data instanceof Uint16Array ? 'bfloat16' : 'float32';
  }

  /** The bfloat16 bits of a tensor stored as bfloat16. */
  get bf16Bits(): Uint16Array {
    if (!this.storage) throw new GiftjsError(`${this.describe()} was disposed and cannot be used`);
    const d = this.storage.data;
    if (!(d instanceof Uint16Array)) throw new GiftjsError(`${this.describe()} is float32, not bfloat16`);
    return d;
  }

  /** A float32 copy, whatever the storage. */
  toFloat32(): Tensor {
    if (this.dtype === 'float32') return this.clone();
    const t = Tensor.empty(this.shape);
    bf16ToFloat32(this.bf16Bits, t.data);
    return t;
  }

  /**
   * Re-stores this tensor as bfloat16 (rounded to nearest even), in place: the float32 buffer goes
   * back to the pool. Only frozen leaves can be stored so: nothing differentiates through them.
   */
  storeAsBf16(): this {
    if (this.dtype === 'bfloat16') return this;
    if (this.requiresGrad || this.gradFn) throw new GiftjsError(`storeAsBf16: ${this.describe()} is trainable; only frozen weights are stored as bfloat16`);
    const storage = this.storage!;
    if (storage.refs !== 1) throw new GiftjsError(`storeAsBf16: ${this.describe()} shares its buffer with a view`);
    const f32 = storage.data as Float32Array;
    storage.data = float32ToBf16(f32);
    // Not back to the pool: no step will ask for a buffer of a weight's size, so keeping it
    // idle would only hold the memory the conversion was meant to free.
    bufferPool.forget(f32);
    return this;
  }

  /** Overwrites the values from float32 (rounded when the tensor is stored as bfloat16). */
  assign(values: Float32Array): void {
    if (values.length !== this.size) throw new GiftjsError(`assign: ${values.length} values for ${this.describe()}`);
    if (this.dtype === 'bfloat16') float32ToBf16(values, this.bf16Bits);
    else this.data.set(values);
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
    storage.refs++;
    return new Tensor(this.data, shape, storage);
  }

  /** A copy with its own buffer. */
  clone(): Tensor {
    const t = Tensor.empty(this.shape);
    t.data.set(this.data);
    return t;
  }

  /** The same values, cut from the autograd graph. Shares the buffer. */
  detach(): Tensor {
    return this.view(this.shape);
  }

  item(): number {
    if (this.size !== 1) throw new GiftjsError(`item(): ${this.describe()} holds ${this.size} values, not one`);
    return this.data[0]!;
  }

  /** A copy of the values as a Float32Array (safe to keep after the tensor is disposed). */
  toFloat32Array(): Float32Array {
    return Float32Array.from(this.data);
  }

  toArray(): number[] {
    return Array.from(this.data);
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

  /** Releases the buffer (back to the pool once no view shares it). Safe to call twice. */
  dispose(): void {
    const storage = this.storage;
    if (!storage) return;
    this.storage = null;
    this.gradFn = null;
    if (--storage.refs === 0 && storage.data instanceof Float32Array) bufferPool.release(storage.data);
  }

  /** Disposes the accumulated gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
}
