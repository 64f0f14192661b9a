// giftjs in a browser: the entry of the ESM bundle (dist/browser/giftjs.mjs, built by
// scripts/browser-bundle.mjs). The same library on the webgpu backend (navigator.gpu) or on `ref`:
// models and tokenizers load from folders mounted in memory (fetched files, the File API), training
// and evaluation read the GPU through the asynchronous boundary, and a trained adapter comes back as
// the bytes of its files. No native addon, no file system.
export { Tensor } from './tensor/tensor.js';
export { noGrad } from './tensor/autograd.js';
export { tidy } from './tensor/memory.js';
export { Random } from './tensor/random.js';
export { getBackend, useBackend, refBackend } from './backend/index.js';
export type { Backend } from './backend/backend.js';
export { createWebGpuBackend, requestWebGpuDevice, type WebGpuBackend } from './backend/webgpu/index.js';
export { mountFolder, unmountFolder, fileExists } from './io/files.js';
export { Tokenizer } from './io/tokenizer.js';
export { UseLiteModel, UseLiteForSequenceClassification } from './models/use_lite/model.js';
export { LlamaForCausalLM } from './models/llama/model.js';
export { BertForSequenceClassification } from './models/bert/model.js';
export { loadSequenceClassifier, modelArchitecture } from './models/registry.js';
export { attachAdapter, adapterFiles } from './peft/adapter_io.js';
export { buildSeqClsExamples, labelSpaceOf, splitRecords, type LabelSpace } from './data/seqcls.js';
export type { DataRecord } from './data/examples.js';
export { DEFAULT_TRAIN_OPTIONS, trainModel, type TrainOptions, type TrainResult } from './train/trainer.js';
export { fineTuneClassifier, type ClassifierRunOptions, type ClassifierRunResult } from './train/classifier_run.js';
export { evaluateSequenceClassifier, formatMetrics, type ClassificationMetrics } from './eval/classification.js';
export { GIFTJS_VERSION } from './version.js';
