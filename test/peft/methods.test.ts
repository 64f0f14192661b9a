// What each method trains, and that gradients reach exactly those tensors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { tidy } from '../../src/tensor/memory.js';

const fixture = (n: string) => fileURLToPath(new URL(`../../../test/fixtures/llama/${n}`, import.meta.url));
const IDS = [1, 40, 7, 80, 22, 5];

function backward(model: LlamaForCausalLM): void {
  tidy(() => crossEntropy(model.forward(IDS, 1, 6), shiftLabels(IDS, 1, 6)).backward());
}

test('full fine-tuning trains every parameter; head trains lm_head; BitFit the biases', () => {
  const full = LlamaForCausalLM.fromPretrained(fixture('llama-gqa'));
  const a = attachAdapter(full, { method: 'full' });
  assert.equal(a.trainableCount(), full.parameters().reduce((n, p) => n + p.size, 0));
  backward(full);
  assert.ok(full.parameters().every((p) => p.grad !== null));

  const head = LlamaForCausalLM.fromPretrained(fixture('llama-gqa'));
  const h = attachAdapter(head, { method: 'head' });
  assert.deepEqual(h.namedTrainable().map(([n]) => n), ['lm_head.weight']);
  backward(head);
  assert.deepEqual(head.namedParameters().filter(([, p]) => p.grad).map(([n]) => n), ['lm_head.weight']);

  const tied = LlamaForCausalLM.fromPretrained(fixture('llama3-scaled-tied'));
  assert.throws(() => attachAdapter(tied, { method: 'head' }), /no separate head \(a tied LM head is the input embedding\)/);

  const qwen = LlamaForCausalLM.fromPretrained(fixture('qwen2-bias'));
  const b = attachAdapter(qwen, { method: 'bitfit' });
  assert.equal(b.namedTrainable().length, 2 * 3);
  assert.ok(b.namedTrainable().every(([n]) => /self_attn\.[qkv]_proj\.bias$/.test(n)));
  backward(qwen);
  assert.equal(qwen.parameters().filter((p) => p.grad).length, 6);
});

test('GIFT targets by dotted suffix and by layer; gradients reach only phi and psi', () => {
  const model = LlamaForCausalLM.fromPretrained(fixture('llama-gqa'));
  const g = attachAdapter(model, { method: 'gift', rank: 3, target_modules: ['self_attn.o_proj', 'mlp.down_proj'], layers: [0] });
  assert.deepEqual(g.describe(), [
    "gift group 'self_attn.o_proj': 1 layers (self_attn.o_proj), in 32, rank 3: 192 parameters",
    "gift group 'mlp.down_proj': 1 layers (mlp.down_proj), in 48, rank 3: 288 parameters",
  ]);
  // psi starts at zero, so phi's gradient is zero at the start; psi's is not.
  backward(model);
  assert.ok(model.parameters().every((p) => p.grad === null));
  const [phi, psi] = g.namedTrainable().map(([, t]) => t);
  assert.ok(phi!.grad!.data.every((v) => v === 0));
  assert.ok(psi!.grad!.data.some((v) => v !== 0));
  // share by input size puts targets of different sizes into different groups
  const bySize = attachAdapter(LlamaForCausalLM.fromPretrained(fixture('llama-gqa')), { method: 'gift', rank: 2, target_modules: ['q_proj', 'k_proj', 'down_proj'], share: 'input-size' });
  assert.deepEqual(bySize.namedTrainable().map(([n]) => n), ['gift.in32.phi', 'gift.in32.psi', 'gift.in48.phi', 'gift.in48.psi']);
});
