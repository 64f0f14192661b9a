// Training checkpoints: everything needed to continue exactly where a run stopped -- the trainable
// tensors, AdamW's moments, the update count (which fixes the data order and the schedule) -- and
// the adapter itself, loadable as it is (`<out>/checkpoint-<step>/adapter/`). Each checkpoint is a
// folder written atomically, so a run killed at any instant leaves the previous ones; the newest
// `saveTotalLimit` are kept (0: all). Runs of earlier giftjs versions kept one `<out>/checkpoint/`,
// which still resumes.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { recoverFolder, writeFileAtomic, writeFilesAtomic, writeFolderAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/hf_folder.js';
import { float32Raws, nonFiniteEntryNames, SafetensorsFile, safetensorsChunks } from '../io/safetensors.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { AdamW } from './optimizer.js';
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
  if (existsSync(join(legacy, 'trainer_state.json'))) found.push({ step: readJsonFile<CheckpointState>(join(legacy, 'trainer_state.json')).step, dir: legacy });
  return found.sort((a, b) => a.step - b.step);
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
  const keys = [...new Set([...before.keys(), ...after.keys()])].filter((k) => !MAY_CHANGE.has(k));
  return keys.filter((k) => before.get(k) !== after.get(k)).map((k) => `${k.replace(/^options\./, '')}: ${before.get(k) ?? '(unset)'} in the checkpoint, ${after.get(k) ?? '(unset)'} now`);
}

/** Restores tensors and optimizer from a checkpoint folder; returns its state. */
export function loadCheckpoint(dir: string, trainable: [string, Tensor][], optimizer: AdamW, fingerprint: string): CheckpointState {
  const state = readJsonFile<CheckpointState & { optimizer_step: number }>(join(dir, 'trainer_state.json'));
  const changed = changedSettings(state.fingerprint, fingerprint);
  if (changed === null) {
    throw new GiftjsError(`${dir}: this checkpoint was made with different settings; resume with the same arguments`);
  }
  if (changed.length > 0) {
    throw new GiftjsError(`${dir}: --resume continues a run with its own settings, and these differ: ${changed.join('; ')}. Only the length (--max-steps, --epochs) and --eval-every / --save-every / --save-total-limit may change; use another --out for a new run`);
  }
  const file = SafetensorsFile.open(join(dir, 'state.safetensors'));
  try {
    for (const [name, t] of trainable) {
      if (!file.tensors.has(name)) throw new GiftjsError(`${file.path}: no tensor '${name}'`);
      t.writeHost((values) => file.readInto(name, values));
    }
    optimizer.loadState(state.optimizer_step, (name) => {
      if (!file.tensors.has(name)) return undefined;
      const values = new Float32Array(sizeOf(file.info(name).shape));
      file.readInto(name, values); // straight from the file: no tensor, no read back from a backend
      return values;
    }, file.path);
  } finally {
    file.close();
  }
  return state;
}
