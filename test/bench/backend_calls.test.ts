// The kernel tables of `gift bench step --profile` and `gift bench generate --profile`
// (src/bench/backend_calls.ts): every gemm the backend runs while it watches is counted under its shape,
// transposes and B's storage, with 2 M N K FLOPs a problem (times the batch) and B's bytes as stored,
// every other kernel by name, the results themselves unchanged, and the backend restored after; a
// training step with --profile reports the calls a step of its layers makes, a decoding profile the
// calls of the tokens after the prompt's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchTrainingStep } from '../../src/bench/step.js';
import { gemmCallsTable, timeBackendCalls } from '../../src/bench/backend_calls.js';
import { decodingProfileTable, profileDecoding } from '../../src/bench/generation.js';
import { weightBytesPerToken } from '../../src/bench/peak.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { generate } from '../../src/generate/generate.js';
import { fileURLToPath } from 'node:url';
import { getBackend } from '../../src/backend/index.js';
import { linear, matmul } from '../../src/ops/matmul.js';
import { add } from '../../src/ops/elementwise.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

test('each gemm is counted under its shape, transposes and B storage; the products are the same; the backend is restored', () => {
  const r = new Random(3);
  const x = Tensor.randn([5, 7], r);
  const w = Tensor.randn([3, 7], r);
  const a = Tensor.randn([2, 4, 6], r);
  const b = Tensor.randn([2, 6, 8], r);
  const before = getBackend();
  const plain = [linear(x, w).toArray(), matmul(a, b).toArray()];
  const { result, groups, kernels } = timeBackendCalls(() => [linear(x, w).toArray(), linear(x, w).toArray(), matmul(a, b).toArray()]);
  assert.equal(getBackend(), before);
  assert.deepEqual(result, [plain[0], plain[0], plain[1]]);
  const byShape = new Map(groups.map((g) => [g.shape, g]));
  assert.deepEqual([...byShape.keys()].sort(), ['4 x 8 x 6 (x2) NN f32', '5 x 3 x 7 NT f32']);
  assert.equal(byShape.get('5 x 3 x 7 NT f32')!.calls, 2);
  assert.equal(byShape.get('5 x 3 x 7 NT f32')!.flops, 2 * 2 * 5 * 3 * 7);
  assert.equal(byShape.get('4 x 8 x 6 (x2) NN f32')!.flops, 2 * 4 * 8 * 6 * 2);
  // B's float32 values, read by each call: w [3, 7] twice, b [2, 6, 8] once.
  assert.equal(byShape.get('5 x 3 x 7 NT f32')!.bBytes, 2 * 3 * 7 * 4);
  assert.equal(byShape.get('4 x 8 x 6 (x2) NN f32')!.bBytes, 2 * 6 * 8 * 4);
  assert.deepEqual(kernels, []); // no other kernel ran
  for (const g of groups) assert.ok(g.ms >= 0 && Number.isFinite(g.ms));
  const table = gemmCallsTable(groups, 10, null);
  assert.match(table, /all 3 GEMMs: [0-9.]+ ms of the step's 10\.0 \(/);
});

test('a profiled training step reports its GEMMs per step: the layers\' linears, GIFT\'s products and the LM head', () => {
  // One layer of SmolLM2's shape, batch 1 x 16: q, k, v, o, gate, up, down (x W^T forward, dY W backward),
  // GIFT's x psi and its back-projection, and the tied LM head's two products.
  const t = benchTrainingStep('smollm2-135m', 1, 16, 8, 'gift', 1, 1, 'f32', false, false, true);
  const groups = t.gemmCalls!;
  const shapes = new Set(groups.map((g) => g.shape));
  for (const s of ['16 x 576 x 576 NT f32', '16 x 192 x 576 NT f32', '16 x 1536 x 576 NT f32', '16 x 576 x 1536 NT f32', '16 x 49152 x 576 NT f32', '16 x 576 x 49152 NN f32', '16 x 576 x 1536 NN f32'])
    assert.ok(shapes.has(s), `${s} missing from ${[...shapes].join(', ')}`);
  const forward = groups.find((g) => g.shape === '16 x 1536 x 576 NT f32')!;
  assert.equal(forward.calls, 2); // gate and up, once each per step
  assert.equal(forward.flops, 2 * 2 * 16 * 1536 * 576);
});

test('the other kernels are timed by name, and calls made while counting says false are not counted', () => {
  const r = new Random(4);
  const x = Tensor.randn([4, 8], r);
  const w = Tensor.randn([8, 8], r);
  let counting = false;
  const { groups, kernels } = timeBackendCalls(() => {
    add(linear(x, w), x).toArray(); // not counted
    counting = true;
    return add(add(linear(x, w), x), x).toArray();
  }, () => counting);
  assert.deepEqual(groups.map((g) => [g.shape, g.calls]), [['4 x 8 x 8 NT f32', 1]]);
  assert.deepEqual(kernels.map((k) => [k.kernel, k.calls]), [['binary', 2]]);
});

const GQA = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));

