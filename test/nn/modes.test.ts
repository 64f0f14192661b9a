// Train and eval modes: dropout (LoRA's) runs only in training mode, and a model is in evaluation
// mode unless the trainer switches it. Before, LoRA dropout stayed on in eval, generate and merge,
// so an adapter trained with dropout disagreed with its own merged model.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { trainModel, DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';
import { assertClose } from '../helpers.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const IDS = [5, 9, 13, 2, 40, 7, 11, 3];

function loraWithDropout() {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const adapter = attachAdapter(model, { method: 'lora', rank: 4, alpha: 8, dropout: 0.5, target_modules: ['q_proj', 'v_proj'] }, 3);
  const r = new Random(4);
  for (const [n, t] of adapter.namedTrainable()) if (n.includes('lora_B')) for (let i = 0; i < t.size; i++) t.data[i] = 0.5 * r.normal();
  return { model, adapter };
}

const logits = (m: LlamaForCausalLM) => noGrad(() => m.forward(IDS, 2, 4).toFloat32Array());

test('LoRA dropout is off in evaluation mode (the default): outputs are deterministic and equal the merged model', () => {
  const { model, adapter } = loraWithDropout();
  assert.equal(model.training, false);
  const a = logits(model);
  assertClose(logits(model), a, 'eval is deterministic', 0, 0);
  adapter.merge();
  assertClose(logits(model), a, 'merged = adapted in eval mode', 2e-5, 2e-5);
  adapter.unmerge();
  const e = logits(model); // unmerge restores the weights to rounding, so compare with this
  model.train();
  assert.ok(model.model.layers[0]!.self_attn.q_proj!.training, 'train() reaches every module');
  const t = logits(model);
  assert.ok(t.some((v, i) => Math.abs(v - a[i]!) > 1e-4), 'dropout acts in training mode');
  model.eval();
  assertClose(logits(model), e, 'eval() turns it off again', 0, 0);
});

test('the trainer trains in training mode, evaluates held-out data in evaluation mode, and ends in evaluation mode', async () => {
  const { model, adapter } = loraWithDropout();
  const row = (ids: number[]) => ({ ids: Int32Array.from(ids), labels: Int32Array.from(ids) });
  const examples = [row(IDS), row(IDS.slice().reverse())];
  const modes: boolean[] = [];
  const r = await trainModel({
    model, adapter, train: examples, heldOut: examples, padId: 0,
    options: { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 2, batchSize: 2, lr: 1e-3 },
    callbacks: { onEval: () => modes.push(model.training), onStep: () => modes.push(model.training) },
  });
  assert.deepEqual(modes, [false, true, true, false], 'held-out at 0, two steps, held-out at the end');
  assert.equal(model.training, false);
  // The held-out loss the trainer logged is the deterministic one.
  const again = await trainModel({ model, adapter, train: examples, heldOut: examples, padId: 0, options: { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 1, batchSize: 2, lr: 1e-30 } });
  assert.ok(Math.abs(again.evalHistory[0]!.loss - r.evalHistory[r.evalHistory.length - 1]!.loss) < 1e-5);
});
