// The int8 / int4 formats against llama.cpp's own rules: test/fixtures/quant holds matrices and the
// Q8_0 / Q4_0 blocks the `gguf` Python package made of them (tools/make_quant_fixtures.py). A
// matrix 32 wide is one block per row, so giftjs's int8 (Q8_0 over a row) and int4 (Q4_0 over
// blocks of 32) must give the same bytes and the same dequantized values.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon, withBackend } from '../../src/backend/index.js';
import { float32ToBf16, bf16ToFloat32 } from '../../src/formats/dtype.js';
import { emptyQuantized, QuantizedMatrix, quantizedBytes, quantizeReference, type QuantFormat } from '../../src/formats/quantized.js';
import { Random } from '../../src/tensor/random.js';
import { quantizeValues, Tensor } from '../../src/tensor/tensor.js';
import { GiftjsError } from '../../src/errors.js';
import { BACKENDS } from '../helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/quant/', import.meta.url));
const meta = JSON.parse(readFileSync(`${FIXTURES}meta.json`, 'utf8')) as { rows: number; cols: number };
const f32File = (name: string) => {
  const b = readFileSync(`${FIXTURES}${name}`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const bytesFile = (name: string) => new Uint8Array(readFileSync(`${FIXTURES}${name}`));

/** Rows of gguf blocks (d as float16, then the codes) split into giftjs's codes and scales. */
function splitBlocks(blocks: Uint8Array, rows: number, blockBytes: number): { scales: Uint16Array; codes: Uint8Array } {
  const scales = new Uint16Array(rows);
  const codes = new Uint8Array(rows * (blockBytes - 2));
  for (let r = 0; r < rows; r++) {
    const b = blocks.subarray(r * blockBytes, (r + 1) * blockBytes);
    scales[r] = b[0]! | (b[1]! << 8);
    codes.set(b.subarray(2), r * (blockBytes - 2));
  }
  return { scales, codes };
}

for (const [format, file, blockBytes] of [['int8', 'q8_0', 34], ['int4', 'q4_0', 18]] as const) {
  test(`${format} quantizes a 32-wide matrix to the bytes gguf-py's ${file.toUpperCase()} writes, and dequantizes to its values`, () => {
    const w = f32File('weight.f32');
    const expected = splitBlocks(bytesFile(`${file}.bin`), meta.rows, blockBytes);
    const q = quantizeReference(w, meta.rows, meta.cols, format, 'fixture');
    assert.deepEqual(q.scales, expected.scales, 'scales (float16 d per block)');
    assert.deepEqual(q.codes, expected.codes, 'codes');
    assert.deepEqual(q.dequantize(), f32File(`${file}.dequantized.f32`), 'dequantized values');
    // Every backend's quantizer writes the same bytes (native's is threaded C++).
    for (const b of BACKENDS) {
      const viaBackend = withBackend(b, () => quantizeValues(w, meta.rows, meta.cols, format, 'fixture'));
      assert.deepEqual(viaBackend.codes, expected.codes, `${b} codes`);
      assert.deepEqual(viaBackend.scales, expected.scales, `${b} scales`);
    }
  });
}

test('the native quantizer writes the reference bytes on ragged shapes, from float32 and from bfloat16 bits', { skip: nativeAddon() ? false : 'the native addon is not built' }, () => {
  const r = new Random(5);
  for (const format of ['int8', 'int4'] as QuantFormat[]) {
    for (const [rows, cols] of [[3, 1], [5, 31], [9, 33], [17, 100], [64, 4096 + 48]] as const) {
      const w = Float32Array.from({ length: rows * cols }, () => r.normal() * 0.02);
      for (const values of [w, float32ToBf16(w)]) {
        const ref = quantizeReference(values, rows, cols, format, 'w');
        const q = emptyQuantized(format, rows, cols);
        assert.equal(nativeAddon()!.quantize(values, q), true);
        assert.deepEqual(q.codes, ref.codes, `${format} [${rows}, ${cols}] ${values.constructor.name} codes`);
        assert.deepEqual(q.scales, ref.scales, `${format} [${rows}, ${cols}] ${values.constructor.name} scales`);
      }
    }
  }
});

test('the error of a dequantized value is at most half a step (int8) or one step (int4, Q4_0 reaches -8 d but only +7 d)', () => {
  const r = new Random(11);
  const rows = 40, cols = 200; // 200: a short last int4 block, padded
  const w = Float32Array.from({ length: rows * cols }, () => r.normal() * 0.1);
  for (const format of ['int8', 'int4'] as QuantFormat[]) {
    const q = quantizeReference(w, rows, cols, format, 'w');
    const d = q.dequantize();
    for (let row = 0; row < rows; row++) {
      for (let c = 0; c < cols; c++) {
        const slice = format === 'int8' ? w.subarray(row * cols, (row + 1) * cols) : w.subarray(row * cols + Math.floor(c / 32) * 32, row * cols + Math.min(cols, Math.floor(c / 32) * 32 + 32));
        const amax = Math.max(...Array.from(slice, Math.abs));
        const step = format === 'int8' ? amax / 127 : amax / 8;
        // The codes come from the float32 d, the value from d rounded to float16 (relative error 2^-11, times the code).
        const bound = step * (format === 'int8' ? 0.5 + 127 * 2 ** -11 : 1 + 8 * 2 ** -11) + 1e-12;
        assert.ok(Math.abs(d[row * cols + c]! - w[row * cols + c]!) <= bound, `${format} [${row}, ${c}]: ${d[row * cols + c]} for ${w[row * cols + c]}`);
      }
    }
    assert.equal(q.bytes, quantizedBytes(format, rows, cols));
  }
  assert.equal(quantizedBytes('int8', 4096, 4096), 4096 * 4096 + 4096 * 2);
  assert.equal(quantizedBytes('int4', 4096, 4096), 4096 * 4096 / 2 + 4096 * 128 * 2);
});

test('a value that is not finite, or a scale past float16, is refused naming the weight', () => {
  for (const b of BACKENDS) {
    withBackend(b, () => {
      for (const bad of [NaN, Infinity]) {
        const w = new Float32Array(64).fill(0.1);
        w[37] = bad;
        assert.throws(() => quantizeValues(w, 2, 32, 'int4', "'model.layers.0.mlp.up_proj.weight'"), (e: Error) => e instanceof GiftjsError && /'model\.layers\.0\.mlp\.up_proj\.weight' cannot be quantized: value (NaN|Infinity) at \[1, 5\]/.test(e.message));
      }
      const huge = new Float32Array(32).fill(1e10);
      assert.throws(() => quantizeValues(huge, 1, 32, 'int8', 'w'), /w cannot be quantized: row 0 reaches 10000000000, past what a half-precision scale holds/);
    });
  }
});

test('a quantized tensor reads as float32 only through toFloat32(), and cannot be trained, written or cloned', () => {
  const w = Tensor.fromHost([4, 32], (d) => d.set(Float32Array.from({ length: 128 }, (_, i) => Math.sin(i))));
  const expected = quantizeReference(w.read(), 4, 32, 'int8', 'w').dequantize();
  assert.equal(w.quantize('int8'), true);
  assert.equal(w.dtype, 'int8');
  assert.deepEqual(w.toFloat32().read(), expected);
  assert.throws(() => w.read(), /stored as int8 \(a quantized frozen weight\); read toFloat32\(\) instead/);
  assert.throws(() => w.clone(), /clone: .* stored as int8/);
  assert.throws(() => w.assign(new Float32Array(128)), /assign: .* stored as int8/);
  assert.throws(() => w.storeAsFloat32(), /storeAsFloat32: .* stored as int8/);
  assert.throws(() => w.quantize('int4'), /is int8 already/);
  // A format the types would stop, from JavaScript: refused by name, before anything is read.
  const v = Tensor.fromHost([4, 32], (d) => d.fill(0.5));
  for (const format of ['float32', 'q4', 'float16']) {
    assert.throws(() => v.quantize(format as 'int8'), new RegExp(`quantize .*: format '${format}' is not one of int8, int4`));
  }
  assert.equal(v.dtype, 'float32');
  assert.throws(() => new QuantizedMatrix('int2' as 'int8', 1, 32, new Uint8Array(32), new Uint16Array(1)), /QuantizedMatrix: format 'int2' is not one of int8, int4, float16/);
  // bfloat16 storage quantizes from its bits.
  const b = Tensor.fromHost([2, 32], (d) => d.set(bf16ToFloat32(float32ToBf16(Float32Array.from({ length: 64 }, (_, i) => i / 7))))).storeAsBf16();
  assert.equal(b.quantize('int4'), true);
  assert.equal(b.dtype, 'int4');
});
