// gift generate: text from a prompt, streamed as it is produced.
import { generate } from '../generate/generate.js';
import { TextStream } from '../generate/text_stream.js';
import { intOption, numberOption, parse, requireString } from './args.js';
import { checkActivationRounding, enableBf16Products, enableInt8Activations, loadModelWithAdapter, loadTokenizer, quantizeOption, requireModelFolder } from './model_loading.js';
import { readModelConfig } from '../models/registry.js';
import { fileSamplingNote } from '../models/generation_config.js';
import { assertFitsInMemory, memoryBudget } from '../train/memory_estimate.js';
import { GiftjsError } from '../errors.js';
import { setBf16Compute, setInt8Activations } from '../backend/index.js';
import { peakResidentBytes } from '../io/system_memory.js';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';

export const GENERATE_HELP = `gift generate --model <dir|org/name> [--adapter <dir>] --prompt <text> [--chat [--system-prompt <text>]] [--max-new-tokens N]
              [--temperature T] [--top-k K] [--top-p P] [--min-p M] [--repetition-penalty R] [--seed S] [--memory-limit SIZE]
              [--quantize int8|int4] [--int8-activations] [--bf16]

Defaults: --max-new-tokens 128, --temperature 0, --top-k 0 (off), --top-p 1 (off), --min-p 0 (off), --repetition-penalty 1
(off; transformers' repetition_penalty over the prompt's and the generated tokens, greedy or sampled), --seed 0.
The memory the model, its KV cache and a step need is estimated before loading; past what the
system has available (or --memory-limit, such as 12G) the command is refused, saying so.
--quantize int8|int4 holds every matrix quantized (int8 per output channel, int4 in Q4_0 blocks of 32).
--int8-activations computes as llama.cpp does over quantized weights (--quantize, or a Q8_0/Q4_0 GGUF):
the prompt's and each new token's activations rounded to 8 bits per block of 32, and integer dot
products. Faster (the prompt's prefill most), and an approximation: the logits move slightly, so greedy
text may differ after some tokens.
--bf16 multiplies on bf16 dot products (AVX-512 BF16): the activations rounded to bf16 and the weights
too (bf16 weights as stored), products summed in float32, as gift train --bf16 and llama.cpp over BF16
weights compute. Faster over bf16 weights (the prompt's prefill about twice), and an approximation likewise.
Prints the text generated after the prompt; then, on stderr, as mlx-lm and llama.cpp do, the prompt's
tokens and their rate (the forward that gives the first new token), the new tokens and their rate after
the first, and the process's peak resident memory. --temperature 0 (the default) is greedy, as in
mlx-lm, where a checkpoint's generation_config.json may ask transformers' generate to sample (do_sample):
then a note says so and gives the flags that sample as it asks. An empty prompt starts from the BOS token alone. --chat wraps the prompt as a user message with the
tokenizer's chat template, after --system-prompt as a system message where given (mlx-lm's flag).
--prompt - reads the prompt from stdin, as it comes to its end (mlx-lm's convention): long prompts, files.
`;

