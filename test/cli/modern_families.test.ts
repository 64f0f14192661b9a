// The commands a user runs, on folders transformers 5.17 wrote for the modern families (Mistral with a
// sliding window shorter than the texts, Qwen2 and Qwen3 with windows on some layers, Phi-3 with its
// fused projections, Phi-3.5 and Phi-4-mini with LongRoPE (Phi-4-mini's over part of each head),
// Gemma 3, Gemma 2, Gemma, Phi-2): `gift eval` prints transformers' loss over texts + EOS, with
// and without the PEFT 0.21 LoRA adapter on every linear layer, and `gift generate` prints what
// transformers' greedy generate() decodes (tools/make_sliding_window_fixtures.py and
// tools/make_gemma_fixtures.py, tools/make_phi_longrope_fixtures.py and tools/make_phi_fixtures.py wrote
// cli_reference.json beside each folder).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

function gift(...args: string[]): string {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `gift ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const FOLDERS = ['sliding_window/mistral', 'sliding_window/qwen2', 'sliding_window/qwen3', 'sliding_window/phi3', 'phi_longrope/phi35', 'phi_longrope/phi4mini', 'gemma/gemma3', 'gemma/gemma2', 'gemma/gemma1', 'phi/phi2'];

for (const folder of FOLDERS) {
  test(`${folder}: gift eval and gift generate print what transformers computes`, () => {
    const dir = join(FIXTURES, folder);
    const ref = JSON.parse(readFileSync(join(dir, 'cli_reference.json'), 'utf8')) as { loss: number; adapter_loss?: number; prompt: string; generated: string };
    const texts = join(dir, '..', 'texts.jsonl');
    const lossOf = (...extra: string[]) => {
      const lines = gift('eval', '--model', dir, '--data', texts, '--json', ...extra).trim().split('\n');
      return (JSON.parse(lines[lines.length - 1]!) as { loss: number }).loss;
    };
    const loss = lossOf();
    assert.ok(Math.abs(loss - ref.loss) < 1e-5, `loss ${loss} vs transformers' ${ref.loss}`);
    if (ref.adapter_loss !== undefined) {
      const adapter = `${dir}-lora`;
      assert.ok(existsSync(adapter), `${adapter} holds the adapter`);
      const adapted = lossOf('--adapter', adapter);
      assert.ok(Math.abs(adapted - ref.adapter_loss) < 1e-5, `adapted loss ${adapted} vs PEFT's ${ref.adapter_loss}`);
    }
    const generated = gift('generate', '--model', dir, '--prompt', ref.prompt, '--max-new-tokens', '12');
    assert.equal(generated.replace(/\n$/, ''), ref.generated, 'greedy continuation');
  });
}

test('Phi-3 trains without --targets: its fused qkv_proj is the default, one GIFT group', () => {
  const dir = join(FIXTURES, 'sliding_window/phi3');
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-phi3-')), 'run');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', dir, '--data', join(dir, '..', 'texts.jsonl'), '--out', out, '--max-steps', '2', '--rank', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /gift group 'qkv_proj': 2 layers \(qkv_proj\), in 32, rank 4: 256 parameters/);
  assert.match(gift('inspect', dir, '--rank', '4'), /trainable on qkv_proj, rank 4:/);
});
