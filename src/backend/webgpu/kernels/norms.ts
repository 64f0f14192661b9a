// RMSNorm and LayerNorm in WGSL, forward and backward side by side: one workgroup per row for the
// row statistics and dx, one thread per column for the weight and bias gradients (a sum over rows,
// accumulated into dw / db as the reference does).
/// <reference types="@webgpu/types" />
import type { DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor, rowGrid } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { rowKernelStart, WORKGROUP_REDUCTIONS } from './reduction.js';

const rmsForward = defineKernel({
  name: 'rmsNormForward',
  params: { rows: 'u32', cols: 'u32', eps: 'f32' },
  buffers: [['xs', 'read'], ['ws', 'read'], ['ys', 'read_write'], ['rstd', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
${rowKernelStart('cols')}
  var ss = 0.0;
  for (var j = lid; j < p.cols; j += WG) { ss += xs[o + j] * xs[o + j]; }
  let inv = 1.0 / sqrt(workgroupSum(ss, lid) / f32(p.cols) + p.eps);
  if (lid == 0u) { rstd[r] = inv; }
  for (var j = lid; j < p.cols; j += WG) { ys[o + j] = xs[o + j] * inv * ws[j]; }
}`,
});

const rmsBackwardDx = defineKernel({
  name: 'rmsNormBackwardDx',
  params: { rows: 'u32', cols: 'u32' },
  buffers: [['xs', 'read'], ['ws', 'read'], ['rstd', 'read'], ['dy', 'read'], ['dx', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
${rowKernelStart('cols')}
  let inv = rstd[r];
  var dot = 0.0;
  for (var j = lid; j < p.cols; j += WG) { dot += dy[o + j] * ws[j] * xs[o + j]; }
  // dx = rstd * (g - xhat * mean(g * xhat)),  g = dy * w,  xhat = x * rstd
  let coef = workgroupSum(dot, lid) * inv * inv / f32(p.cols);
  for (var j = lid; j < p.cols; j += WG) { dx[o + j] = inv * (dy[o + j] * ws[j] - xs[o + j] * coef); }
}`,
});

const rmsBackwardDw = defineKernel({
  name: 'rmsNormBackwardDw',
  params: { rows: 'u32', cols: 'u32' },
  buffers: [['xs', 'read'], ['rstd', 'read'], ['dy', 'read'], ['dw', 'read_write']],
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flatIndex(gid, nwg);
  if (j >= p.cols) { return; }
  var acc = 0.0;
  for (var r = 0u; r < p.rows; r++) { acc += dy[r * p.cols + j] * xs[r * p.cols + j] * rstd[r]; }
  dw[j] += acc;
}`,
});

const layerForward = defineKernel({
  name: 'layerNormForward',
  params: { rows: 'u32', cols: 'u32', eps: 'f32', hasW: 'u32', hasB: 'u32' },
  buffers: [['xs', 'read'], ['ws', 'read'], ['bs', 'read'], ['ys', 'read_write'], ['means', 'read_write'], ['rstd', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
${rowKernelStart('cols')}
  var s = 0.0;
  for (var j = lid; j < p.cols; j += WG) { s += xs[o + j]; }
  let mu = workgroupSum(s, lid) / f32(p.cols);
  var v = 0.0;
  for (var j = lid; j < p.cols; j += WG) { let d = xs[o + j] - mu; v += d * d; }
  let inv = 1.0 / sqrt(workgroupSum(v, lid) / f32(p.cols) + p.eps);
  if (lid == 0u) { means[r] = mu; rstd[r] = inv; }
  for (var j = lid; j < p.cols; j += WG) {
    var h = (xs[o + j] - mu) * inv;
    if (p.hasW != 0u) { h *= ws[j]; }
    if (p.hasB != 0u) { h += bs[j]; }
    ys[o + j] = h;
  }
}`,
});

