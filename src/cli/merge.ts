// gift merge: folds an adapter into the base weights and writes a Hugging Face folder.
import { exportClassifier, exportPretrained } from '../models/export.js';
import { loadModel, modelArchitecture } from '../models/registry.js';
import { loadAdapter, readAdapterConfig } from '../peft/adapter_io.js';
import { assertOutputApart } from '../io/output_folder.js';
import { parse, requireString } from './args.js';
import { loadModelWithAdapter, requireModelFolder } from './model_loading.js';

export const MERGE_HELP = `gift merge --model <dir|org/name> --adapter <dir> --out <dir>

Merges the adapter into the model's weights (GIFT: W + s W phi^T psi^T; LoRA: W + s B A) and
writes a Hugging Face folder to --out: config.json, model.safetensors in the source dtype, and the
tokenizer files. The folder is written atomically. A classifier adapter (gift train --task seqcls or
imgcls) is merged with its head: the folder is the task model (BertForSequenceClassification,
ViTForImageClassification, ...) with its label names, loadable without the adapter.
`;

export async function mergeCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } });
  if (values.help) {
    console.log(MERGE_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, MERGE_HELP);
  const adapterDir = requireString(values, 'adapter', MERGE_HELP);
  const out = requireString(values, 'out', MERGE_HELP);
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: adapterDir }]);
  const task = readAdapterConfig(adapterDir).task as { type?: string; id2label?: string[]; problem_type?: string; pair_head?: boolean } | undefined;
  if (task?.type === 'seqcls' || task?.type === 'imgcls') {
    const labels = task.id2label ?? [];
    const model = task.type === 'imgcls'
      ? loadModel(modelDir, 'image-classifier', { labels })
      : loadModel(modelDir, 'sequence-classifier', { numLabels: task.problem_type === 'regression' ? 1 : labels.length, pairs: task.pair_head === true });
    const adapter = loadAdapter(adapterDir, model);
    adapter.merge();
    // The task model's architecture (a bare encoder folder becomes BertForSequenceClassification, ...).
    const arch = (model as { architecture?: string }).architecture ?? modelArchitecture(modelDir);
    exportClassifier(model, modelDir, out, arch, labels, task.problem_type ?? null, task.pair_head === true ? { pair_head: true } : {});
    console.log(`merged ${adapter.method} adapter ${adapterDir} (with its head) into ${modelDir} -> ${out}`);
    return 0;
  }
  const { model, adapter } = loadModelWithAdapter(modelDir, adapterDir);
  adapter!.merge();
  exportPretrained(model, out);
  console.log(`merged ${adapter!.method} adapter ${adapterDir} into ${modelDir} -> ${out}`);
  return 0;
}
