// gift train: a model folder and a data file in, a trained adapter out (with its log, metrics
// and a loss-curve picture), resumable after any interruption.
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { DATA_FORMATS } from '../data/examples.js';
import { describeExampleFile, loadExampleFile } from '../data/example_file.js';
import { modelFamily, readModelConfig, type ModelKind } from '../models/registry.js';
import { METHOD_NAMES, peftMethod } from '../peft/registry.js';
import { presetByName, PRESETS, type Preset } from '../train/presets.js';
import { SCHEDULERS, schedulerWarmsUp, type SchedulerKind } from '../train/schedule.js';
import { DEFAULT_TRAIN_OPTIONS, TrainingStopped, validateTrainOptions, type TrainCallbacks, type TrainOptions } from '../train/trainer.js';
import { TensorBoardWriter } from '../train/tensorboard.js';
import { dataPaths, dataWeights, mixExamples, type DataSource } from '../data/mixing.js';
import type { Example, PromptTask } from '../data/examples.js';
import { fileExists } from '../io/files.js';
import { writeFileAtomic } from '../io/atomic.js';
import { assertOutputApart } from '../io/output_folder.js';
import { configYaml, readConfigFile } from './config_file.js';
import { intOption, layersOption, listed, listOption, lossOnOption, numberOption, parse, requireString, templateOption, textFieldOption, type Options } from './args.js';
import { loadTokenizer, quantizeOption, requireModelFolder, sequenceLengthOption } from './model_loading.js';
import { SEQCLS_TRAIN_HELP, trainSequenceClassification } from './seqcls.js';
import { trainOnTorch } from './train_torch.js';
import { IMGCLS_TRAIN_HELP, trainImageClassification } from './imgcls.js';
import { GiftjsError } from '../errors.js';
import { dataFolderFile, isDataFolder, requireDataFolderFile } from './data_folder.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { getBackend } from '../backend/index.js';
import { memoryBudget, trainsNoBaseMatrix } from '../train/memory_estimate.js';
import { fineTuneLanguageModel, type LanguageModelRunResult } from '../train/language_model_run.js';

const D = DEFAULT_TRAIN_OPTIONS;

