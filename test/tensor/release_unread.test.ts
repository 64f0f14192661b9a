// A layer's scope (releasingUnread) gives back, when the layer returns, the
// activations no backward reads, and the others once the last backward that reads them has run. Checked here: the loss and every trainable gradient are the same
// bits with it and without it (GIFT and LoRA on a Llama with and without gradient checkpointing,
// GIFT + head on BERT and ViT), the memory held at the end of the forward is smaller with it, and a
// released activation read afterwards throws rather than misreads a recycled buffer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { BertForSequenceClassification } from '../../src/models/bert/model.js';
import { imagesToPatches, ViTForImageClassification, type ViTConfig } from '../../src/models/vit/model.js';
import { shiftLabels } from '../../src/models/causal_lm.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { add, mul } from '../../src/ops/elementwise.js';
import { gelu } from '../../src/ops/activations.js';
import { sum as sum_ } from '../../src/ops/reduce.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import type { Module } from '../../src/nn/module.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { getBackend } from '../../src/backend/index.js';
import { memoryStats, poolFor, releasingUnread, setReleasingUnread, tidy } from '../../src/tensor/memory.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const IDS = [1, 40, 7, 80, 22, 5, 63, 11, 2, 90];

interface Step { loss: number; grads: Float32Array[]; liveAfterForward: number }

/**
 * The model with an adapter attached, and one step of it: the loss, the trainable gradients and the
 * bytes live tensors hold when the forward ends, with the release on or off (the same adapter values each time).
 */
function stepper(model: Module, method: 'gift' | 'lora', targets: string[], lossOf: () => Tensor, extra: Tensor[] = []): (release: boolean) => Step {
  const adapter = attachAdapter(model, { method, rank: 4, target_modules: targets }, 3);
  const own = adapter.namedTrainable().map(([, t]) => t);
  const trainable = [...own, ...extra];
  for (const t of extra) t.requiresGrad = true; // (attaching froze everything else)
  return (release) => {
    const r = new Random(4);
    for (const t of own) t.writeHost((d) => d.forEach((_, i) => (d[i] = 0.3 * r.normal())));
    for (const t of trainable) t.zeroGrad();
    setReleasingUnread(release);
    try {
      let liveAfterForward = 0;
      const loss = tidy(() => {
        const l = lossOf();
        liveAfterForward = memoryStats().liveBytes;
        l.backward();
        return l.item();
      });
      return { loss, grads: trainable.map((t) => t.grad!.toFloat32Array()), liveAfterForward };
    } finally {
      setReleasingUnread(true);
    }
  };
}

function assertSameStep(on: Step, off: Step, what: string): void {
  assert.ok(Number.isFinite(on.loss), `${what}: loss ${on.loss}`);
  assert.equal(on.loss, off.loss, `${what}: the loss`);
  assert.equal(on.grads.length, off.grads.length);
  on.grads.forEach((g, i) => assert.deepEqual(g, off.grads[i], `${what}: gradient ${i}`));
  assert.ok(on.liveAfterForward < off.liveAfterForward, `${what}: ${on.liveAfterForward} bytes live after the forward with the release, ${off.liveAfterForward} without`);
}

for (const checkpointing of [false, true]) {
  for (const method of ['gift', 'lora'] as const) {
    test(`Llama, ${method}${checkpointing ? ', gradient checkpointing' : ''}: the same loss and gradients with the release${checkpointing ? '' : ', less memory held after the forward'}`, () => {
      const model = LlamaForCausalLM.fromPretrained(`${FIXTURES}llama/llama-gqa`);
      model.gradientCheckpointing = checkpointing;
      const lossOf = () => crossEntropy(model.forward(IDS, 2, 5), shiftLabels(IDS, 2, 5));
      const step = stepper(model, method, ['q_proj', 'v_proj'], lossOf);
      const on = step(true);
      const off = step(false);
      if (checkpointing) {
        // The checkpointed forward keeps only the layers' inputs either way: the release acts in the recomputation.
        assert.equal(on.loss, off.loss);
        on.grads.forEach((g, i) => assert.deepEqual(g, off.grads[i], `gradient ${i}`));
      } else {
        assertSameStep(on, off, `Llama ${method}`);
      }
    });
  }
}

test('BERT, GIFT on query,value + the classifier: the same loss and gradients with the release, less memory held after the forward', () => {
  const model = BertForSequenceClassification.fromPretrained(`${FIXTURES}encoders/bert`, 3);
  const input = { ids: Int32Array.from(IDS.map((i) => i % 23)), attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]), batch: 2, seq: 5 };
  const lossOf = () => crossEntropy(model.logits(input), [0, 2]);
  const step = stepper(model, 'gift', ['query', 'value'], lossOf, model.classifier.parameters());
  assertSameStep(step(true), step(false), 'BERT');
});

test('ViT, GIFT on the attention output + the classifier: the same loss and gradients with the release, less memory held after the forward', () => {
  const config: ViTConfig = { hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, imageSize: 8, patchSize: 4, numChannels: 3, numLabels: 5, layerNormEps: 1e-12 };
  const model = new ViTForImageClassification(config, new Random(3));
  const r = new Random(5);
  const pixels = Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => r.normal());
  const lossOf = () => crossEntropy(model.forward(imagesToPatches(pixels, 2, config)), [1, 4]);
  const step = stepper(model, 'gift', ['attention.output.dense'], lossOf, model.classifier.parameters());
  assertSameStep(step(true), step(false), 'ViT');
});

