// The strict loader every family uses: each rule on a small module and a real safetensors folder.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withCheckpoint } from '../../src/io/hf_folder.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { loadStateDict } from '../../src/models/load_state_dict.js';
import { Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { Tensor } from '../../src/tensor/tensor.js';

class Tiny extends Module {
  readonly body = this.child('body', new Linear(3, 2, null));
  readonly classifier = this.child('classifier', new Linear(2, 4, null));
}

function folder(tensors: Record<string, Tensor>): string {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-state-dict-'));
  saveSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  return dir;
}
const iota = (shape: number[], from = 0) => Tensor.fromArray(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => from + i), shape);

test('loadStateDict: exact shapes, optional heads, renames, fused rows, ignored and unused tensors', () => {
  const full = { 'body.weight': iota([2, 3]), 'body.bias': iota([2], 10), 'classifier.weight': iota([4, 2], 20), 'classifier.bias': iota([4], 30) };
  const m = new Tiny();
  const r = withCheckpoint(folder(full), (reader) => loadStateDict(m, reader, { what: 'Tiny' }));
  assert.deepEqual(Array.from(m.classifier.bias!.data), [30, 31, 32, 33]);
  assert.deepEqual(r.missing, []);
  assert.equal(r.dtypes.get('body.weight'), 'F32');

  // A head of another size is optional: left as built, reported, and its tensor is not "unused".
  const otherHead = { ...full, 'classifier.weight': iota([5, 2]), 'classifier.bias': iota([5]) };
  const fresh = new Tiny();
  const r2 = withCheckpoint(folder(otherHead), (reader) => loadStateDict(fresh, reader, { what: 'Tiny', optional: (n) => n.startsWith('classifier.') }));
  assert.deepEqual(r2.missing, ['classifier.weight', 'classifier.bias']);
  assert.throws(() => withCheckpoint(folder(otherHead), (reader) => loadStateDict(new Tiny(), reader, { what: 'Tiny' })),
    /tensor 'classifier\.weight' has shape \[5, 2\], the config implies \[4, 2\]/);

  // Missing without an alternative, and a tensor nothing reads.
  const { 'body.bias': _, ...noBias } = full;
  void _;
  assert.throws(() => withCheckpoint(folder(noBias), (reader) => loadStateDict(new Tiny(), reader, { what: 'Tiny' })), /no tensor 'body\.bias', which Tiny needs/);
  const extra = { ...full, 'rotary.inv_freq': iota([3]) };
  assert.throws(() => withCheckpoint(folder(extra), (reader) => loadStateDict(new Tiny(), reader, { what: 'Tiny' })), /tensors Tiny does not use: rotary\.inv_freq/);
  withCheckpoint(folder(extra), (reader) => loadStateDict(new Tiny(), reader, { what: 'Tiny', ignore: (n) => n.endsWith('inv_freq') }));

  // Renames (the first candidate present wins) and rows of a fused tensor.
  const fused = { 'w.bias': iota([2], 10), 'qkv': iota([6, 3], 100), 'classifier.weight': iota([4, 2], 20), 'classifier.bias': iota([4], 30) };
  const renamed = new Tiny();
  withCheckpoint(folder(fused), (reader) => loadStateDict(renamed, reader, {
    what: 'Tiny',
    sources: (n) => (n === 'body.weight' ? [{ name: 'qkv', rows: [2, 4] }] : n === 'body.bias' ? [{ name: 'body.bias' }, { name: 'w.bias' }] : [{ name: n }]),
  }));
  assert.deepEqual(Array.from(renamed.body.weight.data), [106, 107, 108, 109, 110, 111]);
  assert.deepEqual(Array.from(renamed.body.bias!.data), [10, 11]);
  assert.throws(() => withCheckpoint(folder(fused), (reader) => loadStateDict(new Tiny(), reader, {
    what: 'Tiny', sources: (n) => (n === 'body.weight' ? [{ name: 'qkv', rows: [5, 7] }] : n === 'body.bias' ? [{ name: 'w.bias' }] : [{ name: n }]),
  })), /rows 5-7 of tensor 'qkv' \[6, 3\] do not fit/);
});
