// gift train --engine torch: the same run on PyTorch's engine. The data become token shards (gift
// prepare), then torchrun starts --nproc processes of gift_torch.train (DistributedDataParallel), and
// the run folder ends up as gift train leaves it: adapter/, log.jsonl, metrics.json.
import { claimRunFolder } from '../io/output_folder.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainOptions } from '../train/trainer.js';
import { readJsonFile } from '../io/hf_folder.js';
import { prepareShards, type PrepareOptions } from './prepare.js';
import { GiftjsError } from '../errors.js';

/** The gift_torch package shipped beside giftjs. */
const PYTHON_PACKAGE_DIR = fileURLToPath(new URL('../../../python', import.meta.url));

/** What to prepare (out: the run folder; the shards go to <out>/shards) and how to train on it. */
export interface TorchRun extends PrepareOptions {
  processes: number;
  methodConfig: Record<string, unknown>;
  options: TrainOptions;
  resume: boolean;
  /** End with metrics.json as one JSON line (gift train --json). */
  json: boolean;
}

/** The GIFT settings gift_torch.train takes; a setting it has no flag for is refused, not dropped. */
const TORCH_GIFT_FIELDS = new Set(['method', 'rank', 'alpha', 'target_modules', 'layers', 'share']);

export async function trainOnTorch(r: TorchRun): Promise<number> {
  const m = r.methodConfig;
  if (m.method !== 'gift') throw new GiftjsError(`--engine torch trains GIFT; for ${String(m.method)} use PEFT on PyTorch directly`);
  if (typeof m.target_modules !== 'object') throw new GiftjsError('--engine torch takes --targets as a list of names');
  const other = Object.keys(m).filter((k) => !TORCH_GIFT_FIELDS.has(k));
  if (other.length > 0) throw new GiftjsError(`--engine torch: GIFT setting(s) ${other.join(', ')} have no counterpart in gift_torch.train`);
  const o = r.options;
  if (o.headLr !== null || o.headWeightDecay !== null) throw new GiftjsError('--head-lr and --head-weight-decay have no meaning for --engine torch (no classifier head)');
  if ((o.saveTotalLimit ?? 0) > 0) throw new GiftjsError('--save-total-limit is not available with --engine torch (gift_torch.train keeps one rolling checkpoint)');
  assertPythonHasTorch();
  // The run folder is claimed as gift train claims it: a folder giftjs did not make is refused, and
  // the lock keeps a second run (of either engine) out while torchrun writes there.
  const release = claimRunFolder(r.out);
  try {
    return await runTorch(r, m, o);
  } finally {
    release();
  }
}

/**
 * A resumed run trains on the shards it prepared when it began, so a data setting given otherwise now
 * would be ignored without a word (gift_torch fingerprints the shards, not the flags that made them):
 * refused, naming each (the model's contents gift_torch checks itself). prepare.json written before
 * loss_on and text_field existed prepared the response's loss from "text".
 */
function assertShardsOfThisCommand(shards: string, r: TorchRun): void {
  const path = join(shards, 'prepare.json');
  if (!existsSync(path)) throw new GiftjsError(`--resume: ${path} is missing, so the data this run trained on cannot be told; train afresh in another --out`);
  const made = readJsonFile(path) as Record<string, unknown>;
  const asked: [string, unknown, unknown][] = [
    ['--data', samePath(made.data), samePath(r.dataPath)], ['--eval-data', samePath(made.eval_data), samePath(r.evalPath)],
    ['--template', made.task, r.task ?? null], ['--loss-on', made.loss_on ?? 'response', r.lossOn ?? 'response'], ['--dataset-text-field', made.text_field ?? 'text', r.textField ?? 'text'], ['--max-length', made.max_length, r.maxLength],
    ...(r.format !== undefined ? [['--format', made.format, r.format] as [string, unknown, unknown]] : []),
  ];
  const differ = asked.filter(([, before, now]) => before !== now).map(([flag, before, now]) => `${flag} ${JSON.stringify(before)} then, ${JSON.stringify(now)} now`);
  if (differ.length > 0) {
    throw new GiftjsError(`--resume trains on the shards this run prepared when it began (${shards}), and this command asks for other data: ${differ.join('; ')}. Resume with the run's own data settings, or train afresh in another --out`);
  }
}

