// Learning-rate schedules as transformers' get_scheduler defines them: a linear warmup from 0,
// then linear decay to 0, half a cosine to 0, half a cosine to a floor (cosine_with_min_lr: the
// paper's ViT schedule ends at 1e-6), or constant.
export type SchedulerKind = 'linear' | 'cosine' | 'cosine_with_min_lr' | 'constant';

export const SCHEDULERS: SchedulerKind[] = ['linear', 'cosine', 'cosine_with_min_lr', 'constant'];

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
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant') return 1;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (kind === 'linear') return Math.max(0, 1 - progress);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return Math.max(0, kind === 'cosine_with_min_lr' ? cosine * (1 - minLrRate) + minLrRate : cosine);
}
