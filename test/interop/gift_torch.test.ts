// gift_torch (python/gift_torch) against giftjs and PEFT, with Debian's PyTorch (CI installs python3-torch):
// a giftjs GIFT adapter loaded by gift_torch gives giftjs's loss, merges to the same loss and unmerges
// bit for bit; an adapter gift_torch trains and saves loads in giftjs with the loss PyTorch computed;
// LoRA adapters (giftjs's and PEFT 0.21's own) give giftjs's loss and PEFT's logits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const CHECK = join(ROOT, 'python/tests/gift_torch_check.py');
const torchPresent = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = torchPresent ? false : 'PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch)';
const IDS = [[1, 40, 7, 80, 22, 5, 9, 3], [4, 12, 60, 33, 2, 71, 18, 90]];

function torchCheck(...args: string[]): Record<string, unknown> {
  const r = spawnSync(PYTHON, [CHECK, ...args, ...(args[0] === 'logits' ? [] : ['--ids', JSON.stringify(IDS)])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function giftjsLoss(model: LlamaForCausalLM): number {
  const flat = IDS.flat();
  return noGrad(() => crossEntropy(model.forward(flat, 2, 8), shiftLabels(flat, 2, 8)).item());
}

/** A giftjs adapter with train-like values on a fixture, saved; returns its folder and giftjs's loss with it. */
function savedAdapter(modelDir: string, config: Record<string, unknown>, seed: number): { dir: string; expected: number } {
  const model = LlamaForCausalLM.fromPretrained(modelDir);
  const adapter = attachAdapter(model, config, 2);
  const r = new Random(seed);
  for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 * r.normal();
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-torch-')), 'adapter');
  saveAdapter(dir, adapter, { path: modelDir, architecture: model.config.architecture });
  return { dir, expected: giftjsLoss(model) };
}

for (const fixture of ['llama-gqa', 'qwen2-bias', 'llama3-scaled-tied']) {
  test(`gift_torch reads giftjs's GIFT adapter with giftjs's loss, merges and unmerges exactly (${fixture})`, { skip }, () => {
    const modelDir = join(ROOT, 'test/fixtures/llama', fixture);
    const { dir, expected } = savedAdapter(modelDir, { method: 'gift', rank: 4, alpha: 6, target_modules: ['q_proj', 'v_proj', 'down_proj'], layers: [1] }, 8);
    const t = torchCheck('loss', '--model', modelDir, '--adapter', dir);
    assert.ok(Math.abs((t.loss as number) - expected) < 1e-5, `gift_torch ${t.loss} vs giftjs ${expected}`);
    assert.ok(Math.abs((t.merged_loss as number) - expected) < 1e-4, `merged ${t.merged_loss} vs ${expected}`);
    assert.equal(t.unmerge_exact, true);
    assert.equal(t.loss_after_unmerge, t.loss);
  });
}

test('an adapter gift_torch trains loads in giftjs with the loss PyTorch computed', { skip }, () => {
  const modelDir = join(ROOT, 'test/fixtures/llama/llama-gqa');
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-torch-')), 'adapter');
  const t = torchCheck('train', '--model', modelDir, '--config', JSON.stringify({ method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }), '--steps', '4', '--out', out);
  const losses = t.losses as number[];
  assert.ok(losses[3]! < losses[0]!, `training lowers the loss: ${losses}`);
  assert.equal(t.frozen_untouched, true);
  const model = LlamaForCausalLM.fromPretrained(modelDir);
  const adapter = loadAdapter(out, model);
  assert.equal(adapter.method, 'gift');
  assert.equal(adapter.trainableCount(), 2 * 2 * 32 * 4);
  const loss = giftjsLoss(model);
  assert.ok(Math.abs(loss - (t.loss as number)) < 1e-5, `giftjs ${loss} vs gift_torch ${t.loss}`);
});

test("gift_torch applies PEFT 0.21's own LoRA adapters (rsLoRA, rank and alpha patterns) to a transformers-5 Llama-3 folder: PEFT's logits", { skip }, () => {
  const fixtures = join(ROOT, 'test/fixtures/hf-v5');
  for (const name of ['lora-rslora', 'lora-patterns']) {
    const t = torchCheck('logits', '--model', join(fixtures, 'llama3-v5'), '--adapter', join(fixtures, name), '--reference', join(fixtures, name, 'reference.safetensors'));
    assert.ok((t.max_abs_diff as number) < 1e-4, `${name}: logits differ from PEFT's by ${t.max_abs_diff}`);
  }
  const r = spawnSync(PYTHON, [CHECK, 'logits', '--model', join(fixtures, 'llama3-v5'), '--adapter', join(fixtures, 'lora-dora'), '--reference', join(fixtures, 'lora-dora', 'reference.safetensors')], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /LoRA option 'use_dora' = True is not implemented by gift_torch/);
});

test('gift_torch refuses LoRA fields it does not know, a side file that disagrees, and NaN tensors, by name', { skip }, () => {
  const fixtures = join(ROOT, 'test/fixtures/hf-v5');
  const r = spawnSync(PYTHON, ['-c', `
import json, os, shutil, sys, tempfile
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
import torch, gift_torch
from gift_torch.llama import LlamaForCausalLM
from gift_torch.safetensors_io import load_file, save_file
src = ${JSON.stringify(join(fixtures, 'lora-rslora'))}
def variant(edit_config=None, side=None, nan=False):
    d = tempfile.mkdtemp()
    config = json.load(open(os.path.join(src, "adapter_config.json")))
    config.update(edit_config or {})
    json.dump(config, open(os.path.join(d, "adapter_config.json"), "w"))
    if side is not None:
        json.dump(side, open(os.path.join(d, "giftjs_config.json"), "w"))
    tensors = load_file(os.path.join(src, "adapter_model.safetensors"))
    if nan:
        k = sorted(tensors)[0]
        tensors[k][0, 0] = float("nan")
    save_file(tensors, os.path.join(d, "adapter_model.safetensors"))
    return d
for d in [variant({"use_frobnicate": True}), variant(side={"r": 5}), variant(nan=True), variant({"lora_alpha": float("nan")})]:
    try:
        gift_torch.load_adapter(LlamaForCausalLM.from_folder(${JSON.stringify(join(fixtures, 'llama3-v5'))}), d)
        print("accepted")
    except ValueError as e:
        print("refused:", e)
`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /refused: .*LoRA option\(s\) \['use_frobnicate'\] are unknown to gift_torch/);
  assert.match(lines[1]!, /refused: .*giftjs_config\.json: 'r' disagrees with adapter_config\.json/);
  assert.match(lines[2]!, /refused: .*hold NaN or infinite values/);
  assert.match(lines[3]!, /refused: .*'lora_alpha' must be a positive number, got nan/);
});

test("gift_torch reads giftjs's LoRA adapters (PEFT's layout) with giftjs's loss", { skip }, () => {
  const modelDir = join(ROOT, 'test/fixtures/llama/qwen2-bias');
  const { dir, expected } = savedAdapter(modelDir, { method: 'lora', rank: 3, alpha: 5, target_modules: ['q_proj', 'o_proj', 'up_proj'], layers: [0], use_rslora: true }, 4);
  const t = torchCheck('loss', '--model', modelDir, '--adapter', dir);
  assert.ok(Math.abs((t.loss as number) - expected) < 1e-5, `gift_torch ${t.loss} vs giftjs ${expected}`);
});

test('gift_torch refuses what it does not implement, by name', { skip }, () => {
  const r = spawnSync(PYTHON, ['-c', `
import sys; sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
import gift_torch
for bad in [{"method": "gift", "rank": 4, "target_modules": ["q_proj"], "use_dora": True},
            {"method": "lora", "rank": 4, "target_modules": ["q_proj"]},
            {"method": "gift", "rank": 0, "target_modules": ["q_proj"]}]:
    try:
        gift_torch.parse_config(bad)
        print("accepted", bad)
    except ValueError as e:
        print("refused:", e)
`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /refused: .*unknown field\(s\) \['use_dora'\]/);
  assert.match(lines[1]!, /refused: .*method 'lora' is not GIFT/);
  assert.match(lines[2]!, /refused: .*'rank' must be a positive integer/);
});
