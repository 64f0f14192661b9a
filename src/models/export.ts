// Writes a model as a Hugging Face folder that transformers loads unchanged: the source
// config.json, weights in their source dtype, and the tokenizer and generation files copied.
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { saveSafetensors, type SafetensorsEntry } from '../io/safetensors.js';
import type { LlamaForCausalLM } from './llama/model.js';

const COPIED_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'generation_config.json'];

/** dtype: store every weight so (default: each tensor's dtype in the source checkpoint). */
export function exportPretrained(model: LlamaForCausalLM, outDir: string, dtype?: 'F32' | 'BF16' | 'F16'): void {
  const entries: Record<string, SafetensorsEntry> = {};
  for (const [name, t] of model.namedParameters()) {
    const src = model.sourceDtypes.get(name);
    entries[name] = { tensor: t, dtype: dtype ?? (src === 'BF16' || src === 'F16' ? src : t.dtype === 'bfloat16' ? 'BF16' : 'F32') };
  }
  const config = { ...model.config.raw };
  if (dtype) config.torch_dtype = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[dtype];
  writeFolderAtomic(outDir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), entries, { format: 'pt' });
    if (model.sourceDir) {
      for (const f of COPIED_FILES) if (existsSync(join(model.sourceDir, f))) copyFileSync(join(model.sourceDir, f), join(tmp, f));
    }
  });
}
