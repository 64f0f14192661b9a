// gift eval: language-modelling loss and perplexity of a model (with an optional adapter) on a
// JSONL file of {"text": ...} lines.
import { writeFilesAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { loadRecords } from '../data/load.js';
import { describeExampleFile, loadExampleFile } from '../data/example_file.js';
import { evaluatePerplexity } from '../eval/perplexity.js';
import { evaluateGenerationTask, MAX_NEW_TOKENS, taskPrompt, type GenerationTask } from '../eval/tasks.js';
import { assertOutputApart } from '../io/output_folder.js';
import { intOption, lossOnOption, parse, promptTaskOption, requireString, textFieldOption } from './args.js';
import { loadModelWithAdapter, loadTokenizer, quantizeOption, sequenceLengthOption, requireModelFolder } from './model_loading.js';
import { evalSequenceClassification } from './seqcls.js';
import { evalImageClassification } from './imgcls.js';
import { GiftjsError } from '../errors.js';
import { isDataFolder, requireDataFolderFile } from './data_folder.js';
import { assertFitsInMemory, memoryBudget } from '../train/memory_estimate.js';
import { describeQuantized, readModelConfig } from '../models/registry.js';

export const EVAL_HELP = `gift eval --model <dir|org/name> [--adapter <dir>] --data <file|dir> [--task lm|commonsense|math|seqcls|imgcls] [--max-length N]
          [--format F] [--template T] [--loss-on response|all] [--dataset-text-field F] [--limit N] [--max-new-tokens N] [--batch-size N] [--out <dir>] [--memory-limit SIZE] [--quantize int8|int4] [--json]

--data dir/: an mlx-lm data folder; its test file (test.jsonl, .json, .parquet, .csv or .tsv) is scored
(with --task imgcls, a folder is the images, a folder per class).

--task lm (the default):

Language-modelling loss and perplexity on any data file gift train reads (.jsonl, .json, .parquet:
{"text"}, {"prompt","completion"}, {"messages"}, LLM-Adapters records; --format names one, else it is
detected; --template commonsense|math|instruct picks the paper's prompt for LLM-Adapters records).
Each record becomes the tokens and loss mask gift train makes of it (a text ends with the EOS token;
prompts are not scored unless --loss-on all, as gift train's), and the loss is the mean next-token cross-entropy over all target tokens
(token-weighted): the held-out loss gift train --eval-data logs for the same file. Records longer
than --max-length tokens (default 2048, at most the model's context) are cut, and the count is reported.
With --json the last line is {"loss": ..., "perplexity": ..., "tokens": ...}.

--task commonsense | math: the paper's evaluation on LLM-Adapters JSON test sets (BoolQ, PIQA, ...,
GSM8K, SVAMP, AQuA, ...): greedy decoding (32 / 512 new tokens) from the paper's prompt, then its
answer extraction from all of the generation (the text after the prompt's trigger, as LoReFT's code
reads it); accuracy. A math record's answer must be a number or a letter A-E. --limit N scores the first N records. With --out, predictions.jsonl
(every generation, what was extracted, the gold answer) is written beside metrics.json. The memory of
the weights and the longest prompt's KV cache is estimated before loading (--memory-limit sets the budget).

--task seqcls: a classifier gift train trained on an encoder folder (--adapter is required: it holds the
head, the label names and the text columns) on a TSV/CSV/JSONL/Parquet file: accuracy, F1, Matthews
correlation (or Pearson/Spearman for a regression). --columns names the columns of a headerless file.

--task imgcls: a ViT classifier gift train trained (--adapter required) on an image
folder, JSON list or IDX file: accuracy.

For seqcls and imgcls, --batch-size is how many texts (default 32) or images (default 64) are scored
at once; the memory of the weights, the adapter and one batch's forward is estimated before loading,
and a budget it would pass is refused. With --out, predictions.jsonl is written beside metrics.json.
`;

export async function evalCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values } = parse(argv, { model: s, adapter: s, data: s, task: s, 'max-length': s, format: s, template: s, 'loss-on': s, 'dataset-text-field': s, limit: s, 'max-new-tokens': s, out: s, columns: s, 'batch-size': s, 'memory-limit': s, quantize: s, json: { type: 'boolean' } });
  if (values.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, EVAL_HELP);
  const dataArg = requireString(values, 'data', EVAL_HELP);
  // An mlx-lm data folder: its test file is what an evaluation scores (an image task's folder is its images).
  const imageFolder = values.task === 'imgcls';
  const dataPath = !imageFolder && isDataFolder(dataArg) ? requireDataFolderFile(dataArg, 'test', 'gift eval scores a data folder\'s test file, as mlx-lm\'s --test does') : dataArg;
  if (dataPath !== dataArg) console.error(`--data ${dataArg}: evaluating its test file, ${dataPath}`);
  if (typeof values.out === 'string') {
    assertOutputApart(values.out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: values.adapter as string | undefined }, { flag: '--data', path: dataPath }]);
  }
  intOption(values['max-length'], 'max-length', 2048, 2); // a bad --max-length is refused whatever the task
  const task = (values.task as string | undefined) ?? 'lm';
  if (values['max-length'] !== undefined && task !== 'lm') {
    // Refused, not ignored: a classifier reads at the length it was trained with (its adapter's
    // max_length), and the generation tasks read whole prompts.
    throw new GiftjsError(`--max-length applies to --task lm; --task ${task} ${task === 'seqcls' || task === 'imgcls' ? "uses the length the classifier was trained with (its adapter's task settings)" : 'reads each prompt whole'}`);
  }
  refuseFlagsTheTaskIgnores(values, task);
  if (task === 'commonsense' || task === 'math') return evalGenerationTask(values, modelDir, dataPath, task);
  if (task === 'seqcls') return evalSequenceClassification(values, modelDir, dataPath);
  if (task === 'imgcls') return evalImageClassification(values, modelDir, dataPath);
  if (task !== 'lm') throw new GiftjsError(`--task must be lm, commonsense, math, seqcls or imgcls, got '${task}'`);
  const tokenizer = loadTokenizer(modelDir);
  const length = sequenceLengthOption(modelDir, values['max-length'], 2048);
  const template = promptTaskOption(values.template, 'template');
  const set = await loadExampleFile(dataPath, tokenizer, { format: values.format as string | undefined, maxLength: length, task: template, lossOn: lossOnOption(values['loss-on']), textField: textFieldOption(values['dataset-text-field']) });
  console.error(describeExampleFile(dataPath, set, length, template));
  if (set.examples.length === 0) throw new GiftjsError(`${dataPath}: nothing to evaluate (no record has a target token after its first)`);
  const longest = Math.max(...set.examples.map((e) => e.ids.length));
  const quantize = quantizeOption(values.quantize);
  assertFitsInMemory(modelDir, { command: 'eval', batch: Math.min(EVAL_BATCH, set.examples.length), length: longest, quantize }, memoryBudget(values['memory-limit'] as string | undefined), 'gift eval');
  const { model } = loadModelWithAdapter(modelDir, values.adapter as string | undefined, { readOnly: true, quantize });
  if (quantize) console.error(describeQuantized(model));
  const r = await evaluatePerplexity(model, set.examples, tokenizer.eosTokenId ?? 0, EVAL_BATCH);
  if (!Number.isFinite(r.loss)) throw new GiftjsError(`the loss on ${dataPath} is ${r.loss}: the model's weights or the adapter's are not finite (nothing was written)`);
  console.log(`examples ${r.examples}, predicted tokens ${r.tokens}${set.truncated ? `, ${set.truncated} records cut to ${length} tokens` : ''}`);
  console.log(`loss ${r.loss.toFixed(6)}  perplexity ${r.perplexity.toFixed(4)}`);
  if (values.json) console.log(JSON.stringify({ loss: r.loss, perplexity: r.perplexity, tokens: r.tokens }));
  return 0;
}

