// What gift train prints when a classifier run (an encoder or a ViT folder) ends.
import { join } from 'node:path';
import type { ClassificationMetrics } from '../eval/classification.js';
import { formatMetrics } from '../eval/classification.js';
import type { AttachedAdapter } from '../peft/method.js';

export function reportClassifierRun(r: { adapter: AttachedAdapter; validation?: ClassificationMetrics; test?: ClassificationMetrics }, out: string, json: boolean): number {
  console.error(`${r.adapter.method}: ${r.adapter.trainableCount()} trainable parameters\n${r.adapter.describe().map((l) => `  ${l}`).join('\n')}`);
  if (r.validation) console.log(`validation: ${formatMetrics(r.validation)}`);
  if (r.test) console.log(`test: ${formatMetrics(r.test)}`);
  console.error(`adapter: ${join(out, 'adapter')}\nmetrics: ${join(out, 'metrics.json')}\nloss curve: ${join(out, 'loss_curve.svg')}`);
  if (json) console.log(JSON.stringify({ method: r.adapter.method, trainable_parameters: r.adapter.trainableCount(), validation: r.validation ?? null, test: r.test ?? null }));
  return 0;
}
