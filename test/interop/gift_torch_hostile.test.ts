// gift_torch against hostile adapters (python/tests/hostile_check.py, Debian's PyTorch): a failed load
// leaves the model exactly as it was (parameters, hooks, outputs) and can be retried; a second load is
// refused instead of doubling the adapter; merge and save refuse non-finite results; every failure is
// a GiftTorchError, never a raw RuntimeError, re.error or FileExistsError.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const torchPresent = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = torchPresent ? false : 'PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch)';

test('gift_torch loads are all or nothing, and every failure is one error class', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-torch-hostile-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
  const train = (out: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'train', '--model', MODEL, '--data', data, '--out', out, '--max-steps', '2', '--batch-size', '2', '--lr', '1e-2', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return join(out, 'adapter');
  };
  const gift = train(join(dir, 'gift'), '--rank', '4');
  const lora = train(join(dir, 'lora'), '--method', 'lora', '--rank', '4');
  const r = spawnSync(PYTHON, [join(ROOT, 'python/tests/hostile_check.py'), '--model', MODEL, '--gift', gift, '--lora', lora], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Record<string, string | boolean>>;
  const expected: Record<string, RegExp> = {
    gift_missing_tensor: /the adapter has no tensor 'gift\.\w+\.psi'/,
    gift_nan_tensor: /tensor 'gift\.\w+\.phi' holds NaN or infinite values/,
    lora_missing_tensor: /no lora_A \/ lora_B for/,
    lora_nan_tensor: /the LoRA tensors of .* hold NaN or infinite values/,
    lora_bad_regex: /target_modules '\(q_proj' is not a regular expression Python can read/,
    lora_nested_regex: /target_modules '\(\.\*\)\*q_proj': \(\.\*\)\* repeats a group that itself repeats without bound/,
    gift_nested_regex: /target_modules '\(\.\*\)\*q_proj': \(\.\*\)\* repeats a group/,
  };
  for (const [name, message] of Object.entries(expected)) {
    const c = out[name]!;
    assert.match(String(c.error), /^GiftTorchError: /, `${name}: ${c.error}`);
    assert.match(String(c.error), message, name);
    assert.equal(c.unchanged, true, `${name}: the model is as it was (parameters, hooks, outputs)`);
    assert.equal(c.retry, 'ok', `${name}: a good adapter loads after the failure`);
  }
  for (const kind of ['lora', 'gift']) {
    assert.match(String(out[`${kind}_twice`]!.error), /^GiftTorchError: this model already has (a GIFT adapter|an adapter)/, kind);
    assert.equal(out[`${kind}_twice`]!.same_output, true, `${kind}: not doubled`);
  }
  assert.match(String(out.merge_overflow!.error), /^GiftTorchError: merge: the merged weight of .* holds NaN or infinite values .* nothing was merged/);
  assert.equal(out.merge_overflow!.weights_unchanged, true);
  assert.match(String(out.save_nan!.error), /^GiftTorchError: .*the adapter was not written: .* hold NaN or infinite values/);
  assert.equal(out.save_nan!.written, false);
  assert.match(String(out.save_onto_file!.error), /^GiftTorchError: .*a-file exists and is not a folder/);
  assert.equal(out.save_onto_file!.file_kept, true);
});
