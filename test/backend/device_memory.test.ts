// Memory belongs to the backend: every model family trains on a backend whose buffers the host
// cannot address (src/testing/boxed_backend.ts, the reference kernels behind opaque handles) to
// exactly the bits it reaches on `ref`, and adapters and checkpoints save and load from it. A
// stray host access anywhere in ops/, nn/, models/, peft/ or train/ (indexing .data, handing a
// Float32Array to a kernel, writing into a downloaded copy) fails or changes the numbers here.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withBackend, withBackendAsync } from '../../src/backend/index.js';
import { BertForSequenceClassification } from '../../src/models/bert/model.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { imagesToPatches, ViTForImageClassification } from '../../src/models/vit/model.js';
import type { Module } from '../../src/nn/module.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { createBoxedBackend } from '../../src/testing/boxed_backend.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { tidy } from '../../src/tensor/memory.js';
import { Random } from '../../src/tensor/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { loadCheckpoint, saveCheckpoint, TRAINING_RULES } from '../../src/train/checkpoint.js';
import { AdamW, clipGradNorm } from '../../src/train/optimizer.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const IDS = [1, 40, 7, 80, 22, 5, 9, 3];
const TARGETS = Int32Array.from([40, 7, 80, -100, 5, 9, 3, 2]);

interface Case {
  name: string;
  build(): Module;
  /** The loss of a fixed batch (a scalar). */
  loss(m: Module): Tensor;
  adapter: Record<string, unknown>;
  bf16?: boolean;
  /** Kernels the step must have run on the backend, besides the GEMM and the optimizer's. */
  kernels: string[];
}

const encoderBatch = () => ({ ids: Int32Array.from([1, 5, 9, 13, 2, 3, 4, 7, 11, 0]), attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]), batch: 2, seq: 5 });

const CASES: Case[] = [
  {
    name: 'llama (GQA), GIFT, frozen weights in bfloat16',
    build: () => LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama/llama-gqa')),
    loss: (m) => crossEntropy((m as LlamaForCausalLM).forward(IDS, 2, 4), TARGETS),
    adapter: { method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] },
    bf16: true,
    kernels: ['gatherRows', 'ropeRotate', 'attentionBackward', 'swigluBackward', 'crossEntropyBackward'],
  },
  {
    name: 'qwen2 (biases, tied head), LoRA with dropout',
    build: () => LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama/qwen2-bias')),
    loss: (m) => crossEntropy((m as LlamaForCausalLM).forward(IDS, 2, 4), TARGETS),
    adapter: { method: 'lora', rank: 2, alpha: 4, dropout: 0.25, target_modules: ['q_proj', 'v_proj'] },
    kernels: ['gatherRows', 'binary', 'copyStrided'],
  },
  {
    name: 'bert, GIFT and its classifier head (dropout, tanh pooler, GELU)',
    build: () => BertForSequenceClassification.fromPretrained(join(FIXTURES, 'encoders/bert'), 3),
    loss: (m) => crossEntropy((m as BertForSequenceClassification).logits(encoderBatch()), [2, 0]),
    adapter: { method: 'gift', rank: 2, target_modules: ['query', 'value'] },
    kernels: ['gatherRows', 'layerNormBackward', 'activationBackward', 'reduceSum', 'copyBlocks'],
  },
  {
    name: 'vit, full fine-tuning (layer norms, biases, every gradient)',
    build: () => ViTForImageClassification.fromPretrained(join(FIXTURES, 'encoders/vit')),
    loss: (m) => {
      const vit = m as ViTForImageClassification;
      const c = vit.config;
      const r = new Random(4);
      const pixels = Float32Array.from({ length: 2 * c.numChannels * c.imageSize * c.imageSize }, () => r.normal());
      return crossEntropy(vit.forward(imagesToPatches(pixels, 2, c)), [1, 0]);
    },
    adapter: { method: 'full' },
    kernels: ['layerNormBackward', 'reduceSum', 'copyBlocks', 'fill'],
  },
];

