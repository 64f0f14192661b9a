import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, addScalar, div, mul, scale, sub } from '../../src/ops/elementwise.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { broadcastTo, sumToShape } from '../../src/ops/broadcast.js';
import { mean, sum } from '../../src/ops/reduce.js';
import { assertClose, assertGradcheck, randn, testEachBackend } from '../helpers.js';

// Pairs of shapes covering: equal, scalar, trailing (bias-like), middle and leading broadcasts,
// rank extension, and both sides broadcasting at once.
const PAIRS: [number[], number[]][] = [
  [[3, 4], [3, 4]], [[3, 4], [1]], [[2, 3, 4], [4]], [[2, 3, 4], [3, 1]], [[2, 1, 4], [1, 3, 1]], [[5], [2, 1, 5]], [[1], [1]],
];

/** Float64 broadcast of a binary function, via explicit multi-indices. */
function broadcast64(a: Tensor, b: Tensor, f: (x: number, y: number) => number): number[] {
  const rank = Math.max(a.rank, b.rank);
  const pa = [...Array(rank - a.rank).fill(1), ...a.shape];
  const pb = [...Array(rank - b.rank).fill(1), ...b.shape];
  const out = pa.map((d, i) => Math.max(d, pb[i]!));
  const total = out.reduce((x, y) => x * y, 1);
  const res: number[] = [];
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    const idx = new Array<number>(rank);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = rem % out[d]!;
      rem = Math.floor(rem / out[d]!);
    }
    const at = (shape: number[]) => shape.reduce((acc, dim, d) => acc * dim + (dim === 1 ? 0 : idx[d]!), 0);
    res.push(f(a.data[at(pa)]!, b.data[at(pb)]!));
  }
  return res;
}

testEachBackend('add, sub, mul, div broadcast like NumPy and match float64 math', () => {
  const ops: [string, typeof add, (x: number, y: number) => number][] = [
    ['add', add, (x, y) => x + y], ['sub', sub, (x, y) => x - y], ['mul', mul, (x, y) => x * y], ['div', div, (x, y) => x / y],
  ];
  PAIRS.forEach(([sa, sb], k) => {
    const a = randn(sa, k);
    const b = addScalar(randn(sb, k + 100), 3); // keep divisors away from zero
    for (const [name, op, f] of ops) {
      for (const [x, y] of [[a, b], [b, a]] as [Tensor, Tensor][]) {
        assertClose(op(x, y).data, broadcast64(x, y, f), `${name} ${JSON.stringify(x.shape)} ${JSON.stringify(y.shape)}`);
      }
    }
  });
});

testEachBackend('elementwise gradients reduce over broadcast dimensions (finite differences)', () => {
  PAIRS.forEach(([sa, sb], k) => {
    const a = randn(sa, k, true);
    const b = randn(sb, k + 50);
    for (let i = 0; i < b.size; i++) b.data[i] = 2 + Math.abs(b.data[i]!); // division stays smooth
    b.requireGrad();
    assertGradcheck((x, y) => add(x, y), [a, b], `add ${sa} ${sb}`);
    assertGradcheck((x, y) => sub(y, x), [a, b], `sub ${sa} ${sb}`);
    assertGradcheck((x, y) => mul(x, y), [a, b], `mul ${sa} ${sb}`);
    assertGradcheck((x, y) => div(x, y), [a, b], `div ${sa} ${sb}`);
  });
  const x = randn([3, 5], 9, true);
  assertGradcheck((t) => scale(t, -2.5), [x], 'scale');
});

testEachBackend('a tensor used twice accumulates both gradients', () => {
  const x = Tensor.fromArray([1, 2, 3]).requireGrad();
  const y = mul(x, x); // dy/dx = 2x
  y.backward(Tensor.ones([3]));
  assert.deepEqual(Array.from(x.grad!.data), [2, 4, 6]);
  const z = add(x, x); // both inputs are the same tensor, and add hands back the same gradient twice
  x.zeroGrad();
  z.backward(Tensor.ones([3]));
  assert.deepEqual(Array.from(x.grad!.data), [2, 2, 2]);
});

test('incompatible shapes give an error naming both', () => {
  assert.throws(() => add(randn([2, 3], 1), randn([4], 2)), /add: shapes \[2, 3\] and \[4\] cannot be broadcast together/);
  assert.throws(() => mul(randn([2, 3], 1), randn([3, 2], 2)), /mul: shapes \[2, 3\] and \[3, 2\]/);
  // The broadcasting helpers, public too: sumToShape of [2, 3] to [4] had summed into a fourth value of 0.
  assert.throws(() => sumToShape(randn([2, 3], 1), [4]), /sumToShape: \[4\] does not broadcast to \[2, 3\]/);
  assert.throws(() => broadcastTo(randn([2, 3], 1), [3, 3]), /broadcastTo: \[2, 3\] does not broadcast to \[3, 3\]/);
  assert.deepEqual(Array.from(sumToShape(Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]), [1, 3]).read()), [5, 7, 9]);
  assert.deepEqual(Array.from(broadcastTo(Tensor.fromArray([1, 2, 3], [3]), [2, 3]).read()), [1, 2, 3, 1, 2, 3]);
  // An axis named twice is refused, as torch refuses it.
  assert.throws(() => sum(randn([2, 3], 1), [0, 0]), /sum: axes \[0, 0\] name an axis twice/);
  assert.throws(() => mean(randn([2, 3], 1), [1, -1]), /mean: axes \[1, -1\] name an axis twice/);
});
