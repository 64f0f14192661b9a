// Learning-rate schedules as transformers' get_scheduler defines them: a linear warmup from 0,
// then linear decay to 0, half a cosine to 0, or constant.
export type SchedulerKind = 'linear' | 'cosine' | 'constant';

export const SCHEDULERS: SchedulerKind[] = ['linear', 'cosine', 'constant'];

/** The multiplier of the base learning rate for the update after `step` completed updates. */
export function lrMultiplier(kind: SchedulerKind, step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant') return 1;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (kind === 'linear') return Math.max(0, 1 - progress);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
