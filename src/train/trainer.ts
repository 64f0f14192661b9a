// The training loop: a task's loss weighted by its units (target tokens, or examples) over
// gradient-accumulation windows, global-norm clipping, AdamW, warmup + schedule, held-out
// evaluation, checkpoints every N updates, and exact resumption (the data order and dropout masks
// are functions of the seed and the update count).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Example } from '../data/examples.js';
import type { CausalLM } from '../models/causal_lm.js';
import type { Module } from '../nn/module.js';
import { reseedRandomness } from '../nn/layers.js';
import { scale } from '../ops/elementwise.js';
import { isUserSeed } from '../tensor/random.js';
import { headParameterNames } from '../peft/baselines/model.js';
import type { AttachedAdapter } from '../peft/method.js';
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/memory.js';
import { GiftjsError, refuseUnknownOptions } from '../errors.js';
import { claimRunFolder } from '../io/output_folder.js';
import { reportingFsErrors } from '../io/fs_errors.js';
import { faultErrno } from '../io/fault_injection.js';
import { inputContents } from '../io/content_digest.js';
import { latestCheckpoint, loadCheckpoint, recoverCheckpoints, saveCheckpoint, TRAINING_RULES } from './checkpoint.js';
import { AdamW, clipGradNormAsync, namesOfNonFinite, type ParamGroup } from './optimizer.js';
import { lrMultiplier, SCHEDULERS, schedulerWarmsUp, warmupSteps, type SchedulerKind } from './schedule.js';
import { weightDecayApplies } from './weight_decay.js';
import { readScalar, taskHeldOutLoss, type TrainTask } from './task.js';
import { causalLMTask } from './tasks/causal_lm.js';

export interface TrainOptions {
  epochs: number;
  /** Stops after this many optimizer updates (overrides epochs when set). */
  maxSteps: number | null;
  lr: number;
  batchSize: number;
  gradAccum: number;
  warmupRatio: number;
  scheduler: SchedulerKind;
  /** cosine_with_min_lr's final learning rate (transformers' min_lr); set with that scheduler only. */
  minLr?: number;
  weightDecay: number;
  /** Global gradient-norm clipping (0 = off); transformers' default is 1. */
  maxGradNorm: number;
  seed: number;
  /** Held-out evaluation every N updates (0 = only at the start and the end). */
  evalEvery: number;
  /** Checkpoint every N updates (0 = never; a final adapter is written regardless). */
  saveEvery: number;
  /** Keep this many newest checkpoints (0 or absent: all). */
  saveTotalLimit?: number;
  /** Learning rate and weight decay of a trained head (default: the main ones). */
  headLr: number | null;
  headWeightDecay: number | null;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  epochs: 1, maxSteps: null, lr: 2.5e-4, batchSize: 8, gradAccum: 1, warmupRatio: 0.1, scheduler: 'linear',
  weightDecay: 0, maxGradNorm: 1, seed: 42, evalEvery: 0, saveEvery: 0, headLr: null, headWeightDecay: null,
};

export interface StepLog {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
}

export interface TrainCallbacks {
  /** The run folder is claimed and checked, before the first update: what the run is can be recorded now. */
  onStart?: () => void;
  onStep?: (log: StepLog, totalSteps: number) => void;
  onEval?: (step: number, loss: number) => void;
  /** Resuming from `dir` at `step`; `note` says when the schedule's length changed. */
  onResume?: (step: number, dir: string, note?: string) => void;
  /** Something the run should not hide but that does not stop it (a loss back at a uniform prediction's). */
  onWarning?: (message: string) => void;
}

export interface TrainResult {
  steps: number;
  totalSteps: number;
  logs: StepLog[];
  evalHistory: { step: number; loss: number }[];
  tokensPerSecond: number;
  resumedFrom: number | null;
}