const layerBackwardDx = defineKernel({
  name: 'layerNormBackwardDx',
  params: { rows: 'u32', cols: 'u32', hasW: 'u32' },
  buffers: [['xs', 'read'], ['ws', 'read'], ['means', 'read'], ['rstd', 'read'], ['dy', 'read'], ['dx', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
${rowKernelStart('cols')}
  let mu = means[r];
  let inv = rstd[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let xhat = (xs[o + j] - mu) * inv;
    let g = select(dy[o + j], dy[o + j] * ws[j], p.hasW != 0u);
    sg += g;
    sgx += g * xhat;
  }
  let meanG = workgroupSum(sg, lid) / f32(p.cols);
  let meanGX = workgroupSum(sgx, lid) / f32(p.cols);
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
  for (var j = lid; j < p.cols; j += WG) {
    let xhat = (xs[o + j] - mu) * inv;
    let g = select(dy[o + j], dy[o + j] * ws[j], p.hasW != 0u);
    dx[o + j] = inv * (g - meanG - xhat * meanGX);
  }
}`,
});

const layerBackwardParams = defineKernel({
  name: 'layerNormBackwardParams',
  params: { rows: 'u32', cols: 'u32', wantW: 'u32', wantB: 'u32' },
  buffers: [['xs', 'read'], ['means', 'read'], ['rstd', 'read'], ['dy', 'read'], ['dw', 'read_write'], ['db', 'read_write']],
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flatIndex(gid, nwg);
  if (j >= p.cols) { return; }
  var aw = 0.0;
  var ab = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let g = dy[r * p.cols + j];
    aw += g * (xs[r * p.cols + j] - means[r]) * rstd[r];
    ab += g;
  }
  if (p.wantW != 0u) { dw[j] += aw; }
  if (p.wantB != 0u) { db[j] += ab; }
}`,
});

export function webGpuNorms(runner: KernelRunner) {
  const buf = gpuBufferOf;
  const unused = () => runner.scratch(16);
  return {
    rmsNormForward(x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer, rstd: DeviceBuffer, rows: number, cols: number, eps: number): void {
      runner.dispatch(rmsForward, { rows, cols, eps }, [buf(x, 'rmsNorm x'), buf(w, 'rmsNorm w'), buf(y, 'rmsNorm y'), buf(rstd, 'rmsNorm rstd')], rowGrid(rows));
    },
    rmsNormBackward(x: DeviceBuffer, w: DeviceBuffer, rstd: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer | null, dw: DeviceBuffer | null, rows: number, cols: number): void {
      if (dw) runner.dispatch(rmsBackwardDw, { rows, cols }, [buf(x, 'rmsNorm x'), buf(rstd, 'rmsNorm rstd'), buf(dy, 'rmsNorm dy'), buf(dw, 'rmsNorm dw')], gridFor(cols));
      if (dx) {
        const buffers = [buf(x, 'rmsNorm x'), buf(w, 'rmsNorm w'), buf(rstd, 'rmsNorm rstd'), buf(dy, 'rmsNorm dy'), buf(dx, 'rmsNorm dx')];
        runner.dispatch(rmsBackwardDx, { rows, cols }, buffers, rowGrid(rows));
      }
    },
    layerNormForward(x: DeviceBuffer, w: DeviceBuffer | null, b: DeviceBuffer | null, y: DeviceBuffer, mean: DeviceBuffer, rstd: DeviceBuffer, rows: number, cols: number, eps: number): void {
      const buffers = [buf(x, 'layerNorm x'), w ? buf(w, 'layerNorm w') : unused(), b ? buf(b, 'layerNorm b') : unused(), buf(y, 'layerNorm y'), buf(mean, 'layerNorm mean'), buf(rstd, 'layerNorm rstd')];
      runner.dispatch(layerForward, { rows, cols, eps, hasW: w ? 1 : 0, hasB: b ? 1 : 0 }, buffers, rowGrid(rows));
    },
    layerNormBackward(x: DeviceBuffer, w: DeviceBuffer | null, mean: DeviceBuffer, rstd: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer | null, dw: DeviceBuffer | null, db: DeviceBuffer | null, rows: number, cols: number): void {
      if (dw || db) {
        const buffers = [buf(x, 'layerNorm x'), buf(mean, 'layerNorm mean'), buf(rstd, 'layerNorm rstd'), buf(dy, 'layerNorm dy'), dw ? buf(dw, 'layerNorm dw') : unused(), db ? buf(db, 'layerNorm db') : unused()];
        runner.dispatch(layerBackwardParams, { rows, cols, wantW: dw ? 1 : 0, wantB: db ? 1 : 0 }, buffers, gridFor(cols));
      }
      if (dx) {
        const buffers = [buf(x, 'layerNorm x'), w ? buf(w, 'layerNorm w') : unused(), buf(mean, 'layerNorm mean'), buf(rstd, 'layerNorm rstd'), buf(dy, 'layerNorm dy'), buf(dx, 'layerNorm dx')];
        runner.dispatch(layerBackwardDx, { rows, cols, hasW: w ? 1 : 0 }, buffers, rowGrid(rows));
      }
    },
  };
}