export const TRAIN_HELP = `gift train --model <dir> --data <file> --out <dir> [options]

  --model <dir|id>       Hugging Face model folder (config.json, safetensors, tokenizer.json), or a hub id
                         org/name[@revision], downloaded once into the hub cache (HF_HOME, HF_TOKEN, HF_HUB_OFFLINE)
  --data <file|dir>      training data; a folder holds train.jsonl (and valid.jsonl, test.jsonl), as mlx-lm's (.jsonl, .json, .parquet): .jsonl ({"text"}, {"prompt","completion"}, {"messages"}) or
                         the paper's LLM-Adapters JSON list ({"instruction","input","output","answer"})
  --data a,b --data-weights 0.7,0.3   several training files mixed by weight: round(weight x all examples)
                         from each (sampled with --seed, repeated where a file is smaller than its share)
  --eval-data <file>     held-out data (same formats); its loss is logged at the start, every
                         --eval-every updates and at the end
  --test-data <file>     scored once after training (mlx-lm's --test): a language model's loss and perplexity,
                         a classifier's metrics, in metrics.json; a data folder's test file stands in for it
  --format <f>           ${DATA_FORMATS.join(' | ')} (default: detected from the first record)
  --template <t>         commonsense | math | instruct: the paper's prompt template for LLM-Adapters data
                         The model folder says what is trained: a language model, a sequence or an image classifier
                         (below); --task seqcls|imgcls, and --task for --template, are still read for this release
  --loss-on response|all the tokens that learn: response (default) the completion, the assistant turns, the
                         LLM-Adapters output (a text's every token); all every token, prompts and user turns too
                         (TRL's completion_only_loss=False and its default for {"messages"}; mlx-lm without --mask-prompt)
  --dataset-text-field F the field text records hold their text in (TRL's dataset_text_field; default text)
  --method <m>           ${METHOD_NAMES.join(' | ')} (default gift)
  --rank R --alpha A     GIFT / LoRA rank (default 8) and alpha (scale = alpha / rank; GIFT's alpha defaults to R)
  --config <file>, -c    settings from a YAML or JSON file (keys are these flags' names: lr, batch_size,
                         targets: [q_proj, v_proj], ...); flags given beside it override it. Each run
                         writes what it used to <out>/config.yaml
  --targets a,b          module names (default q_proj,v_proj; Phi-3: qkv_proj)   --layers 0,1,4-7   only these blocks
  --share target|input-size   GIFT: one (phi, psi) per target name, or per input size
  --dropout P            LoRA dropout
  --use-dora             LoRA as DoRA (PEFT's use_dora; mlx-lm's --fine-tune-type dora): a learned magnitude per
                         output row of each adapted weight, the rows' norms of W + s B A held constant in the backward
  --epochs N | --max-steps N   length of training (default 1 epoch)
  --lr X                 peak learning rate (default ${D.lr})   --batch-size N   examples per step (default ${D.batchSize})
  --grad-accum N         steps per optimizer update (default ${D.gradAccum})   --max-length N   tokens per example (default 512, at most the model's context)
  --warmup-ratio X       share of the updates spent warming up, rounded up (default ${D.warmupRatio}; 0 and no other with constant)
  --weight-decay X       AdamW's decoupled weight decay, on every trained tensor but biases and norm weights, as transformers' Trainer (default ${D.weightDecay})
  --max-grad-norm X      gradient clipping, 0 = none (default ${D.maxGradNorm})   --seed N (default ${D.seed})
  --scheduler ${SCHEDULERS.join('|')} (default ${D.scheduler})   --min-lr X   cosine_with_min_lr's final learning rate
  --head-lr X --head-weight-decay X (default: the main group's)
  --preset <name>        the paper's settings: ${Object.keys(PRESETS).join(', ')}
  --eval-every N --save-every N   held-out loss / checkpoint every N optimizer updates
  --save-total-limit N   keep the N newest checkpoints (default 0: all); each is <out>/checkpoint-<step>/ with a
                         loadable adapter/ inside; with --save-every, the end of the run is saved too
  --resume               continue from the newest checkpoint with the same settings; --max-steps / --epochs
                         may grow (a finished run goes on), --eval-every / --save-every may change
  --gradient-checkpointing   recompute each layer in backward: far less memory, one more forward
  --stream-weights       with --gradient-checkpointing, on a BF16/F16 checkpoint or a GGUF's Q8_0/Q4_0 blocks (mapped as
                         stored): as many decoder layers as the memory budget (--memory-limit) needs, and no more, have
                         their weights leave resident memory after each use, mapped again from the page cache at the
                         next; a streamed layer costs its size once instead of each, and the step its page faults (21%
                         on the Llama-3.2-1B shape here with every layer streamed)
  --memory-limit <size>  the memory the run may use (12G, 16000M; default: what the system has available). A run
                         estimates its peak before loading (a classifier's by a dry run of its step) and is refused,
                         naming what would fit, past it
  --bf16                 frozen weights stored as bfloat16 and every product on bf16 dot products with float32
                         accumulation, as PyTorch's autocast (native: AMX tiles or AVX-512 BF16; ref emulates it);
                         trainable parameters, their gradients and AdamW's state stay float32. Language models.
  --quantize int8|int4   a quantized frozen base, as QLoRA's or mlx-lm's -q: every matrix quantized as it is read
                         (int8 per output channel, int4 in Q4_0 blocks of 32) and dequantized inside the GEMM; the
                         adapter trains in float32. GIFT, LoRA and BitFit on language models; combines with --bf16
  --backend ref|native|webgpu   the kernels (or GIFTJS_BACKEND; default native when built): webgpu trains on a
                         GPU through the optional package \`webgpu\` (npm install webgpu; float32 only)
  --engine torch --nproc N   train GIFT on PyTorch's engine instead: gift prepare, then torchrun with N
                         processes of gift_torch.train (DistributedDataParallel); needs python3 with torch
                         (GIFTJS_PYTHON picks the interpreter); same outputs in --out
  --neftune-noise-alpha A   NEFTune (TRL's neftune_noise_alpha): uniform noise of magnitude A / sqrt(length x hidden)
                         on the token embeddings while training, not while evaluating (the paper used 5 to 15)
  --pack                 pack training examples into rows of up to --max-length tokens (TRL's packing):
                         attention and positions restart at each example, so the loss is the unpacked
                         one without the padding; held-out data stays one example per row
  --report-to tensorboard   also write the curves (train/loss, train/learning_rate, train/grad_norm,
                         train/tokens_per_s, eval/loss) as TensorBoard event files in <out>/tensorboard/
  --json                 end with one JSON line of the final metrics

${SEQCLS_TRAIN_HELP}
${IMGCLS_TRAIN_HELP}

Writes <out>/adapter/ (adapter_config.json + adapter_model.safetensors), <out>/log.jsonl,
<out>/metrics.json and <out>/loss_curve.svg.
`;

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s % 60)}s` : `${s.toFixed(0)}s`;
}

const s = { type: 'string' } as const;
const TRAIN_OPTIONS: Options = {
  config: { type: 'string', short: 'c' },
  model: s, data: s, 'eval-data': s, out: s, format: s, task: s, template: s, 'loss-on': s, 'neftune-noise-alpha': s, 'dataset-text-field': s, method: s, rank: s, alpha: s, targets: s, layers: s, share: s, dropout: s, 'use-dora': { type: 'boolean' }, 'drop-path': s,
  epochs: s, 'max-steps': s, lr: s, 'batch-size': s, 'grad-accum': s, 'max-length': s, 'warmup-ratio': s, scheduler: s, 'min-lr': s,
  'weight-decay': s, 'max-grad-norm': s, seed: s, preset: s, 'eval-every': s, 'save-every': s, 'save-total-limit': s, 'head-lr': s, 'head-weight-decay': s,
  'text-fields': s, 'label-field': s, columns: s, 'test-data': s, engine: s, nproc: s, 'memory-limit': s,
  resume: { type: 'boolean' }, json: { type: 'boolean' }, 'gradient-checkpointing': { type: 'boolean' }, regression: { type: 'boolean' },
  bf16: { type: 'boolean' }, quantize: s, 'report-to': s, pack: { type: 'boolean' }, 'data-weights': s, 'stream-weights': { type: 'boolean' },
};

/** Switches that describe how this invocation runs, not the run: kept out of <out>/config.yaml. */
const NOT_SETTINGS = new Set(['config', 'help', 'resume', 'json']);

export async function trainCommand(argv: string[]): Promise<number> {
  const given = parse(argv, TRAIN_OPTIONS).values;
  if (given.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  // A --config file's settings, overridden by the flags given beside it.
  const fromFile = typeof given.config === 'string' ? readConfigFile(given.config, TRAIN_OPTIONS) : {};
  const values = { ...fromFile, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  const modelDir = await requireModelFolder(values, TRAIN_HELP);
  const preset = typeof values.preset === 'string' ? presetByName(values.preset) : null;
  const what = whatTheRunTrains(values, modelDir, preset);
  refuseFlagsTheKindIgnores(values, what);
  if (typeof values.data === 'string' && what.kind !== 'image-classifier') Object.assign(values, dataFolderFiles(values.data, values));
  const dataPath = requireString(values, 'data', TRAIN_HELP);
  const out = requireString(values, 'out', TRAIN_HELP);
  // A schedule with nothing to act on is refused, as transformers' Trainer refuses eval steps
  // without an eval dataset (each had run as if not given).
  if (values['eval-every'] !== undefined && Number(values['eval-every']) > 0 && values['eval-data'] === undefined) {
    throw new GiftjsError('--eval-every evaluates held-out data: give --eval-data (or a data folder with valid.jsonl), or leave out --eval-every');
  }
  if (values['save-total-limit'] !== undefined && Number(values['save-total-limit']) > 0 && !(Number(values['save-every']) > 0)) {
    throw new GiftjsError('--save-total-limit keeps the newest checkpoints that --save-every writes: give --save-every N, or leave out --save-total-limit');
  }
  // What the run resolves beyond the flags (defaults, preset values), filled by runTraining for config.yaml.
  const resolved: Record<string, unknown> = {};
  // Written when the run starts (its folder claimed, before the first update), so an interrupted or
  // failed run still says what it was; `gift train --config <out>/config.yaml` repeats it.
  const writeConfig = () => {
    const settings: Record<string, unknown> = Object.fromEntries(Object.entries(values).filter(([k]) => !NOT_SETTINGS.has(k)));
    writeFileAtomic(join(out, 'config.yaml'), [configYaml({ ...settings, ...resolved })]);
  };
  const progress = progressReporter();
  const stop = stopOnSignals(out, progress.stop);
  try {
    return await runTraining(values, modelDir, what, preset, dataPath, out, resolved, writeConfig, progress, stop.signal);
  } catch (e) {
    if (e instanceof TrainingStopped) return stop.report(e, argv);
    throw e;
  } finally {
    stop.dispose();
    progress.stop();
  }
}

/**
 * mlx-lm's data folder: --data dir/ with train.jsonl (or .json, .parquet, .csv, .tsv) and, when
 * present, valid.* and test.* standing in for --eval-data and --test-data unless those are given
 * (the test file scored after training, as mlx-lm's --test scores it).
 */
function dataFolderFiles(data: string, values: Record<string, unknown>): Record<string, string> {
  if (!isDataFolder(data)) return {};
  const files: Record<string, string> = { data: requireDataFolderFile(data, 'train', "as mlx-lm's data folders have") };
  const valid = dataFolderFile(data, 'valid');
  const test = dataFolderFile(data, 'test');
  if (valid && values['eval-data'] === undefined) files['eval-data'] = valid;
  // (PyTorch's engine scores no test file: the folder's is left to gift eval there.)
  if (test && values['test-data'] === undefined && values.engine !== 'torch') files['test-data'] = test;
  return files;
}


async function runTraining(values: Record<string, string | boolean | undefined>, modelDir: string, what: WhatTheRunTrains, preset: Preset | null, dataPath: string, out: string,
  resolved: Record<string, unknown>, writeConfig: () => void, progress: ProgressReporter, signal: AbortSignal): Promise<number> {
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, ...dataPaths(dataPath, fileExists).map((path) => ({ flag: '--data', path })), { flag: '--eval-data', path: values['eval-data'] as string | undefined }, { flag: '--test-data', path: values['test-data'] as string | undefined }]);
  if (preset) console.error(`preset ${values.preset}: ${preset.description}\n  note: ${preset.caveat}`);

  const d = { ...DEFAULT_TRAIN_OPTIONS, ...(preset?.options ?? {}) };
  const scheduler = (values.scheduler ?? d.scheduler) as SchedulerKind;
  if (!SCHEDULERS.includes(scheduler)) throw new GiftjsError(`--scheduler must be one of ${SCHEDULERS.join(', ')}, got '${String(values.scheduler)}'`);
  const options: TrainOptions = {
    epochs: intOption(values.epochs, 'epochs', d.epochs),
    maxSteps: values['max-steps'] === undefined ? null : intOption(values['max-steps'], 'max-steps', 1),
    lr: numberOption(values.lr, 'lr', d.lr),
    batchSize: intOption(values['batch-size'], 'batch-size', d.batchSize),
    gradAccum: intOption(values['grad-accum'], 'grad-accum', d.gradAccum),
    // transformers' constant schedule has no warmup, so the default (or a preset's) warmup does not
    // apply to it; one given by name is refused beside it (constant_with_warmup has one).
    warmupRatio: numberOption(values['warmup-ratio'], 'warmup-ratio', schedulerWarmsUp(scheduler) ? d.warmupRatio : 0),
    scheduler,
    ...(values['min-lr'] !== undefined ? { minLr: numberOption(values['min-lr'], 'min-lr', 0) } : d.minLr !== undefined && values.scheduler === undefined ? { minLr: d.minLr } : {}),
    weightDecay: numberOption(values['weight-decay'], 'weight-decay', d.weightDecay),
    maxGradNorm: numberOption(values['max-grad-norm'], 'max-grad-norm', d.maxGradNorm),
    seed: intOption(values.seed, 'seed', d.seed, 0),
    evalEvery: intOption(values['eval-every'], 'eval-every', 0, 0),
    saveEvery: intOption(values['save-every'], 'save-every', 0, 0),
    saveTotalLimit: intOption(values['save-total-limit'], 'save-total-limit', 0, 0),
    headLr: values['head-lr'] === undefined ? null : numberOption(values['head-lr'], 'head-lr', 0),
    headWeightDecay: values['head-weight-decay'] === undefined ? null : numberOption(values['head-weight-decay'], 'head-weight-decay', 0),
  };
  validateTrainOptions(options); // before anything is loaded
  let maxLength = intOption(values['max-length'], 'max-length', 512, 2);
  Object.assign(resolved, {
    lr: options.lr, 'batch-size': options.batchSize, 'grad-accum': options.gradAccum, 'warmup-ratio': options.warmupRatio, scheduler: options.scheduler,
    ...(options.minLr !== undefined ? { 'min-lr': options.minLr } : {}),
    'weight-decay': options.weightDecay, 'max-grad-norm': options.maxGradNorm, seed: options.seed,
    ...(options.maxSteps === null ? { epochs: options.epochs } : { 'max-steps': options.maxSteps }),
  });

  const methodName = (values.method as string | undefined) ?? (preset?.method.method as string | undefined) ?? 'gift';
  refuseFlagsTheMethodIgnores(values, methodName);
  const methodConfig: Record<string, unknown> = {
    ...(preset && preset.method.method === methodName ? preset.method : {}),
    method: methodName,
  };
  Object.assign(resolved, { method: methodName });
  // Rank and targets only for a method that has them: the baselines train the model's own tensors,
  // and config.yaml listing a rank for --method full had made `gift train --config` refuse it.
  if (peftMethod(methodName).settings.includes('rank')) {
    const rank = intOption(values.rank, 'rank', (preset?.method.rank as number | undefined) ?? 8);
    methodConfig.rank = rank;
    methodConfig.target_modules = listOption(values.targets) ?? (preset?.method.target_modules as string[] | undefined) ?? defaultTargets(modelDir, what.kind);
    methodConfig.layers = layersOption(values.layers);
    if (values.alpha !== undefined) methodConfig.alpha = numberOption(values.alpha, 'alpha', rank);
    Object.assign(resolved, { rank, targets: methodConfig.target_modules });
  }
  if (values.share !== undefined) methodConfig.share = values.share;
  if (values.dropout !== undefined) methodConfig.dropout = numberOption(values.dropout, 'dropout', 0);
  if (values['use-dora'] === true) {
    if (values.engine === 'torch') throw new GiftjsError('--use-dora is not available with --engine torch (gift_torch trains GIFT and LoRA without DoRA); leave out --engine torch');
    methodConfig.use_dora = true;
  }

  const quantize = quantizeOption(values.quantize);
  if (quantize) {
    if (what.kind !== 'causal-lm') throw new GiftjsError(`--quantize applies to language models so far; ${what.model} keeps a float32 base (leave out --quantize)`);
    if (values.engine === 'torch') throw new GiftjsError('--quantize is not available with --engine torch');
    if (!trainsNoBaseMatrix(methodConfig)) {
      throw new GiftjsError(`--quantize freezes the base model's matrices, and --method ${methodName}${methodConfig.modules_to_save ? ' with modules_to_save' : ''} trains them; use gift, lora or bitfit, or leave out --quantize`);
    }
    resolved.quantize = quantize;
  }
  const bf16 = values.bf16 === true;
  if (bf16) {
    if (what.kind !== 'causal-lm') throw new GiftjsError(`--bf16 trains language models so far; ${what.model} trains in float32 (leave out --bf16)`);
    if (values.engine === 'torch') throw new GiftjsError('--bf16 is not available with --engine torch');
    if (!getBackend().setBf16Compute) throw new GiftjsError(`--bf16 runs on the CPU backends (native, ref); the ${getBackend().name} backend trains in float32 (leave out --bf16)`);
  }
  const classifier = what.kind !== 'causal-lm';
  if (values.engine === 'torch' && classifier) throw new GiftjsError(`--engine torch trains language models; ${what.model} trains on giftjs's engine`);
  if (values.regression === true && what.kind !== 'sequence-classifier') throw new GiftjsError(`--regression applies to sequence classifiers (a one-output regression head); ${what.model} is not one`);
  if (dataPaths(dataPath, fileExists).length > 1 && classifier) throw new GiftjsError(`--data with several files mixes language-modelling data; ${what.model} reads one file`);
  if (values['stream-weights'] === true && (classifier || values.engine === 'torch')) {
    throw new GiftjsError(`--stream-weights pages a language model's mapped weights through giftjs's engine; ${values.engine === 'torch' ? '--engine torch' : what.model} does not (leave out --stream-weights)`);
  }
  if (values.pack === true && classifier) throw new GiftjsError(`--pack packs language-modelling examples; ${what.model} classifies one example per row (leave out --pack)`);
  if (what.kind === 'image-classifier') {
    const dropPath = numberOption(values['drop-path'], 'drop-path', preset?.dropPath ?? 0);
    if (!(dropPath >= 0 && dropPath < 1)) throw new GiftjsError(`--drop-path must be in [0, 1), got ${String(values['drop-path'])}`);
    if (dropPath > 0) resolved['drop-path'] = dropPath;
    return trainImageClassification({ values, modelDir, dataPath, out, options, methodConfig, dropPath, callbacks: withReporting(progress.callbacks(out), values['report-to'] as string | undefined, out, writeConfig), onDone: progress.stop, signal });
  }
  if (what.kind === 'sequence-classifier') {
    return trainSequenceClassification({ values, modelDir, dataPath, out, options, methodConfig, preset, callbacks: withReporting(progress.callbacks(out), values['report-to'] as string | undefined, out, writeConfig), onDone: progress.stop, signal });
  }
  const tokenizer = loadTokenizer(modelDir);
  maxLength = sequenceLengthOption(modelDir, values['max-length'], 512);
  resolved['max-length'] = maxLength;
  const task = what.template;
  const lossOn = lossOnOption(values['loss-on']);
  const textField = textFieldOption(values['dataset-text-field']);
  const load = async (path: string, label: string) => {
    const set = await loadExampleFile(path, tokenizer, { format: (values.format as string | undefined) ?? preset?.format, maxLength, task, lossOn, textField });
    console.error(`${label}: ${describeExampleFile(path, set, maxLength, task)}`);
    return set.examples;
  };
  if (reportToOption(values['report-to'] as string | undefined) !== 'none' && values.engine === 'torch') throw new GiftjsError('--report-to goes with the giftjs engine (gift_torch writes log.jsonl)');
  const engine = (values.engine as string | undefined) ?? 'giftjs';
  if (engine !== 'giftjs' && engine !== 'torch') throw new GiftjsError(`--engine must be giftjs or torch, got '${engine}'`);
  if (engine === 'torch') {
    if (values['gradient-checkpointing']) throw new GiftjsError('--gradient-checkpointing is not available with --engine torch');
    if (values.pack) throw new GiftjsError('--pack is not available with --engine torch');
    if (values['neftune-noise-alpha'] !== undefined) throw new GiftjsError('--neftune-noise-alpha is not available with --engine torch (gift_torch.train has no NEFTune)');
    if (values['test-data'] !== undefined) throw new GiftjsError('--test-data is not available with --engine torch (gift_torch.train scores --eval-data only); score the test file with gift eval --adapter <out>/adapter');
    const code = await trainOnTorch({
      modelDir, dataPath, evalPath: values['eval-data'] as string | undefined, out, format: (values.format as string | undefined) ?? preset?.format, task, lossOn, textField, maxLength,
      processes: intOption(values.nproc, 'nproc', 1), methodConfig, options, resume: values.resume === true, json: values.json === true,
    });
    if (code === 0) writeConfig(); // the PyTorch run owns its folder until it ends
    return code;
  }
  if (values.nproc !== undefined) throw new GiftjsError('--nproc goes with --engine torch');
  const paths = dataPaths(dataPath, fileExists);
  const weights = dataWeights(values['data-weights'] as string | undefined);
  if (weights && paths.length < 2) throw new GiftjsError('--data-weights goes with several --data files (--data a.jsonl,b.jsonl)');
  let train: Example[];
  if (paths.length === 1) {
    train = await load(dataPath, 'train');
  } else {
    const sources: DataSource[] = [];
    for (const path of paths) sources.push({ path, examples: await load(path, 'train') });
    const mixed = mixExamples(sources, weights, options.seed);
    console.error(`mixed ${mixed.examples.length} training examples:\n${mixed.summary.map((l) => `  ${l}`).join('\n')}`);
    train = mixed.examples;
  }
  const heldOut = typeof values['eval-data'] === 'string' ? await load(values['eval-data'], 'held-out') : undefined;
  const test = typeof values['test-data'] === 'string' ? await load(values['test-data'], 'test') : undefined;
  if (values['stream-weights'] === true && values['gradient-checkpointing'] !== true) throw new GiftjsError('--stream-weights releases each layer\'s weights between the uses gradient checkpointing makes of them: give it with --gradient-checkpointing');
  const callbacks = withReporting(progress.callbacks(out), values['report-to'] as string | undefined, out, writeConfig);
  let run: LanguageModelRunResult;
  try {
    run = await fineTuneLanguageModel({
      modelDir, baseModelName: String(values.model), // a hub id stays a hub id
      train, heldOut, test, method: methodConfig, options, padId: tokenizer.eosTokenId ?? 0, outDir: out,
      data: { path: dataPath, ...(weights ? { weights } : {}), maxLength, template: task ?? null, ...(lossOn === 'all' ? { lossOn } : {}), ...(textField !== undefined ? { textField } : {}) },
      pack: values.pack === true ? maxLength : undefined,
      gradientCheckpointing: values['gradient-checkpointing'] === true, streamWeights: values['stream-weights'] === true,
      bf16, quantize, memory: memoryBudget(values['memory-limit'] as string | undefined), neftuneNoiseAlpha: numberOption(values['neftune-noise-alpha'], 'neftune-noise-alpha', 0),
      inputs: { model: modelDir, ...Object.fromEntries(paths.map((p, i) => [i === 0 ? 'data' : `data[${i + 1}]`, p])), 'eval-data': values['eval-data'] as string | undefined },
      resume: values.resume === true, callbacks, log: (line: string) => console.error(line), methodSource: 'command line', names: 'flags', signal,
    });
  } finally {
    progress.stop();
  }
  console.error(`adapter: ${join(out, 'adapter')}\nmetrics: ${join(out, 'metrics.json')}\nloss curve: ${join(out, 'loss_curve.svg')}`);
  if (values.json) console.log(JSON.stringify(run.metrics));
  return 0;
}