export interface TrainRun {
  model: Module;
  adapter: AttachedAdapter;
  /** What to train on; omitted, next-token prediction on `train` (and `heldOut`) with `padId`. */
  task?: TrainTask<unknown>;
  train?: Example[];
  heldOut?: Example[];
  options: TrainOptions;
  padId?: number;
  /** Pack the training examples into rows of up to this many tokens (data/packing.ts). */
  pack?: number;
  /** Where log.jsonl and checkpoints go; omitted, nothing is written. */
  outDir?: string;
  resume?: boolean;
  /** The run's settings as JSON, for the checkpoint's fingerprint (--resume names what changed). */
  fingerprint?: string;
  /**
   * The files the run reads, by flag (model folder, data files): when checkpoints are written or
   * resumed, their contents (size and sha256) join the fingerprint, so a model or data file changed
   * under the same path is not resumed silently.
   */
  inputs?: Record<string, string | undefined>;
  /** The adapter's files (adapterFileChunks) for each checkpoint's adapter/, loadable as it is. */
  adapterFiles?: () => Promise<Record<string, Uint8Array[]>>;
  callbacks?: TrainCallbacks;
  /**
   * Stops the run after the update in progress (Ctrl-C, SIGTERM): with outDir and saveEvery set, that
   * update is saved as a checkpoint first, so resume loses nothing; trainModel then throws TrainingStopped.
   */
  signal?: AbortSignal;
}

/** What trainModel throws when its signal stopped it: the updates done, and the checkpoint that holds them (or null). */
export class TrainingStopped extends GiftjsError {
  constructor(readonly step: number, readonly checkpoint: string | null) {
    super(`training stopped after step ${step}${checkpoint ? `; ${checkpoint} holds it` : '; no checkpoint holds it (saveEvery, --save-every, saves one)'}`);
  }
}

/** Token-weighted next-token loss of a language model on held-out examples. */
export async function heldOutLoss(model: CausalLM, examples: Example[], batchSize: number, padId: number): Promise<number> {
  return (await taskHeldOutLoss(causalLMTask(model, [], examples, padId), batchSize)).loss;
}

function runTask(run: TrainRun): TrainTask<unknown> {
  if (run.task) return run.task;
  if (!run.train || run.padId === undefined) throw new GiftjsError('trainModel: give a task, or train examples and a padId for language modelling');
  return causalLMTask(run.model as CausalLM, run.train, run.heldOut, run.padId, run.pack);
}

function paramGroups(run: TrainRun): ParamGroup[] {
  const o = run.options;
  const heads = new Set(headParameterNames(run.model));
  const trainable = run.adapter.namedTrainable();
  const main = trainable.filter(([n]) => !heads.has(n));
  const head = trainable.filter(([n]) => heads.has(n));
  if (head.length === 0 && (o.headLr !== null || o.headWeightDecay !== null)) {
    throw new GiftjsError(`training option ${o.headLr !== null ? 'headLr (--head-lr)' : 'headWeightDecay (--head-weight-decay)'} is set, but this run trains no head (${run.adapter.method} trains ${trainable.slice(0, 2).map(([n]) => n).join(', ')}${trainable.length > 2 ? ', ...' : ''}); leave it out`);
  }
  // Each group in two, as transformers' Trainer splits it: biases and normalization weights take no weight decay.
  const decays = weightDecayApplies(run.model);
  const split = (params: [string, Tensor][], lrScale: number, weightDecay: number): ParamGroup[] => [
    { params: params.filter(([n]) => decays(n)), lrScale, weightDecay },
    { params: params.filter(([n]) => !decays(n)), lrScale, weightDecay: 0 },
  ];
  const groups = split(main, 1, o.weightDecay);
  if (head.length) groups.push(...split(head, (o.headLr ?? o.lr) / o.lr, o.headWeightDecay ?? o.weightDecay));
  return groups.filter((g) => g.params.length > 0);
}


/**
 * Refuses settings that cannot train (or would silently do something else): each field is named
 * with its value and what is allowed. Called by trainModel, so the library and the CLI agree.
 */
