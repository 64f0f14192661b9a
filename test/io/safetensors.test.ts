import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointReader } from '../../src/io/hf_folder.js';
import { SafetensorsFile, saveSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { quantizeReference } from '../../src/formats/quantized.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'giftjs-st-'));

/** A raw safetensors file with the given header object and data bytes. */
function rawFile(path: string, header: unknown, dataBytes: number): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
}

test('round trip: F32, BF16, F16 and I64, with metadata, in sorted order', () => {
  const dir = tmp();
  const path = join(dir, 'x.safetensors');
  const a = Tensor.fromArray([1, -2.5, 3.25, 0], [2, 2]);
  const b = Tensor.fromArray([0.5, 1024, -0.125], [3]);
  saveSafetensors(path, { b: { tensor: b, dtype: 'BF16' }, a, c: { tensor: b, dtype: 'F16' }, ids: { integers: [3, -1, 2 ** 40], shape: [3], dtype: 'I64' } }, { format: 'pt' });
  const f = SafetensorsFile.open(path);
  assert.deepEqual([...f.tensors.keys()], ['a', 'b', 'c', 'ids']);
  assert.deepEqual(f.metadata, { format: 'pt' });
  assert.equal(f.info('b').dtype, 'BF16');
  assert.deepEqual(Array.from(f.readTensor('a').data), [1, -2.5, 3.25, 0]);
  assert.deepEqual(f.readTensor('a').shape, [2, 2]);
  assert.deepEqual(Array.from(f.readTensor('b').data), [0.5, 1024, -0.125]);
  assert.deepEqual(Array.from(f.readTensor('c').data), [0.5, 1024, -0.125]);
  assert.deepEqual(f.readIntegers('ids').values, [3, -1, 2 ** 40]);
  assert.throws(() => f.readTensor('ids'), /tensor 'ids' is I64, not a floating-point tensor/);
  assert.throws(() => f.readTensor('zzz'), /no tensor named 'zzz'/);
  f.close();
  assert.deepEqual(readdirSync(dir), ['x.safetensors'], 'no temporary file left behind');
});