/**
 * The progress callbacks, plus config.yaml when the run starts and, with --report-to tensorboard, the
 * curves as event files from then on (TRL's names: train/loss, eval/loss, ...).
 */
function withReporting(callbacks: TrainCallbacks, reportTo: string | undefined, out: string, writeConfig: () => void): TrainCallbacks {
  if (reportToOption(reportTo) !== 'tensorboard') return { ...callbacks, onStart: writeConfig };
  let board: TensorBoardWriter | null = null;
  return {
    ...callbacks,
    onStart: () => {
      writeConfig();
      board = new TensorBoardWriter(join(out, 'tensorboard'));
    },
    onStep: (log, total) => {
      callbacks.onStep?.(log, total);
      board?.scalar('train/loss', log.loss, log.step);
      board?.scalar('train/learning_rate', log.lr, log.step);
      board?.scalar('train/grad_norm', log.grad_norm, log.step);
      board?.scalar('train/tokens_per_s', log.tokens_per_s, log.step);
    },
    onEval: (step, loss) => {
      callbacks.onEval?.(step, loss);
      board?.scalar('eval/loss', loss, step);
    },
  };
}

function reportToOption(flag: string | undefined): 'tensorboard' | 'none' {
  if (flag === undefined || flag === 'none' || flag === 'tensorboard') return flag ?? 'none';
  throw new GiftjsError(`--report-to must be tensorboard or none, got '${flag}'${flag === 'wandb' ? ' (Weights & Biases is not supported; TensorBoard event files are)' : ''}`);
}

