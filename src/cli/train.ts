// gift train: a model folder and a data file in, a trained adapter out (with its log, metrics
// and a loss-curve picture), resumable after any interruption.
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { DATA_FORMATS } from '../data/examples.js';
import { describeExampleFile, loadExampleFile } from '../data/example_file.js';
import { loadCausalLM } from '../models/registry.js';
import { attachAdapter, saveAdapter } from '../peft/adapter_io.js';
import { METHOD_NAMES } from '../peft/registry.js';
import { writeTrainingReport } from '../train/report.js';
import { presetByName, PRESETS } from '../train/presets.js';
import { SCHEDULERS, type SchedulerKind } from '../train/schedule.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel, type TrainCallbacks, type TrainOptions } from '../train/trainer.js';
import { assertOutputApart } from '../io/output_folder.js';
import { intOption, layersOption, listOption, numberOption, parse, promptTaskOption, requireString } from './args.js';
import { loadTokenizer, sequenceLengthOption } from './model_loading.js';
import { SEQCLS_TRAIN_HELP, trainSequenceClassification } from './seqcls.js';
import { trainOnTorch } from './train_torch.js';
import { IMGCLS_TRAIN_HELP, trainImageClassification } from './imgcls.js';
import { GiftjsError } from '../errors.js';

export const TRAIN_HELP = `gift train --model <dir> --data <file> --out <dir> [options]

  --model <dir>          Hugging Face model folder (config.json, safetensors, tokenizer.json)
  --data <file>          training data (.jsonl, .json, .parquet): .jsonl ({"text"}, {"prompt","completion"}, {"messages"}) or
                         the paper's LLM-Adapters JSON list ({"instruction","input","output","answer"})
  --eval-data <file>     held-out data (same formats); its loss is logged at the start, every
                         --eval-every updates and at the end
  --format <f>           ${DATA_FORMATS.join(' | ')} (default: detected from the first record)
  --task <t>             commonsense | math | instruct: the paper's prompt template for LLM-Adapters data;
                         seqcls / imgcls: sequence / image classification (below)
  --method <m>           ${METHOD_NAMES.join(' | ')} (default gift)
  --rank R --alpha A     GIFT / LoRA rank and alpha (scale = alpha / rank; GIFT's alpha defaults to R)
  --targets a,b          module names (default q_proj,v_proj)   --layers 0,1,4-7   only these blocks
  --share target|input-size   GIFT: one (phi, psi) per target name, or per input size
  --dropout P            LoRA dropout
  --epochs N | --max-steps N   length of training (default 1 epoch)
  --lr --batch-size --grad-accum --max-length --warmup-ratio --weight-decay --max-grad-norm --seed
  --scheduler ${SCHEDULERS.join('|')}   --head-lr --head-weight-decay
  --preset <name>        the paper's settings: ${Object.keys(PRESETS).join(', ')}
  --eval-every N --save-every N   held-out loss / checkpoint every N optimizer updates
  --resume               continue from <out>/checkpoint with the same arguments
  --gradient-checkpointing   recompute each layer in backward: far less memory, one more forward
  --engine torch --nproc N   train GIFT on PyTorch's engine instead: gift prepare, then torchrun with N
                         processes of gift_torch.train (DistributedDataParallel); needs python3 with torch
                         (GIFTJS_PYTHON picks the interpreter); same outputs in --out
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

export async function trainCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values } = parse(argv, {
    model: s, data: s, 'eval-data': s, out: s, format: s, task: s, method: s, rank: s, alpha: s, targets: s, layers: s, share: s, dropout: s,
    epochs: s, 'max-steps': s, lr: s, 'batch-size': s, 'grad-accum': s, 'max-length': s, 'warmup-ratio': s, scheduler: s,
    'weight-decay': s, 'max-grad-norm': s, seed: s, preset: s, 'eval-every': s, 'save-every': s, 'head-lr': s, 'head-weight-decay': s,
    'text-fields': s, 'label-field': s, columns: s, 'test-data': s, engine: s, nproc: s,
    resume: { type: 'boolean' }, json: { type: 'boolean' }, 'gradient-checkpointing': { type: 'boolean' }, regression: { type: 'boolean' },
  });
  if (values.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const modelDir = requireString(values, 'model', TRAIN_HELP);
  const dataPath = requireString(values, 'data', TRAIN_HELP);
  const out = requireString(values, 'out', TRAIN_HELP);
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--data', path: dataPath }, { flag: '--eval-data', path: values['eval-data'] as string | undefined }, { flag: '--test-data', path: values['test-data'] as string | undefined }]);
  const preset = typeof values.preset === 'string' ? presetByName(values.preset) : null;
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
    warmupRatio: numberOption(values['warmup-ratio'], 'warmup-ratio', d.warmupRatio),
    scheduler,
    weightDecay: numberOption(values['weight-decay'], 'weight-decay', d.weightDecay),
    maxGradNorm: numberOption(values['max-grad-norm'], 'max-grad-norm', d.maxGradNorm),
    seed: intOption(values.seed, 'seed', d.seed, 0),
    evalEvery: intOption(values['eval-every'], 'eval-every', 0, 0),
    saveEvery: intOption(values['save-every'], 'save-every', 0, 0),
    headLr: values['head-lr'] === undefined ? null : numberOption(values['head-lr'], 'head-lr', 0),
    headWeightDecay: values['head-weight-decay'] === undefined ? null : numberOption(values['head-weight-decay'], 'head-weight-decay', 0),
  };
  let maxLength = intOption(values['max-length'], 'max-length', 512, 2);

  const methodName = (values.method as string | undefined) ?? (preset?.method.method as string | undefined) ?? 'gift';
  const rank = intOption(values.rank, 'rank', (preset?.method.rank as number | undefined) ?? 8);
  const methodConfig: Record<string, unknown> = {
    ...(preset && preset.method.method === methodName ? preset.method : {}),
    method: methodName,
    rank,
    target_modules: listOption(values.targets) ?? (preset?.method.target_modules as string[] | undefined) ?? ['q_proj', 'v_proj'],
    layers: layersOption(values.layers),
  };
  if (values.alpha !== undefined) methodConfig.alpha = numberOption(values.alpha, 'alpha', rank);
  if (values.share !== undefined) methodConfig.share = values.share;
  if (values.dropout !== undefined) methodConfig.dropout = numberOption(values.dropout, 'dropout', 0);

  if (values.engine === 'torch' && ['seqcls', 'imgcls'].includes(String(values.task ?? preset?.task))) {
    throw new GiftjsError(`--engine torch trains language models; --task ${String(values.task ?? preset?.task)} runs on giftjs's engine`);
  }
  const progress = progressReporter();
  if (((values.task as string | undefined) ?? preset?.task) === 'imgcls') {
    return trainImageClassification({ values, modelDir, dataPath, out, options, methodConfig, callbacks: progress.callbacks(out), onDone: progress.stop });
  }
  if (((values.task as string | undefined) ?? preset?.task) === 'seqcls') {
    return trainSequenceClassification({ values, modelDir, dataPath, out, options, methodConfig, preset, callbacks: progress.callbacks(out), onDone: progress.stop });
  }
  const tokenizer = loadTokenizer(modelDir);
  maxLength = sequenceLengthOption(modelDir, values['max-length'], 512);
  const task = promptTaskOption((values.task as string | undefined) ?? preset?.task, 'task', ['seqcls', 'imgcls']);
  const load = async (path: string, label: string) => {
    const set = await loadExampleFile(path, tokenizer, { format: (values.format as string | undefined) ?? preset?.format, maxLength, task });
    console.error(`${label}: ${describeExampleFile(path, set, maxLength, task)}`);
    return set.examples;
  };
  const engine = (values.engine as string | undefined) ?? 'giftjs';
  if (engine !== 'giftjs' && engine !== 'torch') throw new GiftjsError(`--engine must be giftjs or torch, got '${engine}'`);
  if (engine === 'torch') {
    if (values['gradient-checkpointing']) throw new GiftjsError('--gradient-checkpointing is not available with --engine torch');
    return trainOnTorch({
      modelDir, dataPath, evalPath: values['eval-data'] as string | undefined, out, format: (values.format as string | undefined) ?? preset?.format, task, maxLength,
      processes: intOption(values.nproc, 'nproc', 1), methodConfig, options, resume: values.resume === true, json: values.json === true,
    });
  }
  if (values.nproc !== undefined) throw new GiftjsError('--nproc goes with --engine torch');
  const train = await load(dataPath, 'train');
  const heldOut = typeof values['eval-data'] === 'string' ? await load(values['eval-data'], 'held-out') : undefined;

  const model = loadCausalLM(modelDir);
  model.gradientCheckpointing = values['gradient-checkpointing'] === true;
  const adapter = attachAdapter(model, methodConfig, options.seed, 'command line');
  const padId = tokenizer.eosTokenId ?? 0;
  console.error(`${adapter.method}: ${adapter.trainableCount()} trainable parameters\n${adapter.describe().map((l) => `  ${l}`).join('\n')}`);

  const result = trainModel({
    model, adapter, train, heldOut, options, padId, outDir: out, resume: values.resume === true,
    fingerprint: JSON.stringify({ modelDir, dataPath, methodConfig, options, maxLength, task: task ?? null }),
    callbacks: progress.callbacks(out),
  });
  progress.stop();

  saveAdapter(join(out, 'adapter'), adapter, { path: modelDir, architecture: model.config.architecture });
  const metrics = writeTrainingReport(out, adapter, result, options, `${adapter.method} on ${modelDir}`);
  console.error(`adapter: ${join(out, 'adapter')}\nmetrics: ${join(out, 'metrics.json')}\nloss curve: ${join(out, 'loss_curve.svg')}`);
  if (values.json) console.log(JSON.stringify(metrics));
  return 0;
}

/** A progress bar on a terminal, a log line every 5% otherwise. */
function progressReporter(): { callbacks: (out: string) => TrainCallbacks; stop: () => void } {
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'step {value}/{total} |{bar}| loss {loss} | {tps} tok/s | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let started = false;
  const t0 = Date.now();
  return {
    stop: () => bar?.stop(),
    callbacks: (out) => ({
      onResume: (step) => console.error(`resuming from ${join(out, 'checkpoint')} at step ${step}`),
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
