// gift export: a GIFT adapter in the layout of the GIFT authors' PEFT fork (--format wegeft), or the
// model with its adapter merged as one GGUF file for llama.cpp (--format gguf).
import { requireModelFolder } from './model_loading.js';
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { saveSafetensors } from '../io/safetensors.js';
import { assertOutputApart } from '../io/output_folder.js';
import { buildModelShapes, causalLMShapes, loadCausalLM, modelFamilies, modelFamily } from '../models/registry.js';
import { loadAdapter } from '../peft/adapter_io.js';
import { AttachedGift } from '../peft/gift/model.js';
import { toWegeft } from '../peft/gift/wegeft.js';
import { parse, requireString } from './args.js';
import { GiftjsError } from '../errors.js';
import { GGUF_OUT_TYPES, ggufChunks, type GgufOutType } from '../io/gguf.js';
import { ggufTokenizerMetadata } from '../io/gguf_tokenizer.js';
import { estimateOf, memoryBudget, memoryRefusal, runtimePart, storedDtypes } from '../train/memory_estimate.js';
import { nativeAddon } from '../backend/index.js';
import { environmentSwitch } from '../environment.js';
import type { AvailableMemory } from '../io/system_memory.js';

export const EXPORT_HELP = `gift export --format wegeft --model <dir|org/name> --adapter <dir> --out <dir>
gift export --format gguf --model <dir|org/name> [--adapter <dir>] --out <file.gguf> [--outtype f32|f16|bf16|q8_0|q4_0] [--memory-limit SIZE]

Writes a GIFT adapter in the layout of the GIFT authors' PEFT fork (WeGeFT): adapter_config.json with
r, wegeft_alpha, target_modules, tied_modules (one group per GIFT pair, each layer's exact path) and
transform_dim "input"; adapter_model.safetensors with each pair once, on its group's first layer, as
wegeft_phi.weight (phi) and wegeft_psi.weight (psi transposed), both [r, in]. gift convert wegeft reads
such a folder back.

--format gguf writes the model, with the adapter merged when one is given, as one GGUF file that
llama.cpp (and Ollama, LM Studio, node-llama-cpp) loads: llama.cpp's "llama" architecture keys, its
tensor names (q/k rows reordered for its RoPE), the tokenizer and chat template from the folder.
--outtype (default f16): the matrices' type; q8_0 and q4_0 are llama.cpp's 8-bit and 4-bit blocks (a matrix whose rows
are not whole blocks of 32 stays f32, and is named). Norms stay f32. The export holds the model in
float32 and the file's bytes: past what the system has available (or --memory-limit) it is refused
before loading, saying what it needs.
`;

