// Option objects from JavaScript: a misspelt option had been ignored and the default used instead
// (matmul's { transB: true } computed a @ b, not a @ b^T, when the shapes allowed both).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from '../../src/generate/generate.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { scaledDotProductAttention } from '../../src/ops/attention.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { matmul } from '../../src/ops/matmul.js';
import { rope } from '../../src/ops/rope.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { DEFAULT_TRAIN_OPTIONS, validateTrainOptions, type TrainOptions } from '../../src/train/trainer.js';
import { randn } from '../helpers.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama3-scaled-tied', import.meta.url));

test('a misspelt option is refused by name, with the options there are', () => {
  const a = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
  assert.throws(() => matmul(a, a, { transB: true } as object), /matmul: unknown option 'transB' \(its options: transposeA, transposeB\)/);
  assert.deepEqual(Array.from(matmul(a, a, { transposeB: true }).read()), [5, 11, 11, 25], 'a @ a^T');
  const q = randn([1, 1, 2, 4], 1);
  assert.throws(() => scaledDotProductAttention(q, q, q, { causal: true, sliding: 2 } as object), /scaledDotProductAttention: unknown option 'sliding'/);
  assert.throws(() => rope(q, { offset: 3 } as object), /rope: unknown option 'offset' \(its options: theta, positionOffset, invFreq, positions, scale\)/);
  assert.throws(() => crossEntropy(randn([2, 3], 2), [0, 1], { ignore_index: 0 } as object), /crossEntropy: unknown option 'ignore_index'/);
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  assert.throws(() => generate(model, [1, 5], { maxTokens: 3, top_k: 2 } as object), /generate: unknown options 'maxTokens', 'top_k'/);
  assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, learningRate: 1e-3 } as TrainOptions), /training options: unknown option 'learningRate'/);
  validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, saveTotalLimit: 2 });
  // The seed's 32 bits, as generate() and the server take them (isUserSeed).
  for (const seed of [2 ** 32, -1, 1.5]) assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, seed }), new RegExp(`training option seed is ${seed}; it must be an integer in \\[0, 2\\^32\\)`));
  validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, seed: 2 ** 32 - 1 });
});
