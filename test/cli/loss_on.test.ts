// gift train|eval|prepare --loss-on: which tokens of a language model's examples learn. "all" reaches
// the examples, the log line, config.yaml, prepare.json and the checkpoint's settings (a run resumed
// with the other choice is refused); what other tools call it is answered with giftjs's name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/io/tokenizer.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const CLASSIFIER = join(ROOT, 'test/fixtures/encoders/bert');

function gift(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--loss-on all scores and trains the prompt\'s tokens too, and a run resumed with the other choice is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-loss-on-'));
  const data = join(dir, 'd.jsonl');
  const records = Array.from({ length: 4 }, (_, i) => ({ prompt: `question ${i} is`, completion: ` answer ${i}` }));
  writeFileSync(data, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  // Every token after the first is predicted: a record's ids and the EOS appended, less the first.
  const tok = Tokenizer.fromFolder(MODEL);
  const every = records.reduce((n, r) => n + tok.encode(r.prompt + r.completion).length, 0);
  const scored = (...more: string[]) => {
    const r = gift('eval', '--model', MODEL, '--data', data, ...more);
    assert.equal(r.code, 0, r.err);
    return Number(/predicted tokens (\d+)/.exec(r.out)![1]);
  };
  assert.equal(scored('--loss-on', 'all'), every);
  assert.ok(scored() < every, 'the default scores the completions only');
  assert.equal(scored('--loss-on', 'response'), scored());

  const run = join(dir, 'run');
  const trained = gift('train', '--model', MODEL, '--data', data, '--out', run, '--max-steps', '2', '--save-every', '1', '--batch-size', '2', '--loss-on', 'all');
  assert.equal(trained.code, 0, trained.err);
  assert.match(trained.err, /d\.jsonl: 4 records \(completion, loss on every token\) -> 4 examples/);
  assert.match(readFileSync(join(run, 'config.yaml'), 'utf8'), /^loss-on: all$/m);
  const resumed = gift('train', '--model', MODEL, '--data', data, '--out', run, '--max-steps', '3', '--save-every', '1', '--batch-size', '2', '--resume');
  assert.equal(resumed.code, 1);
  assert.match(resumed.err, /these differ: lossOn: "all" in the checkpoint, \(unset\) now/);
  const again = gift('train', '--config', join(run, 'config.yaml'), '--max-steps', '3', '--resume');
  assert.equal(again.code, 0, again.err);

  const prepared = join(dir, 'shards');
  assert.equal(gift('prepare', '--model', MODEL, '--data', data, '--out', prepared, '--loss-on', 'all').code, 0);
  assert.equal(JSON.parse(readFileSync(join(prepared, 'prepare.json'), 'utf8')).loss_on, 'all');
});

test('--loss-on: other values, a classifier and the names of mlx-lm and TRL are answered by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-loss-on-bad-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, `${JSON.stringify({ text: 'a line of text' })}\n`);
  const bad = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'a'), '--loss-on', 'prompt');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--loss-on must be response or all \(response: the completion, the assistant turns or the LLM-Adapters output; all: every token\), got 'prompt'/);
  const classifier = gift('train', '--model', CLASSIFIER, '--data', data, '--out', join(dir, 'b'), '--loss-on', 'all');
  assert.equal(classifier.code, 1);
  assert.match(classifier.err, /--loss-on is read when training a language model, and --model is/);
  const onTask = gift('eval', '--model', MODEL, '--data', data, '--task', 'commonsense', '--loss-on', 'all');
  assert.equal(onTask.code, 1);
  assert.match(onTask.err, /--loss-on applies to --task lm; --task commonsense does not read it/);
  for (const [flag, hint] of [['--mask-prompt', 'loss-on response'], ['--assistant_only_loss', 'loss-on response'], ['--train_on_inputs', 'loss-on all'], ['--completion-only-loss', 'loss-on response\\|all']]) {
    const r = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'c'), flag, 'x');
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`Unknown option '${flag}'; did you mean --${hint}`));
  }
});
