// The KV cache of one generation kept for the next, as llama.cpp's server (cache_prompt) and
// mlx_lm.server keep theirs: a chat client resends the whole conversation each turn, and a prompt that
// begins with the tokens the cache holds prefills only the rest. The keys and values reused are those
// the same tokens made at the same positions; a fresh prefill computes them in one batch rather than
// token by token, so the logits agree to rounding, not bit for bit.
import type { CausalLM, KVCache } from '../models/causal_lm.js';
import { GiftjsError } from '../errors.js';

export class PromptCache {
  private cache: KVCache | null = null;
  /** The tokens whose keys and values the cache holds, in order. */
  private tokens: number[] = [];
  /** Positions the last generation took from the cache rather than computing (for reports and tests). */
  lastReused = 0;

  /**
   * @param capacity positions of storage, made once at the first use: the most a generation may fill
   * (a server's context), so that the cache never grows past the memory estimated for it.
   */
  constructor(private readonly model: CausalLM, private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new GiftjsError(`PromptCache: capacity must be a whole number of positions >= 1, got ${capacity}`);
  }

  /**
   * The cache for a generation from `prompt`, holding the longest prefix of it that the kept tokens
   * share, up to all but its last token (whose logits the generation needs): the generation feeds
   * prompt.slice(cache.length). Keys made for one text's length (LongRoPE) are not reused.
   */
  take(prompt: readonly number[]): KVCache {
    if (prompt.length > this.capacity) throw new GiftjsError(`PromptCache: a prompt of ${prompt.length} tokens is past its capacity of ${this.capacity} positions`);
    const shared = this.reusable(prompt);
    if (shared === 0) return this.empty();
    // Positions past `shared` are written over by the prompt's rest.
    this.cache!.length = shared;
    this.tokens = this.tokens.slice(0, shared);
    this.lastReused = shared;
    return this.cache!;
  }

  /** How many of the prompt's positions take() would reuse (all but its last token at most). */
  reusable(prompt: readonly number[]): number {
    if (!this.cache || this.cache.lengthDependentKeys) return 0;
    const most = Math.min(this.tokens.length, this.cache.length, prompt.length - 1);
    let shared = 0;
    while (shared < most && this.tokens[shared] === prompt[shared]) shared++;
    return shared;
  }

  /** The tokens whose keys and values the cache holds. */
  get keptLength(): number {
    return this.cache ? Math.min(this.tokens.length, this.cache.length) : 0;
  }

  /**
   * The cache emptied, for a forward over a whole text from its first token (a prompt's log-probabilities
   * at every position), recorded by keep() after it: its storage serves rather than a second cache's.
   */
  empty(): KVCache {
    this.cache ??= this.model.newCache(this.capacity);
    this.cache.reset();
    this.tokens = [];
    this.lastReused = 0;
    return this.cache;
  }

  /** After a generation: `tokens` (the text so far) begin with those the cache now holds. */
  keep(tokens: readonly number[]): void {
    if (!this.cache) return;
    if (tokens.length < this.cache.length) throw new GiftjsError(`PromptCache: ${tokens.length} tokens given for a cache of ${this.cache.length} positions`);
    this.tokens = tokens.slice(0, this.cache.length);
  }

  /**
   * The end of one use of a KV cache, this prompt cache's or (where `kept` is null) one made for the use
   * alone: the kept cache records `text`, the tokens so far, or is dropped where the use failed midway;
   * a cache of its own is released.
   */
  static endUse(cache: KVCache, kept: PromptCache | null | undefined, text: readonly number[], failed: boolean): void {
    if (!kept) cache.dispose();
    else if (failed) kept.drop();
    else kept.keep(text);
  }

  /**
   * After a generation that failed midway (its cache may hold part of a forward), or before one made
   * without it (its storage released first, so that two caches are never held): nothing is reused.
   */
  drop(): void {
    this.cache?.dispose();
    this.tokens = [];
  }

  dispose(): void {
    this.drop();
    this.cache = null;
  }
}

/**
 * Several kept caches, as mlx_lm.server's --prompt-cache-size and llama.cpp's slots hold: a server whose
 * clients take turns between conversations reuses each one's earlier turns rather than only the last
 * text's. A prompt goes to the cache whose kept tokens it continues furthest, where it shares at least
 * a tenth of them (llama.cpp's --slot-prompt-similarity default, 0.1: a new conversation that shares
 * only a system prompt does not take a long one's place); else to the cache used longest ago. One that
 * parts from the text it shares most with takes an unused cache while one is left. Each
 * cache makes its storage (`capacity` positions) at its first use: `size` of them at most.
 */
export class PromptCaches {
  /** Least recently used first. */
  private readonly order: PromptCache[];

  constructor(model: CausalLM, capacity: number, size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new GiftjsError(`PromptCaches: size must be a whole number of caches >= 1, got ${size}`);
    this.order = Array.from({ length: size }, () => new PromptCache(model, capacity));
  }

  /** The cache for a generation from `prompt` (then take() or empty() it), now the most recently used. */
  for(prompt: readonly number[]): PromptCache {
    let chosen = this.order[0]!;
    let best = 0;
    for (const cache of this.order) {
      const shared = cache.reusable(prompt);
      if (shared > best && shared >= SIMILARITY * cache.keptLength) {
        best = shared;
        chosen = cache;
      }
    }
    // A prompt that parts from the text it shares most with (rather than continuing it, or lying within
    // it as a regenerated answer's does) would lose that text: an unused cache takes it while one is left.
    const parts = best > 0 && best < Math.min(chosen.keptLength, prompt.length - 1);
    const unused = this.order.find((cache) => cache.keptLength === 0);
    if (parts && unused) chosen = unused;
    this.order.splice(this.order.indexOf(chosen), 1);
    this.order.push(chosen);
    return chosen;
  }

  /** Releases the storage of the cache used longest ago (before a generation made without these). */
  dropLeastRecent(): void {
    this.order[0]!.drop();
  }

  dispose(): void {
    for (const cache of this.order) cache.dispose();
  }
}

/** The least share of a cache's kept tokens a prompt must continue to be given that cache (llama.cpp's default). */
const SIMILARITY = 0.1;
