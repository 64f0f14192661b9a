// llama.cpp itself, for the tests that check GGUF files against it: npm's node-llama-cpp 3.21.1
// (prebuilt), installed by .ci/run into a cache folder -- never into the package's dependencies.
// Its KV cache is F32 here: llama.cpp's default F16 cache alone moves log-probabilities by ~1e-2.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { llamaCppEntry } from '../src/bench/llama_cpp_generation.js';

export const LLAMA_CPP_ENTRY = llamaCppEntry();
/** The test's skip reason when llama.cpp is not installed, else false. */
export const noLlamaCpp = existsSync(LLAMA_CPP_ENTRY) ? false : `node-llama-cpp 3.21.1 is not installed at ${LLAMA_CPP_ENTRY} (.ci/run installs it: npm i -E node-llama-cpp@3.21.1 --prefix <GIFTJS_LLAMA_CPP, default ~/.cache/giftjs-llama-cpp>)`;

// Minimal shapes of what these tests use from node-llama-cpp.
interface Sequence { controlledEvaluate(input: [number, { generateNext: { probabilities: true } }][]): Promise<({ next: { probabilities: Map<number, number> } } | undefined)[]> }
export interface LlamaModel { tokenize(text: string): number[]; createContext(o: Record<string, unknown>): Promise<{ getSequence(): Sequence; dispose(): Promise<void> }>; dispose(): Promise<void> }
export interface Llama { loadModel(o: { modelPath: string }): Promise<LlamaModel> }

export async function llamaCpp(): Promise<Llama> {
  const { getLlama } = (await import(pathToFileURL(LLAMA_CPP_ENTRY).href)) as { getLlama(o: Record<string, unknown>): Promise<Llama> };
  return getLlama({ gpu: false, build: 'never', logLevel: 'error' });
}

/** llama.cpp's next-token probabilities after each token of `ids`. */
export async function llamaCppProbabilities(llama: Llama, gguf: string, ids: number[]): Promise<Map<number, number>[]> {
  const model = await llama.loadModel({ modelPath: gguf });
  const context = await model.createContext({ contextSize: 64, batchSize: 64, threads: 2, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  try {
    const out = await context.getSequence().controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true } }]));
    return out.map((o) => o!.next.probabilities);
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

export function logSoftmaxRows(logits: Float32Array, vocab: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / vocab; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    for (let j = 0; j < vocab; j++) out[r * vocab + j] = row[j]! - lse;
  }
  return out;
}

/** The largest |log p| difference between llama.cpp's probabilities (those at least `floor`) and giftjs's log-probabilities. */
export function worstLogProbDifference(theirs: Map<number, number>[], ours: Float64Array, vocab: number, floor = 1e-4): number {
  let worst = 0;
  theirs.forEach((probs, i) => {
    for (const [token, p] of probs) if (p >= floor) worst = Math.max(worst, Math.abs(Math.log(p) - ours[i * vocab + token]!));
  });
  return worst;
}
