// The model commands end to end, as a user runs them (node bin/gift.js ...), on the real
// stories260K converted from ../shared and on the PyTorch-made fixtures (bf16 included).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { exportPretrained } from '../../src/models/export.js';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';
import { needsShared, sharedFile } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const BIN = sharedFile('models/stories260K/stories260K.bin');
const skip = needsShared('models/stories260K/stories260K.bin');
const FIXTURES = join(ROOT, 'test/fixtures/llama');

function gift(...args: string[]): { code: number; out: string; err: string; json: Record<string, unknown> | null } {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let json: Record<string, unknown> | null = null;
  try {
    json = last.startsWith('{') ? JSON.parse(last) : null;
  } catch {
    json = null;
  }
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr, json };
}

let work: { dir: string; model: string; adapter: string; data: string } | null = null;
function setup() {
  if (work) return work;
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-cli-'));
  const model = join(dir, 'stories260K');
  assert.equal(gift('convert', 'llama2c', BIN, '--tokenizer', sharedFile('models/stories260K/tok512.bin'), '--out', model).code, 0);
  // A GIFT adapter with non-zero psi (an untrained one would change nothing).
  const m = LlamaForCausalLM.fromPretrained(model);
  const adapter = attachAdapter(m, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 1);
  const r = new Random(5);
  for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * r.normal();
  saveAdapter(join(dir, 'adapter'), adapter, { path: model, architecture: 'LlamaForCausalLM' });
  const data = join(dir, 'stories.jsonl');
  writeFileSync(data, [
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
    'One day, a big dog ran to the tree. The dog was happy and wagged its tail.',
    'Tom and Sue went to the store. They bought a red ball and played all day.',
  ].map((text) => JSON.stringify({ text })).join('\n') + '\n');
  return (work = { dir, model, adapter: join(dir, 'adapter'), data });
}

test('every command answers --help', () => {
  for (const c of ['inspect', 'eval', 'generate', 'merge', 'convert', 'bench', 'prepare', 'export']) {
    const r = gift(c, '--help');
    assert.equal(r.code, 0, `${c}: ${r.err}`);
    assert.match(r.out, new RegExp(`gift ${c}`));
  }
  assert.equal(gift('frobnicate').code, 2);
});

