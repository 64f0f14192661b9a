// gift serve: an OpenAI-compatible server for one model and an optional adapter (serve/openai_server.ts).
import { intOption, numberOption, parse } from './args.js';
import { checkActivationRounding, enableBf16Products, enableInt8Activations, loadModelWithAdapter, loadTokenizer, quantizeOption, requireModelFolder } from './model_loading.js';
import { setBf16Compute, setInt8Activations } from '../backend/index.js';
import { readModelConfig } from '../models/registry.js';
import { fileSamplingNote } from '../models/generation_config.js';
import { assertFitsInMemory, memoryBudget } from '../train/memory_estimate.js';
import { API_KEY_RULE, createOpenAIServer, isHeaderSafeKey } from '../serve/openai_server.js';
import { basename } from 'node:path';
import { GiftjsError } from '../errors.js';

export const SERVE_HELP = `gift serve --model <dir|file.gguf|org/name> [--adapter <dir>] [--host 127.0.0.1] [--port 8080]
           [--max-tokens N] [--max-tokens-limit N] [--temperature T] [--max-body BYTES] [--quantize int8|int4]
           [--int8-activations] [--bf16] [--ctx-size N] [--prompt-cache-size N] [--api-key KEY]

An OpenAI-compatible API, as mlx_lm.server's: GET /v1/models, POST /v1/completions and
/v1/chat/completions (the tokenizer's chat template), answered whole or streamed as server-sent
events (stream: true). One request generates at a time; the others wait their turn.
Defaults: --host 127.0.0.1 (this machine only), --port 8080, --max-tokens 512 (a request's default
max_tokens), --max-tokens-limit 4096 (the most a request may ask), --temperature 0 (greedy when a
request gives none), --max-body 1048576. A request's stop sequences (stop: a string or a list) end
its answer before the first one; presence_penalty, frequency_penalty, repetition_penalty, top_k,
top_p, min_p, seed, logprobs and a completion's echo are taken, whole or streamed. n > 1, tools and
other servers' settings that change the answer (llama.cpp's repeat_penalty, typical_p, mirostat,
grammars, ...) are refused with a 400 naming them. --ctx-size N: the most tokens a request's prompt
and answer fill together, as llama.cpp's server takes it (default: the model's context, at most 8192);
the memory of a KV cache that long is estimated before loading, and a longer prompt is answered 400.
The KV cache of an answer is kept for the next request, whose prompt computes only what it does not
share with it (a chat's earlier turns; cache_prompt: false, llama.cpp's field, computes it afresh).
--prompt-cache-size N keeps N such caches (mlx_lm.server's flag; default 1), each --ctx-size long and
estimated: clients taking turns between N conversations each reuse their own (a prompt takes the cache
whose kept tokens it continues, at least a tenth of them as llama.cpp's slots ask, else the one used
longest ago). --api-key KEY (or the environment's GIFTJS_API_KEY, out of the process list): requests
must carry "Authorization: Bearer KEY", as OpenAI's clients send their api_key (llama.cpp's and vLLM's
flag); others get 401. GET /health answers {"status": "ok"} to anyone once the model is loaded.
POST /tokenize and /detokenize take llama.cpp's and vLLM's bodies (content; prompt or messages; tokens). Runs until interrupted (Ctrl-C). --int8-activations computes over quantized
weights as llama.cpp does, --bf16 on bf16 dot products (gift generate --help says what each changes).
`;

