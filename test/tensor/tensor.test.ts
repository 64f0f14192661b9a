import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bf16ToFloat32, float16ToFloat32, float32ToBf16, float32ToFloat16 } from '../../src/formats/dtype.js';
import { memoryStats, tidy } from '../../src/tensor/memory.js';
import { reshape } from '../../src/ops/shape_ops.js';
import { add, mul } from '../../src/ops/elementwise.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

test('construction checks sizes and shapes', () => {
  assert.throws(() => Tensor.fromArray([1, 2, 3], [2, 2]), /3 values cannot have shape \[2, 2\]/);
  assert.throws(() => Tensor.zeros([2, -1]), /shape \[2, -1\] must hold non-negative integers/);
  assert.equal(Tensor.scalar(4).item(), 4);
  assert.deepEqual(Tensor.zeros([0, 3]).shape, [0, 3]);
  assert.throws(() => Tensor.zeros([2]).item(), /holds 2 values, not one/);
  // From JavaScript: a nested array or a string had been stored as NaN without a word.
  assert.throws(() => Tensor.fromArray([[1, 2], [3]] as unknown as number[]), /Tensor.fromArray: value 0 is an array, not a number \(give the values flat, with a shape\)/);
  assert.throws(() => Tensor.fromArray([1, '2'] as unknown as number[]), /Tensor.fromArray: value 1 is a string, not a number/);
  assert.ok(Number.isNaN(Tensor.fromArray([1, NaN]).read()[1]!), 'a NaN number is a value, kept');
  assert.throws(() => Tensor.zeros([2]).assign([1, null] as unknown as Float32Array), /assign: value 1 is null, not a number/);
});

test('a disposed tensor refuses use, and views keep the buffer alive until the last goes', () => {
  const x = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
  const v = reshape(x, [4]);
  x.dispose();
  assert.throws(() => x.data, /tensor of shape \[2, 2\] was disposed/);
  assert.deepEqual(Array.from(v.data), [1, 2, 3, 4]);
  const live = memoryStats().liveBuffers;
  v.dispose();
  assert.equal(memoryStats().liveBuffers, live - 1);
  v.dispose(); // twice is harmless
  assert.equal(memoryStats().liveBuffers, live - 1);
});

test('tidy disposes what it created, except what it returns or keeps', () => {
  const outside = Tensor.ones([3]);
  let inner: Tensor | null = null;
  let kept: Tensor | null = null;
  const result = tidy(() => {
    inner = add(outside, outside);
    kept = mul(outside, outside).keep();
    return { value: add(inner, outside) };
  });
  assert.equal(inner!.isDisposed, true);
  assert.equal(kept!.isDisposed, false);
  assert.equal(result.value.isDisposed, false);
  assert.equal(outside.isDisposed, false);
  assert.deepEqual(Array.from(result.value.data), [3, 3, 3]);
  // nested: the inner result passes to the outer scope and is disposed there
  let passed: Tensor | null = null;
  tidy(() => {
    passed = tidy(() => add(outside, outside));
    assert.equal(passed.isDisposed, false);
  });
  assert.equal(passed!.isDisposed, true);
  // a throwing scope still cleans up
  let leaked: Tensor | null = null;
  assert.throws(() => tidy(() => {
    leaked = add(outside, outside);
    throw new Error('boom');
  }), /boom/);
  assert.equal(leaked!.isDisposed, true);
});

test('disposed buffers are reused, so a repeated computation allocates nothing new', () => {
  const x = Tensor.ones([1000]);
  const step = () => tidy(() => { mul(add(x, x), x); });
  step();
  const before = memoryStats();
  for (let i = 0; i < 50; i++) step();
  const after = memoryStats();
  assert.equal(after.freshAllocations, before.freshAllocations);
  assert.equal(after.liveBytes, before.liveBytes);
  assert.ok(after.reuses >= before.reuses + 100);
});

test('bf16 conversion: exact for representable values, round-to-nearest-even otherwise', () => {
  const values = Float32Array.from([0, -0, 1, -2.5, 3.140625, 65280, Infinity, -Infinity, 1e-40]);
  assert.deepEqual(Array.from(bf16ToFloat32(float32ToBf16(values))), Array.from(values).map((v, i) => (i === 8 ? bf16ToFloat32(float32ToBf16(values.subarray(8, 9)))[0] : v)));
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  assert.equal(bf16ToFloat32(float32ToBf16(Float32Array.from([1 + 2 ** -8])))[0], 1);
  assert.equal(bf16ToFloat32(float32ToBf16(Float32Array.from([1 + 3 * 2 ** -8])))[0], 1 + 2 ** -6);
  assert.equal(float32ToBf16(Float32Array.from([1]))[0], 0x3f80);
  assert.ok(Number.isNaN(bf16ToFloat32(float32ToBf16(Float32Array.from([NaN])))[0]));
});

test('f16 conversion matches IEEE half precision bit patterns', () => {
  const cases: [number, number][] = [[0, 0x0000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [Infinity, 0x7c00], [1e6, 0x7c00], [0.1, 0x2e66], [1 / 3, 0x3555]];
  for (const [v, bits] of cases) {
    assert.equal(float32ToFloat16(Float32Array.from([v]))[0], bits, `f16 bits of ${v}`);
    if (v !== 1e6) assert.equal(float16ToFloat32(Uint16Array.from([bits]))[0], Math.fround(v === 0.1 ? 0.0999755859375 : v === 1 / 3 ? 0.333251953125 : v));
  }
  assert.ok(Number.isNaN(float16ToFloat32(Uint16Array.from([0x7e00]))[0]));
});

test('Random is seeded and its normals have mean 0 and variance 1', () => {
  const a = new Random(42);
  const b = new Random(42);
  for (let i = 0; i < 10; i++) assert.equal(a.nextUint32(), b.nextUint32());
  const r = new Random(7);
  let s = 0;
  let s2 = 0;
  const n = 200000;
  for (let i = 0; i < n; i++) {
    const x = r.normal();
    s += x;
    s2 += x * x;
  }
  assert.ok(Math.abs(s / n) < 0.01 && Math.abs(s2 / n - 1) < 0.01, `mean ${s / n}, variance ${s2 / n}`);
  // A seed that is no whole number had become 0 (NaN) or 1 (1.5): refused.
  for (const seed of [NaN, 1.5, Infinity]) assert.throws(() => new Random(seed), new RegExp(`a random seed must be a whole number, got ${seed}`));
  assert.notEqual(new Random(-1).nextUint32(), new Random(1).nextUint32(), 'a negative seed is a seed of its own');
});
