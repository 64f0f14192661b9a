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
  const backend = getBackend();
  const act = Tensor.empty(gate.shape);
  backend.activationForward(ActivationKind.Silu, gate.data, act.data, gate.size);
  const out = Tensor.empty(gate.shape);
  const o = out.data;
  const a = act.data;
  const u = up.data;
  for (let i = 0; i < o.length; i++) o[i] = a[i]! * u[i]!;
  return record('swiglu', out, [gate, up], (g, needs) => {
    const gd = g.data;
    let dgate: Tensor | null = null;
    let dup: Tensor | null = null;
    if (needs[0]) {
      // d/dgate = g * up * silu'(gate)
      const gu = Tensor.empty(gate.shape);
      for (let i = 0; i < gd.length; i++) gu.data[i] = gd[i]! * u[i]!;
      dgate = Tensor.empty(gate.shape);
      getBackend().activationBackward(ActivationKind.Silu, gate.data, gu.data, dgate.data, gate.size);
      gu.dispose();
    }
    if (needs[1]) {
      dup = Tensor.empty(up.shape);
      for (let i = 0; i < gd.length; i++) dup.data[i] = gd[i]! * a[i]!;
    }
    return [dgate, dup];
  }, [act]);
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
