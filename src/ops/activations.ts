// Activations: GELU (exact erf form and tanh approximation), SiLU, SwiGLU (silu(gate) * up), and
// ReLU and tanh (cheap enough pointwise that they run in TypeScript on every backend).
import { ActivationKind } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { sameShape, shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

function activation(op: string, kind: ActivationKind, x: Tensor): Tensor {
  const out = Tensor.empty(x.shape);
  getBackend().activationForward(kind, x.data, out.data, x.size);
  return record(op, out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().activationBackward(kind, x.data, g.data, dx.data, x.size);
    return [dx];
  });
}

/** GELU; approximate 'tanh' is the GPT-2 / gelu_pytorch_tanh form, 'none' the exact erf form. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return activation('gelu', approximate === 'tanh' ? ActivationKind.GeluTanh : ActivationKind.GeluErf, x);
}

/** SiLU (swish): x * sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return activation('silu', ActivationKind.Silu, x);
}

/** SwiGLU as Llama's MLP uses it: silu(gate) * up. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (!sameShape(gate.shape, up.shape)) {
    throw new GiftjsError(`swiglu: gate ${shapeString(gate.shape)} and up ${shapeString(up.shape)} must have the same shape`);
  }
  // One fused kernel each way (threaded natively); backward recomputes silu(gate) instead of
  // keeping it, which saves a gate-sized buffer per layer.
  const out = Tensor.empty(gate.shape);
  getBackend().swigluForward(gate.data, up.data, out.data, gate.size);
  return record('swiglu', out, [gate, up], (g, needs) => {
    const dgate = needs[0] ? Tensor.empty(gate.shape) : null;
    const dup = needs[1] ? Tensor.empty(up.shape) : null;
    getBackend().swigluBackward(gate.data, up.data, g.data, dgate?.data ?? null, dup?.data ?? null, gate.size);
    return [dgate, dup];
  });
}

/** A pointwise op whose derivative is a function of its output (ReLU, tanh): backward needs only y. */
function pointwiseByOutput(op: string, x: Tensor, f: (v: number) => number, dydx: (y: number) => number): Tensor {
  const out = Tensor.empty(x.shape);
  const o = out.data;
  const xd = x.data;
  for (let i = 0; i < o.length; i++) o[i] = f(xd[i]!);
  return record(op, out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    const gd = g.data;
    for (let i = 0; i < gd.length; i++) dx.data[i] = gd[i]! * dydx(o[i]!);
    return [dx];
  });
}

/** max(x, 0); the gradient at 0 is 0, as PyTorch and TensorFlow take it. */
export function relu(x: Tensor): Tensor {
  // NaN passes through (v > 0 is false for it), as in PyTorch.
  return pointwiseByOutput('relu', x, (v) => (v > 0 || v !== v ? v : 0), (y) => (y > 0 ? 1 : y !== y ? y : 0));
}

export function tanh(x: Tensor): Tensor {
  return pointwiseByOutput('tanh', x, Math.tanh, (y) => 1 - y * y);
}
