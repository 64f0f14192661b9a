// adviseHugePages: asked for under a new buffer, refused for a view that holds no whole 2 MiB page,
// off with GIFTJS_HUGE_PAGES=0, and never a change of value (a quantized load gives the same bytes
// with the advice as without).
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import { adviseHugePages } from '../../src/io/huge_pages.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { quantizeReference } from '../../src/formats/quantized.js';

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
