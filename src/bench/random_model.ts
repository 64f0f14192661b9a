// The benchmarks' models: a Llama shape with random frozen weights held as the dtype asked for,
// built one matrix at a time -- each is filled in float32, then quantized before the next is
// touched (bfloat16 bits are written directly) -- so an 8B shape never holds more than one float32
// matrix. The values repeat a table of normal draws (std 0.02) from a different offset per matrix:
// filling 8 billion values costs a copy, not the random generator.
import type { CausalLM } from '../models/causal_lm.js';
import { causalLMFromConfig } from '../models/registry.js';
import { Random } from '../tensor/random.js';
import type { QuantFormat } from '../formats/quantized.js';
import { availableMemory } from '../io/system_memory.js';
import { quantizedBytes } from '../formats/quantized.js';
import { float32ToBf16 } from '../formats/dtype.js';
import { frozenWeightHalves } from '../backend/huge_pages.js';
import { STEP_SHAPES, stepShape } from './step_shapes.js';
import { GiftjsError } from '../errors.js';

export type BenchDType = 'f32' | 'bf16' | QuantFormat;
export const BENCH_DTYPES: readonly BenchDType[] = ['f32', 'bf16', 'int8', 'int4'];

const TABLE = 1 << 16;

/** --shape's model with every matrix as `dtype` (the adapter attached afterwards trains beside them). */
export function randomBenchModel(shape: string, dtype: BenchDType, layers?: number, seed = 0): CausalLM {
  if (!BENCH_DTYPES.includes(dtype)) throw new GiftjsError(`unknown benchmark dtype '${String(dtype)}' (available: ${BENCH_DTYPES.join(', ')})`);
  const raw = stepShape(shape);
  if (!raw) throw new GiftjsError(`unknown --shape '${shape}' (available: ${Object.keys(STEP_SHAPES).join(', ')})`);
  const model = causalLMFromConfig({ ...raw, ...(layers ? { num_hidden_layers: layers } : {}) }, `--shape ${shape}`, null); // zeros that cost nothing until written
  const matrices = model.parameters().filter((p) => p.rank === 2);
  const bytes = matrices.reduce((n, p) => n + (dtype === 'f32' ? 4 * p.size : dtype === 'bf16' ? 2 * p.size : quantizedBytes(dtype, p.shape[0]!, p.shape[1]!)), 0);
  assertWeightsFit(`--shape ${shape} with ${dtype} weights`, bytes, `--dtype ${dtype === 'f32' ? 'bf16' : 'int4'} or --layers`);
  const r = new Random(seed);
  const table = Float32Array.from({ length: TABLE }, () => 0.02 * r.normal());
  const bf16Table = float32ToBf16(table); // rounded as storeAsBf16 rounds, value by value
  // d[i] = table[(i + start) % TABLE]
  const repeat = <T extends Float32Array | Uint16Array>(d: T, from: T, index: number) => {
    for (let i = 0, at = (index * 7919) % TABLE; i < d.length; at = 0) {
      const n = Math.min(TABLE - at, d.length - i);
      d.set(from.subarray(at, at + n) as never, i);
      i += n;
    }
    return d;
  };
  matrices.forEach((p, index) => {
    p.requiresGrad = false;
    // bf16 bits adopted directly where the backend keeps them: no float32 copy of the matrix, which
    // would wait for the garbage collector and stand in the benchmark's peak memory.
    // Huge pages under them, as under a loaded model's: a BF16 file mapped in place is made of them
    // (the page cache's large folios), and a weight rounded or quantized as loaded asks for them.
    if (dtype === 'bf16' && p.adoptBf16Bits(repeat(frozenWeightHalves(p.size), bf16Table, index))) return;
    p.writeHost((d) => void repeat(d, table, index));
    if (dtype === 'bf16') p.storeAsBf16();
    else if (dtype !== 'f32') p.quantize(dtype, `${shape} matrix ${index}`);
  });
  return model;
}

/**
 * Refuses, before anything is allocated, a benchmark model whose matrices alone would take more than
 * 90% of the memory this process may use: the message names the need, the budget and `tryInstead`.
 */
export function assertWeightsFit(what: string, bytes: number, tryInstead: string): void {
  const budget = availableMemory();
  if (bytes > 0.9 * budget.bytes) {
    throw new GiftjsError(`${what} needs ${(bytes / 1e9).toFixed(1)} GB for its matrices, and this process may use ${(budget.bytes / 1e9).toFixed(1)} GB (${budget.source}); try ${tryInstead}`);
  }
}
