// What the row kernels (norms, softmax, cross-entropy, attention) share: the entry point of a kernel
// that gives each row one workgroup, and workgroup reductions in which the threads fold their
// partial values through workgroup memory (called from uniform control flow only).

/** The entry of a 256-thread row kernel: `flatGroup(wid, nwg)` is its row, `lidv.x` its thread. */
const ROW_ENTRY = '@compute @workgroup_size(256)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lidv: vec3<u32>)';

/**
 * The start of a row kernel: its entry point, then r (the row; workgroups past the last row
 * return), lid (the thread) and o (where the row starts, rows being p.<width> wide).
 */
export function rowKernelStart(width: 'cols' | 'vocab'): string {
  return `${ROW_ENTRY} {
  let r = flatGroup(wid, nwg);
  if (r >= p.rows) { return; }
  let lid = lidv.x;
  let o = r * p.${width};`;
}

/** workgroupSum, workgroupMax (NaN when any value is NaN) and maxOrNan for a workgroup of `size` threads (a power of 2). */
export function workgroupReductions(size: number): string {
  return /* wgsl */ `
var<workgroup> partial: array<f32, ${size}>;
fn workgroupSum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}
/** The largest value, NaN when any value is NaN. */
fn maxOrNan(a: f32, b: f32) -> f32 {
  if (isNan(a) || isNan(b)) { return nanValue(); }
  return max(a, b);
}
fn workgroupMax(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = maxOrNan(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}
`;
}

export const WORKGROUP_REDUCTIONS = workgroupReductions(256);
