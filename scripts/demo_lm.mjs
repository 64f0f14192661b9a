// npm run demo:lm: a causal language model end to end, through the library API.
// A real pretrained Llama-architecture model (stories260K, converted from ../shared) is
// fine-tuned on real English text (Moby-Dick, shipped by an npm package) with GIFT and, for
// comparison, LoRA on the same layers; held-out loss before and after, trainable parameters,
// speed, and where the adapters, logs and loss curves are.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachAdapter, buildExamples, convertLlama2c, DEFAULT_TRAIN_OPTIONS, LlamaForCausalLM, readRecords,
  saveAdapter, Tokenizer, trainModel, writeMobyDickJsonl, writeTrainingReport, generate,
} from '../dist/src/index.js';

const shared = new URL('../../shared/models/stories260K/', import.meta.url).pathname;
if (!existsSync(join(shared, 'stories260K.bin'))) {
  console.error(`demo: ${shared}stories260K.bin not found (the demo model comes from the shared folder beside the repository)`);
  process.exit(1);
}
const work = new URL('../demo-output/', import.meta.url).pathname;
mkdirSync(work, { recursive: true });
const modelDir = join(work, 'stories260K');
convertLlama2c(join(shared, 'stories260K.bin'), join(shared, 'tok512.bin'), modelDir);
const { train, valid } = writeMobyDickJsonl(join(work, 'moby-dick'), [1, 12], [13, 14]);
const tokenizer = Tokenizer.fromFolder(modelDir);
const examples = (path) => buildExamples(readRecords(path), tokenizer, { format: 'text', maxLength: 128 }).examples;
const trainSet = examples(train);
const heldOut = examples(valid);
console.log(`model: stories260K (${modelDir}); data: Moby-Dick chapters 1-12 for training (${trainSet.length} passages), 13-14 held out (${heldOut.length})`);

const results = [];
for (const config of [
  { method: 'gift', rank: 8, target_modules: ['q_proj', 'v_proj'] },
  { method: 'lora', rank: 8, alpha: 16, target_modules: ['q_proj', 'v_proj'] },
]) {
  const model = LlamaForCausalLM.fromPretrained(modelDir);
  const adapter = attachAdapter(model, config, 7);
  const out = join(work, `run-${config.method}`);
  const options = { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 60, lr: 5e-3, batchSize: 8, evalEvery: 20, seed: 7 };
  process.stdout.write(`\n${config.method}: ${adapter.trainableCount()} trainable parameters, 60 steps `);
  const r = trainModel({
    model, adapter, train: trainSet, heldOut, options, padId: tokenizer.eosTokenId ?? 0, outDir: out,
    callbacks: { onStep: (log) => log.step % 10 === 0 && process.stdout.write('.') },
  });
  saveAdapter(join(out, 'adapter'), adapter, { path: modelDir, architecture: 'LlamaForCausalLM' });
  writeTrainingReport(out, adapter, r, options, `${config.method} on stories260K, Moby-Dick`);
  const first = r.evalHistory[0].loss;
  const last = r.evalHistory[r.evalHistory.length - 1].loss;
  console.log(`\n  held-out loss ${first.toFixed(4)} -> ${last.toFixed(4)}   ${r.tokensPerSecond.toFixed(0)} tokens/s   adapter: ${join(out, 'adapter')}`);
  const sample = tokenizer.decode(generate(model, tokenizer.encode('Call me'), { maxNewTokens: 30 }));
  console.log(`  greedy after "Call me": ${JSON.stringify(sample)}`);
  results.push({ method: config.method, params: adapter.trainableCount(), first, last });
}
const [g, l] = results;
console.log(`\nGIFT trains ${g.params} parameters, LoRA ${l.params} (${(l.params / g.params).toFixed(1)}x more); held-out loss GIFT ${g.last.toFixed(4)}, LoRA ${l.last.toFixed(4)}`);
console.log(`log.jsonl, metrics and a loss-curve SVG per run are under ${work}`);
