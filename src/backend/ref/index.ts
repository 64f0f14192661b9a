// The `ref` backend: every kernel in plain TypeScript. Runs anywhere; the oracle for `native`.
import { setBf16ComputeFlag } from '../bf16_compute.js';
import { setInt8ActivationsFlag } from '../int8_activations.js';
import type { Backend } from '../backend.js';
import { refActivationBackward, refActivationForward, refSwigluBackward, refSwigluForward } from './activations.js';
import { refAttentionBackward, refAttentionForward } from './attention.js';
import { refBinary, refCopyStrided } from './elementwise.js';
import { refDropoutMultiply } from './dropout.js';
import { refRopeRotate } from './rope.js';
import { refCrossEntropyBackward, refCrossEntropyForward } from './cross_entropy.js';
import { refGemm } from './gemm.js';
import { hostMemory } from '../host_memory.js';
import { refAdamwUpdate, refCopyBlocks, refFill, refGatherRows, refReduceSum, refScaleInPlace, refScatterAddRows, refSumOfSquares } from './memory_ops.js';
import { refLayerNormBackward, refLayerNormForward, refRmsNormBackward, refRmsNormForward } from './norms.js';
import {
  refLogSoftmaxBackward,
  refLogSoftmaxForward,
  refSoftmaxBackward,
  refSoftmaxForward,
} from './softmax.js';

export const refBackend: Backend<Float32Array> = {
  name: 'ref',
  memory: hostMemory,
  gemm: refGemm,
  rmsNormForward: refRmsNormForward,
  rmsNormBackward: refRmsNormBackward,
  layerNormForward: refLayerNormForward,
  layerNormBackward: refLayerNormBackward,
  softmaxForward: refSoftmaxForward,
  softmaxBackward: refSoftmaxBackward,
  logSoftmaxForward: refLogSoftmaxForward,
  logSoftmaxBackward: refLogSoftmaxBackward,
  crossEntropyForward: refCrossEntropyForward,
  crossEntropyBackward: refCrossEntropyBackward,
  attentionForward: refAttentionForward,
  attentionBackward: refAttentionBackward,
  activationForward: refActivationForward,
  activationBackward: refActivationBackward,
  swigluForward: refSwigluForward,
  swigluBackward: refSwigluBackward,
  binary: refBinary,
  copyStrided: refCopyStrided,
  dropoutMultiply: refDropoutMultiply,
  ropeRotate: refRopeRotate,
  setBf16Compute: (on) => {
    setBf16ComputeFlag(on);
    return false; // emulated
  },
  setInt8Activations: (on) => {
    setInt8ActivationsFlag(on);
    return on;
  },
  ...hostBookkeeping(),
};

/** The bookkeeping kernels of the host backends in TypeScript (memory_ops.ts); the native backend keeps those its addon lacks. */
export function hostBookkeeping(): Pick<Backend<Float32Array>, 'fill' | 'copyBlocks' | 'gatherRows' | 'scatterAddRows' | 'reduceSum' | 'sumOfSquares' | 'scaleInPlace' | 'adamwUpdate'> {
  return {
    fill: refFill,
    copyBlocks: refCopyBlocks,
    gatherRows: refGatherRows,
    scatterAddRows: refScatterAddRows,
    reduceSum: refReduceSum,
    sumOfSquares: refSumOfSquares,
    scaleInPlace: refScaleInPlace,
    adamwUpdate: refAdamwUpdate,
  };
}
