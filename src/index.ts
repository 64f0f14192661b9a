// giftjs: the public API.
export { Tensor } from './tensor/tensor.js';
export { noGrad, isGradEnabled } from './tensor/autograd.js';
export { tidy, keep, memoryStats, setPoolLimit, type MemoryStats } from './tensor/memory.js';
export { Random } from './tensor/random.js';
export { bf16ToFloat32, float32ToBf16, float16ToFloat32, float32ToFloat16, type StorageDType } from './tensor/dtype.js';
export { shapeString, sizeOf, type Shape } from './tensor/shape.js';
export { getBackend, setBackend, withBackend, useBackend, isNativeAvailable, nativeAddon, setNumThreads, getNumThreads } from './backend/index.js';
export type { Backend, BackendName, GemmArgs, AttentionShape } from './backend/backend.js';
export * from './ops/index.js';
export * from './nn/index.js';
export { TinyTransformer, type TinyTransformerConfig } from './testing/tiny_transformer.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './testing/gradcheck.js';
