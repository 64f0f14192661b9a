// Resident memory over a long training loop of the two-layer test Transformer: the pool makes
// every step reuse the previous step's buffers, so RSS must stay flat after warm-up.
import { memoryStats, tidy } from '../tensor/memory.js';
import { noGrad } from '../tensor/autograd.js';
import { Random } from '../tensor/random.js';
import { TinyTransformer } from '../testing/tiny_transformer.js';

export interface MemorySample {
  step: number;
  rssMB: number;
  liveMB: number;
  freshAllocations: number;
  loss: number;
}

export function benchTrainingMemory(steps: number, every: number, onSample: (s: MemorySample) => void): MemorySample[] {
  const config = { vocab: 512, dim: 64, heads: 8, kvHeads: 4, hidden: 172, layers: 2 };
  const model = new TinyTransformer(config, new Random(1));
  const params = model.trainableParameters();
  const rng = new Random(2);
  const batch = 4;
  const seq = 64;
  const samples: MemorySample[] = [];
  for (let step = 1; step <= steps; step++) {
    // A new random batch every step, as a data loader would give.
    const ids = Int32Array.from({ length: batch * seq }, () => rng.int(config.vocab));
    const loss = tidy(() => {
      const l = model.loss(ids, batch, seq);
      const value = l.item();
      l.backward();
      noGrad(() => {
        for (const p of params) {
          const g = p.grad!.data;
          const d = p.data;
          for (let i = 0; i < d.length; i++) d[i]! -= 0.01 * g[i]!;
        }
      });
      model.zeroGrad();
      return value;
    });
    if (step === 1 || step % every === 0) {
      const m = memoryStats();
      const s = { step, rssMB: process.memoryUsage().rss / 2 ** 20, liveMB: m.liveBytes / 2 ** 20, freshAllocations: m.freshAllocations, loss };
      samples.push(s);
      onSample(s);
    }
  }
  model.dispose();
  return samples;
}
