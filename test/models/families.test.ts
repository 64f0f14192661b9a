// Model families are data: a new family is its module and one registry entry. A small one is
// registered here and is then found by config.json, loaded strictly, refused for the wrong task,
// and takes GIFT like the built-in families.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFromCheckpoint } from '../../src/io/hf_folder.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import type { EncoderInput, SequenceClassifier } from '../../src/models/encoder.js';
import { loadStateDict } from '../../src/models/load_state_dict.js';
import { loadModel, loadSequenceClassifier, modelFamily, registerModelFamily } from '../../src/models/registry.js';
import { Embedding, Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { mean } from '../../src/ops/reduce.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';

/** A bag-of-embeddings classifier: the whole family fits in a dozen lines. */
class BagClassifier extends Module implements SequenceClassifier {
  readonly embed = this.child('embed', new Embedding(10, 4, new Random(1), 0.5));
  readonly query = this.child('encoder.query', new Linear(4, 4, new Random(2)));
  readonly classifier: Linear;
  readonly maxTokens = Infinity; // (no positions: a bag reads any length)
  constructor(readonly numLabels: number) {
    super();
    this.classifier = this.child('classifier', new Linear(4, numLabels, new Random(3)));
  }
  logits(input: EncoderInput): Tensor {
    const h = this.query.forward(this.embed.forward(input.ids, [input.batch, input.seq]));
    return this.classifier.forward(mean(h, [1]));
  }
}

test('a registered family is found by its config.json, loaded strictly, and takes GIFT', () => {
  registerModelFamily({
    name: 'bag', kind: 'sequence-classifier', architectures: ['BagForSequenceClassification'],
    accepts: (c) => (c.architectures as unknown[] | undefined)?.[0] === 'BagForSequenceClassification',
    giftTargets: ['query'], giftRank: 2,
    load: (dir, o) => loadFromCheckpoint(dir, () => new BagClassifier(o.numLabels ?? 2), (m, reader) =>
      loadStateDict(m, reader, { what: 'BagForSequenceClassification', optional: (n) => n.startsWith('classifier.') })).model,
  });
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-family-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['BagForSequenceClassification'] }));
  const source = new BagClassifier(3);
  saveSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(source.namedParameters()), { format: 'pt' });

  assert.equal(modelFamily(dir).name, 'bag');
  const model = loadSequenceClassifier(dir, 3) as BagClassifier;
  assert.deepEqual(Array.from(model.query.weight.data), Array.from(source.query.weight.data));
  const input: EncoderInput = { ids: Int32Array.from([1, 2, 3, 4, 5, 6]), attentionMask: new Float32Array(6).fill(1), batch: 2, seq: 3 };
  const before = noGrad(() => model.logits(input).toFloat32Array());
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['query'] });
  assert.equal(adapter.trainableCount(), 2 * 4 * 2);
  assert.deepEqual(noGrad(() => model.logits(input).toFloat32Array()), before, 'GIFT starts at the base model');

  assert.throws(() => loadModel(dir, 'causal-lm'), /a bag model is a sequence-classifier, not a causal-lm/);
  const unknown = mkdtempSync(join(tmpdir(), 'giftjs-family-'));
  writeFileSync(join(unknown, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'] }));
  assert.throws(() => modelFamily(unknown), /architecture "GPT2LMHeadModel" is not supported \(supported: BagForSequenceClassification, LlamaForCausalLM/);
});
