// Reverse-mode automatic differentiation on a tape.
//
// Each op that produces a tensor from inputs that need gradients records a GradNode: its inputs
// and a closure that maps the output's gradient to the inputs' gradients. backward() walks the
// nodes in reverse topological order. Only inputs with requiresGrad receive a gradient, and each
// op's backward is told which ones do, so a frozen weight's gradient is never computed — only
// the gradient that flows through it to the activations.

import { markForwardOp, timeBackward } from './profiler.js';
import { keep } from './memory.js';
import { sameShape, shapeString, stridesOf } from './shape.js';
import { BinaryOp } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import type { Tensor } from './tensor.js';
import { GiftjsError } from '../errors.js';

export interface GradNode {
  /** The op's name, for error messages. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /**
   * Maps the output gradient to one gradient per input: null where needsGrad[i] is false.
   * Runs with recording switched off.
   */
  readonly backward: (grad: Tensor, needsGrad: readonly boolean[]) => (Tensor | null)[];
  /** Buffers the op made only for its backward (norm statistics, log-sum-exps, masks). */
  readonly saved: readonly Tensor[];
  /** The inputs and output whose values the backward reads (each counted in its pendingReads). */
  readonly reads: readonly Tensor[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording: no graph is built, nothing is kept for a backward pass. */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs fn with recording on (activation checkpointing recomputes inside a backward pass). */
export function withGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

let deferringValues = false;

/**
 * Whether ops defer computing their outputs until they are read (Tensor.computedBy): inside
 * withDeferredValues, which activation checkpointing uses for a layer's recomputation.
 */
export function valuesDeferred(): boolean {
  return deferringValues;
}

/**
 * Runs fn with the ops that can defer their outputs (linear, matmul, the elementwise binary ops) deferring them: what is read is
 * computed when it is read, and what nothing reads never is. A recomputed layer's last projection
 * and residual sum are such values: their backward needs only the gradient, and the layer's output
 * was computed in the forward (a 1B model's down_proj is 8% of a checkpointed step's arithmetic).
 */
export function withDeferredValues<T>(fn: () => T): T {
  const previous = deferringValues;
  deferringValues = true;
  try {
    return fn();
  } finally {
    deferringValues = previous;
  }
}

/** True when an op applied to these inputs must record itself. */
export function needsRecording(inputs: readonly (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t?.requiresGrad === true);
}

/**
 * Which values an op's backward reads, known when it records (from which inputs need a gradient):
 * each input's, by position, and the output's. An op that does not say is taken to read them all.
 * Tensors read by a backward keep their buffers past their layer (releasingUnread); the others
 * are given back when the layer returns. A backward must read nothing it did not declare, apart
 * from its `saved` tensors and what markValueNeeded marks.
 */
export interface ValueReads {
  readonly inputs: readonly boolean[];
  readonly output: boolean;
}

/** A backward that reads no values at all: a sum's, a reshape's, a transpose's. */
export const READS_NOTHING_OF_ONE: ValueReads = { inputs: [false], output: false };
export const READS_NOTHING_OF_TWO: ValueReads = { inputs: [false, false], output: false };

/**
 * Marks tensors a backward reads beyond its inputs, output and saved tensors (a caller's attention
 * mask). Which backward reads them is not known, so they keep their buffers until their scope ends.
 */
export function markValueNeeded(...tensors: readonly (Tensor | null | undefined)[]): void {
  for (const t of tensors) {
    if (!t) continue;
    needValue(t);
    t.pendingReads = Infinity;
  }
}

// A value a backward will read; a deferred one is computed now, while the tensors it is computed
// from are alive (its layer's scope may give them back before that backward runs).
function needValue(t: Tensor): void {
  t.valueNeeded = true;
  t.computeDeferred();
}

/**
 * Attaches a GradNode to out when any input needs a gradient; returns out. `saved` lists the
 * tensors the op created only for its backward: they are disposed at once when nothing is
 * recorded, and right after the backward has used them otherwise.
 */
export function record(op: string, out: Tensor, inputs: readonly Tensor[], backward: GradNode['backward'], saved: readonly Tensor[] = [], reads?: ValueReads): Tensor {
  markForwardOp(op);
  if (needsRecording(inputs)) {
    const read = inputs.filter((_, i) => !reads || reads.inputs[i]);
    if (!reads || reads.output) read.push(out);
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward, saved, reads: read };
    for (const t of read) {
      needValue(t);
      t.pendingReads++;
    }
    for (const t of saved) needValue(t);
  } else {
    for (const t of saved) t.dispose();
  }
  return out;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, next] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const child = inputs[next]!;
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse(); // root first
}

