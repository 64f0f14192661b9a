// Image classification: cross-entropy over a ViT's class logits, summed over the images of a batch.
import { GiftjsError } from '../../errors.js';
import { checkBatchSize, shuffle } from '../../data/batches.js';
import type { ImageExample } from '../../data/images.js';
import { imagesToPatches, type ViTForImageClassification } from '../../models/vit/model.js';
import { crossEntropy } from '../../ops/cross_entropy.js';
import { assertSeed, Random } from '../../tensor/random.js';
import type { TrainTask } from '../task.js';

export interface ImageBatch {
  /** [batch, C, S, S] */
  pixels: Float32Array;
  labels: number[];
  batch: number;
}

export function collateImages(examples: ImageExample[]): ImageBatch {
  // Each image's pixels read once: a loaded set's images make them at each read (data/images.ts).
  const rows = examples.map((e) => e.pixels);
  const per = rows[0]!.length;
  // (A shorter image had been padded with zeros, silently.)
  const odd = rows.findIndex((r) => r.length !== per);
  if (odd >= 0) throw new GiftjsError(`collateImages: image ${odd} (${examples[odd]!.where}) holds ${rows[odd]!.length} values, image 0 (${examples[0]!.where}) ${per}; a batch's images have one size`);
  const pixels = new Float32Array(examples.length * per);
  rows.forEach((r, i) => pixels.set(r, i * per));
  return { pixels, labels: examples.map((e) => e.label), batch: examples.length };
}

/**
 * The task's batches are lists of images, collated into pixels when their loss is computed: an epoch's
 * batches are made at its start, and as pixels they had held the whole training set as floats.
 */
export function imageClassificationTask(model: ViTForImageClassification, train: ImageExample[], heldOut?: ImageExample[]): TrainTask<ImageExample[]> {
  const chunk = (items: ImageExample[], size: number) => {
    checkBatchSize(size);
    const out: ImageExample[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
  };
  const tokens = (model.config.imageSize / model.config.patchSize) ** 2 + 1;
  return {
    trainSize: train.length,
    heldOutSize: heldOut?.length ?? 0,
    epochBatches: (batchSize, seed, epoch) => (assertSeed(seed), chunk(shuffle([...train], new Random((seed * 7919 + epoch * 104729) >>> 0)), batchSize)),
    heldOutBatches: (batchSize) => chunk(heldOut ?? [], batchSize),
    lossSum: (images) => {
      const b = collateImages(images);
      return crossEntropy(model.forward(imagesToPatches(b.pixels, b.batch, model.config)), b.labels, { reduction: 'sum' });
    },
    units: (images) => images.length,
    inputTokens: (images) => images.length * tokens,
  };
}
