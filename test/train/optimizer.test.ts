import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Tensor } from '../../src/tensor/tensor.js';
import { AdamW, clipGradNorm } from '../../src/train/optimizer.js';
import { lrMultiplier, warmupSteps } from '../../src/train/schedule.js';
import { assertClose } from '../helpers.js';
import { DEFAULT_TRAIN_OPTIONS, validateTrainOptions } from '../../src/train/trainer.js';

test('AdamW matches torch.optim.AdamW step by step (two groups, changing learning rate)', () => {
  const f = JSON.parse(readFileSync(new URL('../../../test/fixtures/train/adamw.json', import.meta.url), 'utf8'));
  const a = Tensor.fromArray(f.a0).requireGrad().keep();
  const b = Tensor.fromArray(f.b0).requireGrad().keep();
  const opt = new AdamW([{ params: [['a', a]], lrScale: 1, weightDecay: 0.01 }, { params: [['b', b]], lrScale: 2, weightDecay: 0.1 }]);
  for (const s of f.steps) {
    a.grad = Tensor.fromArray(s.grad_a).keep();
    b.grad = Tensor.fromArray(s.grad_b).keep();
    opt.update(s.lr);
    assertClose(a.data, s.a, `a after lr ${s.lr}`, 1e-6, 1e-5);
    assertClose(b.data, s.b, `b after lr ${s.lr}`, 1e-6, 1e-5);
  }
});

