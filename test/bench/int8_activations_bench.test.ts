// gift bench generate --int8-activations / --bf16-compute: decoding with the float products and with int8
// activations (bf16 products) alternate on one model and both rates are printed (never asserted); asking
// it of other weights, or of another benchmark, is refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon } from '../../src/backend/index.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const bench = (...args: string[]) => spawnSync(process.execPath, [GIFT, 'bench', 'generate', '--shape', 'smollm2-135m', '--new-tokens', '4', ...args], { encoding: 'utf8' });

test('bench generate --int8-activations times both products on the same int8 model', () => {
  const r = bench('--dtype', 'int8', '--int8-activations', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /alternating on this model: float products [\d.]+ tokens\/s, int8 activations [\d.]+ tokens\/s {3}int8 \/ float = [\d.]+x; the (same 5 tokens|tokens differ from the \d+th on)/);
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number> & { stream_gb_per_s_rounds: number[] };
  assert.ok(json.int8_activations_tokens_per_s! > 0 && json.alternating_float_tokens_per_s! > 0);
  // Each round's stream is timed beside its decoding; the ratio is the alternating rate's bytes over their mean.
  assert.match(r.stdout, /against the memory stream timed at the start of each round \([\d.]+, [\d.]+, [\d.]+ GB\/s\): float products [\d.]+ \(rounds [\d.]+, [\d.]+, [\d.]+\), int8 activations [\d.]+ \(rounds/);
  const streams = json.stream_gb_per_s_rounds;
  assert.equal(streams.length, 3);
  const gbPerToken = json.decode_gb_per_s! / json.tokens_per_s!;
  const meanStream = streams.reduce((a, b) => a + b, 0) / 3;
  assert.ok(Math.abs(json.float_products_of_round_streams! - (gbPerToken * json.alternating_float_tokens_per_s!) / meanStream) < 1e-9 * json.float_products_of_round_streams!);
  assert.ok(Math.abs(json.int8_activations_of_round_streams! - (gbPerToken * json.int8_activations_tokens_per_s!) / meanStream) < 1e-9 * json.int8_activations_of_round_streams!);
});

test('bench generate --int8-activations is refused on float weights, by name', () => {
  const r = bench('--dtype', 'f32', '--int8-activations');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--int8-activations rounds the activations of products over quantized weights: give it with --dtype int8 or int4, not f32/);
});

const bf16Skip = nativeAddon()?.cpuInfo().features.includes('avx512bf16') ? false : 'bf16 products need the native kernels on a CPU with AVX-512 BF16';

test('bench generate --bf16-compute times the float and the bf16 products on the same bf16 model', { skip: bf16Skip }, () => {
  const r = bench('--dtype', 'bf16', '--bf16-compute', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /alternating on this model: float products [\d.]+ tokens\/s, bf16 products [\d.]+ tokens\/s {3}bf16 \/ float = [\d.]+x; the (same 5 tokens|tokens differ from the \d+th on)/);
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  assert.ok(json.bf16_products_tokens_per_s! > 0 && json.alternating_float_tokens_per_s! > 0);
});

test('bench generate --bf16-compute is refused on other weights, by name', () => {
  const r = bench('--dtype', 'int8', '--bf16-compute');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--bf16-compute in bench generate decodes bf16 weights with bf16 dot products: give it with --dtype bf16, not int8/);
});

test('a flag of one benchmark given to another is refused by name, not ignored; --method takes gift, lora or full only', () => {
  const gift = (...args: string[]) => spawnSync(process.execPath, [GIFT, 'bench', ...args], { encoding: 'utf8' });
  const cases: [string[], RegExp][] = [
    [['step', '--int8-activations'], /--int8-activations is an option of gift bench generate, not of bench step/],
    [['step', '--prompt', '64'], /--prompt is an option of gift bench generate, not of bench step/],
    [['peak', '--llama-cpp'], /--llama-cpp is an option of gift bench generate, not of bench peak/],
    [['generate', '--layers', '2'], /--layers is an option of gift bench step, not of bench generate/],
    [['peak', '--bf16-compute'], /--bf16-compute is an option of gift bench step and generate, not of bench peak/],
    [['generate', '--method', 'lora'], /--method is an option of gift bench step, not of bench generate/],
    [['step', '--method', 'dora'], /--method must be gift, lora or full, got 'dora'/],
    [['generate', '--rounds', '2'], /--rounds is an option of gift bench step, not of bench generate/],
    [['step', '--rounds', '2'], /--rounds alternates giftjs with the PyTorch \+ transformers peer of a shape: give it with --torch, where that peer is set up/],
    // The encoder shapes had taken --rounds without a word and run one round.
    [['step', '--shape', 'bert-base', '--rounds', '2'], /--rounds alternates giftjs with the PyTorch \+ transformers peer of a shape: give it with --torch/],
    [['step', '--shape', 'vit-b16', '--rounds', '2'], /--rounds alternates giftjs with the PyTorch \+ transformers peer of a shape: give it with --torch/],
    [['step', '--rounds', '0'], /--rounds must be a positive integer, got '0'/],
    // Flags with a default, and any flag given to bench gemm or ops, had been read by nothing there.
    [['peak', '--torch'], /--torch is an option of gift bench gemm, step and generate, not of bench peak/],
    [['ops', '--profile'], /--profile is an option of gift bench step and generate, not of bench ops/],
    [['gemm', '--rounds', '2'], /--rounds is an option of gift bench step, not of bench gemm/],
    [['ops', '--steps', '3'], /--steps is an option of gift bench step and memory, not of bench ops/],
    [['memory', '--dtype', 'bf16'], /--dtype is an option of gift bench step and generate, not of bench memory/],
    [['generate', '--budget', '2'], /--budget is an option of gift bench gemm, ops, step and peak, not of bench generate/],
    [['step', '--size', '512'], /--size is an option of gift bench gemm, not of bench step/],
    [['gemm', '--budget', 'soon'], /--budget must be a positive number of seconds, got 'soon'/],
    [['peak', '--budget', '0'], /--budget must be a positive number of seconds, got '0'/],
    // One step left no steps after the first to measure: min and max of nothing, Infinity MB.
    // The model's forward had refused it after building the model, naming gift train's --max-length; a
    // prompt that fit with too many new tokens had stopped early and been timed as if all were made.
    [['generate', '--prompt', '9000', '--new-tokens', '4'], /bench generate on smollm2-135m: --prompt 9000 and --new-tokens 4 fill 9004 positions, past the shape's context \(8192\): give fewer/],
    [['memory', '--steps', '1'], /--steps must be at least 2 for bench memory \(the RSS spread is measured over the steps after the first\), got 1/],
  ];
  for (const [args, message] of cases) {
    const r = gift(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});
