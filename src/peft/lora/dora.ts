// DoRA (PEFT's use_dora; Liu et al. 2024, arXiv 2402.09353): LoRA's update with each output row's
// length learned apart from its direction. A magnitude vector m [out] rescales the rows of W + s B A:
//     W' = diag(m / ||W + s B A||) (W + s B A)          (row norms over the input dimension)
// with the norm treated as a constant in the backward, as the paper's section 4.3 and PEFT do: it is
// recomputed from the current A and B at every forward, but no gradient flows through it. m starts at
// the rows' norms of W (B is zero), so training starts at the pretrained model. As PEFT computes it,
// with g = m / norm and x' the dropped-out input:
//     y = x W^T + b + (g - 1) (x' W^T) + g s (x' A^T) B^T      = g (x W^T + s (x A^T) B^T) + b  without dropout
import type { Linear } from '../../nn/layers.js';
import { dropout } from '../../ops/dropout.js';
import { add, div, mul, sub } from '../../ops/elementwise.js';
import { addmm, linear, matmul } from '../../ops/matmul.js';
import { sum } from '../../ops/reduce.js';
import { transpose } from '../../ops/shape_ops.js';
import { noGrad } from '../../tensor/autograd.js';
import { tidy } from '../../tensor/memory.js';
import type { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { LoraLinearAdapter, type LoraWeights } from './layer.js';

/**
 * ||W_o||^2 of each output row o [out] of a frozen weight, summed in float64 on the host: a float32 weight
 * is read where it lies, another (bfloat16, float16, quantized) from one float32 copy, dequantized as PEFT
 * reads it -- no other [out, in] is made.
 */
export function doraRowSquares(weight: Tensor): Tensor {
  const [rows, cols] = weight.shape as [number, number];
  const asStored = weight.dtype === 'float32' && !weight.quantized;
  const values = asStored ? weight : weight.toFloat32();
  try {
    const data = values.data;
    const squares = new Float32Array(rows);
    for (let o = 0; o < rows; o++) {
      let sum = 0;
      for (let i = o * cols, end = i + cols; i < end; i++) sum += data[i]! * data[i]!;
      squares[o] = sum;
    }
    return Tensor.fromArray(squares);
  } finally {
    if (!asStored) values.dispose();
  }
}

/**
 * ||W_o + s (B A)_o|| of each output row [out], as a constant, from the frozen rows' squares without
 * forming W + s B A: ||W_o||^2 + 2 s W_o . (B A)_o + s^2 ||(B A)_o||^2, where W_o . (B A)_o is
 * B_o . (A W^T)_o (one product of W with A's r rows, which reads W once, as a decoding step does) and
 * ||(B A)_o||^2 is B_o (A A^T) B_o^T. A forward costs O(out r) memory, not a copy of W.
 */
export function doraWeightNorm(weight: Tensor, rowSquares: Tensor, w: LoraWeights): Tensor {
  return noGrad(() => tidy(() => {
    const cross = sum(mul(linear(w.A, weight, null), transpose(w.B, 0, 1)), 0); // [out]: W_o . (B A)_o
    const quadratic = sum(mul(matmul(w.B, matmul(w.A, w.A, { transposeB: true })), w.B), -1); // [out]: ||(B A)_o||^2
    const squares = rowSquares.read();
    const c = cross.read();
    const q = quadratic.read();
    const s = w.scale;
    // (Rounding can leave a row whose norm is 0 a little below it; its square root is then 0, as torch's.)
    return Tensor.fromArray(squares.map((v, o) => Math.sqrt(Math.max(0, v + 2 * s * c[o]! + s * s * q[o]!))));
  }));
}

export class DoraLinearAdapter extends LoraLinearAdapter {
  /** @param rowSquares ||W_o||^2 of the frozen weight's rows (doraRowSquares), taken once: W does not change while attached. */
  constructor(w: LoraWeights, readonly magnitude: Tensor, private readonly rowSquares: Tensor, dropoutP: number, rng: Random) {
    super(w, dropoutP, rng);
  }

  override forward(x: Tensor, base: Linear): Tensor {
    const { A, B, scale } = this.w;
    const rows = (t: Tensor) => (t.rank === 1 ? t.view([1, t.size]) : t);
    const back = (t: Tensor) => (x.rank === 1 ? t.view([t.size]) : t);
    const g = div(this.magnitude, doraWeightNorm(base.weight, this.rowSquares, this.w)); // [out]; the norm is a constant
    const xd = this.dropsOut(base) ? dropout(x, this.dropoutP, this.rng, true) : x;
    const xdW = linear(rows(xd), base.weight, null); // [..., out]
    const adapted = addmm(xdW, matmul(rows(xd), A, { transposeB: true }), B, scale, { transposeB: true }); // x' W^T + s (x' A^T) B^T
    if (xd === x) {
      const y = mul(adapted, g);
      return back(base.bias ? add(y, base.bias) : y);
    }
    // With dropout: the base output on the whole input, and the rescaled rows' change on the dropped one.
    return back(add(sub(rows(base.baseForward(x)), xdW), mul(adapted, g)));
  }

  /** Whether this forward draws dropout (training mode with a dropout rate), as PEFT's variant decides. */
  private dropsOut(base: Linear): boolean {
    return this.dropoutP > 0 && base.training;
  }
}

/** diag(m / ||W + s B A||) (W + s B A) - W: what merging DoRA adds to W (float32; the norms taken of W + s B A itself, as PEFT's merge does). */
export function doraWeightDelta(weight: Tensor, w: LoraWeights, magnitude: Tensor): Tensor {
  return noGrad(() => tidy(() => {
    const values = weight.toFloat32();
    const adapted = addmm(values, w.B, w.A, w.scale);
    const norms = Tensor.fromArray(sum(mul(adapted, adapted), -1).read().map(Math.sqrt), [magnitude.size, 1]);
    return sub(mul(adapted, div(magnitude.view([magnitude.size, 1]), norms)), values);
  }));
}
