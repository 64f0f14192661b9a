// The engine end to end on a two-layer Llama-style Transformer: its gradients against finite
// differences, and a 20-step training loop whose memory must not grow.
import assert from 'node:assert/strict';
import { memoryStats, tidy } from '../../src/tensor/memory.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { TinyTransformer } from '../../src/testing/tiny_transformer.js';
import { assertGradcheck, testEachBackend } from '../helpers.js';

const CONFIG = { vocab: 48, dim: 32, heads: 4, kvHeads: 2, hidden: 40, layers: 2 };

function batchOfIds(seed: number, batch: number, seq: number): Int32Array {
  const r = new Random(seed);
  return Int32Array.from({ length: batch * seq }, () => r.int(CONFIG.vocab));
}

testEachBackend('two-layer Transformer: gradients of every kind of parameter match finite differences', () => {
  const model = new TinyTransformer(CONFIG, new Random(1));
  const ids = batchOfIds(2, 2, 6);
  const named = new Map(model.namedParameters());
  const probe = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.v_proj.weight',
    'model.layers.1.mlp.down_proj.weight', 'model.layers.1.input_layernorm.weight', 'lm_head.weight'];
  for (const name of probe) {
    const p = named.get(name)!;
    assert.ok(p, name);
    assertGradcheck(() => model.loss(ids, 2, 6), [p], name, { eps: 1e-2, maxProbesPerInput: 12, atol: 2e-4, rtol: 2e-2 });
    model.zeroGrad();
  }
  model.dispose();
});

testEachBackend('20 training steps: the loss falls and memory stays flat', () => {
  const model = new TinyTransformer(CONFIG, new Random(3));
  const params = model.trainableParameters();
  const ids = batchOfIds(4, 4, 16);
  const lr = 0.05;
  const losses: number[] = [];
  const live: number[] = [];
  const fresh: number[] = [];
  for (let step = 0; step < 20; step++) {
    tidy(() => {
      const loss = model.loss(ids, 4, 16);
      losses.push(loss.item());
      loss.backward();
      noGrad(() => {
        for (const p of params) {
          const g = p.grad!.data;
          const d = p.data;
          for (let i = 0; i < d.length; i++) d[i]! -= lr * g[i]!;
        }
      });
      model.zeroGrad();
    });
    const m = memoryStats();
    live.push(m.liveBytes);
    fresh.push(m.freshAllocations);
  }
  assert.ok(losses[19]! < losses[0]! - 0.3, `loss went from ${losses[0]} to ${losses[19]}`);
  // After the first step has filled the pool, every step reuses buffers: no new allocations
  // and the same bytes held between steps.
  for (let s = 2; s < 20; s++) {
    assert.equal(live[s], live[1], `live bytes after step ${s}: ${live[s]} vs ${live[1]}`);
    assert.equal(fresh[s], fresh[1], `fresh allocations after step ${s}: ${fresh[s]} vs ${fresh[1]}`);
  }
  model.dispose();
});
