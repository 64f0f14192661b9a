// Several training sets mixed by weight (--data a.jsonl,b.jsonl --data-weights 0.7,0.3), as Axolotl's and
// LLaMA-Factory's dataset mixing: the mixed set has as many examples as the sources together, each
// source giving round(weight x total) of them -- drawn without repetition while it has enough, every
// example repeated (then the rest drawn) when its share is larger than itself -- chosen with the
// run's seed, so the same command mixes the same way. Without weights the sources are simply joined.
import { assertSeed, Random } from '../tensor/random.js';
import { shuffle } from './batches.js';
import type { Example } from './examples.js';
import { GiftjsError } from '../errors.js';

export interface DataSource {
  path: string;
  examples: Example[];
}

export function mixExamples(sources: readonly DataSource[], weights: readonly number[] | null, seed: number): { examples: Example[]; summary: string[] } {
  if (!weights) return { examples: sources.flatMap((s) => s.examples), summary: sources.map((s) => `${s.path}: ${s.examples.length} examples`) };
  if (weights.length !== sources.length) throw new GiftjsError(`mixing weights (--data-weights): ${weights.length} weights for ${sources.length} data files`);
  if (weights.some((w) => !(w >= 0) || !Number.isFinite(w)) || !(weights.reduce((a, b) => a + b, 0) > 0)) {
    throw new GiftjsError(`mixing weights (--data-weights) must be non-negative numbers, not all 0, got ${weights.join(',')}`);
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  const total = sources.reduce((n, s) => n + s.examples.length, 0);
  assertSeed(seed);
  const rng = new Random((seed * 2654435761) >>> 0);
  const examples: Example[] = [];
  const summary: string[] = [];
  sources.forEach((s, i) => {
    const want = Math.round((weights[i]! / sum) * total);
    if (want > 0 && s.examples.length === 0) throw new GiftjsError(`${s.path}: no examples to draw ${want} from`);
    const whole = Math.floor(want / Math.max(1, s.examples.length));
    for (let k = 0; k < whole; k++) examples.push(...s.examples);
    const rest = shuffle(s.examples.map((_, j) => j), rng).slice(0, want - whole * s.examples.length);
    for (const j of rest.sort((a, b) => a - b)) examples.push(s.examples[j]!);
    const how = want > s.examples.length ? 'repeated' : want < s.examples.length ? 'a seeded sample' : 'all';
    summary.push(`${s.path}: ${want} of ${s.examples.length} examples (weight ${(weights[i]! / sum).toFixed(3)}, ${how})`);
  });
  return { examples, summary };
}

/** --data as one path or a comma-separated list (a path that exists as it is stays one path). */
export function dataPaths(data: string, exists: (path: string) => boolean): string[] {
  if (!data.includes(',') || exists(data)) return [data];
  const paths = data.split(',').map((p) => p.trim());
  if (paths.some((p) => p === '')) throw new GiftjsError(`--data ${data}: an empty name in the list`);
  return paths;
}

/** --data-weights 0.7,0.3 as numbers. */
export function dataWeights(flag: string | undefined): number[] | null {
  if (flag === undefined) return null;
  const weights = flag.split(',').map((w) => Number(w.trim()));
  if (weights.some((w) => Number.isNaN(w))) throw new GiftjsError(`--data-weights must be numbers separated by commas, got '${flag}'`);
  return weights;
}