/** The flags each --task reads beyond --model, --adapter, --data, --task and --json; another is refused, not ignored. */
const TASK_FLAGS: Record<string, readonly string[]> = {
  lm: ['max-length', 'format', 'template', 'loss-on', 'dataset-text-field', 'memory-limit', 'quantize'],
  commonsense: ['limit', 'max-new-tokens', 'out', 'memory-limit', 'quantize'],
  math: ['limit', 'max-new-tokens', 'out', 'memory-limit', 'quantize'],
  seqcls: ['columns', 'out', 'batch-size', 'memory-limit'],
  imgcls: ['out', 'batch-size', 'memory-limit'],
};

function refuseFlagsTheTaskIgnores(values: Record<string, unknown>, task: string): void {
  const reads = Object.hasOwn(TASK_FLAGS, task) ? TASK_FLAGS[task]! : null;
  if (!reads) return; // an unknown task is refused by name below
  for (const flag of new Set(Object.values(TASK_FLAGS).flat())) {
    if (values[flag] === undefined || reads.includes(flag)) continue;
    const tasks = Object.keys(TASK_FLAGS).filter((t) => TASK_FLAGS[t]!.includes(flag));
    throw new GiftjsError(`--${flag} applies to --task ${tasks.join(', ')}; --task ${task} does not read it (leave it out)`);
  }
}

