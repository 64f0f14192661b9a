// gift eval --task seqcls|imgcls: the evaluation's memory -- the weights, the saved adapter and the
// forward of one batch -- estimated by a dry run before the model is loaded, and a budget it would
// pass refused, naming the --batch-size that fits (it had loaded and scored unestimated).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_WEIGHTS } from '../peft/adapter_io.js';
import { modelFamily } from '../models/registry.js';
import { assertClassifierFits, type ClassifierStepShape } from '../train/classifier_memory.js';
import { describeEstimate, memoryBudget } from '../train/memory_estimate.js';

export function assertClassifierEvalFits(modelDir: string, adapterDir: string, s: Omit<ClassifierStepShape, 'method' | 'scoring'>, memoryLimit: unknown): void {
  // A family registered without shapes cannot be dry-run; the built-in ones all can.
  if (!modelFamily(modelDir).shapes) {
    console.error(`memory: not estimated (the model family of ${modelDir} builds no shapes)`);
    return;
  }
  const adapterBytes = statSync(join(adapterDir, ADAPTER_WEIGHTS)).size;
  const estimate = assertClassifierFits(modelDir, { ...s, method: null, scoring: { adapterBytes } }, memoryBudget(memoryLimit as string | undefined), 'gift eval', 'flags');
  console.error(`memory: about ${describeEstimate(estimate)}`);
}