/** The model's own default targets (a causal LM's config says them), else the paper's q_proj,v_proj. */
function defaultTargets(modelDir: string, kind: ModelKind): string[] {
  if (kind !== 'causal-lm') return ['q_proj', 'v_proj'];
  return readModelConfig(modelDir).defaultTargets;
}

/** What a run trains: the model folder's kind, and the prompt template of a language model's records. */
interface WhatTheRunTrains {
  kind: ModelKind;
  /** "<dir>, a sequence classifier (bert)": the model as messages name it. */
  model: string;
  template: PromptTask | undefined;
}

const KIND_WORDS: Record<ModelKind, string> = { 'causal-lm': 'a language model', 'sequence-classifier': 'a sequence classifier', 'image-classifier': 'an image classifier' };
/** The --task values that name a model kind (the folder says it now; they stay accepted when they agree). */
const KIND_TASKS: Record<string, ModelKind> = { seqcls: 'sequence-classifier', imgcls: 'image-classifier' };

/**
 * The model kind comes from the folder (its config.json's family); --template names a language
 * model's prompt template. --task, which named both, keeps working for this release: --task seqcls
 * / imgcls where it agrees with the folder, --task commonsense|math|instruct as --template, with a note.
 */
function whatTheRunTrains(values: Record<string, unknown>, modelDir: string, preset: Preset | null): WhatTheRunTrains {
  const family = modelFamily(modelDir);
  const kind = family.kind;
  const model = `${modelDir}, ${KIND_WORDS[kind]} (${family.name})`;
  const task = values.task;
  const namesKind = typeof task === 'string' && Object.hasOwn(KIND_TASKS, task);
  if (namesKind && KIND_TASKS[task] !== kind) throw new GiftjsError(`--task ${task} trains ${KIND_WORDS[KIND_TASKS[task]!]}, and --model is ${model}; leave out --task: the model folder says what it trains`);
  let template = templateOption(values.template, namesKind ? undefined : task, Object.keys(KIND_TASKS));
  if (preset && preset.modelKind !== kind) throw new GiftjsError(`--preset ${String(values.preset)} trains ${KIND_WORDS[preset.modelKind]}, and --model is ${model}`);
  template ??= preset?.template;
  if (template !== undefined && kind !== 'causal-lm') throw new GiftjsError(`--template ${template} formats a language model's records; --model is ${model}`);
  return { kind, model, template };
}

