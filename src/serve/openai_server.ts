// An OpenAI-compatible HTTP server for one model (and its adapter), as mlx_lm.server and llama.cpp's
// server offer one: GET /v1/models, POST /v1/completions and /v1/chat/completions, whole answers or
// server-sent events (stream: true). Requests wait their turn (one generation at a time: one model,
// one KV cache); bodies and max_tokens are bounded; malformed requests get 400 with a message naming
// the field, as OpenAI's API answers them. Stop sequences end an answer before them; presence,
// frequency and repetition penalties, top_k and min_p shape the sampling; logprobs report the answer's tokens, streamed
// with the text that completes each (and with echo the prompt's, first); an answer's tokens include
// the one that ended it. A completion's prompt may be a batch (lm-eval sends one). Options giftjs does not
// implement (n > 1, tools, other servers' penalties) are refused by name, never ignored.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { CausalLM } from '../models/causal_lm.js';
import { RENDER_ARGUMENTS, type ChatMessage, type Tokenizer } from '../io/tokenizer.js';
import { generateTokens } from '../generate/generate.js';
import { TextStream } from '../generate/text_stream.js';
import { logprobsOf, type StepLogprobs } from '../generate/logprobs.js';
import { isUserSeed } from '../tensor/random.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import { GiftjsError } from '../errors.js';
import { PromptCache, PromptCaches } from '../generate/prompt_cache.js';

export interface ServeOptions {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** The id /v1/models lists and answers carry. */
  modelId: string;
  /** max_tokens when a request gives none, and the most a request may ask for. */
  defaultMaxTokens: number;
  maxTokensLimit: number;
  /** temperature when a request gives none (0: greedy, as mlx_lm.server's default). */
  defaultTemperature: number;
  /** Request bodies past this many bytes are refused (413). */
  maxBodyBytes: number;
  /**
   * The most tokens a request's prompt and answer may fill together (llama.cpp server's context size):
   * what the KV cache was sized for (gift serve estimates its memory at this length). Past it a
   * prompt is refused and an answer ends with finish_reason "length". Default: the model's context.
   */
  contextTokens?: number;
  /**
   * Keep the KV cache of the last answer for the next request, whose prompt's tokens it holds are not
   * computed again (a chat's earlier turns; a batch's shared few-shot context), as llama.cpp's server
   * and mlx_lm.server do; a request's cache_prompt: false (llama.cpp's field) computes its prompt afresh.
   * Its storage is made once for contextTokens positions, so it needs contextTokens; default: on where
   * contextTokens is given.
   */
  promptCache?: boolean;
  /**
   * How many kept caches (mlx_lm.server's --prompt-cache-size): clients taking turns between that many
   * conversations each reuse their own earlier turns (PromptCaches says which cache a prompt takes).
   * Each holds storage for contextTokens positions. Default 1.
   */
  promptCacheSize?: number;
  /**
   * Requests must carry `Authorization: Bearer <apiKey>` (llama.cpp's and vLLM's --api-key; OpenAI's
   * clients send their api_key so); others are answered 401. GET /health needs none. Default: no key.
   */
  apiKey?: string;
}

/** A request the client got wrong: answered with this status and OpenAI's error object. */
class RequestError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null) {
    super(message);
  }
}

interface Sampling {
  maxTokens: number;
  temperature: number;
  topP: number;
  /** top_k: not OpenAI's, but llama.cpp's server, mlx_lm.server and vLLM take it (0: off). */
  topK: number;
  /** min_p: likewise (0: off). */
  minP: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** repetition_penalty: not OpenAI's, but vLLM's and transformers' (every token of prompt and answer; 1: off). */
  repetitionPenalty: number;
  seed: number;
  /** Stop sequences: the answer ends before the first one (finish_reason "stop"). */
  stop: string[];
}

/** Refuses, by option, settings a caller from JavaScript can pass and the types do not stop. */
function checkServeOptions(o: ServeOptions): void {
  const whole = (name: keyof ServeOptions, v: number) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new GiftjsError(`createOpenAIServer: ${name} must be a whole number >= 1, got ${v}`);
  };
  whole('defaultMaxTokens', o.defaultMaxTokens);
  whole('maxTokensLimit', o.maxTokensLimit);
  whole('maxBodyBytes', o.maxBodyBytes);
  if (o.defaultMaxTokens > o.maxTokensLimit) throw new GiftjsError(`createOpenAIServer: defaultMaxTokens ${o.defaultMaxTokens} is past maxTokensLimit ${o.maxTokensLimit}`);
  if (!(o.defaultTemperature >= 0 && o.defaultTemperature <= 2)) throw new GiftjsError(`createOpenAIServer: defaultTemperature must be between 0 and 2 (as a request's temperature), got ${o.defaultTemperature}`);
  if (o.promptCache && o.contextTokens === undefined) throw new GiftjsError('createOpenAIServer: promptCache keeps storage for contextTokens positions: give contextTokens with it');
  if (o.apiKey !== undefined && !isHeaderSafeKey(o.apiKey)) throw new GiftjsError(`createOpenAIServer: apiKey ${API_KEY_RULE}, and not empty`);
  if (o.promptCacheSize !== undefined) {
    whole('promptCacheSize', o.promptCacheSize);
    if (o.promptCache === false || o.contextTokens === undefined) throw new GiftjsError('createOpenAIServer: promptCacheSize is how many prompt caches are kept: give it with contextTokens (and promptCache not false)');
  }
  if (o.contextTokens !== undefined) {
    whole('contextTokens', o.contextTokens);
    const modelContext = o.model.config.maxPositionEmbeddings;
    if (o.contextTokens > modelContext) throw new GiftjsError(`createOpenAIServer: contextTokens ${o.contextTokens} is past the model's context (${modelContext} tokens)`);
  }
}