export function validateTrainOptions(o: TrainOptions): void {
  refuseUnknownOptions(o, [...Object.keys(DEFAULT_TRAIN_OPTIONS), 'saveTotalLimit', 'minLr'], 'training options');
  const check = (ok: boolean, field: string, value: unknown, allowed: string) => {
    if (!ok) throw new GiftjsError(`training option ${field} is ${JSON.stringify(value) ?? String(value)}; it must be ${allowed}`);
  };
  const int = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  check(int(o.epochs, 1), 'epochs', o.epochs, 'an integer >= 1');
  check(o.maxSteps === null || int(o.maxSteps, 1), 'maxSteps', o.maxSteps, 'null or an integer >= 1');
  check(finite(o.lr) && o.lr > 0, 'lr', o.lr, 'a finite number > 0');
  check(int(o.batchSize, 1), 'batchSize', o.batchSize, 'an integer >= 1');
  check(int(o.gradAccum, 1), 'gradAccum', o.gradAccum, 'an integer >= 1');
  check(finite(o.warmupRatio) && o.warmupRatio >= 0 && o.warmupRatio <= 1, 'warmupRatio', o.warmupRatio, 'in [0, 1]');
  check(SCHEDULERS.includes(o.scheduler), 'scheduler', o.scheduler, `one of ${SCHEDULERS.join(', ')}`);
  if (!schedulerWarmsUp(o.scheduler)) check(o.warmupRatio === 0, 'warmupRatio', o.warmupRatio, `0 with scheduler ${o.scheduler}: transformers' constant schedule has no warmup (constant_with_warmup has one)`);
  if (o.scheduler === 'cosine_with_min_lr') check(finite(o.minLr) && o.minLr! >= 0 && o.minLr! <= o.lr, 'minLr', o.minLr, `a finite number from 0 to lr (${o.lr}): cosine_with_min_lr's final learning rate (--min-lr)`);
  else check(o.minLr === undefined, 'minLr', o.minLr, `left out: it is the floor of scheduler cosine_with_min_lr, and the scheduler is ${o.scheduler}`);
  check(finite(o.weightDecay) && o.weightDecay >= 0, 'weightDecay', o.weightDecay, 'a finite number >= 0');
  check(finite(o.maxGradNorm) && o.maxGradNorm >= 0, 'maxGradNorm', o.maxGradNorm, 'a finite number >= 0 (0: no clipping)');
  check(isUserSeed(o.seed), 'seed', o.seed, 'an integer in [0, 2^32)');
  check(int(o.evalEvery, 0), 'evalEvery', o.evalEvery, 'an integer >= 0');
  check(int(o.saveEvery, 0), 'saveEvery', o.saveEvery, 'an integer >= 0');
  check(o.saveTotalLimit === undefined || int(o.saveTotalLimit, 0), 'saveTotalLimit', o.saveTotalLimit, 'an integer >= 0 (0: keep every checkpoint)');
  check(o.headLr === null || (finite(o.headLr) && o.headLr > 0), 'headLr', o.headLr, 'null or a finite number > 0');
  check(o.headWeightDecay === null || (finite(o.headWeightDecay) && o.headWeightDecay >= 0), 'headWeightDecay', o.headWeightDecay, 'null or a finite number >= 0');
}

/**
 * The lines of log.jsonl for the updates up to `step`. A kill while a line was appended leaves it
 * torn: that can only be the last line, written after the newest checkpoint, and is dropped; an
 * unreadable line before it means the file was changed, and is refused by line number.
 */
function keptLogLines(logPath: string, step: number): string[] {
  const lines = readFileSync(logPath, 'utf8').split('\n');
  const kept: string[] = [];
  lines.forEach((line, i) => {
    if (line === '') return;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      if (lines.slice(i + 1).every((l) => l === '')) return; // the torn last line
      throw new GiftjsError(`${logPath}:${i + 1} is not a JSON line; the run's log was changed (remove the line or start afresh in another outDir, --out)`);
    }
    const s = (entry as { step?: unknown } | null)?.step;
    if (typeof s !== 'number') throw new GiftjsError(`${logPath}:${i + 1} has no step number; the run's log was changed`);
    if (s <= step) kept.push(line);
  });
  return kept;
}

/**
 * Warns once when the training loss sits at a uniform prediction's, ln(classes), to 1e-5 on two
 * updates in a row: the mark of a model whose outputs became all equal (RMSNorm's mean of squares
 * overflowing under a huge learning rate, say), whose loss then looks settled. A trained model's
 * loss, or a fresh head's, is not that close to it on two different batches.
 */