test('eval with an adapter equals eval of the merged export; generate reproduces the documented text', { skip }, () => {
  const w = setup();
  const base = gift('eval', '--model', w.model, '--data', w.data, '--json');
  assert.equal(base.code, 0, base.err);
  const withAdapter = gift('eval', '--model', w.model, '--adapter', w.adapter, '--data', w.data, '--json');
  assert.equal(withAdapter.code, 0, withAdapter.err);
  const merged = join(w.dir, 'merged');
  const m = gift('merge', '--model', w.model, '--adapter', w.adapter, '--out', merged);
  assert.equal(m.code, 0, m.err);
  assert.deepEqual(readdirSync(merged).sort(), ['.giftjs', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const onMerged = gift('eval', '--model', merged, '--data', w.data, '--json');
  assert.equal(onMerged.code, 0, onMerged.err);
  const l0 = base.json!.loss as number;
  const l1 = withAdapter.json!.loss as number;
  const l2 = onMerged.json!.loss as number;
  assert.ok(Math.abs(l1 - l0) > 1e-3, `the adapter changes the loss (${l0} vs ${l1})`);
  assert.ok(Math.abs(l1 - l2) < 1e-5, `adapter ${l1} vs merged ${l2}`);
  assert.equal(withAdapter.json!.tokens, onMerged.json!.tokens);
  assert.ok(Math.abs(Math.exp(l0) - (base.json!.perplexity as number)) < 1e-6 * Math.exp(l0));
  const g = gift('generate', '--model', w.model, '--prompt', '', '--max-new-tokens', '60');
  assert.equal(g.code, 0, g.err);
  assert.equal(g.out.trim(), 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high');
  const sampled = gift('generate', '--model', w.model, '--adapter', w.adapter, '--prompt', 'Tom', '--temperature', '0.8', '--top-k', '40', '--top-p', '0.9', '--seed', '7', '--max-new-tokens', '20');
  assert.equal(sampled.code, 0, sampled.err);
  assert.ok(sampled.out.trim().length > 0);
});

test('gift eval reports the held-out loss gift train logs for the same file (EOS included), in every format train reads', { skip }, () => {
  const w = setup();
  const completions = join(w.dir, 'completions.jsonl');
  writeFileSync(completions, [
    { prompt: 'Once upon a time, ', completion: 'there was a little dog.' },
    { prompt: 'Tom and Sue ', completion: 'went to the park.' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  for (const file of [w.data, completions]) {
    const out = join(w.dir, `run-${file.endsWith('completions.jsonl') ? 'c' : 't'}`);
    const t = gift('train', '--model', w.model, '--data', file, '--eval-data', file, '--out', out, '--rank', '4', '--max-steps', '2', '--batch-size', '2', '--json');
    assert.equal(t.code, 0, t.err);
    const logged = t.json!.held_out_loss_end as number;
    const e = gift('eval', '--model', w.model, '--adapter', join(out, 'adapter'), '--data', file, '--json');
    assert.equal(e.code, 0, e.err);
    assert.ok(Math.abs((e.json!.loss as number) - logged) < 1e-5, `${file}: eval ${e.json!.loss} vs train's held-out ${logged}`);
  }
  // Independently, record by record: a text's tokens, then EOS, every next token scored.
  const model = LlamaForCausalLM.fromPretrained(w.model);
  const tokenizer = Tokenizer.fromFolder(w.model);
  let total = 0;
  let count = 0;
  for (const line of readFileSync(w.data, 'utf8').trim().split('\n')) {
    const ids = [...tokenizer.encode(JSON.parse(line).text as string), tokenizer.eosTokenId!];
    total += crossEntropy(model.forward(ids, 1, ids.length), shiftLabels(ids, 1, ids.length), { reduction: 'sum' }).item();
    count += ids.length - 1;
  }
  const base = gift('eval', '--model', w.model, '--data', w.data, '--json');
  assert.ok(Math.abs((base.json!.loss as number) - total / count) < 1e-5, `${base.json!.loss} vs ${total / count}`);
  assert.equal(base.json!.tokens, count);
});

test('bf16 weights: eval matches f32 within bf16 rounding, and merge keeps bf16', { skip }, () => {
  const w = setup();
  const bf16 = join(w.dir, 'bf16');
  exportPretrained(LlamaForCausalLM.fromPretrained(w.model), bf16, 'BF16');
  const f = SafetensorsFile.open(join(bf16, 'model.safetensors'));
  assert.ok([...f.tensors.values()].every((t) => t.dtype === 'BF16'));
  f.close();
  const a = gift('eval', '--model', w.model, '--data', w.data, '--json').json!.loss as number;
  const b = gift('eval', '--model', bf16, '--data', w.data, '--json').json!.loss as number;
  assert.ok(Math.abs(a - b) < 0.05 && a !== b, `f32 ${a} vs bf16 ${b}`);
  const insp = gift('inspect', bf16, '--adapter', w.adapter);
  assert.equal(insp.code, 0, insp.err);
  assert.match(insp.out, /weights: 47 tensors BF16/);
  assert.match(insp.out, /adapter .*: gift, 1024 trainable parameters/);
  const merged = join(w.dir, 'bf16-merged');
  assert.equal(gift('merge', '--model', bf16, '--adapter', w.adapter, '--out', merged).code, 0);
  assert.equal(JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  const g = SafetensorsFile.open(join(merged, 'model.safetensors'));
  assert.equal(g.info('model.layers.0.self_attn.q_proj.weight').dtype, 'BF16');
  g.close();
});

test('inspect on a GGUF file counts its tensors by type and estimates the commands\' memory, as on a safetensors folder', () => {
  const r = gift('inspect', join(ROOT, 'test/fixtures/gguf/tiny-q8_0.gguf'), '--json');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /weights: 14 tensors Q8_0, 5 tensors F32, 2 tensors Q4_0/);
  const memory = r.json!.memory_bytes as Record<string, number>;
  assert.ok(memory && memory.train! > 0 && memory.generate! > 0, JSON.stringify(memory));
});

test('inspect reads the PyTorch fixtures, and counts GIFT vs LoRA from config.json alone', () => {
  const r = gift('inspect', join(FIXTURES, 'qwen2-bias'), '--rank', '4', '--json');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Qwen2ForCausalLM/);
  assert.match(r.out, /biases: q\/k\/v/);
  const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, 'qwen2-bias'));
  assert.equal(r.json!.parameters, model.parameters().reduce((n, p) => n + p.size, 0));
  assert.equal(r.json!.gift_trainable, attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }).trainableCount());
  // Llama-3-8B's shape: GIFT = 2 targets x 2 x 4096 x 64; LoRA = 32 layers x 64 x ((4096 + 4096) + (4096 + 1024)).
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-8b-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32,
    num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, rope_theta: 500000, rms_norm_eps: 1e-5, max_position_embeddings: 8192, tie_word_embeddings: false,
  }));
  const big = gift('inspect', dir, '--json');
  assert.equal(big.code, 0, big.err);
  assert.equal(big.json!.gift_trainable, 2 * 2 * 4096 * 64);
  assert.equal(big.json!.lora_trainable, 32 * 64 * (4096 + 4096 + 4096 + 1024));
  assert.equal(big.json!.parameters, 8030261248); // Meta-Llama-3-8B's published count
});

