// GLUE metrics against the documented examples of scikit-learn and SciPy, and against the libraries
// themselves (in the peer venv) on random sets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Random } from '../../src/tensor/random.js';
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

const PEER_PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasSklearn = existsSync(PEER_PYTHON) && spawnSync(PEER_PYTHON, ['-c', 'import sklearn, scipy'], { encoding: 'utf8' }).status === 0;

test('every metric equals scikit-learn\'s and SciPy\'s on 200 random sets: multiclass, ties, constant columns, two to thirty values', { skip: hasSklearn ? false : `no python with scikit-learn and SciPy at ${PEER_PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs them into the peer venv)` }, () => {
  const r = new Random(1);
  const cases = Array.from({ length: 200 }, () => {
    const n = 2 + r.int(29);
    const classes = 2 + r.int(3);
    const gold = Array.from({ length: n }, () => r.int(classes));
    const predicted = Array.from({ length: n }, () => r.int(classes));
    // Scores on a half-point grid (as STS-B's) against predictions that are sometimes whole numbers: ties on both sides.
    const goldScores = Array.from({ length: n }, () => r.int(6) / 2);
    const scores = Array.from({ length: n }, () => (r.int(3) === 0 ? r.int(4) : r.normal()));
    return { gold, predicted, goldScores, scores };
  });
  const py = spawnSync(PEER_PYTHON, ['-c', `
import json, sys, warnings
warnings.filterwarnings("ignore")
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from scipy.stats import pearsonr, spearmanr
nan = lambda v: None if v != v else float(v)
out = []
for c in json.load(sys.stdin):
    g, p = c["gold"], c["predicted"]
    out.append([accuracy_score(g, p), f1_score([v % 2 for v in g], [v % 2 for v in p], zero_division=0), matthews_corrcoef(g, p),
                nan(pearsonr(c["scores"], c["goldScores"])[0]), nan(spearmanr(c["scores"], c["goldScores"])[0])])
print(json.dumps(out))
`], { input: JSON.stringify(cases), encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  const expected = JSON.parse(py.stdout) as (number | null)[][];
  cases.forEach((c, i) => {
    const ours = [accuracy(c.predicted, c.gold), f1Score(c.predicted.map((v) => v % 2), c.gold.map((v) => v % 2)), matthewsCorrelation(c.predicted, c.gold), pearson(c.scores, c.goldScores), spearman(c.scores, c.goldScores)];
    ours.forEach((v, k) => {
      const e = expected[i]![k]!;
      const what = `case ${i}, ${['accuracy', 'F1', 'MCC', 'Pearson', 'Spearman'][k]}`;
      if (e === null) assert.ok(Number.isNaN(v), `${what}: ${v}, SciPy's NaN (a constant column)`);
      else assert.ok(Math.abs(v - e) < 1e-9, `${what}: ${v}, the reference ${e}`);
    });
  });
});
