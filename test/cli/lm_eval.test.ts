// lm-eval (EleutherAI's harness, in the peer venv) scores a model through gift serve as it scores it
// through transformers: its local-completions backend sends each request to /v1/completions as a
// batch of token-id lists with echo and max_tokens 1 and reads the prompt's log-probabilities as all
// but the last entry; its hf backend runs transformers on the same folder. The loglikelihood of
// every multiple-choice request and every greedy generation must agree. A second folder lists every
// token as an end-of-sequence token, so each of the server's answers ends at its first token: that
// token must still be reported (before, its entry was left out, and lm-eval dropped the
// continuation's last token instead, without a word).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { createOpenAIServer } from '../../src/serve/openai_server.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasLmEval = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import lm_eval, transformers'], { encoding: 'utf8' }).status === 0;

type Resps = Record<'tiny_mc' | 'tiny_gen', unknown[][]>;

test('lm-eval through gift serve (local-completions) gives the loglikelihoods and generations lm-eval gives through transformers (hf)', {
  skip: hasLmEval ? false : `no python with lm-eval at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs it into the peer venv)`,
  timeout: 300_000,
}, async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'giftjs-lm-eval-'));
  const plain = join(scratch, 'plain');
  const allEos = join(scratch, 'all-eos');
  for (const dir of [plain, allEos]) cpSync(join(ROOT, 'test/fixtures/llama/llama-gqa'), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(allEos, 'config.json'), 'utf8')) as { vocab_size: number };
  writeFileSync(join(allEos, 'config.json'), JSON.stringify({ ...config, eos_token_id: Array.from({ length: config.vocab_size }, (_, i) => i) }));

  const servers: Server[] = [];
  try {
    const urls: string[] = [];
    for (const dir of [plain, allEos]) {
      const server = createOpenAIServer({ model: loadCausalLM(dir), tokenizer: Tokenizer.fromFolder(dir), modelId: 'giftjs', defaultMaxTokens: 16, maxTokensLimit: 64, defaultTemperature: 0, maxBodyBytes: 1 << 20 });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`);
    }
    // Asynchronously: the servers answer from this process while lm-eval runs.
    const child = spawn(PYTHON, [join(ROOT, 'tools/lm_eval_compare.py'), scratch, plain, urls[0]!, allEos, urls[1]!], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr.slice(-3000));
    const results = JSON.parse(stdout.trim().split('\n').pop()!) as { hf: Resps; giftjs: Resps }[];
    assert.equal(results.length, 2);
    for (const [k, { hf, giftjs }] of results.entries()) {
      const folder = k === 0 ? 'plain' : 'every token an EOS';
      // Multiple choice: one [loglikelihood, is_greedy] a choice; 12 requests over 4 questions.
      assert.equal(hf.tiny_mc.flat().length, 12);
      hf.tiny_mc.forEach((doc, d) => doc.forEach((resp, c) => {
        const [[ours, oursGreedy]] = giftjs.tiny_mc[d]![c] as [[number, boolean]];
        const [[theirs, theirsGreedy]] = resp as [[number, boolean]];
        assert.ok(Math.abs(ours - theirs) < 1e-4, `${folder}: question ${d} choice ${c}: ${ours} through gift serve, ${theirs} through transformers`);
        assert.equal(oursGreedy, theirsGreedy, `${folder}: question ${d} choice ${c}: is_greedy`);
      }));
      // (Where every token is an end token, transformers' text keeps the one that ended the answer --
      // these are no special tokens, so decoding keeps them -- and an OpenAI server's leaves it out.)
      if (k === 0) assert.deepEqual(giftjs.tiny_gen, hf.tiny_gen, `${folder}: greedy generations`);
    }
    // The plain folder generates text (the comparison is not of empty answers).
    assert.ok(results[0]!.hf.tiny_gen.flat(2).some((t) => typeof t === 'string' && t.length > 0), JSON.stringify(results[0]!.hf.tiny_gen));
  } finally {
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});
