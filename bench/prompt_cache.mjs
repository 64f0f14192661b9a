// The kept KV cache on a chat's next turn (gift serve's prompt cache): the time to the first token of a
// turn that resends a conversation of --history tokens with --turn new ones, computed afresh against
// with the cache of the turn before, alternating in one process, and the ratio.
//   node bench/prompt_cache.mjs [--shape smollm2-135m] [--history 1000] [--turn 24] [--rounds 3]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { randomBenchModel } from '../dist/src/bench/random_model.js';
import { generate } from '../dist/src/generate/generate.js';
import { PromptCache } from '../dist/src/generate/prompt_cache.js';

const { values } = parseArgs({ options: { shape: { type: 'string' }, history: { type: 'string' }, turn: { type: 'string' }, rounds: { type: 'string' } } });
const shape = values.shape ?? 'smollm2-135m';
const history = Number(values.history ?? 1000);
const turn = Number(values.turn ?? 24);
const rounds = Number(values.rounds ?? 3);
const model = randomBenchModel(shape, 'f32');
for (const p of model.parameters()) p.requiresGrad = false;
const vocab = model.config.vocabSize;
const conversation = Array.from({ length: history }, (_, i) => ((i * 7919) % (vocab - 1)) + 1);
const next = [...conversation, ...Array.from({ length: turn }, (_, i) => ((i * 104729) % (vocab - 1)) + 1)];
const kept = new PromptCache(model, history + turn + 16);
/** ms to the first new token of `prompt`. */
const firstToken = (prompt, options = {}) => {
  const start = performance.now();
  let ms = 0;
  generate(model, prompt, { maxNewTokens: 1, ...options, onToken: () => void (ms = performance.now() - start) });
  return ms;
};
firstToken(next); // warm-up
const ratios = [];
for (let r = 0; r < rounds; r++) {
  const fresh = firstToken(next);
  generate(model, conversation, { maxNewTokens: 8, promptCache: kept }); // the turn before, kept
  const cached = firstToken(next, { promptCache: kept });
  ratios.push(fresh / cached);
  console.log(`round ${r + 1}: ${shape}, a turn of ${next.length} tokens: first token afresh ${fresh.toFixed(0)} ms, with the kept cache (${kept.lastReused} reused) ${cached.toFixed(0)} ms: ${(fresh / cached).toFixed(1)}x`);
}
console.log(`kept cache / afresh, time to the first token: ${ratios.map((x) => `${x.toFixed(1)}x`).join(', ')}`);
kept.dispose();
