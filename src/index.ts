// giftjs: the public API.
export { Tensor } from './tensor/tensor.js';
export { noGrad, isGradEnabled } from './tensor/autograd.js';
export { tidy, keep, memoryStats, setPoolLimit, type MemoryStats } from './tensor/memory.js';
export { Random } from './tensor/random.js';
export { bf16ToFloat32, float32ToBf16, float16ToFloat32, float32ToFloat16, type StorageDType } from './tensor/dtype.js';
export { shapeString, sizeOf, type Shape } from './tensor/shape.js';
export { getBackend, setBackend, withBackend, useBackend, isNativeAvailable, setBf16Compute, nativeAddon, setNumThreads, getNumThreads } from './backend/index.js';
export type { Backend, BackendName, GemmArgs, AttentionShape } from './backend/backend.js';
export * from './ops/index.js';
export * from './nn/index.js';
export { TinyTransformer, type TinyTransformerConfig } from './testing/tiny_transformer.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './testing/gradcheck.js';
// Models, PEFT methods, data, training, evaluation, generation (the library behind the CLI).
export { LlamaForCausalLM } from './models/llama/model.js';
export { KVCache, shiftLabels, type CausalLM, type CausalLMConfig } from './models/causal_lm.js';
export { parseLlamaConfig, type LlamaConfig } from './models/llama/config.js';
export {
  loadCausalLM, readModelConfig, loadSequenceClassifier, loadImageClassifier, loadModel, modelArchitecture, modelFamily, modelFamilies, registerModelFamily,
  type ModelFamily, type ModelKind, type LoadOptions,
} from './models/registry.js';
export { loadStateDict, type StateDictOptions, type TensorSource } from './models/load_state_dict.js';
export { UseLiteModel, UseLiteForSequenceClassification, type EncoderInput, type EncoderOutput } from './models/use_lite/model.js';
export { parseUseLiteConfig, type UseLiteConfig } from './models/use_lite/config.js';
export { convertUseLite, defaultUseLiteSource } from './models/use_lite/convert.js';
export { readTfjsWeights } from './io/tfjs_graph.js';
export { exportPretrained } from './models/export.js';
export { Tokenizer, type ChatMessage } from './io/tokenizer.js';
export { SafetensorsFile, saveSafetensors } from './io/safetensors.js';
export { CheckpointReader } from './io/hf_folder.js';
export { convertLlama2c } from './io/llama2c.js';
export { attachAdapter, saveAdapter, loadAdapter, readAdapterConfig } from './peft/adapter_io.js';
export { peftMethod, METHOD_NAMES } from './peft/registry.js';
export type { AttachedAdapter, AdapterConfig, MethodName } from './peft/method.js';
export { readRecords, buildExamples, detectFormat, type Example, type DataFormat } from './data/examples.js';
export { writeMobyDickJsonl, mobyDickPassages, spamAssassinRecords, emailToText } from './data/corpora.js';
export { buildSeqClsExamples, collateSeqCls, labelSpaceOf, splitRecords, type SeqClsExample, type LabelSpace } from './data/seqcls.js';
export { loadRecords } from './data/load.js';
export { readCsv, readTsv } from './data/tables.js';
export { readParquet } from './data/parquet.js';
export { accuracy, f1Score, matthewsCorrelation, pearson, spearman } from './eval/metrics.js';
export { trainModel, heldOutLoss, DEFAULT_TRAIN_OPTIONS, type TrainOptions, type TrainResult } from './train/trainer.js';
export type { TrainTask } from './train/task.js';
export { sequenceClassificationTask, type SequenceClassifier } from './train/tasks/sequence_classification.js';
export { fineTuneClassifier, type ClassifierRunOptions, type ClassifierRunResult } from './train/classifier_run.js';
export { evaluateSequenceClassifier, evaluateImageClassifier, formatMetrics, type ClassificationMetrics } from './eval/classification.js';
export { imageClassificationTask, collateImages } from './train/tasks/image_classification.js';
export { fineTuneImageClassifier } from './train/image_classifier_run.js';
export { loadImageDataset, loadIdxDataset, mnistDigits, readIdx, readPreprocessing, loadImageFile, FASHION_MNIST_LABELS, DIGIT_LABELS, type ImageExample, type ImageSet } from './data/images.js';
export { ViTForImageClassification, imagesToPatches, readViTConfig, saveViTPretrained, vitConfigJson, type ViTConfig } from './models/vit/model.js';
export { BertForSequenceClassification, BertModel } from './models/bert/model.js';
export { parseBertConfig, type BertConfig } from './models/bert/config.js';
export { AdamW } from './train/optimizer.js';
export { writeTrainingReport } from './train/report.js';
export { generate, type GenerateOptions } from './generate/generate.js';
export { evaluatePerplexity } from './eval/perplexity.js';
export { evaluateGenerationTask } from './eval/tasks.js';
export { GIFTJS_VERSION } from './version.js';
