// `gift bench gemm --shape S --tokens N`: the GEMMs of a model shape's step (its MLP up projection's
// four and its LM head) at N rows, against the PyTorch peer on the same shapes (the peer venv's PyTorch 2
// where .ci/run built it, with its bf16 products too). Speeds are printed, never asserted: what is checked
// is that the shapes are the model's, that the peer timed the same list in the same order, that
// --shape is refused where it would be ignored, and that operands larger than the memory available
// are refused before they are made, with the rows that would fit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon } from '../../src/backend/index.js';
import { gemmBenchBytes, modelShapes, mostTokensWithin } from '../../src/bench/gemm.js';
import { stepShape } from '../../src/bench/step_shapes.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const TORCH_GEMM = fileURLToPath(new URL('../../../bench/torch_gemm.py', import.meta.url));
const PEER = join(process.env.GIFTJS_PEER_VENV ?? join(homedir(), '.cache', 'giftjs-peer'), 'bin', 'python');
const peerHasTorch = existsSync(PEER) && spawnSync(PEER, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const bench = (...args: string[]) => spawnSync(process.execPath, [GIFT, 'bench', ...args], { encoding: 'utf8' });

test('a shape\'s GEMMs are its MLP up projection\'s forward and backward products and its LM head, at the rows asked for', () => {
  const shapes = modelShapes(128, stepShape('llama-3.2-1b')!);
  assert.deepEqual(shapes.map((s) => [s.M, s.N, s.K, s.transA, s.transB]), [
    [128, 8192, 2048, false, true], // Y = X W^T
    [128, 8192, 2048, false, false], // Y = X W
    [128, 2048, 8192, false, false], // dX = dY W
    [8192, 2048, 128, true, false], // dW = dY^T X
    [128, 128256, 2048, false, true], // logits = X E^T
  ]);
});

test('gift bench gemm --shape times that shape\'s GEMMs and names them', { skip: nativeAddon() ? false : 'the native addon is not built' }, () => {
  const r = bench('gemm', '--shape', 'smollm2-135m', '--tokens', '8', '--size', '64', '--budget', '0.02', '--threads', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Transformer shapes \(smollm2-135m: its MLP up projection 576 -> 1536, and its LM head\):/);
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!) as { shapes: { label: string; gflops: number }[] };
  assert.deepEqual(json.shapes.map((s) => s.label), modelShapes(8, stepShape('smollm2-135m')!).map((s) => s.label.replace(/\s+/g, ' ')));
  for (const s of json.shapes) assert.ok(Number.isFinite(s.gflops) && s.gflops > 0, `${s.label}: ${s.gflops}`);
});

test('--shape is refused where it would be ignored, and an encoder shape by bench gemm', () => {
  const peak = bench('peak', '--shape', 'llama-3.2-1b');
  assert.notEqual(peak.status, 0);
  assert.match(peak.stderr, /--shape is an option of gift bench gemm, step and generate, not of bench peak/);
  const vit = bench('gemm', '--shape', 'vit-b16');
  assert.notEqual(vit.status, 0);
  assert.match(vit.stderr, /unknown --shape 'vit-b16' for bench gemm \(available: smollm2-135m, llama-3.2-1b/);
});

test('the PyTorch GEMM peer times the same shapes, in the same order, and its bf16 weight products', { skip: peerHasTorch ? false : `the peer venv (${PEER}) has no PyTorch here (../shared/peer/setup_peer.sh builds it)` }, () => {
  const r = spawnSync(PEER, [TORCH_GEMM, '--size', '32', '--tokens', '4', '--din', '48', '--dout', '96', '--vocab', '160', '--threads', '1', '--budget', '0.01', '--bf16'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { shapes: number[]; bf16_shapes: number[]; blas: string; torch: string };
  const shapes = modelShapes(4, { hidden_size: 48, intermediate_size: 96, vocab_size: 160 });
  assert.equal(out.shapes.length, shapes.length);
  // bench gemm's bf16 lines are the products with B a weight (not dW = dY^T X).
  assert.equal(out.bf16_shapes.length, shapes.filter((s) => !s.transA).length);
  for (const g of [...out.shapes, ...out.bf16_shapes]) assert.ok(Number.isFinite(g) && g > 0, String(g));
  assert.match(out.torch, /^2\./);
});

test('operands larger than the memory available are refused before they are made, naming the rows that fit', () => {
  const r = bench('gemm', '--shape', 'llama-3-8b', '--tokens', '100000000', '--size', '64');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bench gemm needs about [\d.]+ GB for its largest product \(forward logits = X E\^T 100000000x4096 by 4096x128256\), and [\d.]+ GB is available \(.+\); (--tokens \d+ or fewer|no --tokens fits --shape llama-3-8b here)/);
  // The rows named fit, and one more would not, by the same count of bytes.
  for (const [shape, budget] of [['llama-3.2-1b', 10e9], ['llama-3-8b', 24e9], ['smollm2-135m', 3e9]] as const) {
    const fit = mostTokensWithin(stepShape(shape)!, budget);
    assert.ok(fit > 0, shape);
    assert.ok(Math.max(...modelShapes(fit, stepShape(shape)!).map(gemmBenchBytes)) <= budget, `${shape}: ${fit} rows fit`);
    assert.ok(Math.max(...modelShapes(fit + 1, stepShape(shape)!).map(gemmBenchBytes)) > budget, `${shape}: ${fit + 1} rows do not`);
  }
  assert.equal(mostTokensWithin(stepShape('llama-3-8b')!, 1e9), 0, 'the 8B LM head alone is over 1 GB');
});
