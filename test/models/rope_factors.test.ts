// Llama 3's RoPE scaling as per-frequency factors (what llama.cpp's rope_freqs tensor holds) and
// back: the factors match transformers' formula worked by hand, a real Llama 3.x setting comes back
// with its own numbers, and factors no Llama 3 scaling gives are not reproduced (the GGUF reader
// then refuses them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { llama3ScalingOfFactors, ropeFrequencyFactors, type Rope } from '../../src/models/rope.js';

/** transformers' _compute_llama3_parameters, as the divisor of each inverse frequency. */
function handFactors(dim: number, theta: number, factor: number, lo: number, hi: number, original: number): number[] {
  return Array.from({ length: dim / 2 }, (_, i) => {
    const wavelen = (2 * Math.PI) / (1 / theta ** ((2 * i) / dim));
    if (wavelen < original / hi) return 1;
    if (wavelen > original / lo) return factor;
    const smooth = (original / wavelen - lo) / (hi - lo);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

for (const [name, factor] of [['Llama 3.1 8B', 8], ['Llama 3.2 1B', 32]] as const) {
  test(`${name}'s RoPE scaling as factors and back (head 128, base 500000, factor ${factor}, low 1, high 4, original 8192)`, () => {
    const rope: Rope = { theta: 500000, scaling: { type: 'llama3', factor, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } };
    const factors = ropeFrequencyFactors(128, rope);
    const hand = handFactors(128, 500000, factor, 1, 4, 8192);
    factors.forEach((f, i) => assert.ok(Math.abs(f - hand[i]!) <= 1e-12 * hand[i]!, `factor ${i}: ${f} vs ${hand[i]}`));
    const back = llama3ScalingOfFactors(Float32Array.from(factors), 128, 500000)!;
    // Several frequencies in the blended band pin both edges: the numbers come back (from float32 factors).
    assert.equal(back.factor, Math.fround(factor));
    assert.ok(Math.abs(back.originalMaxPositionEmbeddings - 8192) < 1e-2 && Math.abs(back.highFreqFactor - 4) < 1e-5, JSON.stringify(back));
    const again = ropeFrequencyFactors(128, { theta: 500000, scaling: back });
    again.forEach((f, i) => assert.ok(Math.abs(f - factors[i]!) <= 1e-6 * factors[i]!, `factor ${i} again: ${f} vs ${factors[i]}`));
  });
}

test('factors of 1 are no scaling; factors no Llama 3 scaling gives are not reproduced', () => {
  assert.equal(llama3ScalingOfFactors(new Float32Array(64).fill(1), 128, 500000), null);
  // Rising, then falling back: Llama 3 keeps short wavelengths, blends, then slows every longer one by one factor.
  const odd = Float32Array.from({ length: 64 }, (_, i) => (i < 20 ? 1 : i < 40 ? 4 : 2));
  const found = llama3ScalingOfFactors(odd, 128, 500000);
  const again = found ? ropeFrequencyFactors(128, { theta: 500000, scaling: found }) : null;
  assert.ok(again === null || again.some((f, i) => Math.abs(f - odd[i]!) > 1e-3 * odd[i]!), 'not reproduced');
});
