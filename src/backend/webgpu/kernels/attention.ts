// Scaled dot-product attention in WGSL, forward and backward, without a T x S matrix in memory.
// Forward: one workgroup of 64 threads per query row walks the keys in blocks of 64 with an online
// softmax (running maximum and sum, flash-attention style); grouped-query heads read their shared
// K/V head directly. Backward recomputes the probabilities from the saved log-sum-exp: one
// workgroup per query row for dQ, one per key row for dK and dV (summing over the query heads of
// its group), so every output is written by exactly one workgroup, without atomics. Dropout on
// the probabilities hashes each one's mask from its index where it weighs v, forward and backward.
/// <reference types="@webgpu/types" />
import type { AttentionShape, DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor, rowGrid } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { workgroupReductions } from './reduction.js';
import { DROPOUT_DRAW } from './dropout.js';
import { GiftjsError } from '../../../errors.js';

/** Head sizes up to this are supported: each of 64 threads keeps up to 4 output columns. */
const MAX_HEAD_DIM = 256;

const SHAPE_PARAMS = { B: 'u32', H: 'u32', Hkv: 'u32', T: 'u32', S: 'u32', D: 'u32', scale: 'f32', causal: 'u32', window: 'u32', softcap: 'f32', segmented: 'u32', hasMask: 'u32', kvRows: 'u32', drop: 'u32', dropKey0: 'u32', dropKey1: 'u32', dropBelow: 'u32', keepScale: 'f32' } as const;

const COMMON = /* wgsl */ `
const AW: u32 = 64u;
${workgroupReductions(64)}
/** The query row a workgroup handles: batch, head, position, and where its K/V head starts. */
struct QueryRow { b: u32, h: u32, t: u32, kvo: u32 }
fn queryRow(row: u32) -> QueryRow {
  let b = row / (p.H * p.T);
  let h = (row / p.T) % p.H;
  return QueryRow(b, h, row % p.T, (b * p.Hkv + h / (p.H / p.Hkv)) * p.kvRows * p.D);
}
/** A scaled score, soft-capped when p.softcap > 0 (the argument clamped: tanh is exactly +-1 in f32 past 10; a NaN kept, not clamped). */
fn capped(s: f32) -> f32 {
  if (p.softcap > 0.0 && !isNan(s)) { return p.softcap * tanh(clamp(s / p.softcap, -10.0, 10.0)); }
  return s;
}
/** d capped / d s: 1 - tanh^2, or 1 uncapped. */
fn capGrad(s: f32) -> f32 {
  if (p.softcap > 0.0) { let th = tanh(clamp(s / p.softcap, -10.0, 10.0)); return 1.0 - th * th; }
  return 1.0;
}
${DROPOUT_DRAW}
/** What dropout multiplies probability j of a query row by: 0 where dropped, else the keep scale (1 without dropout). */
fn dropFactor(row: u32, j: u32) -> f32 {
  if (p.drop == 0u) { return 1.0; }
  return select(p.keepScale, 0.0, dropoutDraw(p.dropKey0, p.dropKey1, row * p.S + j) < p.dropBelow);
}
/** Whether query t of batch b sees key j (causal with the queries at the end of the keys, the sliding window, and the padding mask). */
fn visible(b: u32, t: u32, j: u32) -> bool {
  if (j >= p.S) { return false; }
  let position = i32(t) + i32(p.S) - i32(p.T);
  if (p.causal != 0u && i32(j) > position) { return false; }
  if (p.window != 0u && i32(j) <= position - i32(p.window)) { return false; }
  if (p.hasMask != 0u && keyMask[b * p.S + j] == 0.0) { return false; }
  if (p.segmented != 0u && keyMask[b * p.S + j] != keyMask[b * p.S + u32(position)]) { return false; }
  return true;
}`;

