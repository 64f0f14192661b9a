// Training checkpoints: everything needed to continue exactly where a run stopped -- the trainable
// tensors, AdamW's moments, the update count (which fixes the data order and the schedule) -- in
// one folder written atomically, so a run killed at any instant leaves the previous checkpoint.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/hf_folder.js';
import { SafetensorsFile, saveSafetensors } from '../io/safetensors.js';
import { Tensor } from '../tensor/tensor.js';
import type { AdamW } from './optimizer.js';
import { GiftjsError } from '../errors.js';

export interface CheckpointState {
  /** Optimizer updates completed. */
  step: number;
  /** Identifies the run's settings; resuming with different ones is refused. */
  fingerprint: string;
  evalHistory: { step: number; loss: number }[];
}

export const CHECKPOINT_DIR = 'checkpoint';

export function saveCheckpoint(outDir: string, trainable: [string, Tensor][], optimizer: AdamW, state: CheckpointState): string {
  const dir = join(outDir, CHECKPOINT_DIR);
  // Moments are saved flat, as they always were (a checkpoint written before stays loadable).
  const entries: Record<string, Tensor> = Object.fromEntries(trainable);
  const flat: Tensor[] = [];
  for (const [name, t] of optimizer.stateTensors()) flat.push((entries[name] = t.view([t.size])));
  try {
    writeFolderAtomic(dir, (tmp) => {
      saveSafetensors(join(tmp, 'state.safetensors'), entries);
      writeFileAtomic(join(tmp, 'trainer_state.json'), [`${JSON.stringify({ ...state, optimizer_step: optimizer.step }, null, 2)}\n`]);
    });
  } finally {
    for (const t of flat) t.dispose();
  }
  return dir;
}

export function hasCheckpoint(outDir: string): boolean {
  return existsSync(join(outDir, CHECKPOINT_DIR, 'trainer_state.json'));
}

/** The update count a checkpoint was saved at. */
export function checkpointStep(outDir: string): number {
  return readJsonFile<CheckpointState>(join(outDir, CHECKPOINT_DIR, 'trainer_state.json')).step;
}

/** Restores tensors and optimizer from <outDir>/checkpoint; returns its state. */
export function loadCheckpoint(outDir: string, trainable: [string, Tensor][], optimizer: AdamW, fingerprint: string): CheckpointState {
  const dir = join(outDir, CHECKPOINT_DIR);
  const state = readJsonFile<CheckpointState & { optimizer_step: number }>(join(dir, 'trainer_state.json'));
  if (state.fingerprint !== fingerprint) {
    throw new GiftjsError(`${dir}: this checkpoint was made with different settings (${state.fingerprint}); resume with the same arguments (now: ${fingerprint})`);
  }
  const file = SafetensorsFile.open(join(dir, 'state.safetensors'));
  try {
    for (const [name, t] of trainable) {
      if (!file.tensors.has(name)) throw new GiftjsError(`${file.path}: no tensor '${name}'`);
      t.writeHost((values) => file.readInto(name, values));
    }
    optimizer.loadState(state.optimizer_step, (name) => {
      if (!file.tensors.has(name)) return undefined;
      const t = file.readTensor(name);
      const a = Float32Array.from(t.read());
      t.dispose();
      return a;
    }, file.path);
  } finally {
    file.close();
  }
  return state;
}
