// Gemma 2 and Gemma 3 written as GGUF (gift export --format gguf), checked by llama.cpp itself
// (test/llama_cpp.ts): its next-token log-probabilities equal giftjs's over a text longer than the
// sliding window, so the local and global layers, the norms' offset, the soft-caps, the local RoPE
// and the global one's linear scaling all agree. Models llama.cpp would run otherwise are refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exportPretrained } from '../../src/models/export.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { parseGemmaConfig } from '../../src/models/gemma/config.js';
import { GemmaForCausalLM } from '../../src/models/gemma/model.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';
import { llamaCpp, llamaCppProbabilities, logSoftmaxRows, noLlamaCpp, worstLogProbDifference } from '../llama_cpp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const FIXTURES = join(ROOT, 'test/fixtures/gemma');
const dir = mkdtempSync(join(tmpdir(), 'giftjs-gemma-gguf-'));
/** Longer than the fixtures' window of 4, so the sliding layers slide. */
const IDS = [2, 10, 25, 40, 7, 33, 60, 12, 90, 5, 44, 71, 3, 18];

const readConfig = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')) as Record<string, unknown>;

// Each test reads through its own cache (the tokenizer's GGUF becomes a folder there).
process.env.GIFTJS_CACHE = mkdtempSync(join(tmpdir(), 'giftjs-gemma-gguf-cache-'));
/**
 * The Gemma fixtures' own tokenizer is a BPE that GGUF export does not write (neither SentencePiece-style
 * nor byte-level): the folders here take the SentencePiece-style vocabulary of a GGUF fixture (as Gemma's
 * own is), 354 tokens.
 */
const TOKENIZER = ggufModelFolder(join(ROOT, 'test/fixtures/gguf/tiny-f32.gguf')).dir;

/**
 * A Gemma folder from a fixture's config (saved by transformers) with `edits`, the tokenizer's
 * vocabulary size, and random weights -- norms too, so their offset by 1 matters; with zeroMlp,
 * every down_proj is zero, so no MLP adds to the residual stream.
 */
function randomGemma(name: 'gemma1' | 'gemma2' | 'gemma3', edits: Record<string, unknown>, as: string, zeroMlp = false): string {
  const raw = { ...readConfig(name), vocab_size: 354, ...edits };
  const model = GemmaForCausalLM.random(parseGemmaConfig(raw), 7);
  const r = new Random(8);
  for (const [n, p] of model.namedParameters()) p.writeHost((d) => d.forEach((_, i) => (d[i] = zeroMlp && n.includes('down_proj') ? 0 : 0.2 * r.normal())));
  const out = join(dir, as);
  exportPretrained(model, out);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(TOKENIZER, f), join(out, f));
  return out;
}

function exportGguf(model: string, name: string, outtype = 'f32') {
  const out = join(dir, name);
  const r = spawnSync(process.execPath, [GIFT, 'export', '--format', 'gguf', '--model', model, '--out', out, '--outtype', outtype], { encoding: 'utf8' });
  return { ...r, out };
}

function giftjsLogProbs(folder: string): { logProbs: Float64Array; vocab: number } {
  const model = loadCausalLM(folder);
  const logits = noGrad(() => model.forward(IDS, 1, IDS.length).toFloat32Array());
  return { logProbs: logSoftmaxRows(logits, model.config.vocabSize), vocab: model.config.vocabSize };
}

