// The training step of `gift bench step` on the webgpu backend in Node (Dawn, the optional `webgpu`
// package): the same random model shape, GIFT on q_proj,v_proj, AdamW, run by gift train's trainer
// (whose every host read is asynchronous). Prints tokens/s per step and, last, one JSON line.
//
//   node bench/webgpu_step.mjs [--shape smollm2-135m] [--batch 4] [--seq 256] [--rank 64] [--steps 4]
//
// Build first (npm run build). The first step compiles the pipelines and is reported apart.
import { parseArgs } from 'node:util';
import { useBackend } from '../dist/src/backend/index.js';
import { createWebGpuBackend, requestWebGpuDevice } from '../dist/src/backend/webgpu/index.js';
import { randomBenchModel } from '../dist/src/bench/random_model.js';
import { attachAdapter } from '../dist/src/peft/adapter_io.js';
import { Random } from '../dist/src/tensor/random.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel } from '../dist/src/train/trainer.js';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'smollm2-135m' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '256' },
    rank: { type: 'string', default: '64' },
    steps: { type: 'string', default: '4' },
    layers: { type: 'string' },
  },
});
/** --name's value as a whole number >= 1, or the run is refused naming the flag. */
function positiveInteger(name) {
  const n = Number(values[name]);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1, got '${values[name]}'`);
  return n;
}
const batch = positiveInteger('batch');
const seq = positiveInteger('seq');
const rank = positiveInteger('rank');
const steps = positiveInteger('steps');
const layers = values.layers === undefined ? undefined : positiveInteger('layers');

const dawn = await import('webgpu'); // the optional Dawn package (npm install webgpu)
Object.assign(globalThis, dawn.globals);
const gpu = dawn.create([]);
const adapterInfo = (await gpu.requestAdapter())?.info;
console.log(`adapter: ${adapterInfo ? `${adapterInfo.vendor} ${adapterInfo.architecture} ${adapterInfo.device} ${adapterInfo.description}` : 'none'}`);
useBackend(createWebGpuBackend(await requestWebGpuDevice(gpu)));

const model = randomBenchModel(values.shape, 'f32', layers);
const adapter = attachAdapter(model, { method: 'gift', rank, target_modules: ['q_proj', 'v_proj'] }, 1);
const r = new Random(12345);
const examples = Array.from({ length: batch * (steps + 1) }, () => {
  const ids = Int32Array.from({ length: seq }, () => r.int(model.config.vocabSize));
  return { ids, labels: ids };
});

const times = [];
let last = performance.now();
const result = await trainModel({
  model, adapter, train: examples, heldOut: [], padId: 0,
  options: { ...DEFAULT_TRAIN_OPTIONS, maxSteps: steps + 1, batchSize: batch, gradAccum: 1, lr: 1e-4, warmupRatio: 0 },
  callbacks: {
    onStep: (log) => {
      const now = performance.now();
      times.push(now - last);
      last = now;
      console.log(`step ${log.step}: loss ${log.loss.toFixed(4)}  ${((batch * seq) / (times.at(-1) / 1000)).toFixed(1)} tokens/s (${times.at(-1).toFixed(0)} ms)`);
    },
  },
});
const timed = times.slice(1);
const mean = timed.reduce((a, b) => a + b, 0) / timed.length;
const tokensPerS = (batch * seq) / (mean / 1000);
console.log(`webgpu step (${values.shape}, ${batch} x ${seq}, GIFT r${rank}): ${tokensPerS.toFixed(1)} tokens/s over ${timed.length} steps after the first (${times[0].toFixed(0)} ms)`);
console.log(JSON.stringify({ backend: 'webgpu', shape: values.shape, batch, seq, tokens_per_s: tokensPerS, first_step_ms: times[0], losses: result.logs.map((l) => l.loss) }));