test('bad input is a clear error naming the file', () => {
  const r = gift('eval', '--model', join(FIXTURES, 'llama-gqa'), '--data', '/nonexistent.jsonl');
  assert.notEqual(r.code, 0);
  assert.match(r.err, /\/nonexistent\.jsonl: cannot read: does not exist \(ENOENT\)/);
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-bad-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'] }));
  const i = gift('inspect', dir);
  assert.match(i.err, /config\.json: architecture "GPT2LMHeadModel" is not supported/);
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"text": "ok"}\n{oops\n');
  assert.match(gift('eval', '--model', join(FIXTURES, 'llama-gqa'), '--data', bad).err, /bad\.jsonl:2: not valid JSON/);
});

for (const name of ['llama-gqa', 'llama-bf16', 'qwen2-bias']) {
  test(`${name} fixture folder: eval with an adapter equals eval of the merged export; generate runs`, () => {
    const dir = mkdtempSync(join(tmpdir(), `giftjs-${name}-`));
    const modelDir = join(FIXTURES, name);
    const m = LlamaForCausalLM.fromPretrained(modelDir);
    const adapter = attachAdapter(m, { method: 'lora', rank: 2, alpha: 4, target_modules: ['q_proj', 'o_proj'] }, 1);
    const r = new Random(9);
    for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * r.normal();
    saveAdapter(join(dir, 'adapter'), adapter, { path: modelDir, architecture: 'LlamaForCausalLM' });
    const data = join(dir, 'd.jsonl');
    writeFileSync(data, `${JSON.stringify({ text: 'the cat sat on the mat.' })}\n${JSON.stringify({ text: 'Hello there, it is an orange.' })}\n`);
    const withAdapter = gift('eval', '--model', modelDir, '--adapter', join(dir, 'adapter'), '--data', data, '--json');
    assert.equal(withAdapter.code, 0, withAdapter.err);
    assert.equal(gift('merge', '--model', modelDir, '--adapter', join(dir, 'adapter'), '--out', join(dir, 'merged')).code, 0);
    const merged = gift('eval', '--model', join(dir, 'merged'), '--data', data, '--json');
    const tolerance = name === 'llama-bf16' ? 0.05 : 1e-5; // the bf16 export rounds the merged weights
    assert.ok(Math.abs((withAdapter.json!.loss as number) - (merged.json!.loss as number)) < tolerance, `${withAdapter.json!.loss} vs ${merged.json!.loss}`);
    const g = gift('generate', '--model', modelDir, '--adapter', join(dir, 'adapter'), '--prompt', 'the', '--max-new-tokens', '8');
    assert.equal(g.code, 0, g.err);
    assert.equal(gift('inspect', modelDir, '--adapter', join(dir, 'adapter')).code, 0);
  });
}
