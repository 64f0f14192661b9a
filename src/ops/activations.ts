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
  getBackend().activationForward(kind, x.buffer, out.buffer, x.size);
  return record(op, out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().activationBackward(kind, x.buffer, g.buffer, dx.buffer, x.size);
    return [dx];
  }, [], { inputs: [true], output: false });
}

/** GELU; approximate 'tanh' is the GPT-2 / gelu_pytorch_tanh form, 'none' the exact erf form. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  // (As torch's gelu refuses one: 'fast' had been taken as the erf form.)
  if (approximate !== 'none' && approximate !== 'tanh') throw new GiftjsError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
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
  getBackend().swigluForward(gate.buffer, up.buffer, out.buffer, gate.size);
  return record('swiglu', out, [gate, up], (g, needs) => {
    const dgate = needs[0] ? Tensor.empty(gate.shape) : null;
    const dup = needs[1] ? Tensor.empty(up.shape) : null;
    getBackend().swigluBackward(gate.buffer, up.buffer, g.buffer, dgate?.buffer ?? null, dup?.buffer ?? null, gate.size);
    return [dgate, dup];
  }, [], { inputs: [true, true], output: false });
}

/** max(x, 0); the gradient at 0 is 0, as PyTorch and TensorFlow take it. */
export function relu(x: Tensor): Tensor {
  // NaN passes through (v > 0 is false for it), as in PyTorch.
  return activation('relu', ActivationKind.Relu, x);
}

export function tanh(x: Tensor): Tensor {
  return activation('tanh', ActivationKind.Tanh, x);
}