// ggml's CPU GELU reads a table of halves (gelu(x) rounded to float16 at x rounded to float16), so
// llama.cpp's Gemma MLP is not float32 GELU: measured here, it moves the log-probabilities by up to
// 3.2e-3. With every MLP's output zeroed (down_proj = 0) the rest -- attention over local and global
// layers, norms, soft-caps, both RoPEs -- agrees within 1e-5, and the whole model within 5e-3.
test('GGUF gemma, gemma2 and gemma3: llama.cpp gives giftjs\'s log-probabilities past the sliding window (1e-5 without the MLP, 5e-3 with its float16 GELU table), and giftjs reads the file back', { skip: noLlamaCpp }, async () => {
  const llama = await llamaCpp();
  const gemma3Layers = { num_hidden_layers: 6, query_pre_attn_scalar: 16, layer_types: [...Array(5).fill('sliding_attention'), 'full_attention'] };
  for (const zeroMlp of [true, false]) {
    // Gemma 2: soft-capped scores and logits, windows on layers 0 and 2, scaled as llama.cpp scales it.
    const gemma2 = randomGemma('gemma2', { query_pre_attn_scalar: 16 }, `gemma2-${zeroMlp}`, zeroMlp);
    // Gemma 3 of six layers (five sliding, one global: llama.cpp's pattern): q/k norms, local RoPE base 10000, the global one scaled linearly by 2.
    const gemma3 = randomGemma('gemma3', gemma3Layers, `gemma3-${zeroMlp}`, zeroMlp);
    // Gemma: two norms a block (post_attention_layernorm as llama.cpp's ffn_norm), 1/sqrt(head_dim), every layer global.
    const gemma1 = randomGemma('gemma1', { hidden_act: 'gelu_pytorch_tanh' }, `gemma1-${zeroMlp}`, zeroMlp);
    for (const [name, folder] of [['gemma2', gemma2], ['gemma3', gemma3], ['gemma', gemma1]] as const) {
      const source = giftjsLogProbs(folder);
      for (const [outtype, tolerance] of [['f32', zeroMlp ? 1e-5 : 5e-3]] as const) {
        const written = exportGguf(folder, `${name}-${zeroMlp}-${outtype}.gguf`, outtype);
        assert.equal(written.status, 0, written.stderr);
        // giftjs reads the file back (gemma/gemma2/gemma3 GGUF import): f32 gives the folder's own log-probabilities.
        const imported = giftjsLogProbs(ggufModelFolder(written.out).dir);
        if (outtype === 'f32') assertClose(imported.logProbs, source.logProbs, `${name}: the f32 GGUF read back`, 1e-5, 1e-5);
        // llama.cpp on the same file. (Q8_0 blocks are written by the encoder every family shares, checked
        // on stories260K in test/cli/gguf_export.test.ts; on these random weights llama.cpp's 8-bit
        // activations move log-probabilities by ~0.1, too much to check anything Gemma's own.)
        const worst = worstLogProbDifference(await llamaCppProbabilities(llama, written.out, IDS), imported.logProbs, imported.vocab);
        assert.ok(worst < tolerance, `${name} ${outtype}${zeroMlp ? ' (MLP output zeroed)' : ''}: llama.cpp vs giftjs log-probabilities differ by up to ${worst}`);
      }
    }
  }
});

test('GGUF gemma export refuses a model llama.cpp would run otherwise, by name, writing nothing', () => {
  const refused = (folder: string, message: RegExp) => {
    const name = `refused-${Math.random().toString(36).slice(2)}.gguf`;
    const r = exportGguf(folder, name);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, message);
    assert.equal(existsSync(r.out), false);
  };
  // The fixtures' configs as transformers saved them: their query_pre_attn_scalar is not the head size.
  refused(randomGemma('gemma2', {}, 'gemma2-as-saved'), /GGUF export: query_pre_attn_scalar 24 is not 16 \(llama\.cpp scales a 3-layer gemma2's attention by 1\/sqrt\(16\)\); llama\.cpp's "gemma2" would run this model otherwise/);
  refused(randomGemma('gemma3', { query_pre_attn_scalar: 16 }, 'gemma3-three'), /the layers' windows \(4, 0, 4\) are not llama\.cpp's sliding except every sixth layer over one window/);
  refused(randomGemma('gemma2', { query_pre_attn_scalar: 16, attn_logit_softcapping: null }, 'gemma2-uncapped'), /Gemma 2 without soft-capping .* reads as capped at 50 \/ 30/);
});

test('GGUF gemma export of a Gemma whose config says hidden_act "gelu" (the erf form) is written with a note that llama.cpp computes the tanh form', () => {
  const written = exportGguf(randomGemma('gemma1', {}, 'gemma1-erf'), 'gemma1-erf.gguf');
  assert.equal(written.status, 0, written.stderr);
  assert.match(written.stderr, /note: hidden_act "gelu": transformers and giftjs compute the MLP's GELU in its erf form, llama\.cpp's "gemma" in the tanh approximation/);
  const tanh = exportGguf(randomGemma('gemma1', { hidden_act: 'gelu_pytorch_tanh' }, 'gemma1-tanh'), 'gemma1-tanh.gguf');
  assert.equal(tanh.status, 0, tanh.stderr);
  assert.doesNotMatch(tanh.stderr, /hidden_act/);
});
