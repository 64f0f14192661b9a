// Reference RMSNorm and LayerNorm kernels, forward and backward side by side.
type F = Float32Array;

export function refRmsNormForward(x: F, w: F, y: F, rstd: F, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[o + j]! * x[o + j]!;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    rstd[r] = inv;
    for (let j = 0; j < cols; j++) y[o + j] = x[o + j]! * inv * w[j]!;
  }
}

export function refRmsNormBackward(x: F, w: F, rstd: F, dy: F, dx: F | null, dw: F | null, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const inv = rstd[r]!;
    if (dw) for (let j = 0; j < cols; j++) dw[j]! += dy[o + j]! * x[o + j]! * inv;
    if (dx) {
      // dx = rstd * (g - xhat * mean(g * xhat)),  g = dy * w,  xhat = x * rstd
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dy[o + j]! * w[j]! * x[o + j]!;
      const coef = (dot * inv * inv) / cols;
      for (let j = 0; j < cols; j++) dx[o + j] = inv * (dy[o + j]! * w[j]! - x[o + j]! * coef);
    }
  }
}

export function refLayerNormForward(x: F, w: F | null, b: F | null, y: F, mean: F, rstd: F, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[o + j]!;
    const mu = s / cols;
    let v = 0;
    for (let j = 0; j < cols; j++) v += (x[o + j]! - mu) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = inv;
    for (let j = 0; j < cols; j++) {
      let h = (x[o + j]! - mu) * inv;
      if (w) h *= w[j]!;
      if (b) h += b[j]!;
      y[o + j] = h;
    }
  }
}

export function refLayerNormBackward(x: F, w: F | null, mean: F, rstd: F, dy: F, dx: F | null, dw: F | null, db: F | null, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mu = mean[r]!;
    const inv = rstd[r]!;
    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[o + j]! - mu) * inv;
      const g = w ? dy[o + j]! * w[j]! : dy[o + j]!;
      sumG += g;
      sumGX += g * xhat;
      if (dw) dw[j]! += dy[o + j]! * xhat;
      if (db) db[j]! += dy[o + j]!;
    }
    if (dx) {
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
      for (let j = 0; j < cols; j++) {
        const xhat = (x[o + j]! - mu) * inv;
        const g = w ? dy[o + j]! * w[j]! : dy[o + j]!;
        dx[o + j] = inv * (g - sumG / cols - (xhat * sumGX) / cols);
      }
    }
  }
}
