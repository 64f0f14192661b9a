// Training checkpoints: everything needed to continue exactly where a run stopped -- the trainable
// tensors, AdamW's moments, the update count (which fixes the data order and the schedule) -- and
// the adapter itself, loadable as it is (`<out>/checkpoint-<step>/adapter/`). Each checkpoint is a
// folder written atomically, so a run killed at any instant leaves the previous ones; the newest
// `saveTotalLimit` are kept (0: all). Runs of earlier giftjs versions kept one `<out>/checkpoint/`,
// which still resumes.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { recoverFolder, writeFileAtomic, writeFilesAtomic, writeFolderAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/hf_folder.js';
import { verifyWrittenFiles } from '../io/written_files.js';
import { float32Raws, nonFiniteEntryNames, SafetensorsFile, safetensorsChunks } from '../io/safetensors.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { AdamW } from './optimizer.js';
import { peftMethod } from '../peft/registry.js';
import { GiftjsError } from '../errors.js';

export interface CheckpointState {
  /** Optimizer updates completed. */
  step: number;
  /** The run's settings as JSON; resuming with different ones is refused, naming them. */
  fingerprint: string;
  evalHistory: { step: number; loss: number }[];
  /** The updates the learning-rate schedule spanned when the checkpoint was written. */
  totalSteps?: number;
}

/** The folder of an earlier giftjs's single rolling checkpoint. */
export const LEGACY_CHECKPOINT_DIR = 'checkpoint';
const NUMBERED = /^checkpoint-(\d+)$/;
/** A numbered checkpoint's name, or one of the temporary siblings of its atomic write. */
const NUMBERED_OR_TEMPORARY = /^\.?(checkpoint-\d+)(\.giftjs-(building|ready|old|lock))?$/;

export function checkpointDir(outDir: string, step: number): string {
  return join(outDir, `checkpoint-${step}`);
}

/** Finishes or rolls back the checkpoint writes a kill interrupted (before anything reads them). */
export function recoverCheckpoints(outDir: string): void {
  if (!existsSync(outDir)) return;
  recoverFolder(join(outDir, LEGACY_CHECKPOINT_DIR));
  const names = new Set(readdirSync(outDir).flatMap((n) => NUMBERED_OR_TEMPORARY.exec(n)?.[1] ?? []));
  for (const name of names) recoverFolder(join(outDir, name));
}

/** Complete checkpoints (those with their trainer_state.json), oldest first. */
export function listCheckpoints(outDir: string): { step: number; dir: string }[] {
  if (!existsSync(outDir)) return [];
  const found = readdirSync(outDir).flatMap((name) => {
    const m = NUMBERED.exec(name);
    const dir = join(outDir, name);
    return m && existsSync(join(dir, 'trainer_state.json')) ? [{ step: Number(m[1]), dir }] : [];
  });
  const legacy = join(outDir, LEGACY_CHECKPOINT_DIR);
  if (existsSync(join(legacy, 'trainer_state.json'))) found.push({ step: readCheckpointState(legacy).step, dir: legacy });
  return found.sort((a, b) => a.step - b.step);
}

/** What trainer_state.json holds, every field checked (a checkpoint is giftjs's file, but a disk or a hand can change it). */
export interface SavedCheckpointState extends CheckpointState {
  /** The optimizer's update count (bias correction); equal to step. */
  optimizer_step: number;
}

/**
 * Reads and checks a checkpoint's trainer_state.json: step a positive integer (the folder's own
 * number for checkpoint-<N>), optimizer_step equal to it, the fingerprint a string, the held-out
 * history finite losses at steps up to step, totalSteps absent or at least step. Its bytes and
 * state.safetensors' are first checked against the folder's record of what giftjs wrote.
 */
export function readCheckpointState(dir: string): SavedCheckpointState {
  const path = join(dir, 'trainer_state.json');
  verifyWrittenFiles(dir, ['trainer_state.json', 'state.safetensors']);
  const raw = readJsonFile(path);
  const bad = (field: string, allowed: string): never => {
    throw new GiftjsError(`${path}: '${field}' is ${JSON.stringify(raw[field]) ?? 'missing'}; it must be ${allowed} (the checkpoint is damaged; resume from another one, or start afresh in another outDir, --out)`);
  };
  const positiveInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
  if (!positiveInt(raw.step)) bad('step', 'an integer >= 1');
  const step = raw.step as number;
  const numbered = NUMBERED.exec(basename(dir));
  if (numbered && Number(numbered[1]) !== step) bad('step', `${numbered[1]}, the number of its folder ${basename(dir)}`);
  if (raw.optimizer_step !== step) bad('optimizer_step', `${step}, the step (one optimizer update per step)`);
  if (typeof raw.fingerprint !== 'string') bad('fingerprint', 'the run\'s settings as a JSON string');
  if (raw.totalSteps !== undefined && !(positiveInt(raw.totalSteps) && (raw.totalSteps as number) >= step)) bad('totalSteps', `absent or an integer >= ${step}`);
  const history = raw.evalHistory;
  if (!Array.isArray(history) || !history.every((e) => e !== null && typeof e === 'object' && Number.isSafeInteger(e.step) && e.step >= 0 && e.step <= step && typeof e.loss === 'number' && Number.isFinite(e.loss))) {
    bad('evalHistory', `a list of {"step": 0..${step}, "loss": a finite number}`);
  }
  return raw as unknown as SavedCheckpointState;
}

