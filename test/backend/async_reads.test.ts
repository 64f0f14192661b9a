// What a device backend needs of the gift command: on a backend whose memory the host reads only
// asynchronously (WebGPU's rule; src/testing/boxed_backend.ts without synchronous reads), `gift
// train` -- language model with held-out loss, checkpoints and the final adapter; an encoder
// classifier with its evaluation -- runs through and writes what it writes on ref.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withBackendAsync } from '../../src/backend/index.js';
import { trainCommand } from '../../src/cli/train.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { clipGradNorm, clipGradNormAsync, namesOfNonFinite } from '../../src/train/optimizer.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { createBoxedBackend } from '../../src/testing/boxed_backend.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

function tensors(path: string): Map<string, Float32Array> {
  const f = SafetensorsFile.open(path);
  try {
    return new Map([...f.tensors.keys()].map((n) => [n, f.readTensor(n).toFloat32Array()]));
  } finally {
    f.close();
  }
}

function assertNear(got: Map<string, Float32Array>, expected: Map<string, Float32Array>, label: string): void {
  assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), label);
  for (const [name, e] of expected) {
    const g = got.get(name)!;
    // The gradient norm is summed per tensor in float32 on such a backend (float64 on ref): clipping may round differently.
    for (let i = 0; i < e.length; i++) assert.ok(Math.abs(g[i]! - e[i]!) <= 1e-6 + 1e-5 * Math.abs(e[i]!), `${label} ${name}[${i}]: ${g[i]} vs ${e[i]}`);
  }
}

async function trainOn(backend: 'ref' | ReturnType<typeof createBoxedBackend>, args: string[]): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'giftjs-async-'));
  const code = await withBackendAsync(backend, () => trainCommand([...args, '--out', join(out, 'run')]));
  assert.equal(code, 0);
  return join(out, 'run');
}

test('gift train (causal LM: held-out loss, checkpoints, adapter) runs on a backend without synchronous reads', async () => {
  const data = join(mkdtempSync(join(tmpdir(), 'giftjs-async-data-')), 'd.jsonl');
  writeFileSync(data, ['the cat sat on the mat.', 'a dog ran in the park.', 'we went to the sea, then home.', 'it is a big red ball.'].map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const args = ['--model', join(FIXTURES, 'llama/llama-gqa'), '--data', data, '--eval-data', data, '--method', 'gift', '--rank', '2', '--max-steps', '3', '--save-every', '2', '--batch-size', '2', '--lr', '1e-2', '--max-grad-norm', '0.1'];
  const backend = createBoxedBackend({ syncReads: false });
  const [ref, asyncOnly] = [await trainOn('ref', args), await trainOn(backend, args)];
  assert.ok((backend.calls.get('sumOfSquaresInto') ?? 0) > 0, 'clipping summed the squares in the backend');
  assertNear(tensors(join(asyncOnly, 'adapter/adapter_model.safetensors')), tensors(join(ref, 'adapter/adapter_model.safetensors')), 'adapter');
  for (const step of [2, 3]) {
    assertNear(tensors(join(asyncOnly, `checkpoint-${step}/state.safetensors`)), tensors(join(ref, `checkpoint-${step}/state.safetensors`)), `checkpoint-${step}`);
    assertNear(tensors(join(asyncOnly, `checkpoint-${step}/adapter/adapter_model.safetensors`)), tensors(join(ref, `checkpoint-${step}/adapter/adapter_model.safetensors`)), `checkpoint-${step} adapter`);
  }
  const losses = (dir: string) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
  assert.deepEqual(losses(asyncOnly).map((l) => l.toFixed(5)), losses(ref).map((l) => l.toFixed(5)));
  assert.equal(readFileSync(join(asyncOnly, 'adapter/adapter_config.json'), 'utf8'), readFileSync(join(ref, 'adapter/adapter_config.json'), 'utf8'));
});

test('gift train --task seqcls (head + GIFT, held-out metrics) runs on a backend without synchronous reads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-async-data-'));
  const rows = ['good\tthe film was lovely', 'bad\tthe film was awful', 'good\ta fine warm day', 'bad\ta cold grey day', 'good\tkind and warm', 'bad\trude and cold'];
  writeFileSync(join(dir, 'train.tsv'), `label\ttext\n${rows.join('\n')}\n`);
  const args = ['--task', 'seqcls', '--model', join(FIXTURES, 'encoders/bert'), '--data', join(dir, 'train.tsv'), '--eval-data', join(dir, 'train.tsv'), '--method', 'gift', '--rank', '2', '--max-steps', '2', '--batch-size', '3', '--lr', '1e-2', '--max-length', '16'];
  const [ref, asyncOnly] = [await trainOn('ref', args), await trainOn(createBoxedBackend({ syncReads: false }), args)];
  assertNear(tensors(join(asyncOnly, 'adapter/adapter_model.safetensors')), tensors(join(ref, 'adapter/adapter_model.safetensors')), 'adapter');
  const metrics = (d: string) => JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8'));
  assert.equal(metrics(asyncOnly).validation.accuracy, metrics(ref).validation.accuracy);
});

test('without synchronous reads, the gradient norm is summed in the backend and a non-finite gradient is named', async () => {
  const grads = [Float32Array.from({ length: 300 }, (_, i) => Math.sin(i)), Float32Array.from({ length: 7 }, (_, i) => i - 3)];
  const params = () => grads.map((g) => {
    const p = Tensor.zeros([g.length]);
    p.grad = new Tensor(g.slice(), [g.length]);
    return p;
  });
  const expected = clipGradNorm(params(), 1);
  const got = await withBackendAsync(createBoxedBackend({ syncReads: false }), async () => {
    const ps = params();
    const norm = await clipGradNormAsync(ps, 1);
    const clipped = await ps[1]!.grad!.readAsync();
    const bad = Float32Array.from(grads[0]!);
    bad[123] = NaN;
    const names = await namesOfNonFinite([['fine', ps[1]!.grad!], ['broken', new Tensor(bad, [bad.length])]]);
    return { norm, clipped: Float32Array.from(clipped), names };
  });
  assert.ok(Math.abs(got.norm - expected) <= 1e-6 * expected, `${got.norm} vs ${expected}`);
  const reference = params();
  clipGradNorm(reference, 1);
  assertNear(new Map([['g', got.clipped]]), new Map([['g', reference[1]!.grad!.toFloat32Array()]]), 'clipped gradient');
  assert.deepEqual(got.names, ['broken']);
});