/** Sequences per forward in the language-modelling evaluation. */
const EVAL_BATCH = 8;

async function evalGenerationTask(values: Record<string, unknown>, modelDir: string, dataPath: string, task: GenerationTask): Promise<number> {
  let records = await loadRecords(dataPath);
  if (values.limit !== undefined) records = records.slice(0, intOption(values.limit, 'limit', records.length));
  const tokenizer = loadTokenizer(modelDir);
  const maxNewTokens = intOption(values['max-new-tokens'], 'max-new-tokens', MAX_NEW_TOKENS[task]);
  const quantize = quantizeOption(values.quantize);
  // Memory known before it is spent: the weights and the KV cache of the longest prompt with its answer
  // (it had loaded a model of any size unestimated). Each record is decoded alone (batch 1).
  const longestPrompt = Math.max(0, ...records.map((r) => taskPrompt(tokenizer, r, task).ids.length));
  const context = readModelConfig(modelDir).maxPositionEmbeddings;
  assertFitsInMemory(modelDir, { command: 'generate', batch: 1, length: Math.max(1, Math.min(context, longestPrompt + maxNewTokens)), promptTokens: Math.max(1, longestPrompt), quantize },
    memoryBudget(values['memory-limit'] as string | undefined), 'gift eval', 'flags',
    (shorter) => (shorter > longestPrompt ? `--max-new-tokens ${shorter - longestPrompt}` : null));
  const { model } = loadModelWithAdapter(modelDir, values.adapter as string | undefined, { readOnly: true, decodes: true, quantize });
  const r = evaluateGenerationTask(model, tokenizer, records, task, maxNewTokens, (_prediction, i) => {
    if ((i + 1) % 10 === 0 || i + 1 === records.length) console.error(`${i + 1}/${records.length} scored`);
  });
  const metrics = { task, data: dataPath, accuracy: r.accuracy, correct: r.correct, total: r.total, adapter: values.adapter ?? null };
  if (typeof values.out === 'string') {
    writeFilesAtomic(values.out, {
      'predictions.jsonl': r.predictions.map((p) => JSON.stringify(p)).join('\n') + '\n',
      'metrics.json': `${JSON.stringify(metrics, null, 2)}\n`,
    });
    console.log(`predictions: ${join(values.out, 'predictions.jsonl')}`);
  }
  console.log(`${task}: accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.correct} of ${r.total})`);
  if (values.json) console.log(JSON.stringify(metrics));
  return 0;
}
