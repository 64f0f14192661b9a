// gift generate --bf16: decoding on bf16 dot products. The native kernels (vdpbf16ps, a few rows
// at a time) and the ref backend's emulation of them (each operand rounded to bf16 in TypeScript,
// products summed in float64) give the same greedy text on the PyTorch-written bf16 fixture; --bf16
// with --int8-activations is refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon } from '../../src/backend/index.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-bf16', import.meta.url));
const gift = (env: Record<string, string>, ...args: string[]) => spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
const skip = nativeAddon()?.cpuInfo().features.includes('avx512bf16') ? false : 'the native bf16 products need a CPU with AVX-512 BF16';

test('generate --bf16: the native bf16 dot products give the greedy text of the ref backend\'s emulation', { skip }, () => {
  const args = ['generate', '--model', MODEL, '--prompt', 'the', '--max-new-tokens', '60'];
  const native = gift({ GIFTJS_BACKEND: 'native' }, ...args, '--bf16');
  assert.equal(native.status, 0, native.stderr);
  const ref = gift({ GIFTJS_BACKEND: 'ref' }, ...args, '--bf16');
  assert.equal(ref.status, 0, ref.stderr);
  assert.equal(native.stdout, ref.stdout);
  // and the rounding acted: on this fixture the float products' greedy text parts from it after ~40 characters.
  const float = gift({ GIFTJS_BACKEND: 'native' }, ...args);
  assert.equal(float.status, 0, float.stderr);
  assert.notEqual(native.stdout, float.stdout);
  assert.equal(native.stdout.slice(0, 30), float.stdout.slice(0, 30));
});

test('generate --bf16 with --int8-activations is refused by name', () => {
  const r = gift({}, 'generate', '--model', MODEL, '--prompt', 'the', '--max-new-tokens', '2', '--bf16', '--int8-activations', '--quantize', 'int8');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--bf16 and --int8-activations round the activations two ways \(bf16, or 8 bits per block of 32\): give one/);
});