/** out = a + b for two tensors of one shape, on the backend (threaded natively). out may be a. */
function addInto(out: Tensor, a: Tensor, b: Tensor): void {
  const strides = stridesOf(a.shape);
  getBackend().binary(BinaryOp.Add, a.shape, a.buffer, strides, b.buffer, strides, out.buffer);
}

export function runBackward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) {
    throw new GiftjsError(`backward: ${root.describe()} does not require a gradient (no input of it requires one)`);
  }
  // Imported lazily: tensor.ts imports this module.
  const TensorClass = root.constructor as typeof Tensor;
  let seed: Tensor;
  if (gradient) {
    if (!sameShape(gradient.shape, root.shape)) {
      throw new GiftjsError(`backward: gradient of shape ${shapeString(gradient.shape)} given for a tensor of shape ${shapeString(root.shape)}`);
    }
    seed = gradient.detach();
  } else {
    if (root.size !== 1) throw new GiftjsError(`backward: ${root.describe()} is not a scalar; pass its gradient`);
    seed = TensorClass.ones(root.shape);
  }

  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  noGrad(() => {
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (!node) {
        // A leaf: accumulate into .grad, which outlives every scope and is owned by the leaf.
        if (t.grad) {
          addInto(t.grad, t.grad, g);
          g.dispose();
        } else if (g.ownsBufferAlone) {
          t.grad = keep(g); // nothing else sees this buffer: hand it over instead of copying
        } else {
          t.grad = keep(g.clone());
          g.dispose();
        }
        continue;
      }
      const needs = node.inputs.map((x) => x.requiresGrad);
      const inputGrads = timeBackward(node.op, () => node.backward(g, needs));
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!needs[i] || !gi) return;
        if (!sameShape(gi.shape, input.shape)) {
          throw new GiftjsError(`backward of ${node.op}: gradient of shape ${shapeString(gi.shape)} for an input of shape ${shapeString(input.shape)}`);
        }
        // A view, so that each entry owns its handle even when an op hands back the same
        // tensor for two inputs (add does); summing makes a fresh buffer for the same reason.
        const own = gi.detach();
        const previous = grads.get(input);
        if (previous) {
          // Sum in place when the running sum's buffer is ours alone; else into a fresh one.
          if (previous.ownsBufferAlone) {
            addInto(previous, previous, own);
            own.dispose();
          } else {
            const sum = TensorClass.empty(previous.shape);
            addInto(sum, previous, own);
            previous.dispose();
            own.dispose();
            grads.set(input, sum);
          }
        } else {
          grads.set(input, own);
        }
      });
      for (const gi of inputGrads) gi?.dispose();
      for (const t of node.saved) t.dispose();
      // A layer's own intermediates (releasingUnread) give their buffers back once the last
      // backward that reads them has run, not when the step's scope ends: full fine-tuning held
      // every layer's activations and every weight's gradient at once.
      for (const r of node.reads) if (--r.pendingReads === 0 && r.releaseWhenRead) r.releaseValue();
      g.dispose();
      // The graph is used once (as in PyTorch without retain_graph): drop the closure.
      t.gradFn = null;
    }
  });
}
