// llama.cpp as the decoding peer (gift bench generate --llama-cpp): the benchmark's random model
// written as a GGUF in the block type that matches its weights (int8 -> Q8_0, int4 -> Q4_0, bf16,
// f32), loaded by llama.cpp through npm's node-llama-cpp (prebuilt, installed apart from giftjs:
// GIFTJS_LLAMA_CPP, default ~/.cache/giftjs-llama-cpp), and timed as giftjs's decoding is timed: greedy
// tokens after the same prompt, the clock started at the first generated token.
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../io/atomic.js';
import { fileExists } from '../io/files.js';
import { ggufChunks, type GgufModel, type GgufOutType, type GgufValue } from '../io/gguf.js';
import type { CausalLM } from '../models/causal_lm.js';
import type { BenchDType } from './random_model.js';
import { GiftjsError } from '../errors.js';

/** The GGUF type llama.cpp reads for each benchmark dtype. */
export const LLAMA_CPP_TYPE: Record<BenchDType, GgufOutType> = { f32: 'f32', bf16: 'bf16', int8: 'q8_0', int4: 'q4_0' };

export function llamaCppEntry(): string {
  const dir = process.env.GIFTJS_LLAMA_CPP ?? join(homedir(), '.cache', 'giftjs-llama-cpp');
  return join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
}

/**
 * A SentencePiece-shaped vocabulary of `size` tokens, for a GGUF llama.cpp loads (it tokenizes
 * nothing here: the benchmark feeds ids): <unk>, <s>, </s>, the 256 byte tokens, then plain pieces.
 */
function benchVocabulary(size: number): [string, GgufValue][] {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256 && tokens.length < size; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  while (tokens.length < size) tokens.push(`\u2581t${tokens.length}`);
  const types = tokens.map((t, i) => (i === 0 ? 2 : i < 3 ? 3 : t.startsWith('<0x') ? 6 : 1));
  return [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: new Float32Array(size).map((_, i) => -i) }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: Int32Array.from(types) }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: 2 }],
  ];
}

interface Llama {
  loadModel(o: { modelPath: string }): Promise<{
    createContext(o: Record<string, unknown>): Promise<{ getSequence(): { evaluate(tokens: number[], o?: Record<string, unknown>): AsyncGenerator<number> }; dispose(): Promise<void> }>;
    dispose(): Promise<void>;
  }>;
}

/** llama.cpp with the benchmark's model loaded, to be timed as often as a comparison needs. */
export interface LlamaCppDecoder {
  /** The GGUF block type the model was written in. */
  readonly type: GgufOutType;
  /**
   * Greedy decoding after `prompt` in a fresh context: tokens per second after the first generated
   * token, over `tokens` tokens, and the prompt's prefill (up to the first generated token) in tokens per second.
   */
  decode(prompt: number[], tokens: number): Promise<{ tokensPerSecond: number; prefillTokensPerSecond: number }>;
  /** Frees llama.cpp's model and removes the GGUF file this opened. */
  close(): Promise<void>;
}

/**
 * Writes `model` as a GGUF of the block type matching `dtype` into a fresh temporary folder and loads
 * it into llama.cpp with `threads` threads. The caller closes it (the file and its folder go then).
 */
export async function openLlamaCpp(model: CausalLM, dtype: BenchDType, threads: number): Promise<LlamaCppDecoder> {
  const entry = llamaCppEntry();
  if (!fileExists(entry)) throw new GiftjsError(`node-llama-cpp is not installed at ${entry} (npm i -E node-llama-cpp@3.21.1 --prefix ~/.cache/giftjs-llama-cpp, or set GIFTJS_LLAMA_CPP)`);
  if (!model.gguf) throw new GiftjsError(`${model.config.architecture} has no GGUF form in giftjs`);
  const type = LLAMA_CPP_TYPE[dtype];
  const gguf: GgufModel = model.gguf(type);
  if (gguf.keptF32.length > 0) throw new GiftjsError(`llama.cpp peer: ${gguf.keptF32.length} matrices cannot be ${type} (rows not whole blocks of 32)`);
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-bench-gguf-'));
  const removeFile = () => rmSync(dir, { recursive: true, force: true }); // the file this function wrote, and its folder
  try {
    const path = join(dir, `bench-${type}.gguf`);
    writeFileAtomic(path, ggufChunks([...gguf.metadata, ...benchVocabulary(model.config.vocabSize)], gguf.tensors));
    gguf.tensors.length = 0; // the bytes are in the file now
    const { getLlama } = (await import(pathToFileURL(entry).href)) as { getLlama(o: Record<string, unknown>): Promise<Llama> };
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
    const loaded = await llama.loadModel({ modelPath: path });
    return {
      type,
      async decode(prompt, tokens) {
        const context = await loaded.createContext({ contextSize: prompt.length + tokens + 8, batchSize: prompt.length, threads });
        try {
          const begin = performance.now();
          let start = 0;
          let produced = 0;
          // yieldEogToken: an end-of-generation token (greedy decoding of random weights finds one) is
          // decoded on past, as giftjs's benchmark does; without it llama.cpp stopped there and the
          // few tokens made were timed as all of them (482 tokens/s where it decodes 27).
          for await (const _token of context.getSequence().evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
            if (produced === 0) start = performance.now();
            if (++produced > tokens) break;
          }
          if (produced <= tokens) throw new GiftjsError(`llama.cpp stopped after ${produced} of the ${tokens + 1} tokens asked`);
          return { tokensPerSecond: tokens / ((performance.now() - start) / 1000), prefillTokensPerSecond: prompt.length / ((start - begin) / 1000) };
        } finally {
          await context.dispose();
        }
      },
      async close() {
        try {
          await loaded.dispose();
        } finally {
          removeFile();
        }
      },
    };
  } catch (e) {
    removeFile();
    throw e;
  }
}

/** One llama.cpp decoding of `model` (see openLlamaCpp): decoding and prefill tokens per second, and the block type. */
export async function llamaCppGeneration(model: CausalLM, dtype: BenchDType, prompt: number[], tokens: number, threads: number): Promise<{ tokensPerSecond: number; prefillTokensPerSecond: number; type: GgufOutType }> {
  const peer = await openLlamaCpp(model, dtype, threads);
  try {
    return { ...(await peer.decode(prompt, tokens)), type: peer.type };
  } finally {
    await peer.close();
  }
}
