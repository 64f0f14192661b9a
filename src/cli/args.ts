// Small helpers shared by the commands: typed option parsing with errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GiftjsError } from '../errors.js';
import { LOSS_ON, PROMPT_TASKS, type LossOn, type PromptTask } from '../data/examples.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * What mlx-lm, TRL / transformers' TrainingArguments and PEFT call giftjs's options (underscores or
 * dashes alike): an unknown flag or --config key that is one of these is answered with giftjs's name,
 * the first of a list that the command has (mlx-lm's --adapter-path is the adapter to load in generate,
 * fuse and server, where giftjs has --adapter, and where to save in lora, giftjs's train --out).
 */
const PEER_OPTION_NAMES: Record<string, string | string[]> = {
  iters: 'max-steps', 'max-steps': 'max-steps', 'learning-rate': 'lr', 'adapter-path': ['adapter', 'out'], 'output-dir': 'out', 'max-seq-length': 'max-length',
  'save-path': 'out', 'max-tokens': 'max-new-tokens', temp: 'temperature',
  'grad-checkpoint': 'gradient-checkpointing', 'fine-tune-type': 'method', 'steps-per-eval': 'eval-every', 'eval-steps': 'eval-every',
  'save-steps': 'save-every', 'num-train-epochs': 'epochs', 'per-device-train-batch-size': 'batch-size', 'gradient-accumulation-steps': 'grad-accum',
  'lr-scheduler-type': 'scheduler', 'resume-adapter-file': 'resume', 'resume-from-checkpoint': 'resume', 'lora-rank': 'rank', r: 'rank',
  'lora-alpha': 'alpha', 'lora-dropout': 'dropout', 'target-modules': 'targets', 'train-file': 'data', 'validation-file': 'eval-data', valid: 'eval-data',
  'num-layers': 'layers (a list of block indices, such as 12-15)', 'lora-layers': 'layers (a list of block indices, such as 12-15)',
  'mask-prompt': "loss-on response (giftjs's default)", 'assistant-only-loss': "loss-on response (giftjs's default)",
  'completion-only-loss': "loss-on response|all (response is giftjs's default)", 'train-on-inputs': 'loss-on all', 'neftune-noise-alpha': 'neftune-noise-alpha',
  'dataset-text-field': 'dataset-text-field', 'text-feature': 'dataset-text-field', 'use-dora': 'use-dora',
};

/** ", did you mean --X? (its name elsewhere)" for an option another tool names so, else "". */
export function peerOptionHint(name: string, options: Options): string {
  const key = name.replace(/^-+/, '').replace(/_/g, '-').toLowerCase();
  const candidates = Object.hasOwn(PEER_OPTION_NAMES, key) ? [PEER_OPTION_NAMES[key]!].flat() : [];
  const ours = candidates.find((c) => Object.hasOwn(options, c.split(' ')[0]!));
  if (!ours) return '';
  return `; did you mean --${ours}? (mlx-lm, TRL and PEFT name it '${name.replace(/^-+/, '')}')`;
}

/** node:util's parse errors (unknown flag, missing value) are the user's to fix: a GiftjsError. */
export function reportingParseErrors<T>(parse: () => T, options: Options = {}): T {
  try {
    return parse();
  } catch (err) {
    if (String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
      const unknown = /Unknown option '(-{1,2}[^']+)'/.exec((err as Error).message)?.[1];
      throw new GiftjsError(`${(err as Error).message}${unknown ? peerOptionHint(unknown, options) : ''}`);
    }
    throw err;
  }
}

/** Parses flags strictly (an unknown flag is an error); --help / -h is always accepted. */
export function parse(argv: string[], options: Options, allowPositionals = false): Parsed {
  const r = reportingParseErrors(() => parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true }), options);
  return { values: r.values as Parsed['values'], positionals: r.positionals };
}

export function requireString(values: Record<string, unknown>, name: string, usage: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new GiftjsError(`--${name} is required\n\n${usage}`);
  return v;
}

/**
 * A flag's text as a number, in decimal or scientific notation only: Number() also reads '' (as in
 * --lr=) as 0 and '0x10' as 16, 'Infinity' and '0b11', none of which a learning rate means.
 */
