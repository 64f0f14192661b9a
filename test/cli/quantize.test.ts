// --quantize on a real pretrained model, as a user runs it: stories260K (converted from ../shared,
// then written in bf16 as checkpoints of its size are) against Moby-Dick. The quantized bases stay
// close to the bf16 one (int8 within 0.01 of its held-out loss, int4 within 0.1), GIFT trained on
// the int4 base lowers the loss as on bf16, and merging onto the quantized base gives the adapted
// model's loss.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { convertLlama2c } from '../../src/io/llama2c.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { writeMobyDickJsonl } from '../../src/data/corpora.js';
import { exportPretrained } from '../../src/models/export.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { needsShared, sharedFile } from '../helpers.js';
import { copyFileSync } from 'node:fs';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const skip = needsShared('models/stories260K/stories260K.bin');

let made: { dir: string; bf16: string; train: string; valid: string } | null = null;
function setup() {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-quantize-'));
  const f32 = join(dir, 'stories260K');
  convertLlama2c(sharedFile('models/stories260K/stories260K.bin'), sharedFile('models/stories260K/tok512.bin'), f32);
  const bf16 = join(dir, 'stories260K-bf16');
  exportPretrained(LlamaForCausalLM.fromPretrained(f32), bf16, 'BF16');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(f32, f), join(bf16, f));
  const { train, valid } = writeMobyDickJsonl(join(dir, 'moby'), [1, 12], [13, 14]);
  return (made = { dir, bf16, train, valid });
}

function gift(...args: string[]): { code: number; out: string; err: string; json: Record<string, unknown> } {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr, json: last.startsWith('{') ? JSON.parse(last) : {} };
}

function evalLoss(model: string, ...extra: string[]): number {
  const r = gift('eval', '--model', model, '--data', setup().valid, '--json', ...extra);
  assert.equal(r.code, 0, r.err);
  return r.json.loss as number;
}

test('stories260K: the int8 base is within 0.01 of the bf16 base\'s held-out loss, the int4 base within 0.1', { skip }, () => {
  const { bf16 } = setup();
  const base = evalLoss(bf16);
  const int8 = evalLoss(bf16, '--quantize', 'int8');
  const int4 = evalLoss(bf16, '--quantize', 'int4');
  assert.ok(Math.abs(int8 - base) < 0.01 && int8 !== base, `int8 ${int8} vs bf16 ${base}`);
  assert.ok(Math.abs(int4 - base) < 0.1 && Math.abs(int4 - base) > Math.abs(int8 - base), `int4 ${int4} vs bf16 ${base}`);
});

test('stories260K: GIFT trained on the int4 base lowers the held-out loss as on bf16; merged onto that base it gives the adapted loss', { skip }, () => {
  const s = setup();
  const run = (name: string, ...extra: string[]) => {
    const out = join(s.dir, name);
    const r = gift('train', '--model', s.bf16, '--data', s.train, '--eval-data', s.valid, '--out', out, '--batch-size', '8', '--max-length', '128',
      '--lr', '5e-3', '--seed', '7', '--rank', '8', '--max-steps', '30', '--eval-every', '30', ...extra, '--json');
    assert.equal(r.code, 0, r.err);
    const h = r.json.held_out_history as { loss: number }[];
    return { out, drop: h[0]!.loss - h[h.length - 1]!.loss, end: h[h.length - 1]!.loss, err: r.err };
  };
  const bf16 = run('gift-bf16');
  const int4 = run('gift-int4', '--quantize', 'int4');
  assert.match(int4.err, /int4 quantized: 36 matrices, 0\.\d MB/); // 5 layers x 7, and the tied embedding
  assert.ok(int4.drop > 0.6 * bf16.drop && bf16.drop > 0.2, `held-out loss drop: int4 ${int4.drop}, bf16 ${bf16.drop}`);

  // The adapter on the quantized base, then merged onto it: bf16 weights from the dequantized ones.
  const adapted = evalLoss(s.bf16, '--adapter', join(int4.out, 'adapter'), '--quantize', 'int4', '--max-length', '128'); // as the run cut them
  assert.ok(Math.abs(adapted - int4.end) < 1e-4, `eval ${adapted} vs the run's last held-out loss ${int4.end}`);
  const merged = join(s.dir, 'merged-int4');
  const m = gift('merge', '--model', s.bf16, '--adapter', join(int4.out, 'adapter'), '--out', merged, '--quantize', 'int4');
  assert.equal(m.code, 0, m.err);
  assert.match(m.out, /the base was quantized \(int4\): every weight is written in bf16 from its dequantized values/);
  const file = SafetensorsFile.open(join(merged, 'model.safetensors'));
  assert.equal(file.info('model.layers.0.self_attn.q_proj.weight').dtype, 'BF16');
  file.close();
  const mergedLoss = evalLoss(merged, '--max-length', '128');
  assert.ok(Math.abs(mergedLoss - adapted) < 0.01, `merged ${mergedLoss} vs adapted ${adapted} (the difference is the bf16 rounding of the merged weights)`);
});

test('--quantize is refused by name where it cannot apply', { skip }, () => {
  const s = setup();
  const full = gift('train', '--model', s.bf16, '--data', s.train, '--out', join(s.dir, 'full'), '--method', 'full', '--quantize', 'int8');
  assert.notEqual(full.code, 0);
  assert.match(full.err, /--quantize freezes the base model's matrices, and --method full trains them; use gift, lora or bitfit/);
  const bad = gift('generate', '--model', s.bf16, '--prompt', 'Once', '--quantize', 'int2');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--quantize must be int8 or int4, got 'int2'/);
  const gen = gift('generate', '--model', s.bf16, '--prompt', 'Once upon a time', '--max-new-tokens', '8', '--quantize', 'int8');
  assert.equal(gen.code, 0, gen.err);
  assert.ok(gen.out.trim().length > 0);
});

test('gift generate --int8-activations decodes over a quantized base, and is refused by name where no weight is quantized', { skip }, () => {
  const s = setup();
  const refused = gift('generate', '--model', s.bf16, '--prompt', 'Once', '--int8-activations');
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /--int8-activations rounds the activations of products over quantized weights, and no weight of .*stories260K-bf16 is quantized: add --quantize int8\|int4, or give a Q8_0 \/ Q4_0 GGUF/);
  for (const quantize of ['int8', 'int4']) {
    const gen = gift('generate', '--model', s.bf16, '--prompt', 'Once upon a time', '--max-new-tokens', '16', '--quantize', quantize, '--int8-activations');
    assert.equal(gen.code, 0, gen.err);
    assert.ok(gen.out.trim().length > 0, `${quantize}: text`);
  }
});
