// Cross-entropy of a bias-free output projection, h W^T, without the full logits.
//
// A causal LM's loss is crossEntropy(linear(h, W), targets): the logits [rows, vocab] and their
// gradient are the two largest tensors of a training step (2 x 201 MB for SmolLM2's 49k vocabulary
// at 1024 tokens; 2 x 2.1 GB for Llama 3's 128k at 4096). This op takes the rows a chunk at a
// time: the chunk's logits, its loss and log-sum-exp, and, when a gradient is wanted, its
// softmax - onehot and what that contributes to dh (and to dW when W trains). The loss is a
// scalar ('sum' or 'mean'), so its upstream gradient is one number: the backward only scales
// the gradients the forward already computed. Same GEMMs and cross-entropy kernels, in the same
// order per row, as the unfused path; only dW (if any) sums its rows chunk by chunk.
import { BinaryOp } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { needsRecording, record } from '../tensor/autograd.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';
import { targetIds } from './cross_entropy.js';

export interface LinearCrossEntropyOptions {
  /** Rows whose target equals this are skipped (default -100). */
  ignoreIndex?: number;
  /** 'mean' over the rows not ignored (NaN when none counts, as crossEntropy) or 'sum'. */
  reduction?: 'mean' | 'sum';
  /** Logit values a chunk should hold (default 8 Mi floats, 32 MB, about an L3 cache); a chunk has at least minChunkRows rows. */
  chunkValues?: number;
  /** The fewest rows a chunk has when there are that many (default 1024: fewer pack W more often than their arithmetic hides). */
  minChunkRows?: number;
}

const DEFAULT_CHUNK_VALUES = 8 * 1024 * 1024;
// Each chunk's two GEMMs pack all of W again, V x in values read (and written) twice per chunk
// against 4 x rows x V x in FLOPs: its share of a chunk's time falls as 1 / rows, whatever the model.
// On a 2-core Zen 5 (2 threads, SmolLM2 step at 1024 tokens) the LM head took, per step: f32 354 ms
// in chunks of 256 rows, 309 ms in one of 1024; bf16 compute 213 ms at 256 rows, 195 at 512, 180 at
// 1024, the step's peak RSS 1257, 1310 and 1410 MB. 1024 rows of a 128k vocabulary are 525 MB of
// logits; of SmolLM2's 49k, 201 MB. (minChunkRows lowers the floor where that memory is wanted.)
const MIN_CHUNK_ROWS = 1024;

/** Rows per chunk: as few chunks as the budget allows, split evenly (no thin last chunk). */
export function chunkRowsFor(rows: number, vocab: number, chunkValues = DEFAULT_CHUNK_VALUES, minChunkRows = MIN_CHUNK_ROWS): number {
  if (rows === 0) return 0;
  const most = Math.max(minChunkRows, Math.floor(chunkValues / Math.max(vocab, 1)));
  return Math.ceil(rows / Math.ceil(rows / most));
}

/**
 * crossEntropy(h W^T, targets) for h [..., in] and W [vocab, in] (float32, or a frozen weight's
 * bfloat16), computed in chunks of rows. Returns the scalar loss.
 */