function flagNumber(v: unknown): number {
  return typeof v === 'string' && DECIMAL_NUMBER.test(v.trim()) ? Number(v) : NaN;
}

/** A number in decimal or scientific notation, and nothing else. */
export const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function intOption(v: unknown, name: string, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = flagNumber(v);
  if (!Number.isInteger(n) || n < min) throw new GiftjsError(`--${name} must be an integer >= ${min}, got '${String(v)}'`);
  return n;
}

export function numberOption(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = flagNumber(v);
  if (!Number.isFinite(n)) throw new GiftjsError(`--${name} must be a decimal number (such as 2e-4 or 0.5), got '${String(v)}'`);
  return n;
}

export function listOption(v: unknown): string[] | null {
  return typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : null;
}

/** Layer indices beyond this are refused before a list of them is built. */
const MAX_LAYER_INDEX = 10000;

export function layersOption(v: unknown): number[] | null {
  const list = listOption(v);
  if (!list) return null;
  const out: number[] = [];
  for (const item of list) {
    const range = /^(\d+)-(\d+)$/.exec(item);
    const bound = (s: string) => {
      const n = Number(s);
      if (n > MAX_LAYER_INDEX) throw new GiftjsError(`--layers: ${s} is past any model's layers (at most ${MAX_LAYER_INDEX})`);
      return n;
    };
    if (range) {
      const [from, to] = [bound(range[1]!), bound(range[2]!)];
      if (from > to) throw new GiftjsError(`--layers: the range '${item}' is empty (write low-high)`);
      for (let i = from; i <= to; i++) out.push(i);
    } else if (/^\d+$/.test(item)) out.push(bound(item));
    else throw new GiftjsError(`--layers: '${item}' is not a layer index or range (e.g. 0,1,4-7)`);
  }
  return out;
}

/**
 * The paper's prompt template: --template, or a --task that names one (how templates were named
 * before --template; read for this release, with a note). Both naming different ones is refused.
 * `taskAlso` lists --task's other values for the message.
 */
export function templateOption(template: unknown, task: unknown, taskAlso: readonly string[] = []): PromptTask | undefined {
  const fromTemplate = promptTaskOption(template, 'template');
  if (task === undefined) return fromTemplate;
  const fromTask = promptTaskOption(task, 'task', taskAlso)!;
  if (fromTemplate !== undefined && fromTemplate !== fromTask) throw new GiftjsError(`--task ${fromTask} and --template ${fromTemplate} name two prompt templates; give --template alone`);
  console.error(`note: --task ${fromTask} names a prompt template, which is --template ${fromTask} now (--task keeps working for this release)`);
  return fromTask;
}

/** The paper's prompt template named by a flag (--task, --template), or undefined; `also` lists the flag's other values for the message. */
export function promptTaskOption(v: unknown, flag: string, also: readonly string[] = []): PromptTask | undefined {
  if (v === undefined) return undefined;
  if (!(PROMPT_TASKS as readonly unknown[]).includes(v)) throw new GiftjsError(`--${flag} must be ${[...PROMPT_TASKS, ...also].join(', ')}, got '${String(v)}'`);
  return v as PromptTask;
}

/** --loss-on: which tokens of a language model's examples carry the loss; undefined when not given. */
export function lossOnOption(v: unknown): LossOn | undefined {
  if (v === undefined) return undefined;
  if (!(LOSS_ON as readonly unknown[]).includes(v)) {
    throw new GiftjsError(`--loss-on must be ${listed(LOSS_ON, 'or')} (response: the completion, the assistant turns or the LLM-Adapters output; all: every token), got '${String(v)}'`);
  }
  return v as LossOn;
}

/** --dataset-text-field: the field a text record's text is in; undefined when not given. */
export function textFieldOption(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new GiftjsError(`--dataset-text-field must name a field of the records (such as content), got '${String(v)}'`);
  return v;
}

/** Names in a sentence: "a", "a and b", "a, b and c" (or with "or"). */
export function listed(names: readonly string[], conjunction: 'and' | 'or' = 'and'): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} ${conjunction} ${names[names.length - 1]}`;
}