test('a decoding profile counts the GEMVs of the tokens after the prompt: each layer\'s seven and the head, every weight read once a token', () => {
  const model = loadCausalLM(GQA); // 2 layers, an untied head
  const prompt = [5, 9, 13, 2, 40];
  const tokens = 6;
  const p = profileDecoding(model, prompt, tokens);
  assert.equal(p.tokens, tokens);
  // The same tokens as an unprofiled generation: the timing changes nothing.
  assert.equal(generate(model, prompt, { maxNewTokens: tokens + 1 }).length, tokens + 1);
  // No product of the prompt's prefill (5 rows) is counted: every one has one row.
  for (const g of p.groups) assert.match(g.shape, /^1 x \d+ x \d+ NT f32$/);
  const calls = p.groups.reduce((s, g) => s + g.calls, 0);
  assert.equal(calls, tokens * (7 * 2 + 1));
  // Every matrix a token multiplies by (the layers' and the untied head; the embedding is a lookup) is read
  // once: the weights' bytes less the norms' vectors, which no product reads.
  const matrices = model.namedParameters().filter(([name, w]) => w.rank === 2 && !name.endsWith('embed_tokens.weight'));
  const normBytes = model.namedParameters().filter(([, w]) => w.rank === 1).reduce((s, [, w]) => s + 4 * w.size, 0);
  const matrixBytes = matrices.reduce((s, [, w]) => s + 4 * w.size, 0);
  assert.equal(matrixBytes, weightBytesPerToken(model) - normBytes);
  assert.equal(p.groups.reduce((s, g) => s + g.bBytes, 0), tokens * matrixBytes);
  assert.equal(p.kernels.find((k) => k.kernel === 'attentionForward')!.calls, tokens * 2);
  const timed = p.groups.reduce((s, g) => s + g.ms, 0) + p.kernels.reduce((s, k) => s + k.ms, 0);
  assert.ok(timed / tokens <= p.msPerToken, `${timed / tokens} ms of kernels a token, ${p.msPerToken} in all`);
  const table = decodingProfileTable(p, 40);
  assert.match(table, /^decoding profile, 6 tokens after the prompt with every kernel call timed: [0-9.]+ ms a token$/m);
  assert.match(table, /^ {2}all 15 GEMVs: [0-9.]+ ms a token \([0-9.]+%\), 0 MB at [0-9.]+ GB\/s = [0-9.]+ of the memory stream timed before \(40\.0 GB\/s\)$/m);
  assert.match(table, /^ {2}the other kernels: [0-9.]+ ms a token \([0-9.]+%\): .*attentionForward [0-9.]+ ms \(2 calls\)/m);
  const allCalls = p.groups.reduce((s, g) => s + g.calls, 0) + p.kernels.reduce((s, k) => s + k.calls, 0);
  assert.match(table, new RegExp(`^ {2}outside the kernels \\(the op walk: tensors, scopes, sampling; and the timing of the ${allCalls / tokens} calls\\): [0-9.]+ ms a token`, 'm'));
  assert.doesNotMatch(decodingProfileTable(p, null), /memory stream/);
});