/** Two clipped AdamW steps; returns the losses, the trained values and the reloaded adapter's loss. */
async function train(c: Case): Promise<{ losses: number[]; trained: Map<string, Float32Array>; reloaded: number; resumedMoment: Float32Array }> {
  const model = c.build();
  const adapter = attachAdapter(model, c.adapter, 7);
  if (c.bf16) assert.ok(model.storeFrozenWeightsAsBf16() > 0);
  model.train();
  const trainable = adapter.namedTrainable();
  const optimizer = new AdamW([{ params: trainable, lrScale: 1, weightDecay: 0.01 }]);
  const losses: number[] = [];
  for (let step = 0; step < 2; step++) {
    losses.push(tidy(() => {
      const loss = c.loss(model);
      loss.backward();
      return loss.item();
    }));
    clipGradNorm(trainable.map(([, t]) => t), 0.05);
    optimizer.update(1e-2);
    model.zeroGrad();
  }
  const trained = new Map(trainable.map(([n, t]) => [n, Float32Array.from(t.read())]));

  const dir = mkdtempSync(join(tmpdir(), 'giftjs-boxed-'));
  saveAdapter(join(dir, 'adapter'), adapter, { path: 'fixture', architecture: 'fixture' });
  // A fingerprint as the trainer writes one: the run's settings with the training rules' version.
  const fingerprint = JSON.stringify({ trainingRules: TRAINING_RULES });
  const checkpoint = await saveCheckpoint(dir, trainable, optimizer, { step: 2, fingerprint, evalHistory: [] });
  const fresh = c.build();
  const again = loadAdapter(join(dir, 'adapter'), fresh);
  if (c.bf16) fresh.storeFrozenWeightsAsBf16();
  fresh.eval();
  model.eval();
  const reloaded = tidy(() => noGrad(() => c.loss(fresh).item()));
  assert.equal(reloaded, tidy(() => noGrad(() => c.loss(model).item())), `${c.name}: the reloaded adapter gives the trained model's loss`);
  const resumed = new AdamW([{ params: again.namedTrainable(), lrScale: 1, weightDecay: 0.01 }]);
  loadCheckpoint(checkpoint, again.namedTrainable(), resumed, fingerprint);
  const resumedMoment = Float32Array.from([...resumed.stateTensors().values()][0]!.read());
  return { losses, trained, reloaded, resumedMoment };
}

for (const c of CASES) {
  test(`device memory: ${c.name} trains on opaque buffers to the bits of ref`, async () => {
    const expected = await withBackendAsync('ref', () => train(c));
    const boxed = createBoxedBackend();
    const got = await withBackendAsync(boxed, () => train(c));
    assert.deepEqual(got.losses, expected.losses);
    assert.ok(got.losses.every(Number.isFinite) && got.losses[1] !== got.losses[0], 'the steps changed the loss');
    assert.deepEqual([...got.trained.keys()], [...expected.trained.keys()]);
    for (const [name, values] of expected.trained) assert.deepEqual(got.trained.get(name), values, `${c.name}: ${name}`);
    assert.equal(got.reloaded, expected.reloaded);
    assert.deepEqual(got.resumedMoment, expected.resumedMoment, 'the checkpoint restores the optimizer state');
    for (const kernel of ['gemm', 'adamwUpdate', 'sumOfSquares', 'scaleInPlace', ...c.kernels]) {
      assert.ok((boxed.calls.get(kernel) ?? 0) > 0, `${c.name}: the step ran ${kernel} on the backend`);
    }
  });
}

test('device memory: host access to a boxed tensor is refused by name, and a host array is refused by every kernel', () => {
  const boxed = createBoxedBackend();
  withBackend(boxed, () => {
    const t = tidy(() => crossEntropy(LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama/llama-gqa')).forward(IDS, 2, 4), TARGETS).keep());
    assert.throws(() => t.data, /lives in boxed memory; read it with read\(\)/);
    assert.ok(Number.isFinite(t.item()));
    const copy = t.read();
    copy[0] = 123;
    assert.notEqual(t.item(), 123, 'read() is a copy on a device backend');
    assert.throws(() => boxed.fill(new Float32Array(4), 0, 4), /fill argument 0 was given a host Float32Array/);
    t.dispose();
  });
});
