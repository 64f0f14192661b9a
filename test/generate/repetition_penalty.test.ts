// transformers' repetition_penalty (CTRL's; vLLM's too): every token of the text so far, the prompt's and
// the generated, has its logit divided by the penalty where positive and multiplied where negative, before
// the presence and frequency penalties and before greedy or sampled choice. Checked against whole-sequence
// forwards with the formula written out, and against transformers' own greedy generate on the same folder.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from '../../src/generate/generate.js';
import { argmax } from '../../src/generate/sampling.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { noGrad } from '../../src/tensor/autograd.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers, torch'], { encoding: 'utf8' }).status === 0;
const PROMPT = [1, 85, 3, 6, 83, 85, 3];
const NEW = 16;

test('the repetition penalty divides (or, below 0, multiplies) the logit of every token of the prompt and of the text so far', () => {
  const model = loadCausalLM(MODEL);
  const plain = generate(model, PROMPT, { maxNewTokens: NEW });
  for (const [repetitionPenalty, presencePenalty] of [[1.6, 0], [0.7, 0], [1.3, 0.5]] as const) {
    const penalized = generate(model, PROMPT, { maxNewTokens: NEW, repetitionPenalty, presencePenalty });
    const seq = [...PROMPT];
    const penalty = Math.fround(repetitionPenalty);
    for (let i = 0; i < NEW; i++) {
      const logits = noGrad(() => model.forward(seq, 1, seq.length));
      const v = logits.shape[2]!;
      const row = Float32Array.from(logits.data.subarray((seq.length - 1) * v, seq.length * v));
      for (let j = 0; j < v; j++) {
        if (seq.includes(j)) row[j] = row[j]! < 0 ? row[j]! * penalty : row[j]! / penalty;
        if (seq.slice(PROMPT.length).includes(j)) row[j] = row[j]! - presencePenalty;
      }
      seq.push(argmax(row));
    }
    assert.deepEqual(penalized, seq.slice(PROMPT.length), `repetition ${repetitionPenalty}, presence ${presencePenalty}`);
  }
  assert.notDeepEqual(generate(model, PROMPT, { maxNewTokens: NEW, repetitionPenalty: 1.6 }), plain, 'the penalty changes this model\'s greedy text');
  assert.deepEqual(generate(model, PROMPT, { maxNewTokens: NEW, repetitionPenalty: 1 }), plain);
  for (const repetitionPenalty of [0, -1, NaN, Infinity]) {
    assert.throws(() => generate(model, PROMPT, { repetitionPenalty }), new RegExp(`repetition penalty must be a finite number above 0 \\(1: off\\), got ${repetitionPenalty}`));
  }
  // gift generate's flag gives the same tokens (greedy, no stop token among them on this fixture's prompt).
  const r = spawnSync(process.execPath, [GIFT, 'generate', '--model', MODEL, '--prompt', 'the cat sat on the cat', '--max-new-tokens', '8', '--repetition-penalty', '1.6'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const plainRun = spawnSync(process.execPath, [GIFT, 'generate', '--model', MODEL, '--prompt', 'the cat sat on the cat', '--max-new-tokens', '8'], { encoding: 'utf8' });
  assert.notEqual(r.stdout, plainRun.stdout, 'the flag reaches the decoding');
});

test('greedy tokens with the repetition penalty equal transformers\' generate(repetition_penalty=...) on the same folder', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  const model = loadCausalLM(MODEL);
  const ours = [1.6, 0.7, 1.05].map((repetitionPenalty) => generate(model, PROMPT, { maxNewTokens: NEW, repetitionPenalty }));
  const r = spawnSync(PYTHON, ['-c', `
import json, sys, torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging
logging.set_verbosity_error()
m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
prompt = torch.tensor([${PROMPT.join(', ')}]).unsqueeze(0)
out = []
for p in (1.6, 0.7, 1.05):
    # No end token stops it: eos_token_id=None, min_new_tokens to the end, so all ${NEW} are compared.
    g = m.generate(prompt, max_new_tokens=${NEW}, min_new_tokens=${NEW}, do_sample=False, repetition_penalty=p, eos_token_id=None, pad_token_id=0)
    out.append(g[0, ${PROMPT.length}:].tolist())
print(json.dumps(out))
`, MODEL], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(ours, JSON.parse(r.stdout.trim().split('\n').pop()!));
});
