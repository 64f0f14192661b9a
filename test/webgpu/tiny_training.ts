// One training run that the WebGPU tests do twice: in Node on the ref backend and in a browser
// page on the webgpu backend. The same trainer (gift train's: GIFT on q_proj/v_proj, gradient
// accumulation, clipping, AdamW, held-out evaluation) on a small Llama with GQA and RoPE.
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel } from '../../src/train/trainer.js';

export interface TinyRun {
  /** A Llama config.json and every parameter's values (plain arrays: they cross into the page as JSON). */
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  examples: { ids: number[]; labels: number[] }[];
}

export interface TinyResult {
  losses: number[];
  gradNorms: number[];
  heldOut: number[];
  trained: Record<string, number[]>;
}

export async function trainTinyLlama(run: TinyRun): Promise<TinyResult> {
  const model = new LlamaForCausalLM(parseLlamaConfig(run.config, 'config'));
  for (const [name, t] of model.namedParameters()) {
    const values = run.weights[name];
    if (!values) throw new Error(`no values for ${name}`);
    t.assign(Float32Array.from(values));
  }
  const adapter = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 7);
  const examples = run.examples.map((e) => ({ ids: Int32Array.from(e.ids), labels: Int32Array.from(e.labels) }));
  const result = await trainModel({
    model, adapter, train: examples, heldOut: examples.slice(0, 2), padId: 0,
    // No warmup: all four updates move (ceil(0.1 x 4) = 1 update of warmup would spend the first at learning rate 0).
    options: { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 4, batchSize: 2, gradAccum: 2, lr: 2e-2, maxGradNorm: 0.5, seed: 3, warmupRatio: 0 },
  });
  const trained: Record<string, number[]> = {};
  for (const [name, t] of adapter.namedTrainable()) trained[name] = Array.from(await t.readAsync());
  return { losses: result.logs.map((l) => l.loss), gradNorms: result.logs.map((l) => l.grad_norm), heldOut: result.evalHistory.map((e) => e.loss), trained };
}