/** The newest checkpoint, or null. */
export function latestCheckpoint(outDir: string): { step: number; dir: string } | null {
  return listCheckpoints(outDir).at(-1) ?? null;
}

export interface SaveCheckpointOptions {
  /** The adapter's files as `gift train` writes them (adapterFileChunks), for the checkpoint's adapter/. */
  adapterFiles?: () => Promise<Record<string, Uint8Array[]>>;
  /** Keep this many newest checkpoints (0: all). */
  saveTotalLimit?: number;
}

/**
 * Writes checkpoint-<step>/ atomically. The values are read first, through the asynchronous host
 * boundary (any backend), then every file is written.
 */
export async function saveCheckpoint(outDir: string, trainable: [string, Tensor][], optimizer: AdamW, state: CheckpointState, o: SaveCheckpointOptions = {}): Promise<string> {
  const dir = checkpointDir(outDir, state.step);
  // Moments are saved flat, as they always were (a checkpoint written before stays loadable).
  const entries: Record<string, Tensor> = Object.fromEntries(trainable);
  const flat: Tensor[] = [];
  for (const [name, t] of optimizer.stateTensors()) flat.push((entries[name] = t.view([t.size])));
  let stateChunks: Uint8Array[];
  try {
    const raws = await float32Raws(entries);
    const bad = nonFiniteEntryNames(raws);
    if (bad.length > 0) throw new GiftjsError(`${dir} was not written: ${bad.slice(0, 4).join(', ')} hold NaN or infinite values`);
    stateChunks = safetensorsChunks(raws);
  } finally {
    for (const t of flat) t.dispose();
  }
  const adapter = await o.adapterFiles?.();
  writeFolderAtomic(dir, (tmp) => {
    writeFileAtomic(join(tmp, 'state.safetensors'), stateChunks);
    if (adapter) writeFilesAtomic(join(tmp, 'adapter'), adapter);
    writeFileAtomic(join(tmp, 'trainer_state.json'), [`${JSON.stringify({ ...state, optimizer_step: optimizer.step }, null, 2)}\n`]);
  });
  const limit = o.saveTotalLimit ?? 0;
  if (limit > 0) {
    // Only giftjs's own checkpoints in this --out (the numbered ones, and an earlier giftjs's
    // rolling checkpoint/ the run continued from), oldest first.
    for (const old of listCheckpoints(outDir).slice(0, -limit)) rmSync(old.dir, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The version of the rules giftjs trains by, recorded in every checkpoint's fingerprint and raised
 * whenever the same settings would train otherwise, so that --resume never continues a run under
 * rules it did not begin with (its schedule or weight decay changing in the middle, silently):
 *   none  before 2026-12-07: warmup of round(updates x ratio) updates, weight decay on every trained
 *         tensor, `constant` warming up, linear decay as 1 - progress;
 *   2     2026-12-07: transformers' rules -- warmup of ceil(updates x ratio), no decay on biases and
 *         normalization weights, `constant` without warmup, linear decay (total - step) / (total - warmup);
 *   3     2026-12-07: dropout masks drawn by the counter-based hash of src/backend/ref/dropout.ts (a key of
 *         two draws a call) instead of one generator draw a value: the same seed drops other values.
 */
export const TRAINING_RULES = 3;

/** The refusal of a checkpoint written under other training rules, or null where they are this giftjs's. */
function otherRules(saved: string, dir: string): string | null {
  let rules: unknown;
  try {
    rules = (JSON.parse(saved) as { trainingRules?: unknown }).trainingRules;
  } catch {
    rules = undefined;
  }
  if (rules === TRAINING_RULES) return null;
  const which = rules === undefined ? 'before 2026-12-07 (no version recorded)' : `of version ${JSON.stringify(rules)}`;
  return `${dir} was written under giftjs's training rules ${which}, and this giftjs trains by version ${TRAINING_RULES} (what changed between versions: TRAINING_RULES in src/train/checkpoint.ts): continuing would change the run's rules in its middle. Finish it with the giftjs that began it, or start afresh in another outDir (--out)`;
}

/** The settings that may differ on --resume: how long the run is and how often it reports. */
const MAY_CHANGE = new Set(['options.maxSteps', 'options.epochs', 'options.evalEvery', 'options.saveEvery', 'options.saveTotalLimit']);

function flatten(value: unknown, prefix: string, into: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else {
    into.set(prefix, JSON.stringify(value ?? null));
  }
}

/** The settings that differ between a checkpoint's fingerprint and the run's, as "name: was -> now" lines. */
export function changedSettings(saved: string, now: string): string[] | null {
  let a: unknown;
  let b: unknown;
  try {
    a = JSON.parse(saved);
    b = JSON.parse(now);
  } catch {
    return saved === now ? [] : null; // an earlier giftjs's fingerprint: only equality can be told
  }
  const before = new Map<string, string>();
  const after = new Map<string, string>();
  flatten(a, '', before);
  flatten(b, '', after);
  // A checkpoint of an earlier giftjs has no digests of the inputs: their contents cannot be compared.
  // A field of the method's config (methodConfig, or a classifier run's config) that the method does not
  // read and the run no longer gives changes nothing: gift train recorded a rank and targets for the
  // baselines (full, bitfit, head) until they refused settings they do not have.
  const unreadByMethod = (k: string) => {
    const field = /^(methodConfig|config)\.([^.]+)$/.exec(k);
    const method = field ? before.get(`${field[1]}.method`) : undefined;
    if (!field || after.has(k) || method === undefined || field[2] === 'modules_to_save') return false;
    try {
      return !peftMethod(JSON.parse(method) as string).settings.includes(field[2]!);
    } catch {
      return false; // a method this giftjs does not have: compared as any setting
    }
  };
  const comparable = (k: string) => !MAY_CHANGE.has(k) && !unreadByMethod(k) && !(k.startsWith('contents.') && ![...before.keys()].some((b) => b.startsWith('contents.')));
  const keys = [...new Set([...before.keys(), ...after.keys()])].filter(comparable);
  const digest = (v: string | undefined) => (v === undefined ? 'absent' : (JSON.parse(v) as string));
  return keys.filter((k) => before.get(k) !== after.get(k)).map((k) => (k.startsWith('contents.')
    ? `the contents of --${k.slice('contents.'.length).replace('.', ' file ')} changed (${digest(before.get(k))} in the checkpoint, ${digest(after.get(k))} now)`
    : `${k.replace(/^options\./, '')}: ${before.get(k) ?? '(unset)'} in the checkpoint, ${after.get(k) ?? '(unset)'} now`));
}

/** Restores tensors and optimizer from a checkpoint folder; returns its state. */
export function loadCheckpoint(dir: string, trainable: [string, Tensor][], optimizer: AdamW, fingerprint: string): CheckpointState {
  const state = readCheckpointState(dir);
  const rules = otherRules(state.fingerprint, dir);
  if (rules !== null) throw new GiftjsError(rules);
  const changed = changedSettings(state.fingerprint, fingerprint);
  if (changed === null) {
    throw new GiftjsError(`${dir}: this checkpoint was made with different settings; resume with the same arguments`);
  }
  if (changed.length > 0) {
    throw new GiftjsError(`${dir}: resume (--resume) continues a run with its own settings and inputs, and these differ: ${changed.join('; ')}. Only the length (maxSteps, epochs: --max-steps, --epochs) and evalEvery / saveEvery / saveTotalLimit (--eval-every / --save-every / --save-total-limit) may change; use another outDir (--out) for a new run`);
  }
  const statePath = join(dir, 'state.safetensors');
  if (!existsSync(statePath)) throw new GiftjsError(`${statePath} is missing: the checkpoint ${dir} is incomplete (resume from another one, or start afresh in another outDir, --out)`);
  const file = SafetensorsFile.open(statePath);
  try {
    // Values are checked before any reaches the model or the optimizer: shapes as the run's, every
    // value finite, second moments >= 0 (a negative one turns the next update into NaN).
    const read = (name: string, shape: readonly number[], what: string, nonNegative = false): Float32Array => {
      if (!file.tensors.has(name)) throw new GiftjsError(`${file.path}: no ${what} '${name}'`);
      const saved = file.info(name).shape;
      if (sizeOf(saved) !== sizeOf(shape) || (saved.length !== 1 && saved.join() !== shape.join())) {
        throw new GiftjsError(`${file.path}: ${what} '${name}' has shape [${saved.join(', ')}], the run's is [${shape.join(', ')}]`);
      }
      const values = new Float32Array(sizeOf(shape));
      file.readInto(name, values);
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (!Number.isFinite(v) || (nonNegative && v < 0)) throw new GiftjsError(`${file.path}: ${what} '${name}' holds ${v} at index ${i}; it must be finite${nonNegative ? ' and >= 0' : ''} (the checkpoint is damaged)`);
      }
      return values;
    };
    const values = trainable.map(([name, t]) => read(name, t.shape, 'tensor'));
    const moments = new Map<string, Float32Array>();
    for (const [name, t] of optimizer.stateTensors()) moments.set(name, read(name, [t.size], 'optimizer state', name.startsWith('optimizer.v.')));
    trainable.forEach(([, t], i) => t.assign(values[i]!));
    optimizer.loadState(state.optimizer_step, (name) => moments.get(name), file.path);
  } finally {
    file.close();
  }
  return state;
}
