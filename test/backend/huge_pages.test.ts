// adviseHugePages: asked for under a new buffer, refused for a view that holds no whole 2 MiB page,
// off with GIFTJS_HUGE_PAGES=0, and never a change of value (a quantized load gives the same bytes
// with the advice as without); asked for by every frozen weight made in new memory before its first write.
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import { adviseHugePages } from '../../src/backend/huge_pages.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { quantizeReference } from '../../src/formats/quantized.js';
import { float32ToBf16 } from '../../src/formats/dtype.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { randomBenchModel } from '../../src/bench/random_model.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { fileURLToPath } from 'node:url';

const addon = nativeAddon();
function hugePagesOn(): boolean {
  try {
    return !/\[never\]/.test(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
  } catch {
    return false;
  }
}

test('huge pages are asked for under a buffer of whole 2 MiB pages, and not for a small one', { skip: addon ? false : 'the native addon is not built' }, () => {
  assert.equal(adviseHugePages(new Uint8Array(64 * 1024)), false, 'no whole 2 MiB page inside 64 KiB');
  const big = new Uint8Array(8 << 20);
  assert.equal(adviseHugePages(big), process.platform === 'linux' && hugePagesOn());
  big.fill(7);
  assert.equal(big[(8 << 20) - 1], 7);
  process.env.GIFTJS_HUGE_PAGES = '0';
  try {
    assert.equal(adviseHugePages(new Uint8Array(8 << 20)), false, 'GIFTJS_HUGE_PAGES=0 turns it off');
  } finally {
    delete process.env.GIFTJS_HUGE_PAGES;
  }
});

test('a matrix quantized as read is the reference\'s bytes, its codes made of huge pages or not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-huge-'));
  try {
    // 2048 x 2048 values: 4 MiB of int8 codes (whole huge pages inside, so advised) and 2 MiB of int4.
    const rows = 2048, cols = 2048;
    const values = new Float32Array(rows * cols).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 13)));
    const header = JSON.stringify({ w: { dtype: 'F32', shape: [rows, cols], data_offsets: [0, values.byteLength] } });
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(header.length));
    const path = join(dir, 'm.safetensors');
    writeFileSync(path, Buffer.concat([head, Buffer.from(header), Buffer.from(values.buffer)]));
    for (const format of ['int8', 'int4'] as const) {
      const file = SafetensorsFile.open(path);
      const read = file.readQuantized('w', format, 'w');
      file.close();
      const reference = quantizeReference(values, rows, cols, format, 'w');
      assert.deepEqual(Buffer.from(read.codes), Buffer.from(reference.codes), `${format} codes`);
      assert.deepEqual(Buffer.from(read.scales.buffer, read.scales.byteOffset, read.scales.byteLength), Buffer.from(reference.scales.buffer, reference.scales.byteOffset, reference.scales.byteLength), `${format} scales`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Every frozen weight made in new memory asks for huge pages before its first write, where the pages
// are made (advice given after the writes would leave them small): rounded to bfloat16, quantized,
// and the benchmarks' random bf16 weights, as a loaded model's. The values are the same either way.
test('a weight rounded to bfloat16 or quantized in new memory asks for huge pages before it is written', { skip: addon ? false : 'the native addon is not built' }, () => {
  const advised: { bytes: number; zeroWhenAdvised: boolean; view: ArrayBufferView }[] = [];
  const real = addon!.adviseHugePages!;
  addon!.adviseHugePages = (view: ArrayBufferView) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    advised.push({ bytes: view.byteLength, zeroWhenAdvised: bytes.every((b) => b === 0), view });
    return real(view);
  };
  try {
    const rows = 1024, cols = 2048; // 4 MiB of bfloat16, 2 MiB of int8 codes
    const values = new Float32Array(rows * cols).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 13)));
    const w = Tensor.fromArray(values, [rows, cols]).storeAsBf16();
    assert.equal(advised.length, 1);
    assert.equal(advised[0]!.bytes, rows * cols * 2);
    assert.ok(advised[0]!.zeroWhenAdvised, 'advised before the rounded bits were written');
    assert.deepEqual(w.bf16Bits, float32ToBf16(values), 'the same bits as rounded into memory of any pages');

    advised.length = 0;
    const q = Tensor.fromArray(values, [rows, cols]);
    assert.ok(q.quantize('int8'));
    assert.equal(advised.length, 1);
    assert.equal(advised[0]!.bytes, rows * cols);
    assert.ok(advised[0]!.zeroWhenAdvised, 'advised before the codes were written');
    assert.equal(advised[0]!.view, q.quantized!.codes);
    assert.deepEqual(Buffer.from(q.quantized!.codes), Buffer.from(quantizeReference(values, rows, cols, 'int8', 'w').codes));

    advised.length = 0;
    const model = randomBenchModel('smollm2-135m', 'bf16', 1);
    const matrices = model.parameters().filter((p) => p.rank === 2);
    assert.equal(advised.length, matrices.length, 'one advice per matrix of the benchmark model');
    assert.ok(advised.every((a) => a.zeroWhenAdvised), 'each before its bits were written');
    assert.deepEqual(advised.map((a) => a.bytes).sort(), matrices.map((p) => 2 * p.size).sort());
  } finally {
    addon!.adviseHugePages = real;
  }
});

test('a GGUF\'s K-quant matrices, made float16 halves as loaded, ask for huge pages before they are written', { skip: addon ? false : 'the native addon is not built' }, () => {
  process.env.GIFTJS_CACHE ??= mkdtempSync(join(tmpdir(), 'giftjs-huge-cache-'));
  const advised: { buffer: ArrayBufferLike; zeroWhenAdvised: boolean }[] = [];
  const real = addon!.adviseHugePages!;
  addon!.adviseHugePages = (view: ArrayBufferView) => {
    advised.push({ buffer: view.buffer, zeroWhenAdvised: new Uint8Array(view.buffer, view.byteOffset, view.byteLength).every((b) => b === 0) });
    return real(view);
  };
  try {
    const { dir } = ggufModelFolder(fileURLToPath(new URL('../../../test/fixtures/gguf/tiny-kquants.gguf', import.meta.url)));
    // Blocks kept as stored (what gift generate does with a GGUF): Q8_0/Q4_0 mapped in place, the rest float16 halves.
    const model = loadCausalLM(dir, { keepStoredBlocks: true });
    const halves = model.namedParameters().filter(([, p]) => p.dtype === 'float16');
    assert.ok(halves.length > 0, 'the fixture\'s K-quant matrices are held as float16 halves');
    for (const [name, p] of halves) assert.ok(advised.some((a) => a.buffer === p.storedMatrix!.codes.buffer), `${name}: its halves were advised`);
    assert.ok(advised.every((a) => a.zeroWhenAdvised), 'each before it was written');
  } finally {
    addon!.adviseHugePages = real;
  }
});
