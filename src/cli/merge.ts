// gift merge: folds an adapter into the base weights and writes a Hugging Face folder.
import { exportClassifier, exportPretrained } from '../models/export.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, modelArchitecture, modelFamily } from '../models/registry.js';
import { ADAPTER_WEIGHTS, loadAdapter, readAdapterConfig } from '../peft/adapter_io.js';
import { estimateClassifierMergeMemory } from '../train/classifier_memory.js';
import { assertOutputApart } from '../io/output_folder.js';
import { parse, requireString } from './args.js';
import { loadModelWithAdapter, quantizeOption, requireModelFolder } from './model_loading.js';
import { GiftjsError } from '../errors.js';
import { assertFitsInMemory, describeEstimate, memoryBudget, memoryRefusal } from '../train/memory_estimate.js';
import { headOptionsOfTask, type AdapterTask } from '../train/classifier_run.js';

export const MERGE_HELP = `gift merge --model <dir|org/name> --adapter <dir> --out <dir> [--quantize int8|int4] [--memory-limit SIZE]

Merges the adapter into the model's weights (GIFT: W + s W phi^T psi^T; LoRA: W + s B A) and
writes a Hugging Face folder to --out: config.json, model.safetensors in the source dtype, and the
tokenizer files. The folder is written atomically. A classifier adapter (gift train --task seqcls or
imgcls) is merged with its head: the folder is the task model (BertForSequenceClassification,
ViTForImageClassification, ...) with its label names, loadable without the adapter.
--quantize int8|int4 merges onto the base quantized as the adapter was trained on it (gift train
--quantize): every weight is written in bf16 from its dequantized values, the merged ones with the
adapter's change added, as PEFT merges into a dequantized QLoRA base.
The memory a merge needs (its weights in float32, and a language model's copies written) is estimated
before loading; past what the system has available (or --memory-limit) the command is refused.
`;

export async function mergeCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, quantize: { type: 'string' }, 'memory-limit': { type: 'string' } });
  if (values.help) {
    console.log(MERGE_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, MERGE_HELP);
  const adapterDir = requireString(values, 'adapter', MERGE_HELP);
  const out = requireString(values, 'out', MERGE_HELP);
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: adapterDir }]);
  const task = readAdapterConfig(adapterDir).task as AdapterTask | undefined;
  if (task?.type === 'seqcls' || task?.type === 'imgcls') {
    if (values.quantize !== undefined) throw new GiftjsError(`--quantize applies to language models; ${adapterDir} is a ${task.type} adapter`);
    const labels = task.id2label ?? [];
    // Memory known before it is spent: the weights in float32 and the adapter (it had loaded unestimated).
    const kind = task.type === 'imgcls' ? 'image-classifier' : 'sequence-classifier';
    const head = headOptionsOfTask(task, kind);
    if (modelFamily(modelDir).shapes) {
      const estimate = estimateClassifierMergeMemory(modelDir, kind, head, statSync(join(adapterDir, ADAPTER_WEIGHTS)).size);
      const budget = memoryBudget(values['memory-limit'] as string | undefined);
      if (estimate.bytes > budget.bytes) throw memoryRefusal('gift merge', estimate, budget, 'Merge it on a machine with more memory', 'flags');
      console.error(`memory: about ${describeEstimate(estimate)}`);
    }
    const model = loadModel(modelDir, kind, head);
    const adapter = loadAdapter(adapterDir, model);
    adapter.merge();
    // The task model's architecture (a bare encoder folder becomes BertForSequenceClassification, ...).
    const arch = (model as { architecture?: string }).architecture ?? modelArchitecture(modelDir);
    exportClassifier(model, modelDir, out, arch, labels, task.problem_type ?? null, task.pair_head === true ? { pair_head: true } : {});
    console.log(`merged ${adapter.method} adapter ${adapterDir} (with its head) into ${modelDir} -> ${out}`);
    return 0;
  }
  const quantize = quantizeOption(values.quantize);
  // Memory known before it is spent: the weights in float32 (merging changes them) and their written copies.
  const estimate = assertFitsInMemory(modelDir, { command: 'merge', batch: 1, length: 1, quantize }, memoryBudget(values['memory-limit'] as string | undefined), 'gift merge');
  console.error(`memory: about ${describeEstimate(estimate)}`);
  const { model, adapter } = loadModelWithAdapter(modelDir, adapterDir, { quantize });
  adapter!.merge();
  exportPretrained(model, out, quantize ? 'BF16' : undefined);
  console.log(`merged ${adapter!.method} adapter ${adapterDir} into ${modelDir} -> ${out}`);
  if (quantize) console.log(`the base was quantized (${quantize}): every weight is written in bf16 from its dequantized values, the merged ones with the adapter's change added`);
  return 0;
}
