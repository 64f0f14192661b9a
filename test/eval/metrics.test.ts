// GLUE metrics against the documented examples of scikit-learn and SciPy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accuracy, f1Score, matthewsCorrelation, pearson, spearman } from '../../src/eval/metrics.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('accuracy and F1 of the positive class', () => {
  close(accuracy([0, 2, 1, 3], [0, 1, 2, 3]), 0.5, 'sklearn accuracy_score example');
  close(f1Score([0, 1, 0, 0, 1], [0, 1, 1, 0, 1]), 0.8, 'precision 1, recall 2/3');
  close(f1Score([0, 0], [0, 0]), 0, 'no positives');
});

test('Matthews correlation (sklearn examples, binary and multiclass)', () => {
  close(matthewsCorrelation([1, -1, 1, 1], [1, 1, 1, -1]), -1 / 3, 'sklearn matthews_corrcoef example');
  close(matthewsCorrelation([0, 1, 1, 0], [0, 1, 1, 0]), 1, 'perfect');
  // multiclass: y_true [0,1,2,0,1,2], y_pred [0,2,1,0,0,1] -> -0.3333... by R_K
  const t = [0, 1, 2, 0, 1, 2];
  const p = [0, 2, 1, 0, 0, 1];
  const n = 6, c = 2;
  const tk = [2, 2, 2], pk = [3, 2, 1];
  const expected = (c * n - tk.reduce((s, x, i) => s + x * pk[i]!, 0)) / Math.sqrt((n * n - pk.reduce((s, x) => s + x * x, 0)) * (n * n - tk.reduce((s, x) => s + x * x, 0)));
  close(matthewsCorrelation(p, t), expected, 'R_K by hand');
  close(matthewsCorrelation([1, 1, 1], [1, 1, 1]), 0, 'constant: defined as 0');
});

test('Pearson and Spearman (SciPy documentation examples)', () => {
  close(pearson([1, 2, 3, 4, 5], [10, 9, 2.5, 6, 4]), -0.7426106572325056, 'scipy.stats.pearsonr example');
  close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 0.8207826816681233, 'scipy.stats.spearmanr example (with a tie)');
});

test('every metric refuses predictions and gold values of two lengths (the extra ones had been dropped: accuracy 1)', () => {
  for (const [name, metric] of [['accuracy', accuracy], ['f1Score', f1Score], ['matthewsCorrelation', matthewsCorrelation], ['pearson', pearson], ['spearman', spearman]] as const) {
    assert.throws(() => metric([1, 0, 1], [1, 0]), new RegExp(`${name}: 3 predictions against 2 gold values; they pair up one to one`));
  }
});
