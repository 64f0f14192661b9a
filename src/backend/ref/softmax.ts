// Reference softmax and log-softmax kernels over the last axis.
type F = Float32Array;

/** log(sum(exp(row))) computed around the row maximum; -Infinity for an all -Infinity row. */
export function rowLogSumExp(x: F, offset: number, n: number): number {
  let mx = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[offset + j]!;
    if (Number.isNaN(v)) return NaN; // NaN propagates
    if (v > mx) mx = v;
  }
  if (mx === -Infinity) return -Infinity;
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[offset + j]! - mx);
  return mx + Math.log(s);
}

export function refSoftmaxForward(x: F, y: F, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const lse = rowLogSumExp(x, o, cols);
    for (let j = 0; j < cols; j++) y[o + j] = Math.exp(x[o + j]! - lse);
  }
}

export function refSoftmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += y[o + j]! * dy[o + j]!;
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j]! * (dy[o + j]! - dot);
  }
}

export function refLogSoftmaxForward(x: F, y: F, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const lse = rowLogSumExp(x, o, cols);
    for (let j = 0; j < cols; j++) y[o + j] = x[o + j]! - lse;
  }
}

export function refLogSoftmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += dy[o + j]!;
    for (let j = 0; j < cols; j++) dx[o + j] = dy[o + j]! - Math.exp(y[o + j]!) * s;
  }
}
