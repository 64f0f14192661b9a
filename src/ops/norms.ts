// RMSNorm and LayerNorm over the last axis, computed by the backend's fused kernels.
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

// An eps below 0 gives the square root of a negative (NaN) or a wrong scale where the variance is
// small; NaN would make every output NaN.
function checkEps(op: string, eps: number): void {
  if (!(eps >= 0 && Number.isFinite(eps))) throw new GiftjsError(`${op}: eps must be a finite number >= 0, got ${eps}`);
}

function checkParam(op: string, x: Tensor, p: Tensor | null | undefined, what: string): void {
  const cols = x.shape[x.rank - 1];
  if (p && (p.rank !== 1 || p.shape[0] !== cols)) {
    throw new GiftjsError(`${op}: ${what} ${shapeString(p.shape)} does not match the last dimension of x ${shapeString(x.shape)}`);
  }
}

/** y = x / sqrt(mean(x^2) + eps) * weight  (Llama's RMSNorm). */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  if (x.rank < 1) throw new GiftjsError('rmsNorm: x must have rank >= 1');
  checkEps('rmsNorm', eps);
  checkParam('rmsNorm', x, weight, 'weight');
  const cols = x.shape[x.rank - 1]!;
  const rows = x.size / Math.max(cols, 1);
  const out = Tensor.empty(x.shape);
  const rstd = Tensor.empty([rows]);
  getBackend().rmsNormForward(x.buffer, weight.buffer, out.buffer, rstd.buffer, rows, cols, eps);
  return record('rmsNorm', out, [x, weight], (g, needs) => {
    const dx = needs[0] ? Tensor.empty(x.shape) : null;
    const dw = needs[1] ? Tensor.zeros(weight.shape) : null;
    getBackend().rmsNormBackward(x.buffer, weight.buffer, rstd.buffer, g.buffer, dx?.buffer ?? null, dw?.buffer ?? null, rows, cols);
    return [dx, dw];
  }, [rstd], { inputs: [true, true], output: false });
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias; weight and bias may be omitted. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank < 1) throw new GiftjsError('layerNorm: x must have rank >= 1');
  checkEps('layerNorm', eps);
  checkParam('layerNorm', x, weight, 'weight');
  checkParam('layerNorm', x, bias, 'bias');
  const cols = x.shape[x.rank - 1]!;
  const rows = x.size / Math.max(cols, 1);
  const out = Tensor.empty(x.shape);
  const mean = Tensor.empty([rows]);
  const rstd = Tensor.empty([rows]);
  getBackend().layerNormForward(x.buffer, weight?.buffer ?? null, bias?.buffer ?? null, out.buffer, mean.buffer, rstd.buffer, rows, cols, eps);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return record('layerNorm', out, inputs, (g, needs) => {
    const dx = needs[0] ? Tensor.empty(x.shape) : null;
    const dw = weight && needs[1] ? Tensor.zeros(weight.shape) : null;
    const db = bias && needs[weight ? 2 : 1] ? Tensor.zeros(bias.shape) : null;
    getBackend().layerNormBackward(x.buffer, weight?.buffer ?? null, mean.buffer, rstd.buffer, g.buffer, dx?.buffer ?? null, dw?.buffer ?? null, db?.buffer ?? null, rows, cols);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(dw);
    if (bias) grads.push(db);
    return grads;
  }, [mean, rstd], { inputs: inputs.map((t) => t !== bias), output: false }); // x and the weight; the bias never
}
