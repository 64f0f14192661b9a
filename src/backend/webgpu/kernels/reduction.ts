// Workgroup reductions shared by the row kernels (norms, softmax, cross-entropy): 256 threads
// fold their partial values through workgroup memory. Called from uniform control flow only.
export const WORKGROUP_REDUCTIONS = /* wgsl */ `
var<workgroup> partial: array<f32, 256>;
fn workgroupSum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
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
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = maxOrNan(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}
`;
