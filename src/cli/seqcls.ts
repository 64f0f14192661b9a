// gift train on an encoder folder, gift eval --task seqcls: sequence classification (and regression),
// with data from TSV/CSV/JSONL/Parquet files and GLUE's metrics.
import { writeFilesAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { loadRecords } from '../data/load.js';
import { memoryBudget } from '../train/memory_estimate.js';
import { buildSeqClsExamples } from '../data/seqcls.js';
import { evaluateSequenceClassifier, formatMetrics } from '../eval/classification.js';
import { Tokenizer } from '../io/tokenizer.js';
import { loadSequenceClassifier } from '../models/registry.js';
import { ADAPTER_CONFIG, loadAdapter, readAdapterConfig } from '../peft/adapter_io.js';
import type { Preset } from '../train/presets.js';
import { fineTuneClassifier, labelSpaceOfTask, taskInfoFromAdapterConfig } from '../train/classifier_run.js';
import type { TrainCallbacks, TrainOptions } from '../train/trainer.js';
import { intOption, listOption } from './args.js';
import { reportClassifierRun } from './classifier_report.js';
import { assertClassifierEvalFits } from './classifier_eval_memory.js';
import { GiftjsError } from '../errors.js';

export const SEQCLS_TRAIN_HELP = `  An encoder folder (BERT, RoBERTa, Universal Sentence Encoder Lite: gift convert use-lite) trains a sequence classifier:
    --text-fields a[,b]  the text column(s); two make a sentence pair (default: sentence1,sentence2 | question,sentence | sentence | text)
    --label-field f      the label column (default: label, or score)   --regression   one output, squared error (STS-B)
    --columns a,b,...    column names for a TSV/CSV without a header row (GLUE CoLA)
    --test-data and --eval-data are both scored at the end (accuracy, F1, ...); --eval-data's loss is logged during training
  GIFT/LoRA/BitFit train a new classifier head beside the method (modules_to_save: classifier); --head-lr sets its lr.
  Pairs: BERT/RoBERTa read them as one sequence; USE Lite embeds each text alone and its head reads [u, v, (u-v)^2, u*v].
  Default targets: query,value; default --max-length 128 (or the encoder's positions where it has fewer).`;

interface SeqClsTrainContext {
  values: Record<string, unknown>;
  modelDir: string;
  dataPath: string;
  out: string;
  options: TrainOptions;
  methodConfig: Record<string, unknown>;
  preset: Preset | null;
  callbacks: TrainCallbacks;
  onDone: () => void;
  signal?: AbortSignal;
}

export async function trainSequenceClassification(c: SeqClsTrainContext): Promise<number> {
  const v = c.values;
  const p = c.preset?.seqcls;
  const columns = listOption(v.columns) ?? p?.columns;
  const read = async (path: unknown) => (typeof path === 'string' ? loadRecords(path, columns ? { columns } : {}) : undefined);
  const train = (await read(c.dataPath))!;
  if (train.length === 0) throw new GiftjsError(`${c.dataPath}: no records`);
  if (listOption(v.targets) === null && !(c.preset?.method.method === c.methodConfig.method) && 'target_modules' in c.methodConfig) c.methodConfig.target_modules = ['query', 'value'];
  const r = await fineTuneClassifier({
    modelDir: c.modelDir, train, validation: await read(v['eval-data']), test: await read(v['test-data']),
    textFields: listOption(v['text-fields']) ?? p?.textFields, labelField: (v['label-field'] as string | undefined) ?? p?.labelField,
    regression: v.regression === true || p?.regression === true, maxLength: v['max-length'] === undefined ? undefined : intOption(v['max-length'], 'max-length', 128, 1),
    method: c.methodConfig, options: c.options, outDir: c.out, resume: v.resume === true, callbacks: c.callbacks, signal: c.signal,
    inputs: { model: c.modelDir, data: c.dataPath, 'eval-data': v['eval-data'] as string | undefined, 'test-data': v['test-data'] as string | undefined },
    memory: memoryBudget(v['memory-limit'] as string | undefined), names: 'flags',
    log: (line) => console.error(line),
  });
  c.onDone();
  return reportClassifierRun(r, c.out, v.json === true);
}

export async function evalSequenceClassification(values: Record<string, unknown>, modelDir: string, dataPath: string): Promise<number> {
  if (typeof values.adapter !== 'string') throw new GiftjsError('--task seqcls needs --adapter: the adapter folder gift train wrote for the encoder (it holds the head and the label names)');
  const configPath = join(values.adapter, ADAPTER_CONFIG);
  const info = taskInfoFromAdapterConfig(readAdapterConfig(values.adapter), configPath);
  const labels = labelSpaceOfTask(info);
  const columns = listOption(values.columns);
  const records = await loadRecords(dataPath, columns ? { columns } : {});
  const tokenizer = Tokenizer.fromFolder(modelDir);
  const { examples, truncated } = buildSeqClsExamples(records, tokenizer, { textFields: info.text_fields, labelField: info.label_field, labels, maxLength: info.max_length });
  const numLabels = labels.kind === 'regression' ? 1 : labels.names.length;
  const batchSize = intOption(values['batch-size'], 'batch-size', 32);
  const longest = Math.max(1, ...examples.map((e) => e.ids.length));
  assertClassifierEvalFits(modelDir, values.adapter, { kind: 'sequence-classifier', batch: Math.max(1, Math.min(batchSize, examples.length)), length: longest, numLabels,
    regression: labels.kind === 'regression', pairs: info.pair_head === true }, values['memory-limit']);
  const model = loadSequenceClassifier(modelDir, numLabels, 0, info.pair_head === true);
  loadAdapter(values.adapter, model);
  const { metrics, predictions } = await evaluateSequenceClassifier(model, examples, labels, batchSize);
  console.log(`${dataPath}: ${examples.length} examples${truncated ? ` (${truncated} cut to ${info.max_length} tokens)` : ''}`);
  console.log(formatMetrics(metrics));
  if (typeof values.out === 'string') {
    const rows = predictions.map((p, i) => JSON.stringify({ where: records[i]!.where, prediction: labels.kind === 'regression' ? p : labels.names[p], gold: records[i]!.value[info.label_field] }));
    writeFilesAtomic(values.out, {
      'predictions.jsonl': `${rows.join('\n')}\n`,
      'metrics.json': `${JSON.stringify({ task: 'seqcls', data: dataPath, adapter: values.adapter, ...metrics }, null, 2)}\n`,
    });
    console.log(`predictions: ${join(values.out, 'predictions.jsonl')}`);
  }
  if (values.json) console.log(JSON.stringify(metrics));
  return 0;
}
