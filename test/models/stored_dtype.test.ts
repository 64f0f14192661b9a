// A BF16 checkpoint's matrices stay bfloat16 when a command only reads them (train's frozen base,
// eval, generate): the logits are the float32 path's bit for bit (bfloat16 widens exactly), norms
// stay float32, whatever an adapter trains is widened to float32, and loading never holds a
// float32 copy: the model is built on fresh zeroed memory no one writes, and each matrix takes its
// file bits. The resident memory of both paths is measured side by side in child processes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { safetensorsChunks, type SafetensorsRaw } from '../../src/io/safetensors.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { float32ToBf16 } from '../../src/formats/dtype.js';
import { Random } from '../../src/tensor/random.js';
import { tidy } from '../../src/tensor/memory.js';
import { testEachBackend } from '../helpers.js';
import { nativeAddon } from '../../src/backend/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BF16_MODEL = join(ROOT, 'test/fixtures/llama/llama-bf16');

testEachBackend('a BF16 checkpoint kept as stored gives the float32 path\'s logits bit for bit', () => {
  const widened = LlamaForCausalLM.fromPretrained(BF16_MODEL);
  const kept = LlamaForCausalLM.fromPretrained(BF16_MODEL, { keepStoredDtype: true });
  for (const [name, p] of kept.namedParameters()) {
    assert.equal(p.dtype, p.rank === 2 ? 'bfloat16' : 'float32', name);
    assert.equal(kept.sourceDtypes.get(name), 'BF16');
  }
  const ids = [1, 5, 9, 2, 7, 3, 11, 4];
  const a = tidy(() => widened.forward(ids, 2, 4).read().slice());
  const b = tidy(() => kept.forward(ids, 2, 4).read().slice());
  assert.deepEqual(b, a);
});

test('an adapter that trains a kept bfloat16 weight widens it; GIFT leaves the frozen ones bfloat16', () => {
  const full = LlamaForCausalLM.fromPretrained(BF16_MODEL, { keepStoredDtype: true });
  const before = full.model.layers[0]!.self_attn.q_proj!.weight.toFloat32().read().slice();
  attachAdapter(full, { method: 'full' });
  for (const [name, p] of full.namedParameters()) assert.equal(p.dtype, 'float32', name);
  assert.deepEqual(full.model.layers[0]!.self_attn.q_proj!.weight.read(), before, 'widened exactly');
  const gift = LlamaForCausalLM.fromPretrained(BF16_MODEL, { keepStoredDtype: true });
  const a = attachAdapter(gift, { method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] });
  assert.equal(gift.model.layers[0]!.self_attn.q_proj!.weight.dtype, 'bfloat16');
  for (const [name, t] of a.namedTrainable()) assert.equal(t.dtype, 'float32', name);
});

/** A Llama-shaped BF16 folder of about 270 MB (134M parameters), written directly as bits. */
function writeBf16Model(dir: string): number {
  const c = { hidden: 1024, layers: 8, inter: 2816, vocab: 32000, heads: 16, kv: 8 };
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: c.hidden, intermediate_size: c.inter, num_hidden_layers: c.layers,
    num_attention_heads: c.heads, num_key_value_heads: c.kv, vocab_size: c.vocab, max_position_embeddings: 256, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: true, hidden_act: 'silu', torch_dtype: 'bfloat16',
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const rng = new Random(3);
  const table = float32ToBf16(Float32Array.from({ length: 65536 }, () => 0.02 * rng.normal()));
  const matrix = (rows: number, cols: number): SafetensorsRaw => {
    const bits = new Uint16Array(rows * cols);
    for (let i = 0; i < bits.length; i += table.length) bits.set(table.subarray(0, Math.min(table.length, bits.length - i)), i);
    return { dtype: 'BF16', shape: [rows, cols], bytes: new Uint8Array(bits.buffer) };
  };
  const ones = (n: number): SafetensorsRaw => ({ dtype: 'BF16', shape: [n], bytes: new Uint8Array(float32ToBf16(new Float32Array(n).fill(1)).buffer) });
  const kvDim = (c.hidden / c.heads) * c.kv;
  const entries: Record<string, SafetensorsRaw> = { 'model.embed_tokens.weight': matrix(c.vocab, c.hidden), 'model.norm.weight': ones(c.hidden) };
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    Object.assign(entries, {
      [`${p}.input_layernorm.weight`]: ones(c.hidden), [`${p}.post_attention_layernorm.weight`]: ones(c.hidden),
      [`${p}.self_attn.q_proj.weight`]: matrix(c.hidden, c.hidden), [`${p}.self_attn.k_proj.weight`]: matrix(kvDim, c.hidden),
      [`${p}.self_attn.v_proj.weight`]: matrix(kvDim, c.hidden), [`${p}.self_attn.o_proj.weight`]: matrix(c.hidden, c.hidden),
      [`${p}.mlp.gate_proj.weight`]: matrix(c.inter, c.hidden), [`${p}.mlp.up_proj.weight`]: matrix(c.inter, c.hidden), [`${p}.mlp.down_proj.weight`]: matrix(c.hidden, c.inter),
    });
  }
  const chunks = safetensorsChunks(entries);
  writeFileAtomic(join(dir, 'model.safetensors'), chunks);
  return chunks.reduce((n, ch) => n + ch.length, 0);
}