/** A file path as given, made absolute (./d.jsonl and d.jsonl are one file); null when none. */
function samePath(p: unknown): string | null {
  return typeof p === 'string' ? resolve(p) : null;
}

async function runTorch(r: TorchRun, m: TorchRun['methodConfig'], o: TorchRun['options']): Promise<number> {
  const shards = join(r.out, 'shards');
  if (r.resume) assertShardsOfThisCommand(shards, r);
  else {
    // Refused here, before the shards are written: gift_torch refuses too, but only after a fresh
    // run's shards had replaced those the checkpoint's run trains on, which then could not resume.
    // (checkpoint.old: a kill during gift_torch's checkpoint swap left the checkpoint there.)
    if (['checkpoint', 'checkpoint.old'].some((d) => existsSync(join(r.out, d, 'state.json')))) {
      throw new GiftjsError(`${r.out} holds a checkpoint of an earlier run: continue it with --resume, or choose another --out (nothing was changed)`);
    }
    await prepareShards({ modelDir: r.modelDir, dataPath: r.dataPath, evalPath: r.evalPath, out: shards, format: r.format, task: r.task, lossOn: r.lossOn, textField: r.textField, maxLength: r.maxLength });
  }
  const layers = m.layers as number[] | null;
  const args = [
    '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(r.processes),
    // Debian's torch 1.13 under Python 3.11 cannot parse these flags' defaults; any torch accepts them.
    '--redirects', '2', '--tee', '2',
    '-m', 'gift_torch.train', '--model', r.modelDir, '--shards', shards, '--out', r.out,
    '--rank', String(m.rank), ...(m.alpha !== undefined ? ['--alpha', String(m.alpha)] : []), '--targets', (m.target_modules as string[]).join(','),
    ...(layers ? ['--layers', layers.join(',')] : []), ...(m.share !== undefined ? ['--share', String(m.share)] : []),
    '--epochs', String(o.epochs), ...(o.maxSteps !== null ? ['--max-steps', String(o.maxSteps)] : []), '--lr', String(o.lr),
    '--batch-size', String(o.batchSize), '--grad-accum', String(o.gradAccum), '--warmup-ratio', String(o.warmupRatio), '--scheduler', o.scheduler, ...(o.minLr !== undefined ? ['--min-lr', String(o.minLr)] : []),
    '--weight-decay', String(o.weightDecay), '--max-grad-norm', String(o.maxGradNorm), '--seed', String(o.seed),
    '--eval-every', String(o.evalEvery), '--save-every', String(o.saveEvery), ...(r.resume ? ['--resume'] : []),
  ];
  const python = pythonCommand();
  const pythonPath = [PYTHON_PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(':');
  console.error(`torch engine: ${python} ${args.join(' ')}`);
  const run = spawnSync(python, args, { stdio: 'inherit', env: { ...process.env, PYTHONPATH: pythonPath } });
  if (run.error) throw new GiftjsError(`--engine torch: cannot run ${python} (${run.error.message}); set GIFTJS_PYTHON to a Python with PyTorch`);
  if (run.status !== 0) throw new GiftjsError(`--engine torch: torchrun ended with status ${run.status ?? run.signal}; its output is above`);
  console.error(`adapter: ${join(r.out, 'adapter')}\nmetrics: ${join(r.out, 'metrics.json')}`);
  if (r.json) console.log(JSON.stringify(readJsonFile(join(r.out, 'metrics.json'))));
  return 0;
}

/** The Python that runs PyTorch's engine: GIFTJS_PYTHON, else python3 on the PATH. */
function pythonCommand(): string {
  return process.env.GIFTJS_PYTHON ?? 'python3';
}

/** Before anything is prepared: the Python runs and imports torch, or the refusal names GIFTJS_PYTHON. */
function assertPythonHasTorch(): void {
  const python = pythonCommand();
  const chosen = process.env.GIFTJS_PYTHON ? `GIFTJS_PYTHON (${python})` : `${python} (the PATH's; GIFTJS_PYTHON chooses another)`;
  const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) throw new GiftjsError(`--engine torch: cannot run ${chosen}: ${r.error.message}; set GIFTJS_PYTHON to a Python with PyTorch`);
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').pop() ?? `status ${r.status}`;
    throw new GiftjsError(`--engine torch: ${chosen} cannot import torch (${why}); set GIFTJS_PYTHON to a Python that has PyTorch (Debian: apt-get install python3-torch)`);
  }
}
