// gift bench peak: the machine's limits as the other benchmarks divide by them. What can be checked
// without timing anything: it runs, its figures are finite and positive, bf16's is there exactly where
// the CPU has AVX-512 BF16, and the generation benchmark counts the weights a token reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon } from '../../src/backend/index.js';
import { machinePeak, weightBytesPerToken } from '../../src/bench/peak.js';
import { randomBenchModel } from '../../src/bench/random_model.js';

const GIFT = join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin/gift.js');
const addon = nativeAddon();

test('gift bench peak prints the f32 FMA peak, the bf16 one where the CPU has it, and the memory stream', { skip: addon ? false : 'the native addon is not built' }, () => {
  const r = spawnSync(process.execPath, [GIFT, 'bench', 'peak', '--threads', '1', '--budget', '0.2', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /f32 FMA peak: [\d.]+ GFLOP\/s \(register-only (avx512|avx2|portable) FMA chains, 1 threads\)/);
  assert.match(r.stdout, /new memory: [\d.]+ GB\/s \(writing those 512 MiB the first time/);
  const peak = JSON.parse(r.stdout.trim().split('\n').pop()!) as { f32_gflops: number; bf16_gflops: number | null; amx_gflops: number | null; stream_gb_per_s: number; first_touch_gb_per_s: number; threads: number };
  assert.equal(peak.threads, 1);
  for (const v of [peak.f32_gflops, peak.stream_gb_per_s, peak.first_touch_gb_per_s]) assert.ok(Number.isFinite(v) && v > 0, String(v));
  assert.equal(peak.bf16_gflops !== null, addon!.cpuInfo().features.includes('avx512bf16'));
  // The AMX tile peak exactly where bf16 compute runs on the tiles.
  assert.equal(peak.amx_gflops !== null, addon!.cpuInfo().bf16Kernel === 'amxbf16');
  if (peak.amx_gflops !== null) assert.ok(Number.isFinite(peak.amx_gflops) && peak.amx_gflops > 0, String(peak.amx_gflops));
});

test('measured again, each figure of the peak is the best this process has measured', { skip: addon ? false : 'the native addon is not built' }, () => {
  const first = { ...machinePeak(0.1)! };
  const again = machinePeak(0.1, true)!;
  for (const k of ['f32Gflops', 'streamGBs', 'firstTouchGBs'] as const) assert.ok(again[k] >= first[k], `${k}: ${again[k]} after ${first[k]}`);
  if (first.bf16Gflops !== null) assert.ok(again.bf16Gflops! >= first.bf16Gflops, 'bf16Gflops');
  if (first.amxGflops !== null) assert.ok(again.amxGflops! >= first.amxGflops, 'amxGflops');
  assert.deepEqual(machinePeak(0.1), again, 'without again, the figures kept are returned as they are');
});

test('the weights a decoding step reads: every matrix and vector as held, a tied embedding once', () => {
  const model = randomBenchModel('smollm2-135m', 'f32', 1);
  const params = model.namedParameters();
  const all = params.reduce((n, [, p]) => n + 4 * p.size, 0);
  assert.equal(weightBytesPerToken(model), all, 'SmolLM2 ties its embedding to the head: the head reads all of it');
  const quantized = randomBenchModel('smollm2-135m', 'int8', 1);
  const held = quantized.namedParameters().reduce((n, [, p]) => n + (p.quantized ? p.quantized.bytes : 4 * p.size), 0);
  assert.equal(weightBytesPerToken(quantized), held);
  assert.ok(held < all / 3, 'int8 matrices are read as their codes and scales');
  // A dtype the types would stop, from JavaScript: refused by name (it had been taken as int8).
  assert.throws(() => randomBenchModel('smollm2-135m', 'float32' as 'f32', 1), /unknown benchmark dtype 'float32' \(available: f32, bf16, int8, int4\)/);
});

test('gift bench generate takes the prompt length and prints its prefill beside the decoding rate', { skip: addon ? false : 'the native addon is not built' }, () => {
  const r = spawnSync(process.execPath, [GIFT, 'bench', 'generate', '--shape', 'smollm2-135m', '--prompt', '5', '--new-tokens', '2', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /prompt 5, 2 new tokens: [\d.]+ tokens\/s \(prefill [\d.]+ tokens\/s\)/);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { tokens_per_s: number; prefill_tokens_per_s: number };
  for (const v of [out.tokens_per_s, out.prefill_tokens_per_s]) assert.ok(Number.isFinite(v) && v > 0, String(v));
  const bad = spawnSync(process.execPath, [GIFT, 'bench', 'generate', '--prompt', '0'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--prompt must be a positive integer, got '0'/);
});
