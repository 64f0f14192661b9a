// gift train --bf16: frozen weights stored as bfloat16 and every product on bf16 dot products (as
// PyTorch's autocast), trainable parameters, their gradients and AdamW's state in float32. The
// native run (AVX-512 BF16) follows ref's exact emulation of it; both stay within bf16 rounding of
// the float32 run without equalling it; the adapter is written in float32; a bf16 checkpoint is not
// resumed as a float32 run; the encoder tasks refuse the flag by name.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon, withBackendAsync } from '../../src/backend/index.js';
import { trainCommand } from '../../src/cli/train.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const hasBf16Dots = nativeAddon()?.cpuInfo().features.includes('avx512bf16') ?? false;

function dataFile(): string {
  const data = join(mkdtempSync(join(tmpdir(), 'giftjs-bf16-data-')), 'd.jsonl');
  const texts = ['the cat sat on the mat.', 'a dog ran in the park.', 'we went to the sea, then home.', 'it is a big red ball.'];
  writeFileSync(data, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  return data;
}

const ARGS = (data: string) => ['--model', join(FIXTURES, 'llama/llama-gqa'), '--data', data, '--method', 'gift', '--rank', '4', '--max-steps', '4', '--batch-size', '2', '--lr', '1e-2', '--seed', '5'];

async function train(backend: 'ref' | 'native', args: string[]): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-bf16-')), 'run');
  const code = await withBackendAsync(backend, () => trainCommand([...args, '--out', out]));
  assert.equal(code, 0);
  return out;
}

const losses = (dir: string) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);

test('gift train --bf16: native follows ref\'s emulation, both within bf16 rounding of float32 and not equal to it; the adapter is float32', { skip: hasBf16Dots ? false : 'this CPU has no AVX-512 BF16 (or the native addon is not built)' }, async () => {
  const data = dataFile();
  const f32 = losses(await train('native', ARGS(data)));
  const refBf16 = await train('ref', [...ARGS(data), '--bf16']);
  const nativeBf16 = await train('native', [...ARGS(data), '--bf16']);
  const [r, n] = [losses(refBf16), losses(nativeBf16)];
  assert.equal(n.length, f32.length);
  for (let i = 0; i < n.length; i++) {
    // The same rounding, summed in another order (ref in float64). The first two steps agree to
    // ~1e-7; later ones may not: a sum that lands on the other side of a bf16 rounding boundary
    // changes a near-zero gradient component, and AdamW's normalised step turns that into a full
    // lr-sized update (1.7e-4 measured at step 2 with the chunked output loss). 1e-3 is still 20x
    // inside the bf16 / float32 tolerance below.
    const tolerance = i < 2 ? 1e-5 : 1e-3;
    assert.ok(Math.abs(n[i]! - r[i]!) <= tolerance * Math.abs(r[i]!), `step ${i}: native ${n[i]} vs ref ${r[i]}`);
    assert.ok(Math.abs(n[i]! - f32[i]!) <= 2e-2 * Math.abs(f32[i]!), `step ${i}: bf16 ${n[i]} vs float32 ${f32[i]}`);
  }
  assert.ok(n.some((l, i) => l !== f32[i]), 'the bf16 run rounded something');
  const f = SafetensorsFile.open(join(nativeBf16, 'adapter/adapter_model.safetensors'));
  try {
    for (const [name, info] of f.tensors) assert.equal(info.dtype, 'F32', name);
  } finally {
    f.close();
  }
  assert.match(readFileSync(join(nativeBf16, 'config.yaml'), 'utf8'), /^bf16: true$/m);
});

test('gift train --bf16: a bf16 checkpoint is not resumed as a float32 run; encoder tasks refuse the flag by name', async () => {
  const data = dataFile();
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-bf16-')), 'run');
  const args = [...ARGS(data), '--out', out, '--save-every', '2'];
  assert.equal(await withBackendAsync('ref', () => trainCommand([...args, '--bf16'])), 0);
  await assert.rejects(withBackendAsync('ref', () => trainCommand([...args, '--max-steps', '6', '--resume'])), /differ: bf16: true in the checkpoint, \(unset\) now/);
  const rows = join(mkdtempSync(join(tmpdir(), 'giftjs-bf16-data-')), 't.tsv');
  writeFileSync(rows, 'label\ttext\ngood\ta fine day\nbad\ta grey day\n');
  await assert.rejects(
    withBackendAsync('ref', () => trainCommand(['--model', join(FIXTURES, 'encoders/bert'), '--data', rows, '--out', join(out, 'x'), '--bf16'])),
    /--bf16 trains language models so far; .*encoders\/bert, a sequence classifier \(bert\) trains in float32/,
  );
});