test('AdamW refuses what PyTorch\'s refuses: a beta outside [0, 1), a negative or non-finite eps, learning rate or decay, and two parameters of one name', () => {
  const a = Tensor.zeros([2]).requireGrad().keep();
  const b = Tensor.zeros([2]).requireGrad().keep();
  const group = { params: [['a', a]] as [string, Tensor][], lrScale: 1, weightDecay: 0 };
  assert.throws(() => new AdamW([group], { beta1: 1 }), /AdamW: beta1 must be in \[0, 1\), got 1/);
  assert.throws(() => new AdamW([group], { beta2: NaN }), /AdamW: beta2 must be in \[0, 1\), got NaN/);
  assert.throws(() => new AdamW([group], { eps: -1e-8 }), /AdamW: eps must be a finite number >= 0, got -1e-8/);
  assert.throws(() => new AdamW([{ ...group, weightDecay: NaN }]), /AdamW: a group's weightDecay must be a finite number >= 0, got NaN/);
  assert.throws(() => new AdamW([{ ...group, lrScale: Infinity }]), /AdamW: a group's lrScale must be a finite number >= 0, got Infinity/);
  // One name twice had given both parameters one pair of moments.
  assert.throws(() => new AdamW([group, { params: [['a', b]], lrScale: 1, weightDecay: 0 }]), /AdamW: two parameters are named 'a'/);
  const opt = new AdamW([group]);
  a.grad = Tensor.fromArray([1, 1]).keep();
  assert.throws(() => opt.update(NaN), /AdamW: the learning rate must be a finite number >= 0, got NaN/);
  assert.equal(opt.step, 0, 'a refused update takes no step');
  opt.dispose();
});

test('schedules: linear warmup, then linear decay / half cosine / constant (transformers formulas)', () => {
  // 100 updates, 10 of warmup
  assert.equal(lrMultiplier('linear', 0, 100, 10), 0);
  assert.equal(lrMultiplier('linear', 5, 100, 10), 0.5);
  assert.equal(lrMultiplier('linear', 10, 100, 10), 1);
  assert.ok(Math.abs(lrMultiplier('linear', 55, 100, 10) - 45 / 90) < 1e-12);
  assert.equal(lrMultiplier('linear', 100, 100, 10), 0);
  assert.ok(Math.abs(lrMultiplier('cosine', 55, 100, 10) - 0.5) < 1e-12);
  assert.ok(Math.abs(lrMultiplier('cosine', 32.5, 100, 10) - 0.5 * (1 + Math.cos(Math.PI / 4))) < 1e-12);
  assert.equal(lrMultiplier('constant_with_warmup', 70, 100, 10), 1);
  assert.equal(lrMultiplier('constant_with_warmup', 3, 100, 10), 0.3);
  assert.equal(lrMultiplier('constant', 3, 100, 10), 1, 'transformers\' constant ignores a warmup');
});

test('cosine_with_min_lr: half a cosine from 1 to min_lr / lr after the warmup, as transformers\' get_cosine_with_min_lr_schedule_with_warmup', () => {
  // transformers: factor = 0.5 * (1 + cos(pi * progress)); factor * (1 - min_lr_rate) + min_lr_rate
  const rate = 0.01;
  assert.equal(lrMultiplier('cosine_with_min_lr', 5, 100, 10, rate), 0.5, 'warming up from 0, not from the floor');
  assert.equal(lrMultiplier('cosine_with_min_lr', 10, 100, 10, rate), 1);
  assert.ok(Math.abs(lrMultiplier('cosine_with_min_lr', 55, 100, 10, rate) - (0.5 * 0.99 + 0.01)) < 1e-12);
  assert.ok(Math.abs(lrMultiplier('cosine_with_min_lr', 100, 100, 10, rate) - 0.01) < 1e-12, 'ends at the floor, not 0');
  const base = { ...DEFAULT_TRAIN_OPTIONS, lr: 1e-4 };
  assert.throws(() => validateTrainOptions({ ...base, scheduler: 'cosine_with_min_lr' }), /training option minLr is undefined; it must be a finite number from 0 to lr \(0\.0001\): cosine_with_min_lr's final learning rate \(--min-lr\)/);
  assert.throws(() => validateTrainOptions({ ...base, scheduler: 'cosine_with_min_lr', minLr: 1e-3 }), /training option minLr is 0\.001; it must be a finite number from 0 to lr/);
  assert.throws(() => validateTrainOptions({ ...base, minLr: 1e-6 }), /training option minLr is 0\.000001; it must be left out: it is the floor of scheduler cosine_with_min_lr, and the scheduler is linear/);
  assert.throws(() => validateTrainOptions({ ...base, scheduler: 'cosin' as never }), /training option scheduler is "cosin"; it must be one of linear, cosine, cosine_with_min_lr, constant, constant_with_warmup/);
  validateTrainOptions({ ...base, scheduler: 'cosine_with_min_lr', minLr: 1e-6 });
});

test('warmup length from a ratio: math.ceil(num_training_steps * warmup_ratio), as transformers counts it', () => {
  // Python's values of that expression: 6 * 0.2 = 1.2000000000000002 -> 2 (a rounded count had given 1);
  // 5 * 0.1 = 0.5 -> 1 (Python's round had given 0, JavaScript's 1).
  assert.equal(warmupSteps(6, 0.2), 2);
  assert.equal(warmupSteps(30, 0.1), 3);
  assert.equal(warmupSteps(5, 0.1), 1);
  assert.equal(warmupSteps(100, 0.06), 6);
  assert.equal(warmupSteps(100, 0), 0);
  assert.equal(warmupSteps(7, 1), 7);
});

test('gradient clipping scales to the global norm', () => {
  const p = Tensor.zeros([2]).requireGrad().keep();
  const q = Tensor.zeros([1]).requireGrad().keep();
  p.grad = Tensor.fromArray([3, 0]).keep();
  q.grad = Tensor.fromArray([4]).keep();
  assert.equal(clipGradNorm([p, q], 1), 5);
  assertClose([...p.grad.data, ...q.grad.data], [0.6, 0, 0.8], 'clipped', 1e-6, 0);
  // under the limit nothing changes
  const norm = clipGradNorm([p, q], 10);
  assert.ok(Math.abs(norm - 1) < 1e-6, `norm ${norm}`);
  assertClose([...p.grad.data, ...q.grad.data], [0.6, 0, 0.8], 'unchanged', 1e-6, 0);
});
