// What gift train trains comes from the model folder: an encoder folder trains a sequence classifier
// without --task; --template names a language model's prompt template, and --task, which named both,
// is still read where it agrees (with a note for a template). Contradictions are refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const LLAMA = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const BERT = join(ROOT, 'test/fixtures/encoders/bert');
const dir = mkdtempSync(join(tmpdir(), 'giftjs-kind-'));

function gift(...args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, err: r.stderr };
}
function refused(r: ReturnType<typeof gift>, message: RegExp): void {
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, message);
}

// LLM-Adapters records: the template decides the prompt the model is trained on.
const records = join(dir, 'records.json');
writeFileSync(records, JSON.stringify(Array.from({ length: 6 }, (_, i) => ({ instruction: `Is ${i} even?`, input: '', output: `the answer is ${i % 2 ? 'false' : 'true'}`, answer: i % 2 ? 'false' : 'true' }))));
const lm = (out: string, ...more: string[]) => gift('train', '--model', LLAMA, '--data', records, '--out', join(dir, out), '--max-steps', '2', '--batch-size', '3', '--rank', '2', '--seed', '3', ...more);
const adapterBytes = (out: string) => readFileSync(join(dir, out, 'adapter/adapter_model.safetensors'));

test('--template picks the prompt; --task with a template name is read as --template, with a note', () => {
  const template = lm('template', '--template', 'commonsense');
  assert.equal(template.code, 0, template.err);
  assert.doesNotMatch(template.err, /note: --task/);
  const task = lm('task', '--task', 'commonsense');
  assert.equal(task.code, 0, task.err);
  assert.match(task.err, /note: --task commonsense names a prompt template, which is --template commonsense now/);
  assert.deepEqual(adapterBytes('task'), adapterBytes('template'));
  const math = lm('math', '--template', 'math');
  assert.equal(math.code, 0, math.err);
  assert.notDeepEqual(adapterBytes('math'), adapterBytes('template'), 'another template trains on other prompts');
  refused(lm('both', '--task', 'math', '--template', 'commonsense'), /--task math and --template commonsense name two prompt templates; give --template alone/);
  refused(lm('bad', '--template', 'seqcls'), /--template must be commonsense, math, instruct, got 'seqcls'/);
});

test('the model folder says what is trained: an encoder trains a classifier without --task, and a contradicting --task is refused', () => {
  const rows = join(dir, 'rows.tsv');
  writeFileSync(rows, 'label\ttext\n' + Array.from({ length: 8 }, (_, i) => `${i % 2 ? 'good' : 'bad'}\tday number ${i}`).join('\n') + '\n');
  const plain = gift('train', '--model', BERT, '--data', rows, '--out', join(dir, 'cls'), '--max-steps', '1', '--batch-size', '4', '--rank', '2');
  assert.equal(plain.code, 0, plain.err);
  const config = JSON.parse(readFileSync(join(dir, 'cls/adapter/adapter_config.json'), 'utf8')) as { task?: { type?: string; id2label?: string[] } };
  assert.equal(config.task?.type, 'seqcls');
  assert.deepEqual(config.task?.id2label, ['bad', 'good']);
  const named = gift('train', '--task', 'seqcls', '--model', BERT, '--data', rows, '--out', join(dir, 'cls-named'), '--max-steps', '1', '--batch-size', '4', '--rank', '2');
  assert.equal(named.code, 0, named.err);
  assert.deepEqual(readFileSync(join(dir, 'cls-named/adapter/adapter_model.safetensors')), readFileSync(join(dir, 'cls/adapter/adapter_model.safetensors')));
  refused(gift('train', '--task', 'seqcls', '--model', LLAMA, '--data', rows, '--out', join(dir, 'no1')), /--task seqcls trains a sequence classifier, and --model is .*llama3-scaled-tied, a language model \(llama\); leave out --task/);
  refused(gift('train', '--task', 'imgcls', '--model', BERT, '--data', rows, '--out', join(dir, 'no2')), /--task imgcls trains an image classifier, and --model is .*bert, a sequence classifier \(bert\)/);
  refused(gift('train', '--template', 'math', '--model', BERT, '--data', rows, '--out', join(dir, 'no3')), /--template math formats a language model's records; --model is .*bert, a sequence classifier/);
  refused(gift('train', '--preset', 'glue-sst2', '--model', LLAMA, '--data', rows, '--out', join(dir, 'no4')), /--preset glue-sst2 trains a sequence classifier, and --model is .*llama3-scaled-tied, a language model/);
});

test('gift prepare reads --template, and --task as one with a note: the same shards', () => {
  const shards = (out: string, ...flag: string[]) => gift('prepare', '--model', LLAMA, '--data', records, '--out', join(dir, out), ...flag);
  const template = shards('shards-template', '--template', 'math');
  assert.equal(template.code, 0, template.err);
  const task = shards('shards-task', '--task', 'math');
  assert.equal(task.code, 0, task.err);
  assert.match(task.err, /note: --task math names a prompt template, which is --template math now/);
  assert.deepEqual(readFileSync(join(dir, 'shards-task/train.safetensors')), readFileSync(join(dir, 'shards-template/train.safetensors')));
  const other = shards('shards-other', '--template', 'commonsense');
  assert.equal(other.code, 0, other.err);
  assert.notDeepEqual(readFileSync(join(dir, 'shards-other/train.safetensors')), readFileSync(join(dir, 'shards-template/train.safetensors')), 'the template changed the tokens');
});
