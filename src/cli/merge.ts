// gift merge: folds an adapter into the base weights and writes a Hugging Face folder.
import { exportPretrained } from '../models/export.js';
import { parse, requireString } from './args.js';
import { loadModelWithAdapter } from './model_loading.js';

export const MERGE_HELP = `gift merge --model <dir> --adapter <dir> --out <dir>

Merges the adapter into the model's weights (GIFT: W + s W phi^T psi^T; LoRA: W + s B A) and
writes a Hugging Face folder to --out: config.json, model.safetensors in the source dtype, and the
tokenizer files. The folder is written atomically.
`;

export async function mergeCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } });
  if (values.help) {
    console.log(MERGE_HELP);
    return 0;
  }
  const modelDir = requireString(values, 'model', MERGE_HELP);
  const adapterDir = requireString(values, 'adapter', MERGE_HELP);
  const out = requireString(values, 'out', MERGE_HELP);
  const { model, adapter } = loadModelWithAdapter(modelDir, adapterDir);
  adapter!.merge();
  exportPretrained(model, out);
  console.log(`merged ${adapter!.method} adapter ${adapterDir} into ${modelDir} -> ${out}`);
  return 0;
}
