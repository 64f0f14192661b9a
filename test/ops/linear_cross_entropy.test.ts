// linearCrossEntropy (the output projection and the loss a chunk of rows at a time) against the
// unfused crossEntropy(linear(h, W)) it replaces, on every backend: loss and gradients (h and a
// trained W) across several chunks with ignored rows, a frozen bfloat16 W, no row counted;
// finite differences on a small case; and LlamaForCausalLM.loss with GIFT and with an adapted
// lm_head (which must take the unfused path).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linearCrossEntropy, chunkRowsFor } from '../../src/ops/linear_cross_entropy.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { linear } from '../../src/ops/matmul.js';
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, assertGradcheck, randn, testEachBackend } from '../helpers.js';

const ROWS = 600;
// The smallest budget and a 256-row floor: 600 rows run as three chunks of 200.
const SMALL = { chunkValues: 1, minChunkRows: 256 };
const VOCAB = 37;
const IN = 24;

function targetsWithIgnored(rows: number, vocab: number, seed: number): Int32Array {
  const r = new Random(seed);
  return Int32Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? -100 : r.int(vocab)));
}

/** Loss and gradients (h, and W when it trains) of a loss function of (h, W). */
function lossAndGrads(lossOf: (h: Tensor, w: Tensor) => Tensor, h0: Tensor, w0: Tensor) {
  const h = h0.clone().requireGrad();
  const w = w0.dtype === 'float32' && w0.requiresGrad ? w0.clone().requireGrad() : w0;
  const loss = lossOf(h, w);
  loss.backward();
  return { loss: loss.item(), dh: h.grad!.toFloat32Array(), dw: w.requiresGrad ? w.grad!.toFloat32Array() : null };
}

test('chunks: split evenly, never under half the row floor, every row covered', () => {
  assert.equal(chunkRowsFor(600, 37, 1, 256), 200);
  assert.equal(chunkRowsFor(600, 37, 1), 600); // under the 1024-row floor: one chunk
  assert.equal(chunkRowsFor(600, 37), 600); // 600 x 37 logits fit the default budget
  assert.equal(chunkRowsFor(1024, 49152), 1024); // 8 Mi values / 49152 = 170 rows: the 1024-row floor
  assert.equal(chunkRowsFor(4096, 49152), 1024);
  assert.equal(chunkRowsFor(3000, 128256), 1000); // three chunks, split evenly
  assert.equal(chunkRowsFor(4096, 1000), 4096); // one chunk fits the budget
  assert.equal(chunkRowsFor(0, 10), 0);
  for (const [rows, vocab] of [[1, 5], [257, 128256], [1000, 50000], [8192, 128256]] as const) {
    const c = chunkRowsFor(rows, vocab);
    const chunks = Math.ceil(rows / c);
    assert.ok(c >= Math.min(rows, 128) && (chunks - 1) * c < rows && chunks * c >= rows, `${rows} x ${vocab}: chunk ${c}`);
  }
});

testEachBackend('linearCrossEntropy equals crossEntropy(linear(h, W)): loss, dh and dW over three chunks with ignored rows, sum and mean', () => {
  const h = randn([ROWS, IN], 1);
  const w = randn([VOCAB, IN], 2, true);
  const t = targetsWithIgnored(ROWS, VOCAB, 3);
  for (const reduction of ['sum', 'mean'] as const) {
    const fused = lossAndGrads((a, b) => linearCrossEntropy(a, b, t, { reduction, ...SMALL }), h, w);
    const plain = lossAndGrads((a, b) => crossEntropy(linear(a, b), t, { reduction }), h, w);
    assertClose([fused.loss], [plain.loss], `${reduction} loss`, 1e-6, 1e-6);
    assertClose(fused.dh, plain.dh, `${reduction} dh`, 1e-6, 1e-5);
    assertClose(fused.dw!, plain.dw!, `${reduction} dW`, 1e-5, 1e-4);
  }
});

testEachBackend('linearCrossEntropy with a frozen bfloat16 W equals the unfused path on the same bf16 W', () => {
  const h = randn([ROWS, IN], 4);
  const w = randn([VOCAB, IN], 5);
  w.storeAsBf16();
  const t = targetsWithIgnored(ROWS, VOCAB, 6);
  const fused = lossAndGrads((a, b) => linearCrossEntropy(a, b, t, { reduction: 'sum', ...SMALL }), h, w);
  const plain = lossAndGrads((a, b) => crossEntropy(linear(a, b), t, { reduction: 'sum' }), h, w);
  assertClose([fused.loss], [plain.loss], 'bf16 W loss', 1e-5, 1e-6);
  assertClose(fused.dh, plain.dh, 'bf16 W dh', 1e-6, 1e-5);
  assert.equal(fused.dw, null);
});

