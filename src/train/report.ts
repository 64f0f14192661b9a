// What a finished run leaves beside its adapter: metrics.json and loss_curve.svg, both drawn
// from <out>/log.jsonl (so a resumed run reports its whole history).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { AttachedAdapter } from '../peft/method.js';
import { GIFTJS_VERSION } from '../version.js';
import { lossCurveSvg } from './loss_curve.js';
import type { TrainOptions, TrainResult } from './trainer.js';

export function writeTrainingReport(outDir: string, adapter: AttachedAdapter, result: TrainResult, options: TrainOptions, title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const logs = readFileSync(join(outDir, 'log.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; loss: number });
  writeFileAtomic(join(outDir, 'loss_curve.svg'), [lossCurveSvg(logs, result.evalHistory, title)]);
  const metrics = {
    method: adapter.method, trainable_parameters: adapter.trainableCount(), steps: result.steps, epochs: options.epochs,
    final_train_loss: logs[logs.length - 1]?.loss ?? null,
    held_out_loss_start: result.evalHistory[0]?.loss ?? null,
    held_out_loss_end: result.evalHistory[result.evalHistory.length - 1]?.loss ?? null,
    held_out_history: result.evalHistory, tokens_per_s: result.tokensPerSecond, resumed_from: result.resumedFrom,
    options, giftjs_version: GIFTJS_VERSION, ...extra,
  };
  writeFileAtomic(join(outDir, 'metrics.json'), [`${JSON.stringify(metrics, null, 2)}\n`]);
  return metrics;
}
