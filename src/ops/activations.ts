// Activations: GELU (exact erf form and tanh approximation), SiLU, and SwiGLU (silu(gate) * up).
import { ActivationKind } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { sameShape, shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

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
    throw new Error(`swiglu: gate ${shapeString(gate.shape)} and up ${shapeString(up.shape)} must have the same shape`);
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