export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' }, adapter: { type: 'string' }, prompt: { type: 'string' }, chat: { type: 'boolean' }, 'system-prompt': { type: 'string' },
    'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' }, 'min-p': { type: 'string' }, 'repetition-penalty': { type: 'string' }, seed: { type: 'string' },
    'memory-limit': { type: 'string' }, quantize: { type: 'string' }, 'int8-activations': { type: 'boolean' }, bf16: { type: 'boolean' },
  });
  if (values.help) {
    console.log(GENERATE_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, GENERATE_HELP);
  if (typeof values.prompt !== 'string') throw new GiftjsError(`--prompt is required (it may be empty: --prompt ""; --prompt - reads it from stdin)\n\n${GENERATE_HELP}`);
  const prompt = values.prompt === '-' ? readStandardInput() : values.prompt;
  const config = readModelConfig(modelDir);
  const tokenizer = loadTokenizer(modelDir);
  let ids: number[];
  const system = values['system-prompt'] as string | undefined;
  if (system !== undefined && !values.chat) throw new GiftjsError('--system-prompt is a system message before the prompt in the chat template: give --chat with it');
  if (values.chat) {
    const messages = [...(system !== undefined ? [{ role: 'system', content: system }] : []), { role: 'user', content: prompt }];
    ids = tokenizer.encode(tokenizer.applyChatTemplate(messages), { addSpecialTokens: false });
  } else if (prompt === '') {
    const bos = tokenizer.bosTokenId ?? config.bosTokenId;
    if (bos === null) throw new GiftjsError(`${modelDir}: an empty prompt needs a BOS token, and neither the tokenizer nor config.json names one`);
    ids = [bos];
  } else {
    ids = tokenizer.encode(prompt);
  }
  const maxNewTokens = intOption(values['max-new-tokens'], 'max-new-tokens', 128);
  const temperature = numberOption(values.temperature, 'temperature', 0);
  // Greedy decoding samples nothing: the sampling settings would be read by nothing (they had been ignored).
  for (const flag of ['top-k', 'top-p', 'min-p', 'seed']) {
    if (temperature === 0 && values[flag] !== undefined) throw new GiftjsError(`--${flag} shapes sampling, and --temperature 0 (the default) decodes greedily: give --temperature above 0, or leave out --${flag}`);
  }
  if (values.temperature === undefined) {
    const note = fileSamplingNote(modelDir, 'gift generate decodes greedily unless --temperature is given (as mlx-lm does)', 'flags');
    if (note) console.error(note);
  }
  // A prompt past the context is refused here (the forward's own refusal names gift train's
  // --max-length); one that leaves fewer positions than --max-new-tokens ends at the context, said first.
  const context = config.maxPositionEmbeddings;
  if (ids.length > context) throw new GiftjsError(`the prompt is ${ids.length} tokens: ${ids.length} positions exceed this model's context (max_position_embeddings ${context}), as ${modelDir}/config.json says: shorten the prompt`);
  if (ids.length + maxNewTokens > context) console.error(`note: the prompt's ${ids.length} tokens and --max-new-tokens ${maxNewTokens} pass the model's context (${context}): generation ends there, after ${context - ids.length + 1} tokens at most`);
  // Memory known before it is spent: the weights, the KV cache for the whole text, the prompt's forward.
  const length = Math.min(context, ids.length + maxNewTokens);
  const quantize = quantizeOption(values.quantize);
  checkActivationRounding(values);
  // (A shorter text is fewer new tokens after the prompt: gift generate has no --max-length.)
  assertFitsInMemory(modelDir, { command: 'generate', batch: 1, length, promptTokens: ids.length, quantize }, memoryBudget(values['memory-limit'] as string | undefined), 'gift generate', 'flags',
    (shorter) => (shorter > ids.length ? `--max-new-tokens ${shorter - ids.length}` : null));
  const { model } = loadModelWithAdapter(modelDir, values.adapter as string | undefined, { readOnly: true, decodes: true, quantize });
  if (values['int8-activations']) enableInt8Activations(model, modelDir);
  if (values.bf16) enableBf16Products('gift generate');
  const stops = [...model.config.eosTokenIds];
  if (tokenizer.eosTokenId !== null) stops.push(tokenizer.eosTokenId);
  const text = new TextStream(tokenizer);
  const start = performance.now();
  let firstAt = start;
  let made = 0;
  try {
    generate(model, ids, {
      maxNewTokens,
      temperature,
      topK: intOption(values['top-k'], 'top-k', 0, 0),
      topP: numberOption(values['top-p'], 'top-p', 1),
      minP: numberOption(values['min-p'], 'min-p', 0),
      repetitionPenalty: numberOption(values['repetition-penalty'], 'repetition-penalty', 1),
      seed: intOption(values.seed, 'seed', 0, 0),
      stopTokens: stops,
      // Printed a word at a time, as it settles (generate/text_stream.ts).
      onToken: (t, i) => {
        if (i === 0) firstAt = performance.now();
        made++;
        process.stdout.write(text.push(t));
      },
    });
  } finally {
    setInt8Activations(false);
    setBf16Compute(false);
  }
  const end = performance.now();
  process.stdout.write(`${text.finish()}\n`);
  console.error(generationSummary(ids.length, firstAt - start, made, end - firstAt, peakResidentBytes()));
  return 0;
}

/** --prompt -: all of stdin, as it is (a final newline included, as mlx-lm reads it). */
function readStandardInput(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    throw new GiftjsError(`--prompt -: cannot read the prompt from stdin (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * The line gift generate ends with on stderr: the prompt's tokens over the time to the first new token,
 * the new tokens and the rate of those after the first (the first ends the prompt's forward), and the
 * peak resident memory.
 */
export function generationSummary(promptTokens: number, promptMs: number, newTokens: number, afterFirstMs: number, peakBytes: number): string {
  const rate = (tokens: number, ms: number) => (ms > 0 ? `${((1000 * tokens) / ms).toFixed(1)} tokens/s` : 'no time measured');
  const plural = (n: number) => `${n} token${n === 1 ? '' : 's'}`;
  const prompt = `prompt: ${plural(promptTokens)}` + (newTokens > 0 ? `, ${rate(promptTokens, promptMs)}` : '');
  const generation = `generation: ${plural(newTokens)}` + (newTokens > 1 ? `, ${rate(newTokens - 1, afterFirstMs)} after the first` : '');
  return `${prompt}; ${generation}; peak memory ${(peakBytes / 1e6).toFixed(0)} MB`;
}
