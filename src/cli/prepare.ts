// gift prepare: the training data as token shards for PyTorch's engine (python -m gift_torch.train under
// torchrun), built exactly as gift train builds its examples (same formats, templates, truncation,
// EOS), so a run on many GPUs trains on what a giftjs run would.
import { join } from 'node:path';
import { describeExampleFile, loadExampleFile } from '../data/example_file.js';
import { DATA_FORMATS, type LossOn, type PromptTask } from '../data/examples.js';
import { writeExampleShard } from '../data/shards.js';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { assertOutputApart } from '../io/output_folder.js';
import { GIFTJS_VERSION } from '../version.js';
import { lossOnOption, parse, requireString, templateOption, textFieldOption } from './args.js';
import { loadTokenizer, sequenceLengthOption, requireModelFolder } from './model_loading.js';
import { GiftjsError } from '../errors.js';

export const PREPARE_HELP = `gift prepare --model <dir|org/name> --data <file> [--eval-data <file>] --out <dir> [--format F] [--template T] [--loss-on response|all] [--dataset-text-field F] [--max-length N]

Writes the training data (and held-out data) as token shards for training on PyTorch's engine:
  <out>/train.safetensors, <out>/valid.safetensors   ids and labels (I32; -100 = no loss), offsets (I64)
  <out>/prepare.json                                  the model, files, format and settings used
Examples are built as gift train builds them: ${DATA_FORMATS.join(', ')} (detected or --format),
--template commonsense|math|instruct for the paper's templates (--task still read for this release), --loss-on
(response, the default: the completion, the assistant turns, the LLM-Adapters output; all: every token), --max-length
(default 512, at most the model's context), --dataset-text-field (the field of text records' text, default text), EOS after texts. Then, on any number of processes or machines:
  torchrun --nproc_per_node N -m gift_torch.train --model <dir> --shards <out> --out <run dir> [gift train's options]
(with PYTHONPATH=<giftjs>/python or pip install <giftjs>/python).
`;

export interface PrepareOptions {
  modelDir: string;
  dataPath: string;
  evalPath?: string;
  out: string;
  format?: string;
  task?: PromptTask;
  /** Omitted: 'response'. */
  lossOn?: LossOn;
  /** The field text records hold their text in; omitted, "text". */
  textField?: string;
  maxLength: number;
}

/** Builds the examples as gift train does and writes the shard folder; returns what prepare.json says. */
export async function prepareShards(o: PrepareOptions): Promise<{ train_examples: number; train_tokens: number; valid_examples: number }> {
  const { modelDir, dataPath, evalPath, out, format, task, lossOn, textField, maxLength } = o;
  const tokenizer = loadTokenizer(modelDir);
  const train = await loadExampleFile(dataPath, tokenizer, { format, maxLength, task, lossOn, textField });
  console.error(`train: ${describeExampleFile(dataPath, train, maxLength, task)}`);
  const valid = evalPath ? await loadExampleFile(evalPath, tokenizer, { format, maxLength, task, lossOn, textField }) : null;
  if (valid && evalPath) console.error(`held-out: ${describeExampleFile(evalPath, valid, maxLength, task)}`);
  if (train.examples.length === 0) throw new GiftjsError(`${dataPath}: no example has a target token`);
  const info = {
    model: modelDir, data: dataPath, eval_data: evalPath ?? null, format: train.format, task: task ?? null, loss_on: train.lossOn, text_field: textField ?? 'text', max_length: maxLength,
    pad_id: tokenizer.eosTokenId ?? 0, train_examples: train.examples.length, valid_examples: valid?.examples.length ?? 0,
    train_tokens: train.examples.reduce((n, e) => n + e.ids.length, 0), giftjs_version: GIFTJS_VERSION,
  };
  writeFolderAtomic(out, (tmp) => {
    writeExampleShard(join(tmp, 'train.safetensors'), train.examples);
    if (valid) writeExampleShard(join(tmp, 'valid.safetensors'), valid.examples);
    writeFileAtomic(join(tmp, 'prepare.json'), [`${JSON.stringify(info, null, 2)}\n`]);
  });
  return info;
}

export async function prepareCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values } = parse(argv, { model: s, data: s, 'eval-data': s, out: s, format: s, task: s, template: s, 'loss-on': s, 'dataset-text-field': s, 'max-length': s });
  if (values.help) {
    console.log(PREPARE_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, PREPARE_HELP);
  const dataPath = requireString(values, 'data', PREPARE_HELP);
  const out = requireString(values, 'out', PREPARE_HELP);
  const evalPath = values['eval-data'] as string | undefined;
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--data', path: dataPath }, { flag: '--eval-data', path: evalPath }]);
  const task = templateOption(values.template, values.task);
  const maxLength = sequenceLengthOption(modelDir, values['max-length'], 512);
  const info = await prepareShards({ modelDir, dataPath, evalPath, out, format: values.format as string | undefined, task, lossOn: lossOnOption(values['loss-on']), textField: textFieldOption(values['dataset-text-field']), maxLength });
  console.log(`token shards: ${out} (${info.train_examples} training examples, ${info.train_tokens} tokens${info.valid_examples ? `; ${info.valid_examples} held-out` : ''})`);
  return 0;
}
