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