/** The flags (or --config keys) that only some kinds of model read; the others read none of them. */
const KINDS_OF_FLAG: Record<string, readonly ModelKind[]> = {
  'text-fields': ['sequence-classifier'], 'label-field': ['sequence-classifier'], columns: ['sequence-classifier'],
  format: ['causal-lm'], 'loss-on': ['causal-lm'], 'neftune-noise-alpha': ['causal-lm'], 'dataset-text-field': ['causal-lm'], 'max-length': ['causal-lm', 'sequence-classifier'],
  'gradient-checkpointing': ['causal-lm'], 'drop-path': ['image-classifier'],
};

/**
 * A flag the model's kind does not read is refused, naming the kinds that do: a language model had
 * trained without a word past --label-field, --text-fields and --columns, a classifier
 * past --format and --gradient-checkpointing, an image classifier past --max-length.
 */
function refuseFlagsTheKindIgnores(values: Record<string, unknown>, what: WhatTheRunTrains): void {
  for (const [flag, kinds] of Object.entries(KINDS_OF_FLAG)) {
    if (values[flag] === undefined || kinds.includes(what.kind)) continue;
    throw new GiftjsError(`--${flag} is read when training ${listed(kinds.map((k) => KIND_WORDS[k]), 'or')}, and --model is ${what.model}; leave it out`);
  }
}

