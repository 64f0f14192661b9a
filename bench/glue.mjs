// GLUE with the embedded encoder: GIFT, LoRA and head-only on SST-2, CoLA and STS-B (the paper's
// GLUE protocol where it carries over: presets glue-*), scored on the dev sets. Long: ~40 min on
// 2 cores.  node bench/glue.mjs [--glue data/glue] [--tasks sst2,cola,stsb] [--methods gift,lora,head] [--out runs/glue]
// GLUE's files: https://gluebenchmark.com/tasks (SST-2.zip, CoLA.zip, STS-B.zip, ...), unzipped into
// data/glue/<task>/ (train.tsv, dev.tsv), or any folder given as --glue.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { tasks: { type: 'string' }, methods: { type: 'string' }, out: { type: 'string' }, glue: { type: 'string' } } });
const root = new URL('..', import.meta.url).pathname;
const glue = values.glue ?? join(root, 'data/glue');
if (!existsSync(glue)) {
  console.error(`GLUE data not found in ${glue}: download the tasks from https://gluebenchmark.com/tasks, unzip them there (data/glue/SST-2/train.tsv, ...) or pass --glue <dir>`);
  process.exit(1);
}
const out = values.out ?? join(root, 'runs/glue');
const tasks = (values.tasks ?? 'sst2,cola,stsb').split(',');
const methods = (values.methods ?? 'gift,lora,head').split(',');
const DIRS = { sst2: 'SST-2', cola: 'CoLA', stsb: 'STS-B', mrpc: 'MRPC', rte: 'RTE' };
const METRIC = { sst2: 'accuracy', cola: 'mcc', stsb: 'pearson', mrpc: 'f1', rte: 'accuracy' };
const gift = (...args) => spawnSync(process.execPath, [join(root, 'bin/gift.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

mkdirSync(out, { recursive: true });
const model = join(out, 'use-lite');
if (!existsSync(join(model, 'config.json'))) gift('convert', 'use-lite', '--out', model);
const rows = [];
for (const task of tasks) {
  for (const method of methods) {
    const t0 = Date.now();
    const r = gift('train', '--preset', `glue-${task}`, '--method', method, '--model', model, '--data', join(glue, DIRS[task], 'train.tsv'),
      '--eval-data', join(glue, DIRS[task], 'dev.tsv'), '--out', join(out, `${task}-${method}`), '--json');
    if (r.status !== 0) throw new Error(`${task} ${method}: gift train failed`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    const row = { task, method, trainable: m.trainable_parameters, metric: METRIC[task], value: m.validation[METRIC[task]], all: m.validation, seconds: (Date.now() - t0) / 1000 };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
console.log('\n| task | method | trainable params | dev metric | value |\n|---|---|---:|---|---:|');
for (const r of rows) console.log(`| ${r.task} | ${r.method} | ${r.trainable} | ${r.metric} | ${r.value.toFixed(4)} |`);
