// A Llama-shaped model folder with random weights, written as transformers lays one out (config.json,
// safetensors shards with an index past one shard, the dtype given), tensor by tensor: a folder of
// any size is written without holding more than one tensor. The values repeat a table of normal
// draws (std 0.02), so writing 16 GB costs the disk, not the random generator. For tests and
// benchmarks of loading and memory; a tokenizer folder can be copied in beside it.
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { safetensorsChunks, type SafetensorsRaw } from '../io/safetensors.js';
import { float32ToBf16, float32ToFloat16 } from '../formats/dtype.js';
import { Random } from '../tensor/random.js';

export interface SyntheticLlamaShape {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  tied: boolean;
  maxPositions?: number;
}

const TABLE = 1 << 16;

/** Writes the folder; returns the bytes of its weights. `shardBytes` splits them as save_pretrained's max_shard_size does. */
export function writeSyntheticLlama(dir: string, s: SyntheticLlamaShape, dtype: 'F32' | 'BF16' | 'F16', o: { shardBytes?: number; tokenizerFrom?: string; seed?: number; sparse?: boolean } = {}): number {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: s.hidden, intermediate_size: s.intermediate, num_hidden_layers: s.layers,
    num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, vocab_size: s.vocab, max_position_embeddings: s.maxPositions ?? 2048,
    rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: s.tied, hidden_act: 'silu', torch_dtype: { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[dtype],
  }, null, 2)}\n`);
  if (o.tokenizerFrom) for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (existsSync(join(o.tokenizerFrom, f))) copyFileSync(join(o.tokenizerFrom, f), join(dir, f));
  const rng = new Random(o.seed ?? 1);
  const normal = Float32Array.from({ length: TABLE }, () => 0.02 * rng.normal());
  const half = dtype === 'F16' ? float32ToFloat16 : float32ToBf16;
  const bits = half(normal);
  const tensor = (shape: number[], fill?: number): SafetensorsRaw => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (dtype === 'F32') {
      const v = new Float32Array(n);
      if (fill !== undefined) v.fill(fill);
      else for (let i = 0; i < n; i += TABLE) v.set(normal.subarray(0, Math.min(TABLE, n - i)), i);
      return { dtype, shape, bytes: new Uint8Array(v.buffer) };
    }
    const v = new Uint16Array(n);
    if (fill !== undefined) v.fill(half(Float32Array.of(fill))[0]!);
    else for (let i = 0; i < n; i += TABLE) v.set(bits.subarray(0, Math.min(TABLE, n - i)), i);
    return { dtype, shape, bytes: new Uint8Array(v.buffer) };
  };
  const headDim = s.hidden / s.heads;
  const names: [string, number[], number?][] = [['model.embed_tokens.weight', [s.vocab, s.hidden]]];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    names.push(
      [`${p}.input_layernorm.weight`, [s.hidden], 1], [`${p}.post_attention_layernorm.weight`, [s.hidden], 1],
      [`${p}.self_attn.q_proj.weight`, [s.hidden, s.hidden]], [`${p}.self_attn.k_proj.weight`, [s.kvHeads * headDim, s.hidden]],
      [`${p}.self_attn.v_proj.weight`, [s.kvHeads * headDim, s.hidden]], [`${p}.self_attn.o_proj.weight`, [s.hidden, s.hidden]],
      [`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]], [`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]], [`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]],
    );
  }
  names.push(['model.norm.weight', [s.hidden], 1]);
  if (!s.tied) names.push(['lm_head.weight', [s.vocab, s.hidden]]);
  // Shards of whole tensors, in order, each up to shardBytes (one shard when absent).
  const width = dtype === 'F32' ? 4 : 2;
  const shards: [string, number[], number?][][] = [[]];
  let inShard = 0;
  for (const entry of names) {
    const bytes = entry[1].reduce((a, b) => a * b, 1) * width;
    if (o.shardBytes && inShard > 0 && inShard + bytes > o.shardBytes) {
      shards.push([]);
      inShard = 0;
    }
    shards.at(-1)!.push(entry);
    inShard += bytes;
  }
  let total = 0;
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const file = shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    for (const [name] of shard) weightMap[name] = file;
    if (o.sparse) {
      total += writeSparseShard(join(dir, file), shard.map(([name, shape]) => [name, shape]), dtype);
      return;
    }
    const raws: Record<string, SafetensorsRaw> = {};
    for (const [name, shape, fill] of shard) {
      raws[name] = tensor(shape, fill);
      total += raws[name]!.bytes.length;
    }
    writeFileAtomic(join(dir, file), safetensorsChunks(raws, { format: 'pt' }));
  });
  if (shards.length > 1) writeFileSync(join(dir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
  return total;
}

/**
 * A shard whose header is real and whose data is a hole (a sparse file of the full size, reading as
 * zeros): a 140 GB model's folder for tests that must refuse it without reading its weights.
 */
function writeSparseShard(path: string, tensors: [string, number[]][], dtype: 'F32' | 'BF16' | 'F16'): number {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, length);
    writeSync(fd, json);
    ftruncateSync(fd, 8 + json.length + offset);
  } finally {
    closeSync(fd);
  }
  return offset;
}
