// The native row kernels that reduce along a row (RMSNorm, LayerNorm, softmax and log-softmax,
// forward and backward, weight gradients included) against float64 math and the reference
// kernels, on widths below, at and past the 16 partial sums they add in (1, 15, 16, 17, 577),
// with rows split over threads. The backward formulas in float64 are the textbook ones, written
// here from the definitions (not from the kernels).
import { test } from 'node:test';
import { nativeAddon, refBackend } from '../../src/backend/index.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';
import { layerNorm64, logSoftmax64, rmsNorm64, softmax64 } from '../reference64.js';

const addon = nativeAddon();
const skip = addon ? false : 'the native addon is not built on this machine';
const WIDTHS = [1, 15, 16, 17, 577];
const ROWS = 67; // odd, and enough rows to be split across threads

function rand(n: number, seed: number, shift = 0): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.normal() + shift);
}

const rowOf = (a: ArrayLike<number>, r: number, cols: number) => Array.from({ length: cols }, (_, j) => a[r * cols + j]!);

/** dx of RMSNorm and LayerNorm in float64: dx = rstd * (g - [mean(g)] - xhat * mean(g * xhat)), g = dy * w. */
function normBackward64(x: Float32Array, w: Float32Array | null, dy: Float32Array, cols: number, eps: number, centred: boolean) {
  const dx: number[] = [];
  const dw = new Array<number>(cols).fill(0);
  const db = new Array<number>(cols).fill(0);
  for (let r = 0; r < x.length / cols; r++) {
    const xr = rowOf(x, r, cols);
    const mu = centred ? xr.reduce((a, v) => a + v, 0) / cols : 0;
    const ms = xr.reduce((a, v) => a + (v - mu) ** 2, 0) / cols;
    const rstd = 1 / Math.sqrt(ms + eps);
    const xhat = xr.map((v) => (v - mu) * rstd);
    const g = xr.map((_, j) => dy[r * cols + j]! * (w ? w[j]! : 1));
    const meanG = centred ? g.reduce((a, v) => a + v, 0) / cols : 0;
    const meanGX = g.reduce((a, v, j) => a + v * xhat[j]!, 0) / cols;
    for (let j = 0; j < cols; j++) {
      dx.push(rstd * (g[j]! - meanG - xhat[j]! * meanGX));
      dw[j]! += dy[r * cols + j]! * xhat[j]!;
      db[j]! += dy[r * cols + j]!;
    }
  }
  return { dx, dw, db };
}

test('RMSNorm forward and backward (dx and dw) match float64 math and the reference kernels', { skip }, () => {
  for (const cols of WIDTHS) {
    const x = rand(ROWS * cols, cols, 0.3);
    const w = rand(cols, cols + 1);
    const dy = rand(ROWS * cols, cols + 2);
    const eps = 1e-5;
    const y = new Float32Array(x.length);
    const rstd = new Float32Array(ROWS);
    addon!.rmsNormForward(x, w, y, rstd, ROWS, cols, eps);
    assertClose(y, rmsNorm64(x, w, cols, eps), `rmsNorm forward, width ${cols}`, 1e-5, 1e-5);
    const dx = new Float32Array(x.length);
    const dw = new Float32Array(cols);
    addon!.rmsNormBackward(x, w, rstd, dy, dx, dw, ROWS, cols);
    const want = normBackward64(x, w, dy, cols, eps, false);
    assertClose(dx, want.dx, `rmsNorm dx, width ${cols}`, 1e-5, 1e-4);
    assertClose(dw, want.dw, `rmsNorm dw, width ${cols}`, 1e-4, 1e-4);
    const refDx = new Float32Array(x.length);
    const refDw = new Float32Array(cols);
    refBackend.rmsNormBackward(x, w, rstd, dy, refDx, refDw, ROWS, cols);
    assertClose(dx, refDx, `rmsNorm dx vs ref, width ${cols}`, 1e-5, 1e-4);
    assertClose(dw, refDw, `rmsNorm dw vs ref, width ${cols}`, 1e-5, 1e-5);
  }
});

test('LayerNorm forward and backward (dx, dw, db; with and without an affine weight) match float64 math', { skip }, () => {
  for (const cols of WIDTHS.filter((c) => c > 1)) {
    for (const affine of [true, false]) {
      const x = rand(ROWS * cols, 2 * cols, 0.5);
      const w = affine ? rand(cols, 2 * cols + 1) : null;
      const b = affine ? rand(cols, 2 * cols + 2) : null;
      const dy = rand(ROWS * cols, 2 * cols + 3);
      const eps = 1e-5;
      const y = new Float32Array(x.length);
      const mean = new Float32Array(ROWS);
      const rstd = new Float32Array(ROWS);
      addon!.layerNormForward(x, w, b, y, mean, rstd, ROWS, cols, eps);
      assertClose(y, layerNorm64(x, w, b, cols, eps), `layerNorm forward, width ${cols}, affine ${affine}`, 1e-5, 1e-4);
      const dx = new Float32Array(x.length);
      const dw = affine ? new Float32Array(cols) : null;
      const db = affine ? new Float32Array(cols) : null;
      addon!.layerNormBackward(x, w, mean, rstd, dy, dx, dw, db, ROWS, cols);
      const want = normBackward64(x, w, dy, cols, eps, true);
      assertClose(dx, want.dx, `layerNorm dx, width ${cols}, affine ${affine}`, 1e-4, 1e-3);
      if (dw && db) {
        assertClose(dw, want.dw, `layerNorm dw, width ${cols}`, 1e-4, 1e-4);
        assertClose(db, want.db, `layerNorm db, width ${cols}`, 1e-4, 1e-4);
      }
    }
  }
});

test('softmax and log-softmax backward match float64 math on every width', { skip }, () => {
  for (const cols of WIDTHS) {
    const x = rand(ROWS * cols, 3 * cols);
    const dy = rand(ROWS * cols, 3 * cols + 1);
    const y = new Float32Array(x.length);
    addon!.softmaxForward(x, y, ROWS, cols);
    const y64 = softmax64(x, cols);
    assertClose(y, y64, `softmax forward, width ${cols}`, 1e-6, 1e-5);
    const dx = new Float32Array(x.length);
    addon!.softmaxBackward(y, dy, dx, ROWS, cols);
    const want: number[] = [];
    for (let r = 0; r < ROWS; r++) {
      const dot = rowOf(y64, r, cols).reduce((a, v, j) => a + v * dy[r * cols + j]!, 0);
      for (let j = 0; j < cols; j++) want.push(y64[r * cols + j]! * (dy[r * cols + j]! - dot));
    }
    assertClose(dx, want, `softmax dx, width ${cols}`, 1e-5, 1e-4);

    const ly = new Float32Array(x.length);
    addon!.logSoftmaxForward(x, ly, ROWS, cols);
    const ly64 = logSoftmax64(x, cols);
    assertClose(ly, ly64, `log-softmax forward, width ${cols}`, 1e-5, 1e-5);
    const ldx = new Float32Array(x.length);
    addon!.logSoftmaxBackward(ly, dy, ldx, ROWS, cols);
    const lwant: number[] = [];
    for (let r = 0; r < ROWS; r++) {
      const s = rowOf(dy, r, cols).reduce((a, v) => a + v, 0);
      for (let j = 0; j < cols; j++) lwant.push(dy[r * cols + j]! - Math.exp(ly64[r * cols + j]!) * s);
    }
    assertClose(ldx, lwant, `log-softmax dx, width ${cols}`, 1e-5, 1e-4);
  }
});
