// A folder's generation_config.json names end tokens that config.json may not (instruction-tuned
// checkpoints: Gemma 2's <end_of_turn>, Llama 3.1's <|eot_id|>); transformers' generate stops at them,
// and so must gift generate, gift serve and the paper's evaluation, which read them through the
// model's config. Before, they were never read: a chat answer ran on past its turn.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from '../../src/generate/generate.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { fileSamplingNote, generationSampling } from '../../src/models/generation_config.js';
import { loadTokenizer } from '../../src/cli/model_loading.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers, torch'], { encoding: 'utf8' }).status === 0;

function folderWith(generationConfig: Record<string, unknown> | null): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-gencfg-')), 'model');
  cpSync(FIXTURE, dir, { recursive: true });
  if (generationConfig) writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generationConfig));
  return dir;
}

const PROMPT = [1, 85, 3, 6, 83];

test('generation stops at generation_config.json\'s end tokens as well as config.json\'s, as transformers\' generate does', () => {
  const free = generate(loadCausalLM(folderWith(null)), PROMPT, { maxNewTokens: 6 });
  assert.equal(free.length, 6);
  // The third greedy token, named an end token in generation_config.json only (config.json's is 2).
  const end = free[2]!;
  assert.ok(!free.slice(0, 2).includes(end) && end !== 2, `a token that first comes third: ${free}`);
  const dir = folderWith({ bos_token_id: 1, eos_token_id: [2, end] });
  const model = loadCausalLM(dir);
  assert.deepEqual(model.config.eosTokenIds, [2, end]);
  assert.deepEqual(generate(model, PROMPT, { maxNewTokens: 6, stopTokens: model.config.eosTokenIds }), free.slice(0, 3));
  assert.deepEqual(loadCausalLM(folderWith({ eos_token_id: end })).config.eosTokenIds, [2, end]);
  assert.deepEqual(loadCausalLM(folderWith({ do_sample: false })).config.eosTokenIds, [2]);
  assert.throws(() => loadCausalLM(folderWith({ eos_token_id: ['</s>'] })), /generation_config\.json: eos_token_id must be a token id or a list of them \(whole numbers >= 0\), got \["<\/s>"\]/);

  if (!hasTransformers) return;
  // transformers' greedy generate on the same folder stops at the same token (it keeps the end token in its output).
  const r = spawnSync(PYTHON, ['-c', `
import json, sys, torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging
logging.set_verbosity_error()
m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
out = m.generate(torch.tensor([${PROMPT.join(', ')}]).unsqueeze(0), max_new_tokens=6, do_sample=False)
print(json.dumps(out[0, ${PROMPT.length}:].tolist()))
`, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), free.slice(0, 3));
});

test('a checkpoint that asks for sampling (do_sample) is read with GenerationConfig\'s defaults, and gift generate says it decodes greedily and how to sample as it asks', () => {
  const files: Record<string, unknown>[] = [
    { do_sample: true, temperature: 0.6, top_p: 0.9 },
    { do_sample: true, temperature: 0.7, top_k: 20, top_p: 0.8, min_p: 0.05, repetition_penalty: 1.05 },
    { do_sample: true },
    { do_sample: true, top_k: 0, top_p: 1, temperature: null },
    { do_sample: false, temperature: 0.6 },
    { temperature: 0.6 },
  ];
  const dirs = files.map((f) => folderWith(f));
  const ours = dirs.map((d) => generationSampling(d));
  assert.deepEqual(ours[0], { temperature: 0.6, topK: 50, topP: 0.9, minP: 0, repetitionPenalty: 1 });
  assert.deepEqual(ours[2], { temperature: 1, topK: 50, topP: 1, minP: 0, repetitionPenalty: 1 });
  assert.equal(ours[4], null);
  assert.equal(ours[5], null);
  assert.equal(generationSampling(folderWith(null)), null);
  assert.throws(() => generationSampling(folderWith({ do_sample: true, temperature: 'hot' })), /generation_config\.json: temperature must be a number above 0, got "hot"/);
  assert.throws(() => generationSampling(folderWith({ do_sample: true, top_p: 0 })), /generation_config\.json: top_p must be in \(0, 1\], got 0/);

  const note = fileSamplingNote(dirs[1]!, 'POLICY', 'flags')!;
  assert.equal(note, `note: ${join(dirs[1]!, 'generation_config.json')} asks for sampling (do_sample: temperature 0.7, top_k 20, top_p 0.8, min_p 0.05, repetition_penalty 1.05), as transformers' generate does by default; POLICY. To sample as it asks: --temperature 0.7 --top-k 20 --top-p 0.8 --min-p 0.05 --repetition-penalty 1.05`);
  assert.match(fileSamplingNote(dirs[3]!, 'P', 'request fields')!, /\(do_sample: temperature 1\), .* To sample as it asks: requests with "temperature": 1$/);

  // gift generate: the note on stderr, greedy tokens as without the file; the flags it names sample as
  // the library does with the file's settings; with --temperature given, no note.
  const run = (dir: string, ...extra: string[]) => spawnSync(process.execPath, [GIFT, 'generate', '--model', dir, '--prompt', 'the cat', '--max-new-tokens', '6', ...extra], { encoding: 'utf8' });
  const plain = run(folderWith(null));
  const asked = run(dirs[0]!);
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(asked.status, 0, asked.stderr);
  assert.equal(asked.stdout, plain.stdout);
  assert.ok(asked.stderr.includes(`${fileSamplingNote(dirs[0]!, 'gift generate decodes greedily unless --temperature is given (as mlx-lm does)', 'flags')}\n`), asked.stderr);
  assert.ok(!plain.stderr.includes('asks for sampling'));
  const sampled = run(dirs[0]!, '--temperature', '0.6', '--top-k', '50', '--top-p', '0.9', '--seed', '3');
  assert.equal(sampled.status, 0, sampled.stderr);
  assert.ok(!sampled.stderr.includes('asks for sampling'), sampled.stderr);
  const tokenizer = loadTokenizer(dirs[0]!);
  const model = loadCausalLM(dirs[0]!);
  const stops = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  const made = generate(model, tokenizer.encode('the cat'), { maxNewTokens: 6, temperature: 0.6, topK: 50, topP: 0.9, seed: 3, stopTokens: stops });
  assert.equal(sampled.stdout, `${tokenizer.decode(made)}\n`);

  if (!hasTransformers) return;
  // transformers' own reading of the same files: the values its generate samples with (a field the
  // file leaves unset, None, takes GenerationConfig's global default in generate, as its docstring says).
  const r = spawnSync(PYTHON, ['-c', `
import json, sys
from transformers import GenerationConfig
from transformers.utils import logging
logging.set_verbosity_error()
defaults = GenerationConfig._get_default_generation_params()
out = []
for d in sys.argv[1:]:
    g = GenerationConfig.from_pretrained(d)
    v = lambda name: getattr(g, name) if getattr(g, name) is not None else defaults.get(name, 0)  # min_p: no default, no warper
    out.append({'temperature': v('temperature'), 'topK': v('top_k'), 'topP': v('top_p'), 'minP': v('min_p'), 'repetitionPenalty': v('repetition_penalty')} if v('do_sample') else None)
print(json.dumps(out))
`, ...dirs], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as (Record<string, number> | null)[];
  assert.deepEqual(ours, theirs);
});
