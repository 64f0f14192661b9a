// Run configuration files, as mlx-lm's `-c config.yaml`: a YAML or JSON mapping from option names
// (a flag without its dashes; `batch_size` and `batch-size` alike) to values. Flags on the command
// line override the file. A key that is not an option of the command is refused by name, with the
// keys that are allowed, as is a value of the wrong kind.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml, parseDocument, stringify as stringifyYaml } from 'yaml';
import { DECIMAL_NUMBER, peerOptionHint, type Options, type Parsed } from './args.js';
import { GiftjsError } from '../errors.js';

/** The file's options as parsed flag values (strings, and booleans for switches). */
export function readConfigFile(path: string, options: Options): Parsed['values'] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GiftjsError(`--config ${path}: cannot read it (${(err as Error).message})`);
  }
  const json = extname(path).toLowerCase() === '.json';
  let doc: unknown;
  try {
    doc = json ? JSON.parse(text) : parseYaml(text);
    if (json) {
      // JSON.parse keeps the last of two equal keys without a word; YAML (JSON is YAML) refuses them.
      const duplicate = parseDocument(text).errors.find((e) => e.code === 'DUPLICATE_KEY');
      if (duplicate) throw new GiftjsError(`--config ${path}: ${duplicate.message.split('\n')[0]} (a key given twice: which value was meant?)`);
    }
  } catch (err) {
    if (err instanceof GiftjsError) throw err;
    const why = err instanceof RangeError ? 'nested too deeply' : (err as Error).message.split('\n')[0];
    throw new GiftjsError(`--config ${path}: not valid ${json ? 'JSON' : 'YAML'} (${why})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new GiftjsError(`--config ${path}: the file must hold a mapping of option names to values`);
  const values: Parsed['values'] = {};
  const allowed = Object.keys(options).filter((k) => k !== 'config' && k !== 'help');
  for (const [rawKey, value] of Object.entries(doc)) {
    const key = rawKey.replace(/_/g, '-');
    const spec = Object.hasOwn(options, key) ? options[key] : undefined; // 'constructor', '__proto__' are no options
    if (!spec || key === 'config' || key === 'help') {
      const hint = peerOptionHint(rawKey, options);
      throw new GiftjsError(`--config ${path}: '${rawKey}' is not an option of this command${hint || ` (allowed: ${allowed.join(', ')})`}`);
    }
    if (value === null || value === undefined) continue;
    if (spec.type === 'boolean') {
      if (typeof value !== 'boolean') throw new GiftjsError(`--config ${path}: '${rawKey}' is a switch: true or false, got ${shown(value)}`);
      values[key] = value;
    } else if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) {
      values[key] = value.join(','); // lists (targets, text fields) as the flag writes them
    } else if (typeof value === 'string' || typeof value === 'number') {
      values[key] = String(value);
    } else {
      throw new GiftjsError(`--config ${path}: '${rawKey}' must be a string, a number or a list of them, got ${shown(value)}`);
    }
  }
  return values;
}

/** A value for a message: its JSON, or a word when it cannot be written (nested past the stack). */
function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return 'a value nested too deeply to show';
  }
}

/** A run's resolved settings as YAML (the keys are the flags'), to write beside its outputs. */
export function configYaml(settings: Record<string, unknown>): string {
  // A number given as a flag is text ("3"): written as the number it is, so the file reads as one would write it.
  const clean = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => [k, typeof v === 'string' && DECIMAL_NUMBER.test(v) ? Number(v) : v]));
  return `# The settings of this run (command line, --config file and defaults); gift train --config <this file> repeats it.\n${stringifyYaml(clean)}`;
}
