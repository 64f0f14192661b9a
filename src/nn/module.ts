// Module: a named tree of parameters, in the style of torch.nn.Module, so parameter names match
// the Hugging Face tensor names a checkpoint uses ("model.layers.0.self_attn.q_proj.weight").
import { Tensor } from '../tensor/tensor.js';

/**
 * How adapter files name a model's modules where that differs from the model's own (checkpoint)
 * names: transformers 5 renames some models' modules in memory, and PEFT 0.21 saves adapters under
 * those names. Both map module paths ("vit.encoder.layer.0.attention.attention.query").
 */
export interface AdapterNaming {
  /** This model's path as adapter files name it, or the path itself where no name differs. */
  toSaved(path: string): string;
  /** A saved path as this model names it, or the path itself. */
  fromSaved(path: string): string;
  /** Whether adapters are written under the saved names (the base was written by a transformers that uses them). */
  writeSaved: boolean;
}

export abstract class Module {
  private readonly params = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  /**
   * Training mode: dropout (LoRA's included) is active only here. A model starts in evaluation
   * mode, so evaluating, generating and merging are deterministic; the trainer switches to
   * training mode for its steps and back for held-out evaluation.
   */
  training = false;

  /** Adapter files' names for this model's modules, where they differ (ViT under transformers 5); null: its own. */
  adapterNaming(): AdapterNaming | null {
    return null;
  }

  /**
   * The modules that make up the model's task head (trained beside an adapter as modules_to_save, at
   * --head-lr), or null for the conventional names: lm_head, classifier, score.
   */
  headModules(): string[] | null {
    return null;
  }

  /** Sets training mode on this module and every module under it. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (train(false)). */
  eval(): this {
    return this.train(false);
  }

  /** Registers a parameter (a leaf tensor that outlives every scope) under a local name. */
  protected param(name: string, t: Tensor, trainable = true): Tensor {
    t.keep();
    t.requiresGrad = trainable;
    this.params.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Every parameter with its dotted path, depth first in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    for (const [n, t] of out) t.name ??= n;
    return out;
  }

  /** Every module in the tree with its dotted path ('' for this one), depth first. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, m] of this.children) out.push(...m.namedModules(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters that will receive gradients. */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((t) => t.requiresGrad);
  }

  /**
   * Stores every frozen matrix parameter (Linear and Embedding weights) as bfloat16: half the
   * memory; linear layers widen it to float32 inside the GEMM and accumulate in float32. Norm
   * weights, biases and anything trainable stay float32. Returns the number of tensors converted.
   */
  storeFrozenWeightsAsBf16(): number {
    let n = 0;
    for (const p of this.parameters()) {
      if (!p.requiresGrad && p.rank === 2 && p.dtype === 'float32') {
        p.storeAsBf16();
        n++;
      }
    }
    return n;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Releases every parameter's buffer. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.zeroGrad();
      p.dispose();
    }
  }
}
