// GIFT's grouping rule: one (phi, psi) per target and input size, so a target whose layers take
// inputs of different sizes is two groups; counted on the module tree built without storage (what
// gift inspect counts) as on the real one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { withBackend } from '../../src/backend/index.js';
import { metaBackend } from '../../src/backend/meta/index.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';

class Block extends Module {
  constructor(inF: number, rng: Random) {
    super();
    this.child('proj', new Linear(inF, 12, rng));
    this.child('out', new Linear(12, 12, rng));
  }
}

/** Two blocks whose `proj` widens: 8 -> 12, then 12 -> 12 (and an `out` of input 12 in both). */
class Widening extends Module {
  readonly layers: Module[];
  constructor() {
    super();
    const rng = new Random(1);
    this.layers = [this.child('layers.0', new Block(8, rng)), this.child('layers.1', new Block(12, rng))];
  }
}

test('GIFT trains one pair per target and input size (a target with two input sizes is two groups), on shapes as on storage', () => {
  const rank = 4;
  for (const [targets, share, expected] of [
    [['proj'], 'target', 2 * (8 + 12) * rank], // proj_in8 and proj_in12 (the old count said 2 * 12 * rank)
    [['proj', 'out'], 'target', 2 * (8 + 12 + 12) * rank],
    [['proj', 'out'], 'input-size', 2 * (8 + 12) * rank], // in8, in12 (shared by proj of block 1 and both outs)
  ] as [string[], 'target' | 'input-size', number][]) {
    const model = new Widening();
    const adapter = attachAdapter(model, { method: 'gift', rank, target_modules: targets, share }, 1);
    assert.equal(adapter.trainableCount(), expected, `attach ${targets} ${share}`);
    const onMeta = withBackend(metaBackend, () => attachAdapter(new Widening(), { method: 'gift', rank, target_modules: targets, share }, 1).trainableCount());
    assert.equal(onMeta, expected, `count on the meta backend ${targets} ${share}`);
  }
});