function collapseWatch(uniformLoss: number | undefined, warn: ((m: string) => void) | undefined): (step: number, loss: number) => void {
  let atUniform = 0;
  let warned = false;
  return (step, loss) => {
    if (uniformLoss === undefined || !warn || warned || uniformLoss <= 0) return;
    atUniform = Math.abs(loss - uniformLoss) <= 1e-5 * uniformLoss ? atUniform + 1 : 0;
    if (atUniform === 2) {
      warned = true;
      warn(`the training loss at steps ${step - 1} and ${step} is ${loss.toFixed(4)}, exactly the loss of a uniform prediction over ${Math.round(Math.exp(uniformLoss))} classes (ln ${Math.round(Math.exp(uniformLoss))} = ${uniformLoss.toFixed(4)}): the model's outputs have probably collapsed to equal values (is the learning rate too high?)`);
    }
  };
}

/** The names of trainable tensors whose gradient holds a NaN or an infinity (their sum of squares is then not finite). */
function nonFiniteGradients(trainable: [string, Tensor][]): Promise<string[]> {
  return namesOfNonFinite(trainable.filter(([, t]) => t.grad).map(([n, t]) => [n, t.grad!]));
}

/**
 * Trains run.adapter. Asynchronous because the host reads a device backend's memory (the loss, the
 * gradient norm) only asynchronously; on the CPU backends every read answers at once.
 */
export async function trainModel(run: TrainRun): Promise<TrainResult> {
  const o = run.options;
  validateTrainOptions(o);
  const task = runTask(run);
  if (task.trainSize === 0) throw new GiftjsError('training data is empty (after tokenization and truncation)');
  // A schedule with nothing to act on is refused before the run folder is claimed or any input
  // hashed (each had run as if not set).
  if (o.evalEvery > 0 && task.heldOutSize === 0) throw new GiftjsError(`training option evalEvery (--eval-every) is ${o.evalEvery}, and the run has no held-out examples to evaluate (give heldOut / validation, --eval-data), or set it to 0`);
  if ((o.saveTotalLimit ?? 0) > 0 && o.saveEvery === 0) throw new GiftjsError(`training option saveTotalLimit (--save-total-limit) is ${o.saveTotalLimit}, and saveEvery (--save-every) is 0: no checkpoint is written for it to keep; set saveEvery, or leave saveTotalLimit at 0`);
  const settings = run.fingerprint !== undefined ? settingsObject(run.fingerprint) : { method: run.adapter.method, options: o, trainSize: task.trainSize };
  const contents = run.outDir && run.inputs && (o.saveEvery > 0 || run.resume) ? inputContents(run.inputs) : undefined;
  const fingerprint = JSON.stringify({ ...settings, trainingRules: TRAINING_RULES, ...(contents ? { contents } : {}) });
  const release = run.outDir ? claimRunFolder(run.outDir) : () => {};
  let optimizer: AdamW | null = null;
  try {
    optimizer = new AdamW(paramGroups(run));
    return await trainLoop(run, task, fingerprint, optimizer);
  } finally {
    optimizer?.dispose(); // its moments go back to the backend's pool
    run.model.eval(); // what follows training (evaluation, saving, merging) sees no dropout
    release();
  }
}

/** A run's fingerprint as the object it must be (the settings as JSON), to add fields to. */
function settingsObject(fingerprint: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fingerprint);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new GiftjsError(`TrainRun.fingerprint must be the run's settings as a JSON object, got ${JSON.stringify(fingerprint.slice(0, 100))}`);
  return parsed as Record<string, unknown>;
}