/** The flags that set a method's config fields (PeftMethod.settings). */
const METHOD_SETTING_FLAGS: Record<string, string> = { rank: 'rank', alpha: 'alpha', targets: 'target_modules', layers: 'layers', share: 'share', dropout: 'dropout', 'use-dora': 'use_dora' };

/** A method setting given for a method that does not read it (--dropout with GIFT) is refused, naming the methods that do. */
function refuseFlagsTheMethodIgnores(values: Record<string, unknown>, methodName: string): void {
  const method = peftMethod(methodName);
  for (const [flag, field] of Object.entries(METHOD_SETTING_FLAGS)) {
    if (values[flag] === undefined || method.settings.includes(field)) continue;
    const readers = METHOD_NAMES.filter((n) => peftMethod(n).settings.includes(field));
    throw new GiftjsError(`--${flag} does not apply to --method ${methodName} (it sets ${field} of ${readers.join(', ')}); leave it out`);
  }
}

/** A progress bar on a terminal, a log line every 5% otherwise. */
interface ProgressReporter { callbacks: (out: string) => TrainCallbacks; stop: () => void }

function progressReporter(): ProgressReporter {
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'step {value}/{total} |{bar}| loss {loss} | {tps} tok/s | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let started = false;
  const t0 = Date.now();
  return {
    stop: () => bar?.stop(),
    callbacks: (out) => ({
      onResume: (step, dir, note) => console.error(`resuming from ${dir} at step ${step}${note ? `; ${note}` : ''}`),
      onWarning: (message) => console.error(`${bar && started ? '\n' : ''}warning: ${message}`),
      onEval: (step, loss) => console.error(`${bar && started ? '\n' : ''}held-out loss at step ${step}: ${loss.toFixed(4)}`),
      onStep: (log, total) => {
        if (bar) {
          if (!started) bar.start(total, log.step - 1, { loss: '-', tps: '-' });
          started = true;
          bar.update(log.step, { loss: log.loss.toFixed(4), tps: log.tokens_per_s.toFixed(0) });
        } else if (log.step === 1 || log.step % Math.max(1, Math.floor(total / 20)) === 0 || log.step === total) {
          const eta = ((Date.now() - t0) / 1000 / log.step) * (total - log.step);
          console.error(`step ${log.step}/${total}  loss ${log.loss.toFixed(4)}  lr ${log.lr.toExponential(2)}  ${log.tokens_per_s.toFixed(0)} tok/s  ETA ${fmtTime(eta)}`);
        }
      },
    }),
  };
}