export function createOpenAIServer(o: ServeOptions): Server {
  checkServeOptions(o);
  const { contextTokens } = o;
  const context = contextTokens ?? o.model.config.maxPositionEmbeddings;
  // One generation at a time: each request's work is chained after the previous one's.
  let queue: Promise<void> = Promise.resolve();
  const stops = [...new Set([...o.model.config.eosTokenIds, ...(o.tokenizer.eosTokenId !== null ? [o.tokenizer.eosTokenId] : [])])];
  const promptCaches = (o.promptCache ?? contextTokens !== undefined) ? new PromptCaches(o.model, context, o.promptCacheSize ?? 1) : null;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname.replace(/\/+$/, '');
    // A supervisor's liveness probe (llama.cpp's and vLLM's route), answered once the model is loaded, with no key.
    if (route === '/health' || route === '/v1/health') {
      if (req.method !== 'GET') throw new RequestError(405, `${route} takes GET`);
      return json(res, 200, { status: 'ok' });
    }
    if (o.apiKey !== undefined && !carriesKey(req, o.apiKey)) {
      throw new RequestError(401, 'this server needs an API key: send the header "Authorization: Bearer <key>" with the key gift serve was given (--api-key)');
    }
    const modelObject = { id: o.modelId, object: 'model', created: 0, owned_by: 'giftjs' };
    if (route === '/v1/models' || route === '/models') {
      if (req.method !== 'GET') throw new RequestError(405, `${route} takes GET`);
      return json(res, 200, { object: 'list', data: [modelObject] });
    }
    // OpenAI's retrieve-a-model route: the one model this server serves, by its id.
    const one = /^\/(?:v1\/)?models\/(.+)$/.exec(route);
    if (one) {
      if (req.method !== 'GET') throw new RequestError(405, `${route} takes GET`);
      let id: string;
      try {
        id = decodeURIComponent(one[1]!);
      } catch {
        id = one[1]!; // a malformed escape names no model
      }
      if (id !== o.modelId) throw new RequestError(404, `the model '${id}' does not exist (this server serves '${o.modelId}')`, 'model');
      return json(res, 200, modelObject);
    }
    if (route === '/tokenize' || route === '/detokenize') {
      if (req.method !== 'POST') throw new RequestError(405, `${route} takes POST`);
      const body = await readJsonBody(req, o.maxBodyBytes);
      return json(res, 200, route === '/tokenize' ? tokenized(body, o.tokenizer, context) : detokenized(body, o.tokenizer, o.model.config.vocabSize));
    }
    const chat = route === '/v1/chat/completions' || route === '/chat/completions';
    if (!chat && route !== '/v1/completions' && route !== '/completions') throw new RequestError(404, `no route ${url.pathname} (this server answers /health, /v1/models, /v1/completions, /v1/chat/completions, /tokenize and /detokenize)`);
    if (req.method !== 'POST') throw new RequestError(405, `${route} takes POST`);
    const body = await readJsonBody(req, o.maxBodyBytes);
    refuseUnsupported(body);
    const sampling = samplingOf(body, o);
    const cachePrompt = body.cache_prompt ?? true;
    if (typeof cachePrompt !== 'boolean') throw new RequestError(400, `'cache_prompt' must be true or false, got ${JSON.stringify(cachePrompt)}`, 'cache_prompt');
    // The kept cache a prompt's forward uses, chosen when its turn comes (the requests before may change which holds what).
    const keptFor = (ids: readonly number[]) => (cachePrompt && promptCaches ? promptCaches.for(ids) : null);
    const logprobs = logprobsRequest(body, chat);
    const echo = echoOf(body, chat);
    if (!chat) {
      for (const field of ['chat_template_kwargs', 'chat_template']) {
        if (body[field] !== undefined && body[field] !== null) throw new RequestError(400, `'${field}' applies to /v1/chat/completions (a completion's prompt is not rendered by the chat template)`, field);
      }
    }
    const prompts = chat
      ? [o.tokenizer.encode(renderChat(o.tokenizer, messagesOf(body), templateArgumentsOf(body)), { addSpecialTokens: false })]
      : completionPrompts(body.prompt, o.tokenizer, o.model.config.vocabSize);
    const promptParam = chat ? 'messages' : 'prompt';
    prompts.forEach((ids, i) => {
      const which = prompts.length > 1 ? ` ${i}` : '';
      if (ids.length === 0) throw new RequestError(400, `the prompt${which} is empty`, promptParam);
      if (ids.length >= context) throw new RequestError(400, `the prompt${which} is ${ids.length} tokens, ${contextTokens === undefined ? "the model's context" : "this server's context (--ctx-size)"} is ${context}`, promptParam);
    });
    const stream = body.stream === true;
    // (OpenAI streams a batch's answers interleaved by index; one prompt a streamed request here.)
    if (stream && prompts.length > 1) throw new RequestError(400, `'prompt' holds ${prompts.length} prompts; a streamed request takes one (send each on its own, or leave stream out)`, 'prompt');
    const includeUsage = includeUsageOf(body, stream);
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const object = chat ? 'chat.completion' : 'text_completion';

    /**
     * Generates one prompt's answer. Its tokens are every one generated, the stop token that ended it
     * included (as vLLM and OpenAI's completions report it: no text, a log-probability): with echo and
     * max_tokens 1, lm-eval reads the prompt's log-probabilities as all but the last entry, so an
     * answer that ended at once on EOS must still have that entry. Each step's log-probabilities
     * (where asked) go into `steps` as they come; `onToken` sees each text token as it comes;
     * returning false ends the answer (a stream's client that left).
     */
    const answer = async (ids: number[], steps: StepLogprobs[], onToken?: (produced: TextStream, piece: string) => Promise<boolean>) => {
      const produced = new TextStream(o.tokenizer, sampling.stop);
      let finish: 'stop' | 'length' = 'length';
      let endToken: number | null = null;
      let left = false;
      const keptCache = keptFor(ids);
      for (const token of generateTokens(o.model, ids, {
        maxNewTokens: Math.min(sampling.maxTokens, context - ids.length), temperature: sampling.temperature, topP: sampling.topP, topK: sampling.topK, minP: sampling.minP,
        presencePenalty: sampling.presencePenalty, frequencyPenalty: sampling.frequencyPenalty, repetitionPenalty: sampling.repetitionPenalty, seed: sampling.seed, stopTokens: stops,
        ...(keptCache ? { promptCache: keptCache } : {}),
        ...(logprobs ? { onLogits: (row: Float32Array, chosen: number) => void steps.push(logprobsOf(row, chosen, logprobs.top)) } : {}),
      })) {
        if (stops.includes(token)) {
          finish = 'stop';
          endToken = token;
          break;
        }
        const piece = produced.push(token);
        if (onToken && !(await onToken(produced, piece))) {
          left = true;
          break;
        }
        if (produced.stopped) {
          finish = 'stop';
          break;
        }
      }
      const tokens = endToken === null ? produced.tokens : [...produced.tokens, endToken];
      // The prompt's tokens taken from the kept cache (OpenAI's usage reports them as cached_tokens).
      const cached = keptCache ? keptCache.lastReused : 0;
      return { produced, finish, tokens, left, cached };
    };

    // Waits for the requests before it, then generates; a client gone meanwhile ends it early.
    const turn = queue.then(async () => {
      // A request that computes its prompt afresh releases a kept cache first (the one used longest ago):
      // no more caches are held than promptCacheSize.
      if (!cachePrompt) promptCaches?.dropLeastRecent();
      if (!stream) {
        const choices: Record<string, unknown>[] = [];
        let promptTokens = 0;
        let completionTokens = 0;
        let cachedTokens = 0;
        for (const [index, ids] of prompts.entries()) {
          const steps: StepLogprobs[] = [];
          const { produced, finish, tokens, cached } = await answer(ids, steps);
          cachedTokens += cached;
          // With echo, the prompt (decoded from its tokens) and its tokens' log-probabilities come first.
          const text = (echo ? o.tokenizer.decode(ids) : '') + produced.text();
          const reported = logprobs
            ? logprobsReport(o.tokenizer, tokens, produced.decoded, steps, chat, echo ? { ids, steps: promptLogprobs(o.model, ids, logprobs.top, keptFor(ids)) } : null)
            : null;
          choices.push(chat
            ? { index, message: { role: 'assistant', content: text }, finish_reason: finish, logprobs: reported }
            : { index, text, finish_reason: finish, logprobs: reported });
          promptTokens += ids.length;
          completionTokens += tokens.length;
        }
        json(res, 200, { id, object, created, model: o.modelId, choices, usage: usageOf(promptTokens, completionTokens, cachedTokens) });
        return;
      }
      const ids = prompts[0]!;
      let closed = false;
      res.on('close', () => (closed = true));
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      if (chat) sse(res, { id, object: 'chat.completion.chunk', created, model: o.modelId, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
      // A stream's log-probabilities: each chunk carries the tokens whose text it completes.
      const steps: StepLogprobs[] = [];
      const streamed = logprobs ? new LogprobEntries(o.tokenizer, steps) : null;
      let sentOffset = 0;
      if (echo) {
        // The prompt first, as its own chunk (with its tokens' log-probabilities); the answer's offsets follow it.
        const promptText = o.tokenizer.decode(ids);
        sse(res, chunk(false, id, created, o.modelId, promptText, null, logprobs ? logprobsObject(logprobEntries(o.tokenizer, ids, promptLogprobs(o.model, ids, logprobs.top, keptFor(ids))), false, 0) : null));
        sentOffset = promptText.length;
      }
      const chunkLogprobs = (tokens: readonly number[], produced: TextStream, all: boolean) => {
        if (!streamed) return null;
        const entries = streamed.take(tokens, produced.decoded, produced.releasedLength, all);
        const report = logprobsObject(entries, chat, sentOffset);
        sentOffset += entries.reduce((n, e) => n + e.text.length, 0);
        return entries.length > 0 || all ? report : null;
      };
      const { produced, finish, tokens, left, cached } = await answer(ids, steps, async (produced, piece) => {
        const pieceLogprobs = chunkLogprobs(produced.tokens, produced, false);
        if (piece || pieceLogprobs) sse(res, chunk(chat, id, created, o.modelId, piece, null, pieceLogprobs));
        await nextTurn(); // let the chunk reach the client (and notice one that left)
        return !closed;
      });
      if (left) return;
      // (With echo the prompt's keys were computed in this request, for its log-probabilities: none cached.)
      const usage = usageOf(ids.length, tokens.length, echo ? 0 : cached);
      sse(res, chunk(chat, id, created, o.modelId, produced.finish(), finish, chunkLogprobs(tokens, produced, true)));
      // stream_options.include_usage: OpenAI's last chunk, with no choices and the usage.
      if (includeUsage) sse(res, { id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: o.modelId, choices: [], usage });
      res.end('data: [DONE]\n\n');
    });
    queue = turn.catch(() => {});
    await turn;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof RequestError ? err.status : err instanceof GiftjsError ? 400 : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (res.headersSent) {
        // Mid-stream: the error goes out as an event, then the stream ends.
        res.end(`data: ${JSON.stringify({ error: { message, type: 'server_error' } })}\n\n`);
        return;
      }
      json(res, status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: err instanceof RequestError ? err.param : null, code: null } });
    });
  });
  // The kept cache's storage goes with the server.
  server.on('close', () => promptCaches?.dispose());
  return server;
}