/** Hosts that only this machine reaches. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' }, adapter: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
    'max-tokens': { type: 'string' }, 'max-tokens-limit': { type: 'string' }, temperature: { type: 'string' }, 'max-body': { type: 'string' },
    quantize: { type: 'string' }, 'memory-limit': { type: 'string' }, 'ctx-size': { type: 'string' }, 'prompt-cache-size': { type: 'string' }, 'api-key': { type: 'string' }, 'int8-activations': { type: 'boolean' }, bf16: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, SERVE_HELP);
  const host = (values.host as string | undefined) ?? '127.0.0.1';
  const port = intOption(values.port, 'port', 8080, 0);
  if (port > 65535) throw new GiftjsError(`--port must be at most 65535, got ${port}`);
  const defaultMaxTokens = intOption(values['max-tokens'], 'max-tokens', 512);
  const maxTokensLimit = intOption(values['max-tokens-limit'], 'max-tokens-limit', 4096);
  if (defaultMaxTokens > maxTokensLimit) throw new GiftjsError(`--max-tokens ${defaultMaxTokens} is more than --max-tokens-limit ${maxTokensLimit}`);
  const defaultTemperature = numberOption(values.temperature, 'temperature', 0);
  if (defaultTemperature > 2) throw new GiftjsError(`--temperature must be between 0 and 2 (as a request's temperature), got ${defaultTemperature}`);
  const maxBodyBytes = intOption(values['max-body'], 'max-body', 1 << 20);
  const quantize = quantizeOption(values.quantize);
  checkActivationRounding(values);
  const config = readModelConfig(modelDir);
  if (values.temperature === undefined) {
    const note = fileSamplingNote(modelDir, 'gift serve samples as each request asks, and decodes greedily where a request gives no temperature (--temperature 0, the default; as mlx_lm.server does)', 'request fields');
    if (note) console.error(note);
  }
  const tokenizer = loadTokenizer(modelDir);
  // Memory known before it is spent: the weights and a KV cache for the whole context a request may
  // fill, which the server then holds requests to (it had estimated 8192 tokens and let a request fill
  // the model's whole context, 131072 on Llama 3.2).
  const contextTokens = intOption(values['ctx-size'], 'ctx-size', Math.min(config.maxPositionEmbeddings, 8192), 1);
  if (contextTokens > config.maxPositionEmbeddings) throw new GiftjsError(`--ctx-size ${contextTokens} is past the model's context (${config.maxPositionEmbeddings} tokens, config.json max_position_embeddings)`);
  const promptCacheSize = intOption(values['prompt-cache-size'], 'prompt-cache-size', 1, 1);
  const apiKey = (values['api-key'] as string | undefined) ?? (process.env.GIFTJS_API_KEY || undefined);
  if (apiKey !== undefined && !isHeaderSafeKey(apiKey)) throw new GiftjsError(`${values['api-key'] !== undefined ? '--api-key' : 'GIFTJS_API_KEY'} ${API_KEY_RULE}`);
  assertFitsInMemory(modelDir, { command: 'generate', batch: 1, length: contextTokens, kvCaches: promptCacheSize, quantize }, memoryBudget(values['memory-limit'] as string | undefined), 'gift serve', 'flags',
    (shorter) => `--ctx-size ${shorter}`);
  const { model } = loadModelWithAdapter(modelDir, values.adapter as string | undefined, { readOnly: true, decodes: true, quantize });
  if (values['int8-activations']) enableInt8Activations(model, modelDir);
  if (values.bf16) enableBf16Products('gift serve');
  const modelId = basename(String(values.model).replace(/\/+$/, '')) + (values.adapter ? `+${basename(String(values.adapter).replace(/\/+$/, ''))}` : '');
  const server = createOpenAIServer({ model, tokenizer, modelId, defaultMaxTokens, maxTokensLimit, defaultTemperature, maxBodyBytes, contextTokens, promptCacheSize, ...(apiKey !== undefined ? { apiKey } : {}) });
  // Ctrl-C and SIGTERM close the server, handled from before it listens: installed after the line that
  // says it is serving, a supervisor's SIGTERM sent on reading that line could land first and kill the
  // process by the signal's default action (1 run in 8 here).
  const stopped = new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new GiftjsError(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (choose another with --port)' : err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  console.error(`serving ${modelId} at http://${host}:${bound}/v1${apiKey !== undefined ? ' (requests need the API key)' : ''} (Ctrl-C stops)`);
  if (apiKey === undefined && !LOOPBACK_HOSTS.has(host)) console.error(`note: --host ${host} answers anyone who can reach this machine, and no --api-key is set`);
  await stopped;
  setInt8Activations(false);
  setBf16Compute(false);
  return 0;
}