async function trainLoop(run: TrainRun, task: TrainTask<unknown>, fingerprint: string, optimizer: AdamW): Promise<TrainResult> {
  const o = run.options;
  const batchesPerEpoch = Math.ceil(task.trainSize / o.batchSize);
  const updatesPerEpoch = Math.ceil(batchesPerEpoch / o.gradAccum);
  const totalSteps = o.maxSteps ?? o.epochs * updatesPerEpoch;
  const warmup = warmupSteps(totalSteps, o.warmupRatio);
  const trainable = run.adapter.namedTrainable();
  const params = trainable.map(([, t]) => t);
  const logPath = run.outDir ? join(run.outDir, 'log.jsonl') : null;
  let latest: { step: number; dir: string } | null = null;
  if (run.outDir) {
    // A kill during a checkpoint's folder swap left the old or the new one: finish the swap first.
    recoverCheckpoints(run.outDir);
    latest = latestCheckpoint(run.outDir);
    if (run.resume && !latest) {
      throw new GiftjsError(`resume (--resume): ${run.outDir} has no checkpoint to continue from (checkpoints are written every saveEvery updates, --save-every N); run without resume to start afresh`);
    }
    if (!run.resume && latest) {
      throw new GiftjsError(`${run.outDir} holds a checkpoint at step ${latest.step}: set resume (--resume) to continue that run, or choose another outDir (--out; nothing was changed)`);
    }
  }

  let start = 0;
  let evalHistory: { step: number; loss: number }[] = [];
  let resumedFrom: number | null = null;
  if (run.resume && latest) {
    const state = loadCheckpoint(latest.dir, trainable, optimizer, fingerprint);
    start = state.step;
    if (start > totalSteps) {
      throw new GiftjsError(`resume (--resume): ${latest.dir} is at update ${start}, past this run's length of ${totalSteps} updates; give a maxSteps (--max-steps, or epochs, --epochs) of at least ${start}`);
    }
    evalHistory = state.evalHistory;
    resumedFrom = start;
    // Keep the log lines of the updates the checkpoint covers; later ones will be written again.
    if (logPath && existsSync(logPath)) {
      const kept = keptLogLines(logPath, start);
      reportingFsErrors(logPath, () => writeFileSync(logPath, kept.map((l) => `${l}\n`).join('')));
    }
    const planned = state.totalSteps;
    const note = planned !== undefined && planned !== totalSteps
      ? `the run now has ${totalSteps} updates (${planned} when the checkpoint was written): the remaining ones follow the learning-rate schedule for ${totalSteps}`
      : undefined;
    run.callbacks?.onResume?.(start, latest.dir, note);
  } else if (logPath) {
    reportingFsErrors(logPath, () => writeFileSync(logPath, ''));
  }
  run.callbacks?.onStart?.();
  const hasHeldOut = task.heldOutSize > 0;
  let lastCheckpoint: string | null = latest?.dir ?? null;
  const evaluate = async (step: number) => {
    if (!hasHeldOut) return;
    run.model.eval();
    const { loss } = await taskHeldOutLoss(task, o.batchSize);
    if (!Number.isFinite(loss)) {
      throw new GiftjsError(step === 0
        ? `the held-out loss before training is ${loss}: the model gives non-finite outputs on the held-out data; nothing was trained`
        : `training diverged by step ${step}: the held-out loss is ${loss}; no adapter was written; last good checkpoint: ${lastCheckpoint ?? 'none (set saveEvery, --save-every)'}`);
    }
    evalHistory.push({ step, loss });
    run.callbacks?.onEval?.(step, loss);
  };
  if (start === 0) await evaluate(0);
  // The held-out loss at the last update, once: --eval-every stops short of it, and a final
  // checkpoint (or the checkpoint a finished run resumes from) may hold it already.
  const evaluateEnd = async () => {
    if (evalHistory.every((e) => e.step !== totalSteps)) await evaluate(totalSteps);
  };

  const logs: StepLog[] = [];
  const collapse = collapseWatch(task.uniformLoss, run.callbacks?.onWarning);
  let epochCache = null as { epoch: number; batches: unknown[] } | null;
  let tokensSeen = 0;
  const t0 = performance.now();
  for (let step = start; step < totalSteps; step++) {
    const epoch = Math.floor(step / updatesPerEpoch);
    if (epochCache?.epoch !== epoch) epochCache = { epoch, batches: task.epochBatches(o.batchSize, o.seed, epoch) };
    const first = (step % updatesPerEpoch) * o.gradAccum;
    const window = epochCache.batches.slice(first, Math.min(first + o.gradAccum, batchesPerEpoch));
    const targetTokens = window.reduce((n: number, b) => n + task.units(b), 0);
    reseedRandomness(run.model, (o.seed * 1000003 + step) >>> 0);
    run.model.train();
    let lossSum = 0;
    for (const b of window) {
      const sum = tidy(() => {
        const s = task.lossSum(b);
        scale(s, 1 / targetTokens).backward();
        return s;
      });
      lossSum += await readScalar(sum);
    }
    const loss = lossSum / targetTokens;
    if (!Number.isFinite(loss)) {
      throw new GiftjsError(`training diverged at step ${step + 1}: the loss is ${loss}; last good checkpoint: ${lastCheckpoint ?? 'none (set saveEvery, --save-every)'}`);
    }
    const gradNorm = await clipGradNormAsync(params, o.maxGradNorm);
    if (!Number.isFinite(gradNorm)) {
      // A finite loss can still have non-finite gradients (a NaN weight behind a masked position,
      // an overflow in backward): stop before the update spreads them into every parameter.
      const bad = await nonFiniteGradients(trainable);
      throw new GiftjsError(`training diverged at step ${step + 1}: the gradient norm is ${gradNorm}; non-finite gradients in ${bad.slice(0, 4).join(', ')}${bad.length > 4 ? ` and ${bad.length - 4} more` : ''}; last good checkpoint: ${lastCheckpoint ?? 'none (set saveEvery, --save-every)'}`);
    }
    const lr = o.lr * lrMultiplier(o.scheduler, step, totalSteps, warmup, (o.minLr ?? 0) / o.lr);
    optimizer.update(lr);
    for (const p of params) p.zeroGrad();
    // A finite loss and gradient can still step to infinity (a learning rate of 1e39, a weight decay
    // of 1e30): stop at the update that did it, before it is saved or trained on.
    const overflowed = await namesOfNonFinite(trainable);
    if (overflowed.length > 0) {
      throw new GiftjsError(`training diverged at step ${step + 1}: the update left non-finite values in ${overflowed.slice(0, 4).join(', ')}${overflowed.length > 4 ? ` and ${overflowed.length - 4} more` : ''} (learning rate ${lr}, weight decay ${o.weightDecay}); no adapter was written; last good checkpoint: ${lastCheckpoint ?? 'none (set saveEvery, --save-every)'}`);
    }
    collapse(step + 1, loss);
    tokensSeen += window.reduce((n: number, b) => n + task.inputTokens(b), 0);
    const elapsed = (performance.now() - t0) / 1000;
    const log: StepLog = { step: step + 1, epoch: step / updatesPerEpoch, loss, lr, grad_norm: gradNorm, tokens: targetTokens, tokens_per_s: tokensSeen / elapsed };
    logs.push(log);
    if (logPath) {
      reportingFsErrors(logPath, () => {
        faultErrno('log-append');
        appendFileSync(logPath, `${JSON.stringify(log)}\n`);
      });
    }
    run.callbacks?.onStep?.(log, totalSteps);
    // A turn of the event loop between steps: the awaits above resolve at once on the CPU backends,
    // and a signal's handler (Ctrl-C says where the run stands) or a timer runs only in such a turn.
    await nextTurn();
    const done = step + 1;
    if (o.evalEvery > 0 && done % o.evalEvery === 0 && done < totalSteps) await evaluate(done);
    // Every --save-every updates and at the end, so that a finished run can be extended (--resume with a larger --max-steps).
    const stopping = run.signal?.aborted === true && done < totalSteps;
    if (run.outDir && o.saveEvery > 0 && (done % o.saveEvery === 0 || done === totalSteps || stopping)) {
      if (done === totalSteps) await evaluateEnd(); // the final checkpoint carries the final held-out loss
      lastCheckpoint = await saveCheckpoint(run.outDir, trainable, optimizer, { step: done, fingerprint, evalHistory, totalSteps }, { adapterFiles: run.adapterFiles, saveTotalLimit: o.saveTotalLimit });
    }
    if (stopping) throw new TrainingStopped(done, run.outDir && o.saveEvery > 0 ? lastCheckpoint : null);
  }
  await evaluateEnd();
  const elapsed = (performance.now() - t0) / 1000;
  return { steps: totalSteps, totalSteps, logs, evalHistory, tokensPerSecond: elapsed > 0 ? tokensSeen / elapsed : 0, resumedFrom };
}

/** Resolves on the next turn of the event loop (setImmediate in Node; a zero timeout in a browser, which has none). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}