test('an activation no backward reads is given back when its layer returns; one that a backward reads is kept; reading a released one throws', () => {
  const x = Tensor.fromArray([1, -2, 3, 0.5]).requireGrad();
  const w = Tensor.fromArray([2, 2, 2, 2]);
  tidy(() => {
    let sum!: Tensor;
    let product!: Tensor;
    const out = releasingUnread(() => {
      sum = add(x, w); // add's backward reads neither operand: released
      product = mul(sum, w); // mul reads w for the gradient of sum, not sum itself: released
      return gelu(product); // gelu's backward reads its input: kept
    });
    assert.equal(sum.isDisposed, true);
    assert.equal(product.isDisposed, false);
    assert.throws(() => sum.read(), /was disposed and cannot be used/);
    sum_(out).backward();
    assert.ok(x.grad, 'the gradient flowed through the released sum');
    // Once gelu's backward (its only reader) has run, the backward gives product's buffer back too.
    assert.equal(product.isDisposed, true, 'an activation is given back after the last backward that reads it');
    assert.equal(out.isDisposed, false, 'what the layer returned is left to its scope');
  });
});

test('full fine-tuning of a Llama: the same loss and gradients with the release, and the layers\' activations given back during the backward', () => {
  const model = LlamaForCausalLM.fromPretrained(`${FIXTURES}llama/llama-gqa`);
  const trainable = attachAdapter(model, { method: 'full' }, 3).namedTrainable().map(([, t]) => t);
  const run = (release: boolean) => {
    for (const t of trainable) t.zeroGrad();
    setReleasingUnread(release);
    try {
      const before = memoryStats().liveBytes;
      let activations = 0;
      let leftAfterBackward = 0;
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(IDS, 2, 5), shiftLabels(IDS, 2, 5));
        activations = memoryStats().liveBytes - before;
        l.backward();
        const gradientBytes = trainable.reduce((n, t) => n + 4 * t.grad!.size, 0);
        leftAfterBackward = memoryStats().liveBytes - before - gradientBytes;
        return l.item();
      });
      return { loss, grads: trainable.map((t) => t.grad!.toFloat32Array()), activations, leftAfterBackward };
    } finally {
      setReleasingUnread(true);
    }
  };
  const on = run(true);
  const off = run(false);
  assert.ok(Number.isFinite(on.loss));
  assert.equal(on.loss, off.loss);
  on.grads.forEach((g, i) => assert.deepEqual(g, off.grads[i], `gradient ${i}`));
  // Without the release every activation is still held when the backward ends, beside the new
  // gradients; with it, the layers' own went back as their backwards ran (what is left: each
  // layer's output and the logits, which their scopes give back).
  const what = `bytes of activations held after the backward, of those held after the forward: ${on.leftAfterBackward} of ${on.activations} with the release, ${off.leftAfterBackward} of ${off.activations} without`;
  assert.ok(off.leftAfterBackward > 0.8 * off.activations, what);
  assert.ok(on.leftAfterBackward < 0.4 * on.activations, what);
});

test('without a graph (evaluation) a Llama forward holds one layer\'s activations at a time: the same logits, a lower peak', () => {
  const model = LlamaForCausalLM.fromPretrained(`${FIXTURES}llama/llama-gqa`);
  const pool = poolFor(getBackend().memory);
  const run = (release: boolean) => {
    setReleasingUnread(release);
    try {
      const before = pool.liveBytes;
      let peak = 0;
      const logits = tidy(() => noGrad(() => {
        const out = model.forward(IDS, 2, 5);
        const values = out.toFloat32Array();
        peak = pool.liveBytes - before;
        return values;
      }));
      return { logits, peak };
    } finally {
      setReleasingUnread(true);
    }
  };
  const on = run(true);
  const off = run(false);
  assert.deepEqual(on.logits, off.logits);
  assert.ok(on.peak < off.peak, `${on.peak} bytes held at the forward's end with the release, ${off.peak} without`);
});

test('a prompt\'s prefill into a KV cache holds one layer\'s activations at a time, and the cache it fills decodes the same next token', () => {
  const model = LlamaForCausalLM.fromPretrained(`${FIXTURES}llama/llama-gqa`);
  const pool = poolFor(getBackend().memory);
  const run = (release: boolean) => {
    setReleasingUnread(release);
    const cache = model.newCache(IDS.length + 1);
    try {
      const before = pool.liveBytes;
      let peak = 0;
      const prefill = tidy(() => noGrad(() => {
        const values = model.forward(IDS, 1, IDS.length, { cache }).toFloat32Array();
        peak = pool.liveBytes - before;
        return values;
      }));
      const next = tidy(() => noGrad(() => model.forward([3], 1, 1, { cache }).toFloat32Array()));
      return { prefill, next, peak };
    } finally {
      cache.dispose();
      setReleasingUnread(true);
    }
  };
  const on = run(true);
  const off = run(false);
  assert.deepEqual(on.prefill, off.prefill);
  assert.deepEqual(on.next, off.next);
  assert.ok(on.peak < off.peak, `${on.peak} bytes held at the prefill's end with the release, ${off.peak} without`);
});
