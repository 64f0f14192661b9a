// A WebGPU compute kernel described once: its uniform parameters (name and WGSL scalar type) and
// its storage buffers in binding order. The WGSL declarations are generated from that description
// and the host packs parameters by the same names, so the two sides cannot disagree on a layout.
/// <reference types="@webgpu/types" />

export type ParamType = 'i32' | 'u32' | 'f32';
export type BufferAccess = 'read' | 'read_write';
export type ElementType = 'f32' | 'i32';

export interface KernelSpec {
  name: string;
  params: Record<string, ParamType>;
  /** [name, access, element type (f32 unless said)] in binding order (binding 0 is the parameters). */
  buffers: readonly (readonly [string, BufferAccess, ElementType?])[];
  /** WGSL: the entry point `main` and anything it needs; the prelude's helpers are in scope. */
  body: string;
}

export interface Kernel {
  readonly name: string;
  readonly code: string;
  readonly params: readonly (readonly [string, ParamType])[];
  readonly access: readonly BufferAccess[];
}

/**
 * Helpers every kernel may use. WGSL lets an implementation assume that no NaN or infinity occurs
 * in floating-point arithmetic, so NaN and -Infinity are recognised by their bits, never by
 * comparisons that a compiler could fold away.
 */
const PRELUDE = /* wgsl */ `
const WG: u32 = 256u;
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isNonFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }
fn isNegInf(x: f32) -> bool { return bitcast<u32>(x) == 0xff800000u; }
// NaN and infinity are not values of a WGSL constant expression: they are made from bits at run time.
fn floatFromBits(bits: u32) -> f32 { return bitcast<f32>(bits); }
fn nanValue() -> f32 { return floatFromBits(0x7fc00000u); }
fn negInf() -> f32 { return floatFromBits(0xff800000u); }
/** The element a thread of a (possibly two-dimensional) grid of 256-wide workgroups handles. */
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.y * nwg.x * WG + gid.x; }
/** The row a workgroup handles when rows are spread over a two-dimensional grid. */
fn flatGroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }
`;

export function defineKernel(spec: KernelSpec): Kernel {
  const params = Object.entries(spec.params);
  const fields = params.length ? params.map(([n, t]) => `  ${n}: ${t},`).join('\n') : '  unused: u32,';
  const buffers = spec.buffers
    .map(([n, access, type], i) => `@group(0) @binding(${i + 1}) var<storage, ${access}> ${n}: array<${type ?? 'f32'}>;`)
    .join('\n');
  const code = `struct Params {\n${fields}\n}\n@group(0) @binding(0) var<uniform> p: Params;\n${buffers}\n${PRELUDE}\n${spec.body}`;
  return { name: spec.name, code, params, access: spec.buffers.map(([, a]) => a) };
}

/** The uniform block of one dispatch: parameters in declaration order, 4 bytes each, padded to 16. */
export function packParams(kernel: Kernel, values: Record<string, number>): ArrayBuffer {
  const words = Math.max(4, Math.ceil(kernel.params.length / 4) * 4);
  const bytes = new ArrayBuffer(words * 4);
  const view = new DataView(bytes);
  kernel.params.forEach(([name, type], i) => {
    const v = values[name];
    if (v === undefined) throw new Error(`webgpu kernel ${kernel.name}: parameter ${name} is missing`);
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else view.setUint32(i * 4, v, true);
  });
  return bytes;
}

/** Workgroups of 256 threads covering n elements, spread over y when x would pass its limit. */
export function gridFor(n: number, maxPerDimension = 65535): [number, number, number] {
  const groups = Math.ceil(n / 256);
  if (groups <= maxPerDimension) return [groups, 1, 1];
  return [maxPerDimension, Math.ceil(groups / maxPerDimension), 1];
}

/** One workgroup per row, spread over y when rows pass the per-dimension limit. */
export function rowGrid(rows: number, maxPerDimension = 65535): [number, number, number] {
  if (rows <= maxPerDimension) return [rows, 1, 1];
  return [maxPerDimension, Math.ceil(rows / maxPerDimension), 1];
}
