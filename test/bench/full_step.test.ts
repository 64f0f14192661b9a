// `gift bench step --method full`: every weight trained (as gift train --method full), its FLOPs per
// token counted from the shape's own numbers (a weight-gradient product per matrix on top of the
// adapter step's forward and input-gradient products), and the settings it does not take refused by
// name. Against PyTorch (bench/torch_folder_step.py --method full) where the peer venv is set up.
// Speeds are printed, never asserted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const PEER = join(process.env.GIFTJS_PEER_VENV ?? join(homedir(), '.cache', 'giftjs-peer'), 'bin', 'python');
const peerHasTransformers = existsSync(PEER) && spawnSync(PEER, ['-c', 'import torch, transformers'], { encoding: 'utf8' }).status === 0;
const step = (...args: string[]) =>
  spawnSync(process.execPath, [GIFT, 'bench', 'step', '--shape', 'llama-3.2-1b', '--layers', '1', '--batch', '1', '--seq', '16', '--steps', '1', '--threads', '2', ...args], { encoding: 'utf8' });

// Llama-3.2-1B's shape with one layer: 2048 wide, MLP 8192, 32 query heads and 8 key/value heads of
// 64, the 128,256-row embedding tied to the output projection.
const MATRIX_MACS = 2 * 2048 * 2048 + 2 * 512 * 2048 + 3 * 8192 * 2048 + 128256 * 2048;
const ATTENTION_MACS = 2 * 32 * 16 * 64; // QK^T and PV per token at 16 keys, one layer
const GIFT_MACS = 64 * (2048 + 2048) * 2; // r64 on q_proj and v_proj: to r and back to the input size

test('a full fine-tuning step trains every weight and counts a weight-gradient product per matrix', () => {
  const full = step('--method', 'full', '--json');
  assert.equal(full.status, 0, full.stderr);
  assert.match(full.stdout, /full step on llama-3\.2-1b \(1 layers?\), f32 weights, batch 1 x 16: [\d.]+ tokens\/s/);
  const mflop = (out: string) => Number(/([\d.]+) MFLOP per token/.exec(out)![1]);
  assert.equal(mflop(full.stdout), Number((2 * (3 * MATRIX_MACS + 3 * ATTENTION_MACS) / 1e6).toFixed(1)));
  const json = JSON.parse(full.stdout.trim().split('\n').pop()!) as { tokens_per_s: number };
  assert.ok(json.tokens_per_s > 0 && Number.isFinite(json.tokens_per_s));
  // The adapter step's count, for comparison: forward and input gradients only, plus GIFT's products.
  const gift = step('--json');
  assert.equal(gift.status, 0, gift.stderr);
  assert.equal(mflop(gift.stdout), Number((2 * (2 * MATRIX_MACS + 3 * ATTENTION_MACS + 3 * GIFT_MACS) / 1e6).toFixed(1)));
});

test('what a full fine-tuning step does not take is refused by name', () => {
  for (const [args, message] of [
    [['--dtype', 'bf16'], /--method full trains every weight in float32, as gift train does: give --dtype f32 \(or leave it out\), not bf16/],
    [['--dtype', 'int4'], /--method full trains every weight in float32.*not int4/],
    [['--rank', '8'], /--rank does not apply to --method full/],
    [['--dtype', 'bf16', '--bf16-compute', '--vs-f32'], /--vs-f32 compares frozen bf16 weights with float32 ones; --method full trains every weight in float32/],
  ] as const) {
    const r = step('--method', 'full', ...args);
    assert.notEqual(r.status, 0, `${args.join(' ')} was not refused`);
    assert.match(r.stderr, message);
  }
  const bad = step('--method', 'qlora');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--method must be gift, lora or full, got 'qlora'/);
});

test('with --torch the PyTorch peer trains every weight of the same shape, and the ratio is printed', { skip: peerHasTransformers ? false : `the peer venv (${PEER}) has no PyTorch and transformers here (../shared/peer/setup_peer.sh builds it from the local wheel index)` }, () => {
  const r = step('--method', 'full', '--torch', '--steps', '2');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /PyTorch 2\.[\d.]+\S* \+ transformers 5\.[\d.]+ \(f32 weights, every weight trained, AdamW\): [\d.]+ tokens\/s, .* {3}giftjs \/ PyTorch = [\d.]+x/);
});
