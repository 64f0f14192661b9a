// Softmax and log-softmax over the last axis in WGSL, one workgroup per row. As in the reference, NaN anywhere in a row makes its log-sum-exp NaN, and a row that is
// all -Infinity has log-sum-exp -Infinity (its softmax is then NaN, 0 / 0).
/// <reference types="@webgpu/types" />
import type { DeviceBuffer } from '../../backend.js';
import { defineKernel, rowGrid } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { rowKernelStart, WORKGROUP_REDUCTIONS } from './reduction.js';

/** rowLogSumExp(o, n, lid): log(sum(exp(xs[o..o+n)))) around the row maximum. */
export const ROW_LSE = /* wgsl */ `${WORKGROUP_REDUCTIONS}
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

export function webGpuSoftmax(runner: KernelRunner) {
  const buf = gpuBufferOf;
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
  };
}
