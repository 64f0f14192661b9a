// Throughput of the non-GEMM kernels a Transformer step spends time in (attention, norms,
// softmax, cross-entropy), forward + backward, native against ref on the same inputs.
import { withBackend, type BackendName } from '../backend/index.js';
import { scaledDotProductAttention } from '../ops/attention.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { layerNorm, rmsNorm } from '../ops/norms.js';
import { softmax } from '../ops/softmax.js';
import { tidy } from '../tensor/memory.js';
import { Random } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { timeIt } from './timing.js';

export interface OpCase {
  name: string;
  /** Builds the inputs once; returns the step that runs forward + backward. */
  setup: () => () => void;
}

function param(shape: number[], seed: number): Tensor {
  return Tensor.randn(shape, new Random(seed)).requireGrad().keep();
}

/** Shapes of SmolLM2-135M at batch 4 x 256 tokens (the speed issue's reference step). */
export function opCases(): OpCase[] {
  return [
    {
      name: 'attention fwd+bwd  q[4,9,256,64] kv[4,3,256,64] causal',
      setup: () => {
        const q = param([4, 9, 256, 64], 1);
        const k = param([4, 3, 256, 64], 2);
        const v = param([4, 3, 256, 64], 3);
        const g = Tensor.randn([4, 9, 256, 64], new Random(4)).keep();
        return () => tidy(() => {
          scaledDotProductAttention(q, k, v, { causal: true }).backward(g);
          for (const t of [q, k, v]) t.zeroGrad();
        });
      },
    },
    {
      name: 'rmsNorm fwd+bwd    x[1024,576]',
      setup: () => {
        const x = param([1024, 576], 5);
        const w = param([576], 6);
        const g = Tensor.randn([1024, 576], new Random(7)).keep();
        return () => tidy(() => {
          rmsNorm(x, w).backward(g);
          x.zeroGrad();
          w.zeroGrad();
        });
      },
    },
    {
      name: 'layerNorm fwd+bwd  x[1024,768]',
      setup: () => {
        const x = param([1024, 768], 8);
        const w = param([768], 9);
        const b = param([768], 10);
        const g = Tensor.randn([1024, 768], new Random(11)).keep();
        return () => tidy(() => {
          layerNorm(x, w, b).backward(g);
          for (const t of [x, w, b]) t.zeroGrad();
        });
      },
    },
    {
      name: 'softmax fwd+bwd    x[2304,256]',
      setup: () => {
        const x = param([2304, 256], 12);
        const g = Tensor.randn([2304, 256], new Random(13)).keep();
        return () => tidy(() => {
          softmax(x).backward(g);
          x.zeroGrad();
        });
      },
    },
    {
      name: 'crossEntropy f+b   logits[1024,49152]',
      setup: () => {
        const logits = param([1024, 49152], 14);
        const r = new Random(15);
        const targets = Int32Array.from({ length: 1024 }, () => r.int(49152));
        return () => tidy(() => {
          crossEntropy(logits, targets).backward();
          logits.zeroGrad();
        });
      },
    },
  ];
}

export interface OpResult {
  name: string;
  ms: Partial<Record<BackendName, number>>;
}

export function benchOps(backends: BackendName[], budgetSeconds: number): OpResult[] {
  return opCases().map((c) => {
    const ms: Partial<Record<BackendName, number>> = {};
    for (const b of backends) {
      withBackend(b, () => {
        const step = c.setup();
        ms[b] = timeIt(step, b === 'ref' ? budgetSeconds / 2 : budgetSeconds, 1, b === 'ref' ? 3 : 1000).seconds * 1000;
      });
    }
    return { name: c.name, ms };
  });
}