export function linearCrossEntropy(h: Tensor, weight: Tensor, targets: Int32Array | readonly number[], options: LinearCrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new GiftjsError(`linearCrossEntropy: reduction '${String(reduction)}' is not supported (allowed: 'mean', 'sum'); per-row losses need crossEntropy(linear(h, W))`);
  }
  const where = (): string => `linearCrossEntropy(h ${shapeString(h.shape)}, weight ${shapeString(weight.shape)})`;
  if (weight.rank !== 2) throw new GiftjsError(`${where()}: weight must be 2-D [vocab, in]`);
  if (h.dtype !== 'float32') throw new GiftjsError(`${where()}: h must be float32`);
  const [vocab, inF] = weight.shape as [number, number];
  if (h.rank < 1 || h.shape[h.rank - 1] !== inF) throw new GiftjsError(`${where()}: h's last dimension must be ${inF}`);
  const rows = inF === 0 ? 0 : h.size / inF;
  if (targets.length !== rows) throw new GiftjsError(`${where()}: ${rows} rows but ${targets.length} targets were given`);
  const chunkValues = options.chunkValues ?? DEFAULT_CHUNK_VALUES;
  if (!Number.isSafeInteger(chunkValues) || chunkValues < 1) {
    throw new GiftjsError(`${where()}: chunkValues ${String(chunkValues)} must be a positive integer (logit values per chunk)`);
  }
  const minChunkRows = options.minChunkRows ?? MIN_CHUNK_ROWS;
  if (!Number.isSafeInteger(minChunkRows) || minChunkRows < 1) {
    throw new GiftjsError(`${where()}: minChunkRows ${String(minChunkRows)} must be a positive integer (rows per chunk at the least)`);
  }
  const t = targetIds(targets, 'linearCrossEntropy');
  // Checked here, against the whole batch: the kernels check each chunk but would name a row of it.
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    if (t[r] === ignoreIndex) continue;
    if (t[r]! < 0 || t[r]! >= vocab) throw new GiftjsError(`${where()}: target ${t[r]} at row ${r} is outside the vocabulary of ${vocab} (ignoreIndex ${ignoreIndex} skips a row)`);
    counted++;
  }

  const backend = getBackend();
  const wantGrad = needsRecording([h, weight]);
  const needH = wantGrad && h.requiresGrad;
  const needW = wantGrad && weight.requiresGrad;
  if (needW && weight.dtype !== 'float32') throw new GiftjsError(`${where()}: a trained weight must be float32`);

  const chunk = chunkRowsFor(rows, vocab, chunkValues, minChunkRows);
  const perRow = Tensor.empty([rows]);
  // Per chunk: its logits (their gradient written over them), loss and lse, dh's rows; reused
  // chunk after chunk.
  const logits = Tensor.empty([chunk, vocab]);
  const dlogits = wantGrad ? logits : null;
  const lossPart = Tensor.empty([chunk]);
  const lsePart = Tensor.empty([chunk]);
  const ones = wantGrad ? Tensor.ones([chunk]) : null;
  const dhPart = needH ? Tensor.empty([chunk, inF]) : null;
  // Gradients for an upstream gradient of 1 (the backward scales them).
  const dhUnit = needH ? Tensor.empty(h.shape) : null;
  const dwUnit = needW ? Tensor.empty(weight.shape) : null;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const n = Math.min(chunk, rows - r0);
    const tc = t.subarray(r0, r0 + n);
    backend.gemm({
      transA: false, transB: true, M: n, N: vocab, K: inF, alpha: 1,
      A: h.buffer, lda: inF, offsetA: r0 * inF, B: weight.buffer, ldb: inF, beta: 0, C: logits.buffer, ldc: vocab,
      batch: 1, strideA: 0, strideB: 0, strideC: 0,
    });
    backend.crossEntropyForward(logits.buffer, tc, lossPart.buffer, lsePart.buffer, n, vocab, ignoreIndex);
    backend.copyBlocks(lossPart.buffer, 0, n, perRow.buffer, r0, rows, 1, n);
    if (!dlogits || !ones) continue;
    backend.crossEntropyBackward(logits.buffer, tc, lsePart.buffer, ones.buffer, dlogits.buffer, n, vocab, ignoreIndex);
    if (dhPart && dhUnit) {
      // dh rows = dlogits W
      backend.gemm({
        transA: false, transB: false, M: n, N: inF, K: vocab, alpha: 1,
        A: dlogits.buffer, lda: vocab, B: weight.buffer, ldb: inF, beta: 0, C: dhPart.buffer, ldc: inF,
        batch: 1, strideA: 0, strideB: 0, strideC: 0,
      });
      backend.copyBlocks(dhPart.buffer, 0, n * inF, dhUnit.buffer, r0 * inF, rows * inF, 1, n * inF);
    }
    if (dwUnit) {
      // dW += dlogits^T h rows
      backend.gemm({
        transA: true, transB: false, M: vocab, N: inF, K: n, alpha: 1,
        A: dlogits.buffer, lda: vocab, B: h.buffer, ldb: inF, offsetB: r0 * inF, beta: r0 === 0 ? 0 : 1, C: dwUnit.buffer, ldc: inF,
        batch: 1, strideA: 0, strideB: 0, strideC: 0,
      });
    }
  }
  for (const tmp of [logits, lossPart, lsePart, ones, dhPart]) tmp?.dispose();
  if (dwUnit && rows === 0) backend.fill(dwUnit.buffer, 0, dwUnit.size);

  // The mean over counted rows: NaN when none counts (0 * Infinity), as crossEntropy.
  const out = Tensor.empty([]);
  backend.reduceSum([rows], perRow.buffer, [0], out.buffer, reduction === 'sum' ? 1 : 1 / counted);
  perRow.dispose();
  const saved = [dhUnit, dwUnit].filter((x): x is Tensor => x !== null);
  return record('linearCrossEntropy', out, [h, weight], (g, needs) => {
    // Each row's share of g: g itself ('sum') or g / counted ('mean'; with no row counted every
    // row is ignored and its gradient zero, as crossEntropy gives).
    let scale = g;
    if (reduction === 'mean') {
      scale = Tensor.empty([]);
      const divisor = Tensor.scalar(Math.max(counted, 1));
      backend.binary(BinaryOp.Div, [], g.buffer, [], divisor.buffer, [], scale.buffer);
      divisor.dispose();
    }
    const scaled = (unit: Tensor | null) => {
      if (!unit) return null;
      const out = Tensor.empty(unit.shape);
      backend.binary(BinaryOp.Mul, [unit.size], unit.buffer, [1], scale.buffer, [0], out.buffer);
      return out;
    };
    const grads = [needs[0] ? scaled(dhUnit) : null, needs[1] ? scaled(dwUnit) : null];
    if (scale !== g) scale.dispose();
    return grads;
  }, saved);
}
