// What every family's GGUF export shares: the general.* keys, and a model's parameters written as
// llama.cpp reads them -- vectors (norms, biases) as F32, as llama.cpp keeps them; matrices as F32,
// F16, BF16, Q8_0 or Q4_0, except a matrix whose rows are not whole blocks of 32, which stays F32 in
// a quantized file (as llama.cpp's converter does). giftjs's int8 in groups of 32 is Q8_0 and its
// int4 is Q4_0, byte for byte. The family's own file (models/<family>/gguf.ts) says which parameter
// becomes which tensor and what its architecture's keys are.
import { float32ToBf16, float32ToFloat16 } from '../formats/dtype.js';
import { emptyQuantized } from '../formats/quantized.js';
import { GGML_TYPE, type GgmlType, type GgufModel, type GgufOutType, type GgufTensor } from '../io/gguf.js';
import { quantizeValues, type Tensor } from '../tensor/tensor.js';
import { releaseMappedWeight, type CausalLMConfig } from './causal_lm.js';

/** general.file_type: what most tensors are. */
const FILE_TYPE: Record<GgufOutType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };
const MATRIX_TYPE: Record<GgufOutType, GgmlType> = { f32: GGML_TYPE.F32, f16: GGML_TYPE.F16, bf16: GGML_TYPE.BF16, q8_0: GGML_TYPE.Q8_0, q4_0: GGML_TYPE.Q4_0 };

/** general.architecture, general.name (the source folder's name) and general.file_type. */
export function ggufGeneralMetadata(arch: string, sourceDir: string | null, outtype: GgufOutType): GgufModel['metadata'] {
  return [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: sourceDir?.split('/').filter(Boolean).pop() ?? 'giftjs' }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[outtype] }],
  ];
}

/** The keys every Transformer family writes: sizes, heads, the norms' epsilon (key_length = value_length = head_dim). */
export function ggufTransformerKeys(arch: string, c: CausalLMConfig, rmsNormEps: number): GgufModel['metadata'] {
  const u32 = (value: number) => ({ type: 'u32', value }) as const;
  return [
    [`${arch}.vocab_size`, u32(c.vocabSize)],
    [`${arch}.context_length`, u32(c.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, u32(c.hiddenSize)],
    [`${arch}.block_count`, u32(c.numLayers)],
    [`${arch}.feed_forward_length`, u32(c.intermediateSize)],
    [`${arch}.attention.head_count`, u32(c.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${arch}.attention.key_length`, u32(c.headDim)],
    [`${arch}.attention.value_length`, u32(c.headDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: rmsNormEps }],
  ];
}

export interface GgufTensorWriter {
  /**
   * Writes a parameter under llama.cpp's name. `transform` changes its float32 values first (q/k rows
   * permuted for llama.cpp's RoPE, Gemma's norms offset by 1).
   */
  add(name: string, t: Tensor, transform?: (values: Float32Array) => Float32Array): void;
  /** Writes values that are no parameter (llama.cpp's rope_freqs) as an F32 vector. */
  addVector(name: string, values: Float32Array): void;
  readonly tensors: GgufTensor[];
  /** Matrices kept as F32 where the type asked for cannot hold them (rows not whole blocks of 32). */
  readonly keptF32: string[];
}

export function ggufTensorWriter(outtype: GgufOutType): GgufTensorWriter {
  const tensors: GgufTensor[] = [];
  const keptF32: string[] = [];
  return {
    tensors,
    keptF32,
    addVector(name, values) {
      tensors.push({ name, shape: [values.length], type: GGML_TYPE.F32, data: bytesOf(values) });
    },
    add(name, t, transform) {
      let values = t.toFloat32Array();
      // A weight mapped from its checkpoint is read once: its pages go back now (the file keeps them).
      releaseMappedWeight(t);
      if (transform) values = transform(values);
      if (t.rank === 1) {
        tensors.push({ name, shape: [...t.shape], type: GGML_TYPE.F32, data: bytesOf(values) });
        return;
      }
      const [rows, cols] = t.shape as [number, number];
      let type = MATRIX_TYPE[outtype];
      if ((type === GGML_TYPE.Q8_0 || type === GGML_TYPE.Q4_0) && cols % 32 !== 0) {
        type = GGML_TYPE.F32;
        keptF32.push(name);
      }
      tensors.push({ name, shape: [rows, cols], type, data: encode(values, rows, cols, type, name) });
    },
  };
}

function bytesOf(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A [rows, cols] float32 matrix in a ggml type; Q8_0 / Q4_0 blocks (d as float16, then the codes) by llama.cpp's rules. */
function encode(values: Float32Array, rows: number, cols: number, type: GgmlType, name: string): Uint8Array {
  if (type === GGML_TYPE.F32) return bytesOf(values);
  if (type === GGML_TYPE.F16) return bytesOf(float32ToFloat16(values));
  if (type === GGML_TYPE.BF16) return bytesOf(float32ToBf16(values));
  // Q8_0: the int8 quantizer over groups of 32 (Q8_0's rule); Q4_0: the int4 quantizer (Q4_0's rule
  // and nibble order). Each block is its scale, then its codes.
  const q4 = type === GGML_TYPE.Q4_0;
  const q = q4
    ? quantizeValues(values, rows, cols, 'int4', `'${name}'`)
    : quantizeValues(values, rows, cols, 'int8', `'${name}'`, emptyQuantized('int8', rows, cols, 32));
  const codeBytes = q4 ? 16 : 32;
  const blocks = (rows * cols) / 32;
  const out = new Uint8Array(blocks * (2 + codeBytes));
  for (let b = 0; b < blocks; b++) {
    const at = b * (2 + codeBytes);
    out[at] = q.scales[b]! & 0xff;
    out[at + 1] = q.scales[b]! >> 8;
    out.set(q.codes.subarray(b * codeBytes, (b + 1) * codeBytes), at + 2);
  }
  return out;
}
