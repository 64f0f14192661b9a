// gift train --test-data on a language model (mlx-lm's --test): the test file is scored once after
// training, and metrics.json holds what gift eval reports for the trained adapter on the same file;
// an mlx-lm data folder's test file stands in for it; PyTorch's engine, which scores no test file, refuses it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const lines = (records: object[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const TRAIN = lines(Array.from({ length: 6 }, (_, i) => ({ prompt: `question ${i} is`, completion: ` answer ${i}` })));
const TEST = lines([{ prompt: 'question 7 is', completion: ' answer 7, or so' }, { prompt: 'question 8 is', completion: ' answer 8' }]);

interface Metrics { test_loss: number; test_perplexity: number; test_tokens: number }

test('gift train --test-data scores the test file after training: metrics.json holds gift eval\'s loss and perplexity for the trained adapter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-lm-test-'));
  writeFileSync(join(dir, 'train.jsonl'), TRAIN);
  writeFileSync(join(dir, 'test.jsonl'), TEST);
  const run = join(dir, 'run');
  const r = gift('train', '--model', MODEL, '--data', join(dir, 'train.jsonl'), '--test-data', join(dir, 'test.jsonl'), '--out', run, '--max-steps', '3', '--batch-size', '2', '--lr', '1e-2', '--rank', '2');
  assert.equal(r.code, 0, r.err);
  const m = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')) as Metrics;
  const e = gift('eval', '--model', MODEL, '--adapter', join(run, 'adapter'), '--data', join(dir, 'test.jsonl'), '--json');
  assert.equal(e.code, 0, e.err);
  const evaluated = JSON.parse(e.out.trim().split('\n').pop()!) as { loss: number; perplexity: number; tokens: number };
  assert.ok(Math.abs(m.test_loss - evaluated.loss) < 1e-5, `test loss ${m.test_loss}, gift eval's ${evaluated.loss}`);
  assert.ok(Math.abs(m.test_perplexity - Math.exp(m.test_loss)) < 1e-9 * m.test_perplexity);
  assert.equal(m.test_tokens, evaluated.tokens);
  assert.match(r.err, new RegExp(`test: loss ${m.test_loss.toFixed(4)}, perplexity ${m.test_perplexity.toFixed(3)} over ${m.test_tokens} tokens`));
  const base = gift('eval', '--model', MODEL, '--data', join(dir, 'test.jsonl'), '--json');
  assert.notEqual((JSON.parse(base.out.trim().split('\n').pop()!) as { loss: number }).loss, m.test_loss, 'the trained adapter is what was scored');
});

test('an mlx-lm data folder\'s test file is scored after training; PyTorch\'s engine refuses --test-data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-lm-test-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'train.jsonl'), TRAIN);
  writeFileSync(join(data, 'valid.jsonl'), TEST);
  writeFileSync(join(data, 'test.jsonl'), TEST);
  const r = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'run'), '--max-steps', '2', '--batch-size', '2', '--rank', '2');
  assert.equal(r.code, 0, r.err);
  const m = JSON.parse(readFileSync(join(dir, 'run/metrics.json'), 'utf8')) as Metrics & { held_out_loss_end: number };
  assert.ok(m.test_tokens > 0);
  assert.ok(Math.abs(m.test_loss - m.held_out_loss_end) < 1e-6, 'the same file as held-out and test data gives the same loss');
  assert.match(readFileSync(join(dir, 'run/config.yaml'), 'utf8'), /test-data: .*test\.jsonl/);
  const torch = gift('train', '--model', MODEL, '--data', join(data, 'train.jsonl'), '--test-data', join(data, 'test.jsonl'), '--out', join(dir, 'torch'), '--engine', 'torch');
  assert.equal(torch.code, 1, torch.err);
  assert.match(torch.err, /--test-data is not available with --engine torch \(gift_torch\.train scores --eval-data only\)/);
});
