// gift eval --task seqcls|imgcls and gift explain: a classifier's forward under a saved adapter -- the
// weights, the adapter and the forward of one batch -- estimated by a dry run before the model is
// loaded, and a budget it would pass refused, naming the --batch-size that fits (both had loaded and
// run unestimated).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_WEIGHTS } from '../peft/adapter_io.js';
import { modelFamily } from '../models/registry.js';
import { assertClassifierFits, type ClassifierStepShape } from '../train/classifier_memory.js';
import { describeEstimate, memoryBudget } from '../train/memory_estimate.js';

export function assertClassifierEvalFits(modelDir: string, adapterDir: string, s: Omit<ClassifierStepShape, 'method' | 'scoring'>, memoryLimit: unknown, command = 'gift eval'): void {
  // A family registered without shapes cannot be dry-run; the built-in ones all can.
  if (!modelFamily(modelDir).shapes) {
    console.error(`memory: not estimated (the model family of ${modelDir} builds no shapes)`);
    return;
  }
  const adapterBytes = statSync(join(adapterDir, ADAPTER_WEIGHTS)).size;
  const estimate = assertClassifierFits(modelDir, { ...s, method: null, scoring: { adapterBytes } }, memoryBudget(memoryLimit as string | undefined), command, 'flags');
  console.error(`memory: about ${describeEstimate(estimate)}`);
}
