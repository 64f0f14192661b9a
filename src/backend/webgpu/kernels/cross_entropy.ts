// Fused cross-entropy in WGSL, one workgroup per row of logits: the loss and log-sum-exp, and the
// gradient. As in the reference, NaN anywhere in a row makes its loss NaN.
/// <reference types="@webgpu/types" />
import type { DeviceBuffer } from '../../backend.js';
import { defineKernel, rowGrid } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { rowKernelStart } from './reduction.js';
import { ROW_LSE } from './softmax.js';
import { GiftjsError } from '../../../errors.js';

const crossEntropyForward = defineKernel({
  name: 'crossEntropyForward',
  params: { rows: 'u32', vocab: 'u32', ignoreIndex: 'i32' },
  buffers: [['xs', 'read'], ['targetIds', 'read', 'i32'], ['loss', 'read_write'], ['lseOut', 'read_write']],
  body: /* wgsl */ `${ROW_LSE}
${rowKernelStart('vocab')}
  let l = rowLogSumExp(o, p.vocab, lid);
  if (lid == 0u) {
    lseOut[r] = l;
    let t = targetIds[r];
    if (t == p.ignoreIndex) {
      loss[r] = 0.0;
    } else if (isNan(l) || isNegInf(l)) {
      loss[r] = nanValue();
    } else {
      loss[r] = l - xs[o + u32(t)];
    }
  }
}`,
});

/**
 * The gradient kernel, writing `dlogits` or, in place, over the logits (`xs`): WebGPU refuses one
 * buffer bound both read-only and writable, and each value is read before it is written.
 */
function crossEntropyBackwardKernel(inPlace: boolean) {
  const out = inPlace ? 'xs' : 'dlogits';
  return defineKernel({
    name: inPlace ? 'crossEntropyBackwardInPlace' : 'crossEntropyBackward',
    params: { rows: 'u32', vocab: 'u32', ignoreIndex: 'i32' },
    buffers: [['xs', inPlace ? 'read_write' : 'read'], ['targetIds', 'read', 'i32'], ['lseIn', 'read'], ['rowScale', 'read'], ...(inPlace ? [] : [['dlogits', 'read_write'] as const])],
    body: /* wgsl */ `
${rowKernelStart('vocab')}
  let t = targetIds[r];
  let ignored = t == p.ignoreIndex;
  let g = rowScale[r];
  let l = lseIn[r];
  for (var j = lid; j < p.vocab; j += WG) {
    var v = 0.0;
    if (!ignored) {
      v = exp(xs[o + j] - l) * g;
      if (i32(j) == t) { v -= g; }
      if (isNan(l) || isNan(xs[o + j])) { v = nanValue(); } // exp(NaN) may be Infinity
    }
    ${out}[o + j] = v;
  }
}`,
  });
}
const crossEntropyBackward = crossEntropyBackwardKernel(false);
const crossEntropyBackwardInPlace = crossEntropyBackwardKernel(true);

function checkTargets(targets: Int32Array, rows: number, vocab: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t !== ignoreIndex && (t < 0 || t >= vocab)) throw new RangeError(`cross-entropy target ${t} at row ${r} is outside the vocabulary of ${vocab}`);
  }
}

export function webGpuCrossEntropy(runner: KernelRunner) {
  const buf = gpuBufferOf;
  const targetBuffer = (targets: Int32Array, rows: number) => {
    if (targets.length < rows) throw new GiftjsError(`cross-entropy: ${targets.length} targets for ${rows} rows`);
    return runner.temporary(targets.subarray(0, rows));
  };
  return {
    crossEntropyForward(logits: DeviceBuffer, targets: Int32Array, loss: DeviceBuffer, lse: DeviceBuffer, rows: number, vocab: number, ignoreIndex: number): void {
      checkTargets(targets, rows, vocab, ignoreIndex);
      const buffers = [buf(logits, 'crossEntropy logits'), targetBuffer(targets, rows), buf(loss, 'crossEntropy loss'), buf(lse, 'crossEntropy lse')];
      runner.dispatch(crossEntropyForward, { rows, vocab, ignoreIndex }, buffers, rowGrid(rows));
    },
    crossEntropyBackward(logits: DeviceBuffer, targets: Int32Array, lse: DeviceBuffer, rowScale: DeviceBuffer, dlogits: DeviceBuffer, rows: number, vocab: number, ignoreIndex: number): void {
      const gradient = buf(dlogits, 'crossEntropy dlogits');
      const inPlace = gradient === buf(logits, 'crossEntropy logits');
      const buffers = [buf(logits, 'crossEntropy logits'), targetBuffer(targets, rows), buf(lse, 'crossEntropy lse'), buf(rowScale, 'crossEntropy rowScale'), ...(inPlace ? [] : [gradient])];
      runner.dispatch(inPlace ? crossEntropyBackwardInPlace : crossEntropyBackward, { rows, vocab, ignoreIndex }, buffers, rowGrid(rows));
    },
  };
}