/** OpenAI's usage object: tokens of the prompts and the answers, and the prompts' tokens taken from the kept cache. */
function usageOf(promptTokens: number, completionTokens: number, cachedTokens: number): Record<string, unknown> {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: cachedTokens } };
}

/** One streamed chunk; `logprobs` (OpenAI's form) where the request asked for them, else null (as OpenAI's chunks carry it). */
function chunk(chat: boolean, id: string, created: number, model: string, text: string, finish: string | null, logprobs: Record<string, unknown> | null = null): Record<string, unknown> {
  return chat
    ? { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: text ? { content: text } : {}, logprobs, finish_reason: finish }] }
    : { id, object: 'text_completion', created, model, choices: [{ index: 0, text, finish_reason: finish, logprobs }] };
}

/** What an API key may be: printable ASCII without spaces, one or more characters. */
export const API_KEY_RULE = 'must be printable ASCII without spaces (it travels in an HTTP header)';
export function isHeaderSafeKey(key: unknown): key is string {
  return typeof key === 'string' && /^[\x21-\x7e]+$/.test(key);
}

/** Whether the request's Authorization header is "Bearer <key>", compared in time that does not tell how much of it matched. */
function carriesKey(req: IncomingMessage, key: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(req.headers.authorization ?? ''), digest(`Bearer ${key}`));
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sse(res: ServerResponse, value: unknown): void {
  res.write(`data: ${JSON.stringify(value)}\n\n`);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new RequestError(413, `the request body is ${declared} bytes; this server takes at most ${limit} (--max-body)`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > limit) throw new RequestError(413, `the request body is over ${limit} bytes; this server takes at most ${limit} (--max-body)`);
    parts.push(part as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (err) {
    throw new RequestError(400, `the request body is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RequestError(400, 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Sampling settings of other servers that giftjs does not implement, each at its value that changes nothing (null: none but absent). */
const NEUTRAL_FOREIGN_SAMPLING: Record<string, unknown> = {
  repeat_penalty: 1, typical_p: 1, tfs_z: 1, mirostat: 0, min_tokens: 0, ignore_eos: false,
  grammar: null, json_schema: null, guided_json: null, guided_regex: null, guided_choice: null, guided_grammar: null,
};

/** What a request may ask that giftjs does not do: refused by name rather than silently ignored. */
function refuseUnsupported(body: Record<string, unknown>): void {
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw new RequestError(400, `'n' ${JSON.stringify(body.n)} is not supported (one choice per request)`, 'n');
  for (const field of ['tools', 'functions', 'logit_bias', 'suffix', 'best_of']) {
    const v = body[field];
    if (v !== undefined && v !== null && v !== false) throw new RequestError(400, `'${field}' is not supported`, field);
  }
  // Other servers' sampling settings (llama.cpp's, mlx_lm.server's, vLLM's), refused unless they are
  // at the value that changes nothing: ignored, each would have answered from another distribution.
  for (const [field, neutral] of Object.entries(NEUTRAL_FOREIGN_SAMPLING)) {
    const v = body[field];
    if (v === undefined || v === null || v === neutral) continue;
    throw new RequestError(400, `'${field}' ${JSON.stringify(v)} is not supported${neutral === null ? '' : ` (only ${JSON.stringify(neutral)}, which changes nothing)`}`, field);
  }
  const format = body.response_format as { type?: unknown } | undefined | null;
  if (format && format.type !== 'text') throw new RequestError(400, `'response_format' ${JSON.stringify(format.type)} is not supported (only text)`, 'response_format');
}

function samplingOf(body: Record<string, unknown>, o: ServeOptions): Sampling {
  const number = (field: string, fallback: number, ok: (v: number) => boolean, what: string): number => {
    const v = body[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new RequestError(400, `'${field}' must be ${what}, got ${JSON.stringify(v)}`, field);
    return v;
  };
  const field = body.max_completion_tokens !== undefined && body.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  // (With echo a completion may ask for no new token: the prompt scored alone, as OpenAI's API allowed.)
  const least = body.echo === true ? 0 : 1;
  const maxTokens = number(field, o.defaultMaxTokens, (v) => Number.isInteger(v) && v >= least, `a whole number of at least ${least}`);
  if (maxTokens > o.maxTokensLimit) throw new RequestError(400, `'${field}' ${maxTokens} is more than this server allows (${o.maxTokensLimit}, --max-tokens-limit)`, field);
  return {
    maxTokens,
    temperature: number('temperature', o.defaultTemperature, (v) => v >= 0 && v <= 2, 'between 0 and 2'),
    topP: number('top_p', 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    topK: number('top_k', 0, (v) => Number.isInteger(v) && v >= 0, 'a whole number >= 0 (0: off)'),
    minP: number('min_p', 0, (v) => v >= 0 && v <= 1, 'in [0, 1] (0: off)'),
    presencePenalty: number('presence_penalty', 0, (v) => v >= -2 && v <= 2, 'from -2 to 2'),
    frequencyPenalty: number('frequency_penalty', 0, (v) => v >= -2 && v <= 2, 'from -2 to 2'),
    repetitionPenalty: number('repetition_penalty', 1, (v) => v > 0, 'a number above 0 (1: off)'),
    seed: number('seed', 0, isUserSeed, 'a whole number from 0 to 4294967295 (the sampler\'s seed is 32 bits)'),
    stop: stopSequencesOf(body.stop),
  };
}

/** Whether a completion echoes its prompt (OpenAI's echo; a chat completion has none). */
function echoOf(body: Record<string, unknown>, chat: boolean): boolean {
  const v = body.echo;
  if (v === undefined || v === null || v === false) return false;
  if (chat) throw new RequestError(400, `'echo' belongs to completions, not chat completions`, 'echo');
  if (v !== true) throw new RequestError(400, `'echo' must be true or false, got ${JSON.stringify(v)}`, 'echo');
  return true;
}

/**
 * Each prompt token's log-probability given the tokens before it (null for the first), and the `top`
 * most likely there: the prompt run through a KV cache in chunks whose logits stay near 64 MB,
 * so that a long prompt over a large vocabulary never holds all its logits at once.
 */
function promptLogprobs(model: CausalLM, ids: readonly number[], top: number, kept: PromptCache | null): (StepLogprobs | null)[] {
  const out: (StepLogprobs | null)[] = [null];
  const vocab = model.config.vocabSize;
  const chunk = Math.max(1, Math.floor(64e6 / (4 * vocab)));
  // The kept cache's storage where the server keeps one (the prompt's keys then serve the next request).
  const cache = kept ? kept.empty() : model.newCache(ids.length);
  let failed = false;
  try {
    for (let start = 0; start < ids.length - 1; start += chunk) {
      const n = Math.min(chunk, ids.length - 1 - start);
      tidy(() => noGrad(() => {
        const logits = model.forward(ids.slice(start, start + n), 1, n, { cache, logitsToKeep: n }).read();
        for (let j = 0; j < n; j++) out.push(logprobsOf(logits.subarray(j * vocab, (j + 1) * vocab), ids[start + j + 1]!, top));
      }));
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    PromptCache.endUse(cache, kept, ids, failed);
  }
  return out;
}

/**
 * What a request asks of log-probabilities, or null for none: completions' `logprobs: k` (the chosen
 * token's and the k most likely), chat's `logprobs: true` with `top_logprobs: k`; k at most 20.
 */
function logprobsRequest(body: Record<string, unknown>, chat: boolean): { top: number } | null {
  const count = (field: string, v: unknown) => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 20)) throw new RequestError(400, `'${field}' must be a whole number from 0 to 20, got ${JSON.stringify(v)}`, field);
    return v;
  };
  if (!chat) {
    if (body.top_logprobs !== undefined && body.top_logprobs !== null) throw new RequestError(400, `'top_logprobs' belongs to chat completions; a completion takes logprobs: k`, 'top_logprobs');
    return body.logprobs === undefined || body.logprobs === null ? null : { top: count('logprobs', body.logprobs) };
  }
  if (body.logprobs !== undefined && body.logprobs !== null && typeof body.logprobs !== 'boolean') throw new RequestError(400, `'logprobs' must be true or false, got ${JSON.stringify(body.logprobs)}`, 'logprobs');
  const top = body.top_logprobs === undefined || body.top_logprobs === null ? 0 : count('top_logprobs', body.top_logprobs);
  if (body.logprobs !== true) {
    if (top > 0) throw new RequestError(400, `'top_logprobs' needs logprobs: true`, 'top_logprobs');
    return null;
  }
  return { top };
}

interface LogprobEntry {
  text: string;
  logprob: number | null;
  top: { text: string; logprob: number }[] | null;
}

/**
 * The tokens of a text with their steps' log-probabilities (null: a prompt's first token, which
 * nothing comes before), as entries made in order as the tokens arrive. A token's text is its part of
 * the whole decode (clean-up can take back a space once the next token comes: "5h " then "5h!"), so
 * the texts make up the decoded tokens; an alternative's is what it would have added to the text
 * before it, and the chosen token among them keeps its own text. A stream takes each token's entry
 * once its text has settled (lies inside the text it has sent); a whole answer takes them all at once.
 */
class LogprobEntries {
  /** The decode of the tokens before each token (its text begins where the whole decode keeps this). */
  private readonly before: string[] = [];
  /** Tokens whose entries were taken, and where the next one's text begins. */
  private taken = 0;
  private nextStart = 0;

  constructor(private readonly tokenizer: Tokenizer, private readonly steps: readonly (StepLogprobs | null)[]) {}

  /**
   * The entries not taken yet of the tokens `ids` (the text so far) whose text ends within the first
   * `settled` characters of `whole` (their decode); with `all`, every one left (the text is whole).
   */
  take(ids: readonly number[], whole: string, settled: number, all: boolean): LogprobEntry[] {
    while (this.before.length < ids.length) this.before.push(this.before.length === 0 ? '' : this.tokenizer.decode(ids.slice(0, this.before.length)));
    const out: LogprobEntry[] = [];
    for (let i = this.taken; i < ids.length; i++) {
      // Where the next token's text begins: the part of the decode before it that the whole keeps.
      const end = i + 1 < ids.length ? Math.max(this.nextStart, commonPrefixLength(this.before[i + 1]!, whole)) : whole.length;
      if (!all && (i + 1 >= ids.length || end > settled)) break;
      out.push(this.entry(ids, i, whole.slice(this.nextStart, end)));
      this.taken = i + 1;
      this.nextStart = end;
    }
    return out;
  }

  private entry(ids: readonly number[], i: number, text: string): LogprobEntry {
    const token = ids[i]!;
    const step = this.steps[i] ?? null;
    const alternative = (t: number) => {
      const after = this.tokenizer.decode([...ids.slice(0, i), t]);
      return after.startsWith(this.before[i]!) ? after.slice(this.before[i]!.length) : this.tokenizer.decode([t]);
    };
    return { text, logprob: step?.logprob ?? null, top: step ? step.top.map((t) => ({ text: t.token === token ? text : alternative(t.token), logprob: t.logprob })) : null };
  }
}

function commonPrefixLength(a: string, b: string): number {
  let k = 0;
  while (k < a.length && a[k] === b[k]) k++;
  return k;
}

/** Every entry of a whole text's tokens. */
function logprobEntries(tokenizer: Tokenizer, ids: readonly number[], steps: readonly (StepLogprobs | null)[], whole = tokenizer.decode(ids)): LogprobEntry[] {
  return ids.length === 0 ? [] : new LogprobEntries(tokenizer, steps).take(ids, whole, Infinity, true);
}

/**
 * The answer's tokens with their log-probabilities (after the prompt's, with echo), in OpenAI's form
 * for a completion (tokens, token_logprobs, top_logprobs, text_offset) or a chat completion (content:
 * token, logprob, bytes, top_logprobs). The answer's texts are `decoded`, its text tokens' decode
 * before any stop sequence cut it: an end token that follows them adds no text.
 */
function logprobsReport(tokenizer: Tokenizer, ids: readonly number[], decoded: string, steps: readonly StepLogprobs[], chat: boolean,
  prompt: { ids: readonly number[]; steps: readonly (StepLogprobs | null)[] } | null): Record<string, unknown> {
  return logprobsObject([...(prompt ? logprobEntries(tokenizer, prompt.ids, prompt.steps) : []), ...logprobEntries(tokenizer, ids, steps, decoded)], chat, 0);
}

/** Entries in OpenAI's form (a completion's text offsets counted from `offset`: a stream's chunk continues its text). */
function logprobsObject(entries: readonly LogprobEntry[], chat: boolean, offset: number): Record<string, unknown> {
  const bytes = (text: string) => [...new TextEncoder().encode(text)];
  if (chat) {
    return {
      content: entries.map((e) => ({ token: e.text, logprob: e.logprob, bytes: bytes(e.text), top_logprobs: (e.top ?? []).map((t) => ({ token: t.text, logprob: t.logprob, bytes: bytes(t.text) })) })),
      refusal: null,
    };
  }
  return {
    tokens: entries.map((e) => e.text),
    token_logprobs: entries.map((e) => e.logprob),
    // (As OpenAI's: the k most likely and the chosen token, by text.)
    top_logprobs: entries.map((e) => (e.top === null ? null : Object.fromEntries([...e.top.map((t) => [t.text, t.logprob]), [e.text, e.logprob]]))),
    text_offset: entries.map((e) => ((offset += e.text.length), offset - e.text.length)),
  };
}

/** Whether a streamed answer ends with a usage chunk (stream_options: { include_usage: true }). */
function includeUsageOf(body: Record<string, unknown>, stream: boolean): boolean {
  const options = body.stream_options;
  if (options === undefined || options === null) return false;
  if (!stream) throw new RequestError(400, `'stream_options' applies to streamed answers: give stream: true, or leave it out`, 'stream_options');
  const include = (options as { include_usage?: unknown }).include_usage;
  if (typeof options !== 'object' || Array.isArray(options) || !(include === undefined || typeof include === 'boolean')) {
    throw new RequestError(400, `'stream_options' must be an object whose include_usage is true or false, got ${JSON.stringify(options)}`, 'stream_options');
  }
  return include === true;
}

/** OpenAI's `stop`: a string or a list of them (none: null or absent), each at least one character. */
function stopSequencesOf(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new RequestError(400, `'stop' must be a string or a list of strings, none empty, got ${JSON.stringify(stop)}`, 'stop');
  }
  return [...new Set(list as string[])];
}

/**
 * A chat request's chat_template_kwargs (vLLM's: names for the template, such as Qwen 3's
 * enable_thinking), given to the template; vLLM's other ways of changing the prompt (its own template,
 * documents, no generation prompt, continuing the last message) are refused by name, not ignored.
 */
function templateArgumentsOf(body: Record<string, unknown>): Record<string, unknown> {
  for (const [field, neutral] of [['chat_template', null], ['documents', null], ['add_generation_prompt', true], ['continue_final_message', false]] as const) {
    const v = body[field];
    if (v !== undefined && v !== null && v !== neutral) throw new RequestError(400, `'${field}' ${JSON.stringify(v).slice(0, 100)} is not supported`, field);
  }
  const kwargs = body.chat_template_kwargs;
  if (kwargs === undefined || kwargs === null) return {};
  if (typeof kwargs !== 'object' || Array.isArray(kwargs)) throw new RequestError(400, `'chat_template_kwargs' must be an object of names for the chat template (such as {"enable_thinking": false})`, 'chat_template_kwargs');
  return kwargs as Record<string, unknown>;
}

/**
 * POST /tokenize, as llama.cpp's server and vLLM take it: llama.cpp's {"content", "add_special" (default
 * false)} or vLLM's {"prompt", "add_special_tokens" (default true)} or {"messages"} (rendered as a chat
 * completion renders them: the tokens its usage.prompt_tokens counts). The answer carries both servers'
 * fields: tokens, and vLLM's count and max_model_len (this server's context).
 */
function tokenized(body: Record<string, unknown>, tokenizer: Tokenizer, context: number): Record<string, unknown> {
  const given = ['content', 'prompt', 'messages'].filter((f) => body[f] !== undefined && body[f] !== null);
  if (given.length !== 1) throw new RequestError(400, `/tokenize takes one of 'content' (llama.cpp's), 'prompt' or 'messages' (vLLM's); got ${given.length === 0 ? 'none' : given.map((f) => `'${f}'`).join(' and ')}`);
  const flag = (field: string, fallback: boolean): boolean => {
    const v = body[field] ?? fallback;
    if (typeof v !== 'boolean') throw new RequestError(400, `'${field}' must be true or false, got ${JSON.stringify(v)}`, field);
    return v;
  };
  if (flag('with_pieces', false)) throw new RequestError(400, `'with_pieces' is not supported (the tokens' ids only)`, 'with_pieces');
  let tokens: number[];
  if (given[0] === 'messages') {
    tokens = tokenizer.encode(renderChat(tokenizer, messagesOf(body), templateArgumentsOf(body)), { addSpecialTokens: flag('add_special_tokens', false) });
  } else {
    const field = given[0]!;
    const text = body[field];
    if (typeof text !== 'string') throw new RequestError(400, `'${field}' must be a string`, field);
    tokens = tokenizer.encode(text, { addSpecialTokens: field === 'content' ? flag('add_special', false) : flag('add_special_tokens', true) });
  }
  return { tokens, count: tokens.length, max_model_len: context };
}

/** POST /detokenize {"tokens"}: their text, special tokens written out (as both servers decode), as llama.cpp's "content" and vLLM's "prompt". */
function detokenized(body: Record<string, unknown>, tokenizer: Tokenizer, vocab: number): Record<string, unknown> {
  const tokens = body.tokens;
  if (!(Array.isArray(tokens) && tokens.every((t) => Number.isInteger(t) && t >= 0 && t < vocab))) {
    throw new RequestError(400, `'tokens' must be a list of token ids, whole numbers from 0 to ${vocab - 1}`, 'tokens');
  }
  const text = tokenizer.decode(tokens as number[], { skipSpecialTokens: false });
  return { content: text, prompt: text };
}

/** The conversation rendered by the tokenizer's chat template; a template argument it refuses is the request's error. */
function renderChat(tokenizer: Tokenizer, messages: ChatMessage[], templateArguments: Record<string, unknown>): string {
  const taken = Object.keys(templateArguments).filter((k) => RENDER_ARGUMENTS.includes(k));
  if (taken.length > 0) throw new RequestError(400, `'chat_template_kwargs' may not name ${taken.map((k) => `'${k}'`).join(', ')}`, 'chat_template_kwargs');
  return tokenizer.applyChatTemplate(messages, { templateArguments });
}

function messagesOf(body: Record<string, unknown>): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new RequestError(400, `'messages' must be a non-empty list`, 'messages');
  return messages.map((m, i) => {
    const role = (m as { role?: unknown })?.role;
    const content = (m as { content?: unknown })?.content;
    if (typeof role !== 'string') throw new RequestError(400, `messages[${i}].role must be a string`, 'messages');
    // Content as a string, or OpenAI's list of text parts, joined with line breaks as vLLM joins them for a
    // template that reads content as a string (llama.cpp's server likewise, between non-empty texts).
    if (typeof content === 'string') return { role, content };
    if (Array.isArray(content) && content.every((p) => (p as { type?: unknown })?.type === 'text' && typeof (p as { text?: unknown }).text === 'string')) {
      return { role, content: content.map((p) => (p as { text: string }).text).join('\n') };
    }
    throw new RequestError(400, `messages[${i}].content must be a string or a list of text parts (images and audio are not supported)`, 'messages');
  });
}

/**
 * A completion's prompts as token ids: OpenAI's `prompt` is a string, a list of token ids, or a batch
 * (a list of strings or of token-id lists: lm-eval's local-completions sends its requests so, even
 * one at a time), each answered as its own choice.
 */
function completionPrompts(prompt: unknown, tokenizer: Tokenizer, vocab: number): number[][] {
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.every((t) => Number.isInteger(t) && t >= 0 && t < vocab);
  if (typeof prompt === 'string') return [tokenizer.encode(prompt)];
  if (Array.isArray(prompt) && prompt.length > 0) {
    if (prompt.every((t) => typeof t === 'number')) {
      if (!isIds(prompt)) throw new RequestError(400, `'prompt' as a list must hold token ids, whole numbers from 0 to ${vocab - 1}`, 'prompt');
      return [prompt];
    }
    if (prompt.every((p) => typeof p === 'string')) return prompt.map((p: string) => tokenizer.encode(p));
    if (prompt.every((p) => Array.isArray(p))) {
      if (!prompt.every(isIds)) throw new RequestError(400, `'prompt' as a batch of token-id lists must hold token ids, whole numbers from 0 to ${vocab - 1}`, 'prompt');
      return prompt as number[][];
    }
  }
  if (Array.isArray(prompt) && prompt.length === 0) throw new RequestError(400, 'the prompt is empty', 'prompt');
  throw new RequestError(400, `'prompt' must be a string, a list of token ids, or a batch: a list of strings or of token-id lists`, 'prompt');
}
