// Softmax, log-softmax and fused cross-entropy over the last axis in WGSL, one workgroup per
// row. As in the reference, NaN anywhere in a row makes its log-sum-exp NaN, and a row that is
// all -Infinity has log-sum-exp -Infinity (its softmax is then NaN, 0 / 0).
/// <reference types="@webgpu/types" />
import type { DeviceBuffer } from '../../backend.js';
import { defineKernel, rowGrid } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { rowKernelStart, WORKGROUP_REDUCTIONS } from './reduction.js';
import { GiftjsError } from '../../../errors.js';

/** rowLogSumExp(o, n, lid): log(sum(exp(xs[o..o+n)))) around the row maximum. */
const ROW_LSE = /* wgsl */ `${WORKGROUP_REDUCTIONS}
fn rowLogSumExp(o: u32, n: u32, lid: u32) -> f32 {
  var m = negInf();
  for (var j = lid; j < n; j += WG) { m = maxOrNan(m, xs[o + j]); }
  let mx = workgroupMax(m, lid);
  var s = 0.0;
  if (!isNan(mx) && !isNegInf(mx)) {
    for (var j = lid; j < n; j += WG) { s += exp(xs[o + j] - mx); }
  }
  let total = workgroupSum(s, lid);
  if (isNan(mx) || isNegInf(mx)) { return mx; }
  return mx + log(total);
}`;

const softmaxForward = defineKernel({
  name: 'softmaxForward',
  params: { rows: 'u32', cols: 'u32', logarithm: 'u32' },
  buffers: [['xs', 'read'], ['ys', 'read_write']],
  body: /* wgsl */ `${ROW_LSE}
${rowKernelStart('cols')}
  let lse = rowLogSumExp(o, p.cols, lid);
  for (var j = lid; j < p.cols; j += WG) {
    // -inf - -inf is NaN in the reference; WGSL arithmetic on infinities is not guaranteed, so say it.
    // SwiftShader's exp(NaN) is Infinity: the NaN is written, never computed through.
    let v = xs[o + j] - lse;
    var y = select(exp(v), v, p.logarithm != 0u);
    if (isNegInf(lse) || isNan(lse)) { y = nanValue(); }
    ys[o + j] = y;
  }
}`,
});

const softmaxBackward = defineKernel({
  name: 'softmaxBackward',
  params: { rows: 'u32', cols: 'u32', logarithm: 'u32' },
  buffers: [['ys', 'read'], ['dy', 'read'], ['dx', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
${rowKernelStart('cols')}
  var s = 0.0;
  // softmax: dx = y (dy - sum(y dy));  log-softmax: dx = dy - exp(y) sum(dy)
  for (var j = lid; j < p.cols; j += WG) { s += select(ys[o + j] * dy[o + j], dy[o + j], p.logarithm != 0u); }
  let total = workgroupSum(s, lid);
  for (var j = lid; j < p.cols; j += WG) {
    let y = ys[o + j];
    var g = select(y * (dy[o + j] - total), dy[o + j] - exp(y) * total, p.logarithm != 0u);
    if (isNan(y) || isNan(total)) { g = nanValue(); } // not through exp(NaN), which may be Infinity
    dx[o + j] = g;
  }
}`,
});

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

const crossEntropyBackward = defineKernel({
  name: 'crossEntropyBackward',
  params: { rows: 'u32', vocab: 'u32', ignoreIndex: 'i32' },
  buffers: [['xs', 'read'], ['targetIds', 'read', 'i32'], ['lseIn', 'read'], ['rowScale', 'read'], ['dlogits', 'read_write']],
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
    dlogits[o + j] = v;
  }
}`,
});

function checkTargets(targets: Int32Array, rows: number, vocab: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t !== ignoreIndex && (t < 0 || t >= vocab)) throw new RangeError(`cross-entropy target ${t} at row ${r} is outside the vocabulary of ${vocab}`);
  }
}

export function webGpuSoftmax(runner: KernelRunner) {
  const buf = gpuBufferOf;
  const targetBuffer = (targets: Int32Array, rows: number) => {
    if (targets.length < rows) throw new GiftjsError(`cross-entropy: ${targets.length} targets for ${rows} rows`);
    return runner.temporary(targets.subarray(0, rows));
  };
  return {
    softmaxForward(x: DeviceBuffer, y: DeviceBuffer, rows: number, cols: number): void {
      runner.dispatch(softmaxForward, { rows, cols, logarithm: 0 }, [buf(x, 'softmax x'), buf(y, 'softmax y')], rowGrid(rows));
    },
    softmaxBackward(y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, rows: number, cols: number): void {
      runner.dispatch(softmaxBackward, { rows, cols, logarithm: 0 }, [buf(y, 'softmax y'), buf(dy, 'softmax dy'), buf(dx, 'softmax dx')], rowGrid(rows));
    },
    logSoftmaxForward(x: DeviceBuffer, y: DeviceBuffer, rows: number, cols: number): void {
      runner.dispatch(softmaxForward, { rows, cols, logarithm: 1 }, [buf(x, 'logSoftmax x'), buf(y, 'logSoftmax y')], rowGrid(rows));
    },
    logSoftmaxBackward(y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, rows: number, cols: number): void {
      runner.dispatch(softmaxBackward, { rows, cols, logarithm: 1 }, [buf(y, 'logSoftmax y'), buf(dy, 'logSoftmax dy'), buf(dx, 'logSoftmax dx')], rowGrid(rows));
    },
    crossEntropyForward(logits: DeviceBuffer, targets: Int32Array, loss: DeviceBuffer, lse: DeviceBuffer, rows: number, vocab: number, ignoreIndex: number): void {
      checkTargets(targets, rows, vocab, ignoreIndex);
      const buffers = [buf(logits, 'crossEntropy logits'), targetBuffer(targets, rows), buf(loss, 'crossEntropy loss'), buf(lse, 'crossEntropy lse')];
      runner.dispatch(crossEntropyForward, { rows, vocab, ignoreIndex }, buffers, rowGrid(rows));
    },
    crossEntropyBackward(logits: DeviceBuffer, targets: Int32Array, lse: DeviceBuffer, rowScale: DeviceBuffer, dlogits: DeviceBuffer, rows: number, vocab: number, ignoreIndex: number): void {
      const buffers = [buf(logits, 'crossEntropy logits'), targetBuffer(targets, rows), buf(lse, 'crossEntropy lse'), buf(rowScale, 'crossEntropy rowScale'), buf(dlogits, 'crossEntropy dlogits')];
      runner.dispatch(crossEntropyBackward, { rows, vocab, ignoreIndex }, buffers, rowGrid(rows));
    },
  };
}