testEachBackend('linearCrossEntropy: gradients match finite differences', () => {
  const h = randn([5, 4], 7, true);
  const w = randn([7, 4], 8, true);
  const t = Int32Array.from([1, -100, 6, 0, 3]);
  assertGradcheck((a, b) => linearCrossEntropy(a, b, t, { reduction: 'mean' }), [h, w], 'linearCrossEntropy mean');
  assertGradcheck((a, b) => linearCrossEntropy(a, b, t, { reduction: 'sum' }), [h, w], 'linearCrossEntropy sum');
});

testEachBackend('linearCrossEntropy: no row counted gives NaN (mean) and zero gradients, as crossEntropy; refusals name what is allowed', () => {
  const h = randn([4, IN], 9);
  const w = randn([VOCAB, IN], 10, true);
  const t = new Int32Array(4).fill(-100);
  const fused = lossAndGrads((a, b) => linearCrossEntropy(a, b, t), h, w);
  const plain = lossAndGrads((a, b) => crossEntropy(linear(a, b), t), h, w);
  assert.ok(Number.isNaN(fused.loss) && Number.isNaN(plain.loss));
  assertClose(fused.dh, plain.dh, 'dh with no row counted', 0, 0);
  assertClose(fused.dw!, plain.dw!, 'dW with no row counted', 0, 0);
  assert.ok(fused.dh.every((v) => v === 0));
  assert.throws(() => linearCrossEntropy(h, w, t, { reduction: 'none' as never }), /reduction 'none' is not supported \(allowed: 'mean', 'sum'\)/);
  assert.throws(() => linearCrossEntropy(h, w, new Int32Array(3)), /4 rows but 3 targets/);
  assert.throws(() => linearCrossEntropy(randn([4, 5], 1), w, t), /h's last dimension must be 24/);
  // A target out of range is named by its row in the whole batch, not in its chunk (row 300 is in the second chunk of 200).
  const far = targetsWithIgnored(ROWS, VOCAB, 3);
  far[300] = VOCAB;
  assert.throws(() => linearCrossEntropy(randn([ROWS, IN], 1), w, far, SMALL), /target 37 at row 300 is outside the vocabulary of 37/);
  for (const bad of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => linearCrossEntropy(h, w, t, { chunkValues: bad }), /chunkValues .* must be a positive integer/);
    assert.throws(() => linearCrossEntropy(h, w, t, { minChunkRows: bad }), /minChunkRows .* must be a positive integer/);
  }
});

testEachBackend('LlamaForCausalLM.loss equals crossEntropy(forward()) with GIFT attached, and with an adapted lm_head', () => {
  const config = parseLlamaConfig({
    architectures: ['LlamaForCausalLM'], hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, vocab_size: 97, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, max_position_embeddings: 512,
  }, 'test config');
  const batch = 2;
  const seq = 150; // 300 rows: two chunks of 150 with the smallest budget
  const r = new Random(11);
  const ids = Int32Array.from({ length: batch * seq }, () => r.int(config.vocabSize));
  const targets = shiftLabels(ids, batch, seq);
  for (const targetModules of [['q_proj', 'v_proj'], ['q_proj', 'lm_head']]) {
    const model = new LlamaForCausalLM(config, new Random(12));
    const adapter = attachAdapter(model, { method: targetModules.includes('lm_head') ? 'lora' : 'gift', rank: 4, target_modules: targetModules }, 1);
    for (const [, p] of adapter.namedTrainable()) p.writeHost((d) => d.forEach((_, i) => (d[i] = 0.05 * r.normal())));
    const params = adapter.namedTrainable();
    const run = (lossOf: () => Tensor) => {
      for (const [, p] of params) p.grad = null;
      const loss = lossOf();
      loss.backward();
      return { loss: loss.item(), grads: params.map(([, p]) => p.grad!.toFloat32Array()) };
    };
    const fused = run(() => model.loss(ids, batch, seq, targets, { reduction: 'sum', ...SMALL }));
    const plain = run(() => crossEntropy(model.forward(ids, batch, seq), targets, { reduction: 'sum' }));
    const label = targetModules.join('+');
    assertClose([fused.loss], [plain.loss], `${label} loss`, 1e-4, 1e-6);
    fused.grads.forEach((g, i) => assertClose(g, plain.grads[i]!, `${label} grad of ${params[i]![0]}`, 1e-5, 1e-4));
  }
});