const forwardKernel = defineKernel({
  name: 'attentionForward',
  params: SHAPE_PARAMS,
  buffers: [['qs', 'read'], ['ks', 'read'], ['vs', 'read'], ['keyMask', 'read'], ['outv', 'read_write'], ['lseOut', 'read_write']],
  body: /* wgsl */ `${COMMON}
var<workgroup> qrow: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> probs: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lidv: vec3<u32>) {
  let row = flatGroup(wid, nwg);
  if (row >= p.B * p.H * p.T) { return; }
  let lid = lidv.x;
  let q = queryRow(row);
  let b = q.b;
  let t = q.t;
  let kvo = q.kvo;
  for (var d = lid; d < p.D; d += AW) { qrow[d] = qs[row * p.D + d]; }
  workgroupBarrier();
  var m = negInf();
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = 0u; j0 < p.S; j0 += AW) {
    let j = j0 + lid;
    let vis = visible(b, t, j);
    var s = negInf();
    if (vis) {
      var dot = 0.0;
      for (var d = 0u; d < p.D; d++) { dot += qrow[d] * ks[kvo + j * p.D + d]; }
      s = capped(dot * p.scale);
    }
    let newm = maxOrNan(m, workgroupMax(s, lid));
    // Nothing visible yet leaves newm at -inf: every weight below is 0, no exp(-inf - -inf).
    let pj = select(0.0, exp(s - newm), vis && !isNegInf(newm));
    let corr = select(exp(m - newm), 0.0, isNegInf(m));
    probs[lid] = pj * dropFactor(row, j); // weighs v dropped; the sum l stays the softmax's
    l = l * corr + workgroupSum(pj, lid);
    for (var c = 0u; c < 4u; c++) {
      let d = lid + c * AW;
      if (d < p.D) {
        var a = acc[c] * corr;
        for (var jj = 0u; jj < AW && j0 + jj < p.S; jj++) { a += probs[jj] * vs[kvo + (j0 + jj) * p.D + d]; }
        acc[c] = a;
      }
    }
    m = newm;
    workgroupBarrier();
  }
  let fullyMasked = isNegInf(m);
  for (var c = 0u; c < 4u; c++) {
    let d = lid + c * AW;
    if (d < p.D) {
      var o = acc[c] / l;
      if (fullyMasked) { o = 0.0; }
      if (isNan(m)) { o = nanValue(); }
      outv[row * p.D + d] = o;
    }
  }
  if (lid == 0u) {
    var lse = m + log(l);
    if (fullyMasked || isNan(m)) { lse = m; }
    lseOut[row] = lse;
  }
}`,
});

// stats[2 row] = lse, stats[2 row + 1] = sum_d dO * O: the two per-row values the backward reads,
// in one buffer so the dK/dV kernel stays within the 8 storage bindings every device offers.
const rowStatsKernel = defineKernel({
  name: 'attentionRowStats',
  params: { rows: 'u32', D: 'u32' },
  buffers: [['lseIn', 'read'], ['outs', 'read'], ['dout', 'read'], ['stats', 'read_write']],
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.rows) { return; }
  var di = 0.0;
  for (var d = 0u; d < p.D; d++) { di += dout[r * p.D + d] * outs[r * p.D + d]; }
  stats[2u * r] = lseIn[r];
  stats[2u * r + 1u] = di;
}`,
});

/** P and dS of query `row` against key j: P = exp(s - lse), dS = P (dO . v_j - D_row) scale. */
const PROBABILITY = /* wgsl */ `
fn probability(s: f32, lse: f32) -> f32 { return exp(s - lse); }`;

const dqKernel = defineKernel({
  name: 'attentionBackwardDq',
  params: SHAPE_PARAMS,
  buffers: [['qs', 'read'], ['ks', 'read'], ['vs', 'read'], ['keyMask', 'read'], ['dout', 'read'], ['stats', 'read'], ['dq', 'read_write']],
  body: /* wgsl */ `${COMMON}${PROBABILITY}