export async function exportCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values } = parse(argv, { format: s, model: s, adapter: s, out: s, outtype: s, 'memory-limit': s });
  if (values.help) {
    console.log(EXPORT_HELP);
    return 0;
  }
  if (values.format === 'gguf') return exportGguf(values);
  if (values.format !== 'wegeft') throw new GiftjsError(`--format must be wegeft or gguf, got ${JSON.stringify(values.format ?? null)} (gift export --help)`);
  if (values.outtype !== undefined || values['memory-limit'] !== undefined) throw new GiftjsError(`--${values.outtype !== undefined ? 'outtype' : 'memory-limit'} goes with --format gguf`);
  const modelDir = await requireModelFolder(values, EXPORT_HELP);
  const adapterDir = requireString(values, 'adapter', EXPORT_HELP);
  const out = requireString(values, 'out', EXPORT_HELP);
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: adapterDir }]);
  // The fork's layout needs the model's layer names and shapes, not its weights: the model is built as
  // shapes (it had been loaded whole in float32, with no memory estimate, to name its layers).
  const adapter = loadAdapter(adapterDir, causalLMShapes(modelDir));
  if (!(adapter instanceof AttachedGift)) throw new GiftjsError(`${adapterDir}: a ${adapter.method} adapter; only GIFT adapters have a WeGeFT form`);
  const { config, tensors } = toWegeft(adapter, modelDir);
  writeFolderAtomic(out, (tmp) => {
    writeFileAtomic(join(tmp, 'adapter_config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  });
  console.log(`exported ${adapterDir} as WeGeFT -> ${out}`);
  return 0;
}

async function exportGguf(values: Record<string, unknown>): Promise<number> {
  const modelDir = await requireModelFolder(values, EXPORT_HELP);
  const out = requireString(values, 'out', EXPORT_HELP);
  const outtype = (values.outtype ?? 'f16') as GgufOutType;
  if (!GGUF_OUT_TYPES.includes(outtype)) throw new GiftjsError(`--outtype must be ${GGUF_OUT_TYPES.join(', ')}, got '${String(values.outtype)}'`);
  const adapterDir = values.adapter as string | undefined;
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: adapterDir }]);
  const family = modelFamily(modelDir);
  if (family.ggufExport === false) throw new GiftjsError(`${modelDir}: GGUF export of ${family.architectures.join(', ')} is not supported yet (the ${modelFamilies().filter((f) => f.kind === 'causal-lm' && f.ggufExport !== false).map((f) => f.name).join(', ')} families are exported)`);
  const tokenizer = ggufTokenizerMetadata(modelDir); // refused before any work when its kind is not written
  assertExportFits(modelDir, outtype, adapterDir === undefined, memoryBudget(values['memory-limit'] as string | undefined));
  // Without an adapter nothing changes the weights: BF16/F16 ones are read as stored (mapped) and converted
  // one at a time. Merging needs them in float32, and so does a GGUF's blocks' exact conversion.
  const model = loadCausalLM(modelDir, { keepStoredDtype: adapterDir === undefined });
  if (!model.gguf) throw new GiftjsError(`${modelDir}: ${model.config.architecture} has no GGUF form in giftjs yet`);
  if (adapterDir) loadAdapter(adapterDir, model).merge();
  const { metadata, tensors, keptF32, notes } = model.gguf(outtype);
  writeFileAtomic(out, ggufChunks([...metadata, ...tokenizer], tensors));
  console.log(`exported ${modelDir}${adapterDir ? ` with ${adapterDir} merged` : ''} as GGUF (${outtype}) -> ${out}`);
  if (keptF32.length > 0) console.log(`kept as f32 (rows not whole blocks of 32): ${keptF32.join(', ')}`);
  for (const note of notes) console.error(`note: ${note}`);
  return 0;
}

/** Bytes per value of each --outtype (Q8_0: 34 per 32; Q4_0: 18 per 32). */
const OUT_BYTES: Record<GgufOutType, number> = { f32: 4, f16: 2, bf16: 2, q8_0: 34 / 32, q4_0: 18 / 32 };

/**
 * The export holds the model (in float32 when an adapter is merged into it; else as stored, its
 * mapped weights one at a time) and the file's bytes until they are written: refused before loading,
 * naming both, when that passes what the process may use.
 */
function assertExportFits(modelDir: string, outtype: GgufOutType, asStored: boolean, budget: AvailableMemory): void {
  const parameters = buildModelShapes(modelDir, 'causal-lm')?.namedParameters() ?? [];
  const values = parameters.reduce((n, [, p]) => n + p.size, 0);
  const dtypes = asStored ? storedDtypes(modelDir) : null;
  const mapped = nativeAddon() !== null && environmentSwitch('GIFTJS_MMAP');
  let model = 0;
  let largest = 0; // the float32 copy of the weight being converted
  for (const [name, p] of parameters) {
    const stored = dtypes?.get(name) ?? 'F32';
    largest = Math.max(largest, p.size * 4);
    if (dtypes && p.rank === 2 && (stored === 'BF16' || stored === 'F16')) model += mapped ? 0 : p.size * 2;
    else model += p.size * 4; // float32: merged into, or a GGUF's blocks dequantized
  }
  const estimate = estimateOf([
    [`the model ${dtypes ? 'as stored' : 'in float32, to merge the adapter'}`, model + largest],
    [`the ${outtype} file's bytes`, values * OUT_BYTES[outtype]],
    runtimePart(),
  ]);
  if (estimate.bytes <= budget.bytes) return;
  throw memoryRefusal('gift export --format gguf', estimate, budget, `A smaller --outtype shrinks only the file's part${dtypes ? '' : '; without --adapter the weights are read as stored'}`, 'flags');
}
