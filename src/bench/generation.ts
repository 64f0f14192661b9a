// Generation speed with merged weights: greedy decoding with the KV cache on a random model of a
// given shape, tokens per second after the prompt.
import { performance } from 'node:perf_hooks';
import { generate } from '../generate/generate.js';
import { parseLlamaConfig } from '../models/llama/config.js';
import { LlamaForCausalLM } from '../models/llama/model.js';
import { Random } from '../tensor/random.js';
import { STEP_SHAPES } from './step.js';
import { GiftjsError } from '../errors.js';

export function benchGeneration(shape: string, promptLength: number, tokens: number, dtype: 'f32' | 'bf16'): { tokensPerSecond: number; config: Record<string, unknown> } {
  const raw = STEP_SHAPES[shape];
  if (!raw) throw new GiftjsError(`unknown --shape '${shape}' (available: ${Object.keys(STEP_SHAPES).join(', ')})`);
  const config = parseLlamaConfig(raw, `--shape ${shape}`);
  const model = new LlamaForCausalLM(config, new Random(0));
  for (const p of model.parameters()) p.requiresGrad = false;
  if (dtype === 'bf16') model.storeFrozenWeightsAsBf16();
  const r = new Random(1);
  const prompt = Array.from({ length: promptLength }, () => r.int(config.vocabSize));
  let start = 0;
  generate(model, prompt, { maxNewTokens: tokens + 1, onToken: (_t, i) => void (i === 0 && (start = performance.now())) });
  const seconds = (performance.now() - start) / 1000;
  return { tokensPerSecond: tokens / seconds, config: raw };
}