var<workgroup> qrow: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> grow: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> dscores: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lidv: vec3<u32>) {
  let row = flatGroup(wid, nwg);
  if (row >= p.B * p.H * p.T) { return; }
  let lid = lidv.x;
  let q = queryRow(row);
  let b = q.b;
  let t = q.t;
  let kvo = q.kvo;
  for (var d = lid; d < p.D; d += AW) { qrow[d] = qs[row * p.D + d]; grow[d] = dout[row * p.D + d]; }
  workgroupBarrier();
  let lse = stats[2u * row];
  let di = stats[2u * row + 1u];
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = 0u; j0 < p.S; j0 += AW) {
    let j = j0 + lid;
    var ds = 0.0;
    if (visible(b, t, j)) {
      var dot = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < p.D; d++) {
        dot += qrow[d] * ks[kvo + j * p.D + d];
        dp += grow[d] * vs[kvo + j * p.D + d];
      }
      // Dropped: dP = m (dO . v_j), while rowsum(dP * P) is still D_row = dO . O.
      ds = probability(capped(dot * p.scale), lse) * (dropFactor(row, j) * dp - di) * p.scale * capGrad(dot * p.scale);
    }
    if (isNan(lse)) { ds = nanValue(); } // as in the reference (and PyTorch): a NaN row reaches every key
    dscores[lid] = ds;
    workgroupBarrier();
    for (var c = 0u; c < 4u; c++) {
      let d = lid + c * AW;
      if (d < p.D) {
        for (var jj = 0u; jj < AW && j0 + jj < p.S; jj++) { acc[c] += dscores[jj] * ks[kvo + (j0 + jj) * p.D + d]; }
      }
    }
    workgroupBarrier();
  }
  for (var c = 0u; c < 4u; c++) {
    let d = lid + c * AW;
    if (d < p.D) { dq[row * p.D + d] = acc[c]; }
  }
}`,
});

const dkdvKernel = defineKernel({
  name: 'attentionBackwardDkDv',
  params: { ...SHAPE_PARAMS, wantK: 'u32', wantV: 'u32' },
  buffers: [['qs', 'read'], ['ks', 'read'], ['vs', 'read'], ['keyMask', 'read'], ['dout', 'read'], ['stats', 'read'], ['dk', 'read_write'], ['dv', 'read_write']],
  body: /* wgsl */ `${COMMON}${PROBABILITY}
