// The `ref` backend: every kernel in plain TypeScript. Runs anywhere; the oracle for `native`.
import type { Backend } from '../backend.js';
import { refActivationBackward, refActivationForward, refSwigluBackward, refSwigluForward } from './activations.js';
import { refAttentionBackward, refAttentionForward } from './attention.js';
import { refBinary, refCopyStrided, refRopeRotate } from './elementwise.js';
import { refGemm } from './gemm.js';
import { refLayerNormBackward, refLayerNormForward, refRmsNormBackward, refRmsNormForward } from './norms.js';
import {
  refCrossEntropyBackward,
  refCrossEntropyForward,
  refLogSoftmaxBackward,
  refLogSoftmaxForward,
  refSoftmaxBackward,
  refSoftmaxForward,
} from './softmax.js';

export const refBackend: Backend = {
  name: 'ref',
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
  ropeRotate: refRopeRotate,
};