test('invalid headers are refused with the file and the problem named', () => {
  const dir = tmp();
  const p = join(dir, 'bad.safetensors');
  const cases: [unknown, number, RegExp][] = [
    [{ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, 8, /bad\.safetensors: tensor 'w' has unknown dtype "Q4"/],
    [{ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, 8, /tensor 'w' has an invalid shape/],
    [{ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8, /shape \[3\] x F32 needs 12 bytes but data_offsets span 8/],
    [{ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8, /ends at byte 16 of the data section, which holds only 8 bytes \(truncated file\?\)/],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12, /tensors 'a' and 'b' overlap/],
    [{ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 8, /invalid data_offsets/],
  ];
  for (const [header, bytes, pattern] of cases) {
    rawFile(p, header, bytes);
    assert.throws(() => SafetensorsFile.open(p), pattern);
  }
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(2n ** 40n);
  writeFileSync(p, Buffer.concat([len, Buffer.from('{}')]));
  assert.throws(() => SafetensorsFile.open(p), /header length 1099511627776 exceeds the 104857600-byte limit/);
  len.writeBigUInt64LE(100n);
  writeFileSync(p, Buffer.concat([len, Buffer.from('{}')]));
  assert.throws(() => SafetensorsFile.open(p), /header length 100 runs past the end of the 10-byte file/);
  writeFileSync(p, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{x')]));
  assert.throws(() => SafetensorsFile.open(p), /header is not valid JSON/);
  writeFileSync(p, Buffer.from([1, 2, 3]));
  assert.throws(() => SafetensorsFile.open(p), /file is 3 bytes, too short/);
});

test('sharded folders are read through model.safetensors.index.json', () => {
  const dir = tmp();
  saveSafetensors(join(dir, 'model-00001-of-00002.safetensors'), { 'a.weight': Tensor.fromArray([1, 2], [2]) });
  saveSafetensors(join(dir, 'model-00002-of-00002.safetensors'), { 'b.weight': Tensor.fromArray([3], [1]) });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' } }));
  const r = new CheckpointReader(dir);
  assert.deepEqual(r.names().sort(), ['a.weight', 'b.weight']);
  assert.deepEqual(Array.from(r.read('b.weight').data), [3]);
  assert.throws(() => r.read('c.weight'), /the checkpoint has no tensor 'c.weight'/);
  r.close();
  assert.throws(() => new CheckpointReader(tmp()), /no safetensors weights found/);
  assert.throws(() => new CheckpointReader(join(dir, 'model.safetensors.index.json')), /model\.safetensors\.index\.json: is a file, not a folder/);
  assert.throws(() => new CheckpointReader(join(dir, 'missing')), /missing: no such folder/);
});

test('a matrix quantized as it loads is quantized straight from the mapped file, block by block: the codes and scales of reading it through a buffer, and of the reference quantizer', () => {
  const dir = tmp();
  const path = join(dir, 'w.safetensors');
  // Past one 32 MB block of rows: 1030 x 16416 bf16 values are 33.8 MB. An F32 matrix beside it,
  // so that the BF16 one starts at an offset that is even but not a multiple of 4.
  const rows = 1030, cols = 16416;
  const values = new Float32Array(rows * cols);
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 0.7331) * (1 + (i % 97) / 13);
  values.fill(0, 64, 96); // an all-zero group
  const small = Tensor.fromArray([1, 2, 3], [3]);
  saveSafetensors(path, { a: small, w: { tensor: Tensor.fromArray(values, [rows, cols]), dtype: 'BF16' } });
  const bits = (() => {
    const f = SafetensorsFile.open(path);
    try {
      return f.readBf16Bits('w').slice();
    } finally {
      f.close();
    }
  })();
  for (const format of ['int4', 'int8'] as const) {
    const read = (mmap: boolean) => {
      const before = process.env.GIFTJS_MMAP;
      process.env.GIFTJS_MMAP = mmap ? '1' : '0';
      const f = SafetensorsFile.open(path);
      try {
        return f.readQuantized('w', format, 'w');
      } finally {
        f.close();
        if (before === undefined) delete process.env.GIFTJS_MMAP;
        else process.env.GIFTJS_MMAP = before;
      }
    };
    const mapped = read(true), copied = read(false);
    const reference = quantizeReference(bits, rows, cols, format, 'w');
    assert.ok(Buffer.from(mapped.codes).equals(Buffer.from(reference.codes)), `${format}: mapped codes`);
    assert.ok(Buffer.from(mapped.scales.buffer, mapped.scales.byteOffset, mapped.scales.byteLength).equals(Buffer.from(reference.scales.buffer, reference.scales.byteOffset, reference.scales.byteLength)), `${format}: mapped scales`);
    assert.ok(Buffer.from(copied.codes).equals(Buffer.from(reference.codes)), `${format}: read codes`);
    assert.ok(Buffer.from(copied.scales.buffer, copied.scales.byteOffset, copied.scales.byteLength).equals(Buffer.from(reference.scales.buffer, reference.scales.byteOffset, reference.scales.byteLength)), `${format}: read scales`);
  }
});

test('a tensor larger than one conversion part is converted the same across the parts\' seams: F32 rounded to bfloat16, BF16, F16 and F64 widened to float32', () => {
  const dir = tmp();
  const path = join(dir, 'big.safetensors');
  // 8 MB parts: 2,097,152 float32 values, 4,194,304 halves, 1,048,576 doubles; each tensor spans 2-3 parts.
  const n = 4_500_001;
  const f32 = new Float32Array(n);
  for (let i = 0; i < n; i++) f32[i] = Math.sin(i * 0.37) * (1 + (i % 1000)) * 1e-3;
  const bf16 = new Uint16Array(n);
  const f16 = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    bf16[i] = (0x3f00 + (i % 0x200)) | (i & 1 ? 0x8000 : 0); // +-0.5 .. 2, patterned
    f16[i] = (0x3000 + (i % 0x1000)) | (i & 2 ? 0x8000 : 0); // normal halves, patterned
  }
  const f64 = Float64Array.from({ length: 1_500_003 }, (_, i) => Math.cos(i * 0.11) * 3.3e-2);
  const parts = [['a', 'F32', f32], ['b', 'BF16', bf16], ['c', 'F16', f16], ['d', 'F64', f64]] as const;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, dtype, v] of parts) {
    header[name] = { dtype, shape: [v.length], data_offsets: [offset, offset + v.byteLength] };
    offset += v.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...parts.map(([, , v]) => Buffer.from(v.buffer, v.byteOffset, v.byteLength))]));

  const f = SafetensorsFile.open(path);
  // Rounded to nearest even from the float32 bits (finite values), element by element.
  const inBits = new Uint32Array(f32.buffer);
  const rounded = f.readRoundedBf16('a');
  for (let i = 0; i < n; i++) {
    const x = inBits[i]!;
    const want = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    if (rounded[i] !== want) assert.fail(`F32 -> bf16 element ${i}: ${rounded[i]} vs ${want}`);
  }
  const widened = new Float32Array(n);
  f.readInto('b', widened);
  const widenedBits = new Uint32Array(widened.buffer);
  for (let i = 0; i < n; i++) if (widenedBits[i] !== (bf16[i]! << 16) >>> 0) assert.fail(`BF16 element ${i}`);
  f.readInto('c', widened);
  for (let i = 0; i < n; i++) {
    const h = f16[i]!;
    const want = (h & 0x8000 ? -1 : 1) * 2 ** (((h >>> 10) & 0x1f) - 15) * (1 + (h & 0x3ff) / 1024);
    if (widened[i] !== want) assert.fail(`F16 element ${i}: ${widened[i]} vs ${want}`);
  }
  const fromDoubles = new Float32Array(f64.length);
  f.readInto('d', fromDoubles);
  for (let i = 0; i < f64.length; i++) if (fromDoubles[i] !== Math.fround(f64[i]!)) assert.fail(`F64 element ${i}`);
  // An F16 tensor rounded to bfloat16: widened exactly, then rounded as the F32 one was.
  const fromHalves = f.readRoundedBf16('c');
  const halfBits = new Uint32Array(widened.buffer);
  for (let i = 0; i < n; i++) {
    const x = halfBits[i]!;
    if (fromHalves[i] !== (((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff)) assert.fail(`F16 -> bf16 element ${i}`);
  }
  f.close();
});

test('a tensor named __proto__ is written and read like any other (a {} keyed by it had set its prototype, and the file lost the tensor)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-st-proto-'));
  const entries: Record<string, Tensor> = {};
  Object.defineProperty(entries, '__proto__', { value: Tensor.fromArray(new Float32Array([1.5, -2]), [2]), enumerable: true });
  entries.w = Tensor.fromArray(new Float32Array([3]), [1]);
  saveSafetensors(join(dir, 'm.safetensors'), entries);
  const f = SafetensorsFile.open(join(dir, 'm.safetensors'));
  try {
    assert.deepEqual([...f.tensors.keys()].sort(), ['__proto__', 'w']);
    assert.deepEqual([...f.readTensor('__proto__').data], [1.5, -2]);
  } finally {
    f.close();
  }
});