var<workgroup> krow: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> vrow: array<f32, ${MAX_HEAD_DIM}>;
var<workgroup> pscores: array<f32, 64>;
var<workgroup> dscores: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lidv: vec3<u32>) {
  let keyRow = flatGroup(wid, nwg); // (b, kv head, j)
  if (keyRow >= p.B * p.Hkv * p.S) { return; }
  let lid = lidv.x;
  let b = keyRow / (p.Hkv * p.S);
  let kvh = (keyRow / p.S) % p.Hkv;
  let j = keyRow % p.S;
  let group = p.H / p.Hkv;
  for (var d = lid; d < p.D; d += AW) { krow[d] = ks[keyRow * p.D + d]; vrow[d] = vs[keyRow * p.D + d]; }
  workgroupBarrier();
  var accK = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  var accV = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var h = kvh * group; h < (kvh + 1u) * group; h++) {
    let rowBase = (b * p.H + h) * p.T;
    for (var t0 = 0u; t0 < p.T; t0 += AW) {
      let t = t0 + lid;
      var pr = 0.0;
      var ds = 0.0;
      if (t < p.T && visible(b, t, j)) {
        let row = rowBase + t;
        var dot = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < p.D; d++) {
          dot += qs[row * p.D + d] * krow[d];
          dp += dout[row * p.D + d] * vrow[d];
        }
        let m = dropFactor(row, j);
        let prob = probability(capped(dot * p.scale), stats[2u * row]);
        pr = prob * m; // the dropped probability weighed v
        ds = prob * (m * dp - stats[2u * row + 1u]) * p.scale * capGrad(dot * p.scale);
      }
      // A row whose log-sum-exp is NaN has NaN probabilities for every key, masked ones too, as
      // in the reference and PyTorch; written, not computed through exp(NaN) (Infinity on some GPUs).
      if (t < p.T && isNan(stats[2u * (rowBase + t)])) {
        pr = nanValue();
        ds = nanValue();
      }
      pscores[lid] = pr;
      dscores[lid] = ds;
      workgroupBarrier();
      for (var c = 0u; c < 4u; c++) {
        let d = lid + c * AW;
        if (d < p.D) {
          for (var tt = 0u; tt < AW && t0 + tt < p.T; tt++) {
            let row = rowBase + t0 + tt;
            accV[c] += pscores[tt] * dout[row * p.D + d];
            accK[c] += dscores[tt] * qs[row * p.D + d];
          }
        }
      }
      workgroupBarrier();
    }
  }
  for (var c = 0u; c < 4u; c++) {
    let d = lid + c * AW;
    if (d < p.D) {
      if (p.wantK != 0u) { dk[keyRow * p.D + d] = accK[c]; }
      if (p.wantV != 0u) { dv[keyRow * p.D + d] = accV[c]; }
    }
  }
}`,
});

function checkShape(s: AttentionShape): void {
  if (s.D > MAX_HEAD_DIM) throw new GiftjsError(`webgpu attention: head size ${s.D} is above the ${MAX_HEAD_DIM} this kernel supports`);
  if (s.H % s.Hkv !== 0) throw new GiftjsError(`webgpu attention: ${s.H} query heads do not split into ${s.Hkv} key/value heads`);
}

function shapeParams(s: AttentionShape, keyMask: DeviceBuffer | null) {
  return { B: s.B, H: s.H, Hkv: s.Hkv, T: s.T, S: s.S, D: s.D, scale: s.scale, causal: s.causal ? 1 : 0, window: s.window, softcap: s.softcap, segmented: s.segmented ? 1 : 0, hasMask: keyMask ? 1 : 0, kvRows: s.kvRows,
    drop: s.dropout ? 1 : 0, dropKey0: s.dropout?.key0 ?? 0, dropKey1: s.dropout?.key1 ?? 0, dropBelow: s.dropout?.dropBelow ?? 0, keepScale: s.dropout?.keepScale ?? 1 };
}

export function webGpuAttention(runner: KernelRunner) {
  const buf = gpuBufferOf;
  const unused = () => runner.scratch(16);
  return {
    attentionForward(s: AttentionShape, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, keyMask: DeviceBuffer | null, out: DeviceBuffer, lse: DeviceBuffer): void {
      checkShape(s);
      const buffers = [buf(q, 'attention q'), buf(k, 'attention k'), buf(v, 'attention v'), keyMask ? buf(keyMask, 'attention keyMask') : unused(), buf(out, 'attention out'), buf(lse, 'attention lse')];
      runner.dispatch(forwardKernel, shapeParams(s, keyMask), buffers, rowGrid(s.B * s.H * s.T));
    },
    attentionBackward(s: AttentionShape, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, keyMask: DeviceBuffer | null, out: DeviceBuffer, lse: DeviceBuffer, dout: DeviceBuffer, dq: DeviceBuffer | null, dk: DeviceBuffer | null, dv: DeviceBuffer | null): void {
      checkShape(s);
      if (s.kvRows !== s.S) throw new GiftjsError('webgpu attentionBackward: k and v must hold exactly the keys (kvRows = S)');
      const rows = s.B * s.H * s.T;
      const stats = runner.scratch(rows * 8);
      runner.dispatch(rowStatsKernel, { rows, D: s.D }, [buf(lse, 'attention lse'), buf(out, 'attention out'), buf(dout, 'attention dout'), stats], gridFor(rows));
      const mask = keyMask ? buf(keyMask, 'attention keyMask') : unused();
      const params = shapeParams(s, keyMask);
      const [qb, kb, vb, gb] = [buf(q, 'attention q'), buf(k, 'attention k'), buf(v, 'attention v'), buf(dout, 'attention dout')];
      if (dq) runner.dispatch(dqKernel, params, [qb, kb, vb, mask, gb, stats, buf(dq, 'attention dq')], rowGrid(rows));
      if (dk || dv) {
        const buffers = [qb, kb, vb, mask, gb, stats, dk ? buf(dk, 'attention dk') : unused(), dv ? buf(dv, 'attention dv') : unused()];
        runner.dispatch(dkdvKernel, { ...params, wantK: dk ? 1 : 0, wantV: dv ? 1 : 0 }, buffers, rowGrid(s.B * s.Hkv * s.S));
      }
    },
  };
}
