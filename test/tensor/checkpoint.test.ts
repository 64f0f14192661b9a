// Activation checkpointing: the same loss and gradients, less memory held between forward and backward.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { randomSourcesOf, reseedRandomness } from '../../src/nn/layers.js';
import { memoryStats, tidy } from '../../src/tensor/memory.js';
import { checkpoint } from '../../src/tensor/checkpoint.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const r = new Random(3);
const IDS = Int32Array.from({ length: 4 * 24 }, () => r.int(96));

type Method = 'gift' | 'full' | 'lora-dropout';
const CONFIGS: Record<Method, Record<string, unknown>> = {
  gift: { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj', 'down_proj'] },
  full: { method: 'full' },
  'lora-dropout': { method: 'lora', rank: 4, dropout: 0.3, target_modules: ['q_proj', 'v_proj', 'down_proj'] },
};

function run(checkpointing: boolean, method: Method) {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  model.gradientCheckpointing = checkpointing;
  const adapter = attachAdapter(model, CONFIGS[method], 5);
  const rr = new Random(6);
  if (method !== 'full') for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 * rr.normal();
  if (method === 'lora-dropout') {
    // In training mode with the step's seeds, as the trainer runs it: the recomputed layers must draw
    // the forward's dropout masks again (they drew new ones, and the gradient was of another function).
    model.train();
    reseedRandomness(model, 7);
  }
  const base = memoryStats().liveBytes;
  let held = 0;
  const loss = tidy(() => {
    const l = crossEntropy(model.forward(IDS, 4, 24), shiftLabels(IDS, 4, 24));
    held = memoryStats().liveBytes - base;
    l.backward();
    return l.item();
  });
  return { loss, held, grads: adapter.namedTrainable().map(([n, t]) => [n, t.grad!.toFloat32Array()] as const) };
}

for (const method of ['gift', 'full', 'lora-dropout'] as const) {
  test(`${method}: checkpointed layers give the same gradients and hold less between forward and backward`, () => {
    const plain = run(false, method);
    const ckpt = run(true, method);
    assert.equal(ckpt.loss, plain.loss);
    ckpt.grads.forEach(([n, g], i) => assertClose(g, plain.grads[i]![1], n, 1e-6, 1e-5));
    assert.ok(ckpt.held < plain.held / 2, `held ${ckpt.held} bytes with checkpointing vs ${plain.held} without`);
  });
}

test('a checkpointed block calls afterUse after each use: its forward with a graph and without one, and its recomputed backward', () => {
  const x = Tensor.fromArray([1, 2, 3], [3]);
  x.requiresGrad = true;
  let uses = 0;
  const block = (h: Tensor) => mul(h, h);
  const withGraph = checkpoint(block, [x], () => uses++);
  assert.equal(uses, 1, 'after the forward');
  sum(withGraph).backward();
  assert.equal(uses, 2, 'after the recomputed backward');
  assert.deepEqual([...x.grad!.toFloat32Array()], [2, 4, 6]);
  // A held-out evaluation runs without a graph: a streamed layer must give back its weights then too.
  const evaluated = noGrad(() => checkpoint(block, [x], () => uses++));
  assert.equal(uses, 3, 'after a forward without a graph');
  assert.deepEqual([...evaluated.toFloat32Array()], [1, 4, 9]);
});

test("each LoRA layer's dropout draws from its own generator: reseeded for a step, no two draw the same", () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  attachAdapter(model, CONFIGS['lora-dropout'], 5);
  reseedRandomness(model, 7);
  const sources = randomSourcesOf(model);
  assert.equal(sources.length, 6, 'q_proj, v_proj and down_proj of 2 layers');
  const firstDraws = sources.map((r) => Array.from({ length: 4 }, () => r.nextUint32()).join(','));
  assert.equal(new Set(firstDraws).size, sources.length, 'every generator starts elsewhere');
  reseedRandomness(model, 7);
  assert.deepEqual(randomSourcesOf(model).map((r) => Array.from({ length: 4 }, () => r.nextUint32()).join(',')), firstDraws, 'the same step seed, the same draws (a resumed run draws what it would have)');
});