test('loading a 270 MB BF16 checkpoint as stored costs its size in resident memory at most (nothing when mapped), not twice it', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-bf16load-')), 'model');
  const bytes = writeBf16Model(dir);
  const measure = (keep: boolean, env: Record<string, string> = {}) => {
    const script = `import { LlamaForCausalLM } from ${JSON.stringify(join(ROOT, 'dist/src/models/llama/model.js'))};
      const before = process.memoryUsage().rss;
      const m = LlamaForCausalLM.fromPretrained(${JSON.stringify(dir)}, { keepStoredDtype: ${keep} });
      const grown = process.memoryUsage().rss - before;
      const logits = m.forward([1, 2, 3, 4], 1, 4).read();
      console.log(JSON.stringify({ grown, first: Array.from(logits.subarray(0, 4)) }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, GIFTJS_BACKEND: 'ref', ...env } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { grown: number; first: number[] };
  };
  const mapped = measure(true);
  const read = measure(true, { GIFTJS_MMAP: '0' });
  const widened = measure(false);
  const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
  console.log(`resident memory grown by loading ${mb(bytes)} of BF16: kept and mapped ${mb(mapped.grown)}, kept and read ${mb(read.grown)}, widened to float32 ${mb(widened.grown)}`);
  assert.ok(read.grown < 1.35 * bytes, `kept as stored: ${mb(read.grown)} for ${mb(bytes)}`);
  assert.ok(widened.grown > 1.8 * bytes, `the float32 path holds twice the bytes (${mb(widened.grown)}): the measure tells them apart`);
  // Where the native addon maps files, nothing is read until a forward touches it.
  if (nativeAddon()) assert.ok(mapped.grown < 0.1 * bytes, `mapped: ${mb(mapped.grown)}`);
  assert.deepEqual(mapped.first, read.first, 'mapped and read weights compute the same logits');
  assert.deepEqual(widened.first, read.first);
});

test('a mapped model\'s layer weights are released after each checkpointed use: resident memory falls by their size, the next use reads them again, and a merged (written) weight is never a mapping', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-bf16release-')), 'model');
  const bytes = writeBf16Model(dir);
  const script = `import { LlamaForCausalLM } from ${JSON.stringify(join(ROOT, 'dist/src/models/llama/model.js'))};
    import { releaseMappedWeights } from ${JSON.stringify(join(ROOT, 'dist/src/models/causal_lm.js'))};
    import { attachAdapter } from ${JSON.stringify(join(ROOT, 'dist/src/peft/adapter_io.js'))};
    const m = LlamaForCausalLM.fromPretrained(${JSON.stringify(dir)}, { keepStoredDtype: true });
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const first = Array.from(m.forward(ids, 1, 8).read().subarray(7 * 32000, 7 * 32000 + 8));
    const touched = process.memoryUsage().rss;
    const released = m.model.layers.reduce((n, l) => n + releaseMappedWeights(l), 0);
    const after = process.memoryUsage().rss;
    const again = Array.from(m.forward(ids, 1, 8).read().subarray(7 * 32000, 7 * 32000 + 8));
    // A merge writes the weights: the written ones must hold the merged values through a release.
    const lora = attachAdapter(m, { method: 'lora', rank: 2, alpha: 4, target_modules: ['q_proj'] }, 1);
    for (const [, t] of lora.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * ((i % 7) - 3);
    const adapted = Array.from(m.forward(ids, 1, 8).read().subarray(7 * 32000, 7 * 32000 + 8));
    lora.merge();
    const releasedAfterMerge = m.model.layers.reduce((n, l) => n + releaseMappedWeights(l), 0);
    const merged = Array.from(m.forward(ids, 1, 8).read().subarray(7 * 32000, 7 * 32000 + 8));
    console.log(JSON.stringify({ first, again, adapted, merged, dropped: touched - after, released, releasedAfterMerge }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, GIFTJS_BACKEND: 'native' } });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { first: number[]; again: number[]; adapted: number[]; merged: number[]; dropped: number; released: number; releasedAfterMerge: number };
  if (!nativeAddon()) {
    assert.equal(o.released, 0, 'without the native addon nothing is mapped, so nothing is released');
    return;
  }
  // 8 layers x 7 matrices; the layers hold all but the embedding (32000 x 1024 of the 134M values).
  assert.equal(o.released, 56);
  const layerBytes = bytes - 2 * 32000 * 1024;
  console.log(`released ${(o.dropped / 1e6).toFixed(0)} MB of resident memory for ${(layerBytes / 1e6).toFixed(0)} MB of layer weights`);
  assert.ok(o.dropped > 0.8 * layerBytes, `resident memory fell by ${o.dropped} bytes`);
  assert.deepEqual(o.again, o.first, 'released pages come back as the file holds them');
  assert.equal(o.releasedAfterMerge, 48, 'the 8 merged q_proj weights are new buffers, not mappings');
  // Were a release to put the file's bytes back, the merged model would compute the base's logits.
  const gap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  assert.ok(gap(o.adapted, o.first) > 1e-2, 'the adapter changes the logits');
  assert.ok(gap(o.merged, o.adapted) < 0.2 * gap(o.adapted, o.first), `the merged weights survive a release: ${gap(o.merged, o.adapted)} from the adapted logits, ${gap(o.adapted, o.first)} between adapted and base`);
});