/**
 * Ctrl-C (SIGINT) or SIGTERM during training: the update in progress finishes, a checkpoint of it is
 * written when --save-every is set, and the run ends saying where it stands and the command that goes
 * on from there, with status 130 (SIGINT) or 143 (SIGTERM), as a shell expects of an interrupted command.
 * A second signal stops at once: every file is written atomically, so that loses only the work since
 * the newest checkpoint. (A signal is seen between updates: the kernels do not yield to the event loop.)
 */
function stopOnSignals(out: string, stopProgress: () => void): { signal: AbortSignal; report: (e: TrainingStopped, argv: string[]) => number; dispose: () => void } {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const status = () => (received === 'SIGTERM' ? 143 : 130);
  const onSignal = (name: NodeJS.Signals) => {
    stopProgress();
    if (received === null) {
      received = name;
      controller.abort();
      console.error(`\n${name}: stopping after the update in progress${name === 'SIGINT' ? ' (Ctrl-C again stops at once)' : ''}`);
      return;
    }
    const latest = latestCheckpoint(out);
    console.error(latest
      ? `\nstopped at once: ${out} keeps its newest checkpoint, ${latest.dir} (step ${latest.step}); the same command with --resume continues from it`
      : `\nstopped at once: no checkpoint was saved yet (--save-every N saves one every N updates), so the run starts again from the beginning; ${out} holds only its log`);
    process.exit(status());
  };
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((name) => [name, () => onSignal(name)] as const);
  for (const [name, listener] of listeners) process.on(name, listener);
  return {
    signal: controller.signal,
    report: (e, argv) => {
      const again = `gift train ${argv.map(shellWord).join(' ')}${argv.includes('--resume') ? '' : ' --resume'}`;
      console.error(e.checkpoint
        ? `stopped (${received}) after step ${e.step}: ${out} keeps it as ${e.checkpoint}; to go on from there:\n  ${again}`
        : `stopped (${received}) after step ${e.step}: no checkpoint holds it (--save-every N saves one every N updates, and one when a run is stopped), so the run starts again from the beginning; ${out} holds its log`);
      return status();
    },
    dispose: () => {
      for (const [name, listener] of listeners) process.removeListener(name, listener);
    },
  };
}

/** A command-line word as a POSIX shell reads it back: quoted where it holds anything but safe characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
