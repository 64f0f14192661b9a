// Deferred values (Tensor.computedBy inside withDeferredValues): a checkpointed layer's recomputation
// computes an op's output only when something reads it. Checked here by counting the GEMMs the backend
// runs: a Llama step with gradient checkpointing runs each layer's down_proj forward once (its forward),
// not twice (and the recomputation's other products all run); a deferred value is the eager value when
// read; one that a backward will read is computed when that backward records; one whose input was
// given back since throws when read instead of reading a recycled buffer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getBackend } from '../../src/backend/index.js';
import type { GemmArgs } from '../../src/backend/backend.js';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { gelu } from '../../src/ops/activations.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { add } from '../../src/ops/elementwise.js';
import { linear } from '../../src/ops/matmul.js';
import { sum } from '../../src/ops/reduce.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { withDeferredValues } from '../../src/tensor/autograd.js';
import { tidy } from '../../src/tensor/memory.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));

/** Runs fn with every GEMM the backend runs listed (its M, N, K and whether B is transposed). */
function countingGemms<T>(fn: (gemms: GemmArgs[]) => T): T {
  const backend = getBackend();
  const original = backend.gemm;
  const gemms: GemmArgs[] = [];
  backend.gemm = (args: GemmArgs) => {
    gemms.push(args);
    return original.call(backend, args);
  };
  try {
    return fn(gemms);
  } finally {
    backend.gemm = original;
  }
}

for (const method of ['gift', 'full'] as const) {
  test(`${method}: a checkpointed Llama step computes each layer's down_proj output once, in the forward; the recomputation skips it and gives the same gradients`, () => {
    const step = (checkpointing: boolean) => {
      const model = LlamaForCausalLM.fromPretrained(MODEL);
      model.gradientCheckpointing = checkpointing;
      const adapter = attachAdapter(model, method === 'gift' ? { method, rank: 4, target_modules: ['q_proj', 'v_proj', 'down_proj'] } : { method }, 5);
      const r = new Random(6);
      if (method === 'gift') for (const [, t] of adapter.namedTrainable()) t.writeHost((d) => d.forEach((_, i) => (d[i] = 0.2 * r.normal())));
      const ids = Int32Array.from({ length: 2 * 12 }, (_, i) => (i * 37 + 5) % 96);
      const { hiddenSize, intermediateSize, numLayers } = model.config;
      return countingGemms((gemms) => {
        const loss = tidy(() => {
          const l = crossEntropy(model.forward(ids, 2, 12), shiftLabels(ids, 2, 12));
          l.backward();
          return l.item();
        });
        // down_proj's forward: [rows, intermediate] x W^T [intermediate, hidden]; no other product has this form.
        const downForward = gemms.filter((g) => g.transB && !g.transA && g.N === hiddenSize && g.K === intermediateSize).length;
        return { loss, downForward, gemms: gemms.length, layers: numLayers, grads: adapter.namedTrainable().map(([, t]) => t.grad!.toFloat32Array()) };
      });
    };
    const plain = step(false);
    const ckpt = step(true);
    assert.equal(plain.downForward, plain.layers);
    assert.equal(ckpt.downForward, ckpt.layers, 'the recomputation ran down_proj again');
    // Every other product of a layer's forward is read by its backward, so it runs again.
    assert.ok(ckpt.gemms > plain.gemms + ckpt.layers, `${ckpt.gemms} GEMMs checkpointed, ${plain.gemms} without`);
    assert.equal(ckpt.loss, plain.loss);
    ckpt.grads.forEach((g, i) => assert.deepEqual(g, plain.grads[i], `gradient ${i}`));
  });
}

test('a deferred value is computed at its first read, equal to the eager one; one a backward reads is computed when it records; reading one whose input was given back throws', () => {
  const r = new Random(2);
  const x = Tensor.randn([3, 8], r).requireGrad();
  const w = Tensor.randn([5, 8], r);
  const b = Tensor.randn([5], r);
  const eager = linear(x, w, b).toFloat32Array();
  countingGemms((gemms) => {
    const y = withDeferredValues(() => linear(x, w, b));
    assert.equal(gemms.length, 0, 'computed before anything read it');
    assert.equal(y.dtype, 'float32');
    assert.deepEqual(y.toFloat32Array(), eager);
    assert.equal(gemms.length, 1);
    y.dispose();

    // gelu's backward reads its input: recording it computes the deferred product, while x lives.
    const g = withDeferredValues(() => gelu(linear(x, w, b)));
    assert.equal(gemms.length, 2, 'the value a backward reads was computed when it recorded');
    sum(g).backward();
    assert.ok(x.grad, 'the gradient flowed');
  });

  tidy(() => {
    const input = add(x, x);
    const deferred = withDeferredValues(() => linear(input, w));
    input.releaseValue();
    assert.throws(() => deferred.read(), /was disposed and cannot be used/);
  });
});
