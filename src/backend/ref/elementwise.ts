// Reference strided kernels: broadcasting arithmetic and strided copies (permutes, broadcasts),
// walking the output in row-major order with an odometer over the leading dimensions.
import { BinaryOp } from '../backend.js';

type F = Float32Array;

const COMBINE: Record<BinaryOp, (x: number, y: number) => number> = {
  [BinaryOp.Add]: (x, y) => x + y,
  [BinaryOp.Sub]: (x, y) => x - y,
  [BinaryOp.Mul]: (x, y) => x * y,
  [BinaryOp.Div]: (x, y) => x / y,
};

/**
 * Calls row(outOffset, offsets) for each output row (the last dimension), with each operand's
 * offset at the row's start; offsets are updated in place, so row must not keep the array.
 */
export function forEachRow(shape: readonly number[], strides: readonly (readonly number[])[], row: (outOffset: number, offsets: number[]) => void): void {
  const rank = shape.length;
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const last = rank === 0 ? 1 : shape[rank - 1]!;
  const offsets = strides.map(() => 0);
  const counter = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let o = 0; o < total; o += last) {
    row(o, offsets);
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]!++;
      for (let k = 0; k < strides.length; k++) offsets[k]! += strides[k]![d]!;
      if (counter[d]! < shape[d]!) break;
      for (let k = 0; k < strides.length; k++) offsets[k]! -= strides[k]![d]! * shape[d]!;
      counter[d] = 0;
    }
  }
}

export function refBinary(op: BinaryOp, shape: readonly number[], a: F, aStrides: readonly number[], b: F, bStrides: readonly number[], out: F): void {
  const f = COMBINE[op];
  const rank = shape.length;
  const last = rank === 0 ? 1 : shape[rank - 1]!;
  const sa = rank === 0 ? 0 : aStrides[rank - 1]!;
  const sb = rank === 0 ? 0 : bStrides[rank - 1]!;
  forEachRow(shape, [aStrides, bStrides], (o, [ia, ib]) => {
    for (let j = 0; j < last; j++) out[o + j] = f(a[ia! + j * sa]!, b[ib! + j * sb]!);
  });
}

export function refCopyStrided(shape: readonly number[], src: F, srcStrides: readonly number[], dst: F): void {
  const rank = shape.length;
  const last = rank === 0 ? 1 : shape[rank - 1]!;
  const s = rank === 0 ? 0 : srcStrides[rank - 1]!;
  forEachRow(shape, [srcStrides], (o, [i]) => {
    for (let j = 0; j < last; j++) dst[o + j] = src[i! + j * s]!;
  });
}
