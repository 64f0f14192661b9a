// Learning-rate schedules as transformers' get_scheduler defines them: a linear warmup from 0,
// then linear decay to 0, half a cosine to 0, half a cosine to a floor (cosine_with_min_lr: the
// paper's ViT schedule ends at 1e-6), or constant (constant_with_warmup). transformers' `constant`
// has no warmup at all (get_constant_schedule takes none); the trainer refuses a warmup beside it.
export type SchedulerKind = 'linear' | 'cosine' | 'cosine_with_min_lr' | 'constant' | 'constant_with_warmup';

export const SCHEDULERS: SchedulerKind[] = ['linear', 'cosine', 'cosine_with_min_lr', 'constant', 'constant_with_warmup'];

/** Whether the schedule starts with a warmup: every one but transformers' `constant`. */
export function schedulerWarmsUp(kind: SchedulerKind): boolean {
  return kind !== 'constant';
}

/**
 * The updates spent warming up, as transformers' TrainingArguments.get_warmup_steps counts them from a
 * ratio: ceil(totalSteps x ratio), in that order of the product (6 updates at 0.2 warm up for 2; a
 * rounded count had given 1, and a ratio's half update had gone either way).
 */
export function warmupSteps(totalSteps: number, ratio: number): number {
  return Math.ceil(totalSteps * ratio);
}

/**
 * The multiplier of the base learning rate for the update after `step` completed updates.
 * minLrRate: cosine_with_min_lr's floor as a share of the base rate (transformers' min_lr / lr).
 */
export function lrMultiplier(kind: SchedulerKind, step: number, totalSteps: number, warmupSteps: number, minLrRate = 0): number {
  if (kind === 'constant') return 1;
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant_with_warmup') return 1;
  // transformers' linear form, (total - step) / (total - warmup), which is 1 - progress except where
  // the warmup is the whole run (its max(1, ...) makes 1 - progress 1 there, and transformers' 0).
  if (kind === 'linear') return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return Math.max(0, kind === 'cosine_with_min_lr' ? cosine * (1 - minLrRate) + minLrRate : cosine);
}
