// WGSL kernels for the bookkeeping around a step: fill, block copies, embedding gather and
// scatter-add, reductions, in-place scaling and the AdamW update. float32 throughout, where the
// reference sums and updates in float64 (the tests allow for it).
/// <reference types="@webgpu/types" />
import type { AdamWStep, DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { WORKGROUP_REDUCTIONS } from './reduction.js';
import { GiftjsError } from '../../../errors.js';

const ELEMENT_ENTRY = '@compute @workgroup_size(256)\nfn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>)';

const fillKernel = defineKernel({
  name: 'fill',
  params: { n: 'u32', value: 'f32' },
  buffers: [['dst', 'read_write']],
  body: `${ELEMENT_ENTRY} { let i = flatIndex(gid, nwg); if (i < p.n) { dst[i] = p.value; } }`,
});

const copyBlocksKernel = defineKernel({
  name: 'copyBlocks',
  params: { srcOffset: 'u32', srcStride: 'u32', dstOffset: 'u32', dstStride: 'u32', blocks: 'u32', blockLength: 'u32' },
  buffers: [['src', 'read'], ['dst', 'read_write']],
  body: /* wgsl */ `${ELEMENT_ENTRY} {
  let i = flatIndex(gid, nwg);
  if (i >= p.blocks * p.blockLength) { return; }
  let b = i / p.blockLength;
  let j = i % p.blockLength;
  dst[p.dstOffset + b * p.dstStride + j] = src[p.srcOffset + b * p.srcStride + j];
}`,
});

const gatherKernel = defineKernel({
  name: 'gatherRows',
  params: { count: 'u32', dim: 'u32' },
  buffers: [['table', 'read'], ['ids', 'read', 'i32'], ['outv', 'read_write']],
  body: /* wgsl */ `${ELEMENT_ENTRY} {
  let i = flatIndex(gid, nwg);
  if (i >= p.count * p.dim) { return; }
  let row = i / p.dim;
  outv[i] = table[u32(ids[row]) * p.dim + i % p.dim];
}`,
});

// One thread per column walks the ids in order: repeated ids add up without atomics, and the
// order of the additions is the reference's.
const scatterAddKernel = defineKernel({
  name: 'scatterAddRows',
  params: { count: 'u32', dim: 'u32' },
  buffers: [['grads', 'read'], ['ids', 'read', 'i32'], ['dtable', 'read_write']],
  body: /* wgsl */ `${ELEMENT_ENTRY} {
  let j = flatIndex(gid, nwg);
  if (j >= p.dim) { return; }
  for (var i = 0u; i < p.count; i++) {
    let o = u32(ids[i]) * p.dim + j;
    dtable[o] += grads[i * p.dim + j];
  }
}`,
});

// dims: [kept sizes, kept output strides, kept source strides, summed sizes, summed source strides]
const reduceSumKernel = defineKernel({
  name: 'reduceSum',
  params: { outLength: 'u32', kept: 'i32', summed: 'i32', summedTotal: 'u32', scale: 'f32' },
  buffers: [['src', 'read'], ['outv', 'read_write'], ['dims', 'read', 'i32']],
  body: /* wgsl */ `${ELEMENT_ENTRY} {
  let o = flatIndex(gid, nwg);
  if (o >= p.outLength) { return; }
  var base = 0;
  for (var d = 0; d < p.kept; d++) {
    base += ((i32(o) / dims[p.kept + d]) % dims[d]) * dims[2 * p.kept + d];
  }
  let s0 = 3 * p.kept;
  var acc = 0.0;
  for (var s = 0u; s < p.summedTotal; s++) {
    var rem = i32(s);
    var off = base;
    for (var d = p.summed - 1; d >= 0; d--) {
      let size = dims[s0 + d];
      off += (rem % size) * dims[s0 + p.summed + d];
      rem = rem / size;
    }
    acc += src[off];
  }
  outv[o] = acc * p.scale;
}`,
});

// Sum of squares in two passes: per-workgroup partials, then one workgroup folds them. A value that
// is not finite makes the result NaN by its bits (float32 squares of large finite values may
// overflow to Infinity where the reference's float64 does not; the caller only tests finiteness
// and takes a square root for clipping).
const sumOfSquaresPartials = defineKernel({
  name: 'sumOfSquaresPartials',
  params: { n: 'u32', perGroup: 'u32' },
  buffers: [['src', 'read'], ['partials', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lidv: vec3<u32>) {
  let lid = lidv.x;
  let start = wid.x * p.perGroup;
  let end = min(start + p.perGroup, p.n);
  var s = 0.0;
  var bad = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let v = src[i];
    if (isNonFinite(v)) { bad = 1.0; }
    s += v * v;
  }
  let total = workgroupSum(s, lid);
  let anyBad = workgroupSum(bad, lid);
  if (lid == 0u) { partials[wid.x] = select(total, nanValue(), anyBad != 0.0); }
}`,
});

const sumPartials = defineKernel({
  name: 'sumPartials',
  params: { n: 'u32', index: 'u32' },
  buffers: [['partials', 'read'], ['result', 'read_write']],
  body: /* wgsl */ `${WORKGROUP_REDUCTIONS}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lidv: vec3<u32>) {
  let lid = lidv.x;
  var s = 0.0;
  var bad = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let v = partials[i];
    if (isNan(v)) { bad = 1.0; }
    s += v;
  }
  let total = workgroupSum(s, lid);
  let anyBad = workgroupSum(bad, lid);
  if (lid == 0u) { result[p.index] = select(total, nanValue(), anyBad != 0.0); }
}`,
});

const scaleKernel = defineKernel({
  name: 'scaleInPlace',
  params: { n: 'u32', s: 'f32' },
  buffers: [['values', 'read_write']],
  body: `${ELEMENT_ENTRY} { let i = flatIndex(gid, nwg); if (i < p.n) { values[i] *= p.s; } }`,
});

const adamwKernel = defineKernel({
  name: 'adamwUpdate',
  params: { n: 'u32', beta1: 'f32', beta2: 'f32', eps: 'f32', decay: 'f32', stepSize: 'f32', sqrtBc2: 'f32' },
  buffers: [['w', 'read_write'], ['grad', 'read'], ['m1', 'read_write'], ['m2', 'read_write']],
  body: /* wgsl */ `${ELEMENT_ENTRY} {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let g = grad[i];
  let m = p.beta1 * m1[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * m2[i] + (1.0 - p.beta2) * g * g;
  m1[i] = m;
  m2[i] = v;
  w[i] = w[i] * p.decay - (p.stepSize * m) / (sqrt(v) / p.sqrtBc2 + p.eps);
}`,
});

export function webGpuMemoryOps(runner: KernelRunner) {
  const buf = gpuBufferOf;
  const idsBuffer = (ids: Int32Array) => runner.temporary(ids);
  return {
    fill(buffer: DeviceBuffer, value: number, n: number): void {
      runner.dispatch(fillKernel, { n, value }, [buf(buffer, 'fill')], gridFor(n));
    },
    copyBlocks(src: DeviceBuffer, srcOffset: number, srcStride: number, dst: DeviceBuffer, dstOffset: number, dstStride: number, blocks: number, blockLength: number): void {
      const params = { srcOffset, srcStride, dstOffset, dstStride, blocks, blockLength };
      runner.dispatch(copyBlocksKernel, params, [buf(src, 'copyBlocks src'), buf(dst, 'copyBlocks dst')], gridFor(blocks * blockLength));
    },
    gatherRows(table: DeviceBuffer | Uint16Array, ids: Int32Array, out: DeviceBuffer, dim: number): void {
      if (table instanceof Uint16Array) throw new GiftjsError('webgpu backend: bfloat16 embedding tables are not implemented on WebGPU; train in float32');
      runner.dispatch(gatherKernel, { count: ids.length, dim }, [buf(table, 'gatherRows table'), idsBuffer(ids), buf(out, 'gatherRows out')], gridFor(ids.length * dim));
    },
    scatterAddRows(g: DeviceBuffer, ids: Int32Array, dtable: DeviceBuffer, dim: number): void {
      runner.dispatch(scatterAddKernel, { count: ids.length, dim }, [buf(g, 'scatterAddRows g'), idsBuffer(ids), buf(dtable, 'scatterAddRows dtable')], gridFor(dim));
    },
    reduceSum(shape: readonly number[], src: DeviceBuffer, outStrides: readonly number[], out: DeviceBuffer, scale: number): void {
      // The source is contiguous with `shape`; dimensions with an output stride are kept, the others summed.
      const srcStrides = new Array<number>(shape.length);
      for (let d = shape.length - 1, s = 1; d >= 0; d--) {
        srcStrides[d] = s;
        s *= shape[d]!;
      }
      if (shape.some((d) => d === 0)) {
        this.fill(out, 0, out.length); // an empty sum
        return;
      }
      const kept = shape.map((_, d) => d).filter((d) => shape[d]! > 1 && outStrides[d] !== 0);
      const summed = shape.map((_, d) => d).filter((d) => shape[d]! > 1 && outStrides[d] === 0);
      const keptTotal = kept.reduce((a, d) => a * shape[d]!, 1);
      if (keptTotal !== out.length) throw new GiftjsError(`webgpu reduceSum: the kept dimensions hold ${keptTotal} values, the output ${out.length}`);
      const dims = Int32Array.from([
        ...kept.map((d) => shape[d]!), ...kept.map((d) => outStrides[d]!), ...kept.map((d) => srcStrides[d]!),
        ...summed.map((d) => shape[d]!), ...summed.map((d) => srcStrides[d]!), 0,
      ]);
      const summedTotal = summed.reduce((a, d) => a * shape[d]!, 1);
      const params = { outLength: out.length, kept: kept.length, summed: summed.length, summedTotal, scale };
      runner.dispatch(reduceSumKernel, params, [buf(src, 'reduceSum src'), buf(out, 'reduceSum out'), runner.temporary(dims)], gridFor(out.length));
    },
    sumOfSquares(): number {
      throw new GiftjsError('webgpu backend: a sum of squares reaches the host only asynchronously; use sumOfSquaresInto and read the result with readAsync');
    },
    /** result[index] = the sum of squares of buffer[0..n) in float32, NaN when a value is not finite. */
    sumOfSquaresInto(buffer: DeviceBuffer, n: number, result: DeviceBuffer, index: number): void {
      const perGroup = 256 * 16;
      const groups = Math.max(1, Math.ceil(n / perGroup));
      const partials = runner.scratch(groups * 4);
      runner.dispatch(sumOfSquaresPartials, { n, perGroup }, [buf(buffer, 'sumOfSquares'), partials], [groups, 1, 1]);
      runner.dispatch(sumPartials, { n: groups, index }, [partials, buf(result, 'sumOfSquares result')], [1, 1, 1]);
    },
    scaleInPlace(buffer: DeviceBuffer, s: number, n: number): void {
      runner.dispatch(scaleKernel, { n, s }, [buf(buffer, 'scaleInPlace')], gridFor(n));
    },
    adamwUpdate(w: DeviceBuffer, grad: DeviceBuffer, m: DeviceBuffer, v: DeviceBuffer, n: number, step: AdamWStep): void {
      runner.dispatch(adamwKernel, { n, ...step }, [buf(w, 'adamw w'), buf(grad, 'adamw grad'), buf(m, 'adamw m'), buf(v, 'adamw v')], gridFor(n));
    },
  };
}
