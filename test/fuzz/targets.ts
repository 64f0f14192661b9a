// The fuzzing harness: property-based tests (fast-check) that take real files -- safetensors,
// config.json, tokenizer.json, adapter_config.json, JSONL/CSV/TSV/Parquet, IDX, llama2.c
// checkpoints -- `gift` argument vectors and requests to `gift serve`, mutate them as a careless or
// hostile user would, and feed them to the code that reads them. The property, for every case:
//   - the only exception is GiftjsError (a clear error naming the file and field), never a
//     TypeError, RangeError or an error of a library underneath;
//   - each case ends in bounded time and memory;
//   - nothing is written outside the output folder the case named, and no input changes.
// fuzz.test.ts runs a fixed-seed budget in CI; `npm run fuzz -- --minutes N` runs longer.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { main } from '../../src/cli/main.js';
import { sharedFile } from '../helpers.js';
import { buildExamples, detectFormat } from '../../src/data/examples.js';
import { loadIdxDataset, loadImageFile, readPreprocessing } from '../../src/data/images.js';
import type { ResampleFilter } from '../../src/data/resample.js';
import { crc32, deflateSync } from 'node:zlib';
import { loadRecords } from '../../src/data/load.js';
import { buildSeqClsExamples, detectSeqClsFields, labelSpaceOf } from '../../src/data/seqcls.js';
import { GiftjsError } from '../../src/errors.js';
import { readLlama2cCheckpoint, readLlama2cTokenizer } from '../../src/io/llama2c.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { loadCausalLM, loadSequenceClassifier } from '../../src/models/registry.js';
import { ViTForImageClassification } from '../../src/models/vit/model.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { loadCheckpoint, readCheckpointState } from '../../src/train/checkpoint.js';
import { AdamW } from '../../src/train/optimizer.js';
import { spawnSync } from 'node:child_process';
import { watchCase } from './watchdog.js';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAIServer } from '../../src/serve/openai_server.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = join(ROOT, 'test/fixtures');

/** How one case ended. */
export type Outcome = 'ok' | 'clear-error';

/** A failure of the property: what broke and the input that broke it. */
export class FuzzFailure extends Error {}

/** Seconds a case may take, and resident memory the process may reach, before it fails. */
const CASE_SECONDS = 20;
const MAX_RSS_BYTES = 3 * 1024 ** 3;

/** How often each kind of clear error was seen (numbers, paths and quoted values blanked). */
export const ERROR_KINDS = new Map<string, number>();

/** Runs one case: a GiftjsError is a clear error, anything else (or too slow, too big) a failure. */
export async function runCase(label: string, body: () => unknown | Promise<unknown>, leftIn?: string): Promise<Outcome> {
  const t0 = performance.now();
  let outcome: Outcome = 'ok';
  // A case that never returns is ended by the watchdog at three times the bound, saying which it was.
  const done = watchCase(`${label}${leftIn ? ` (its files: ${leftIn})` : ''}`, 3 * CASE_SECONDS);
  try {
    await body();
  } catch (err) {
    if (!(err instanceof GiftjsError)) {
      throw new FuzzFailure(`${label}: ${err instanceof Error ? `${err.constructor.name}: ${err.stack}` : String(err)}`);
    }
    if (!err.message || err.message.length > 4000) throw new FuzzFailure(`${label}: an unclear error message (${err.message.length} characters)`);
    outcome = 'clear-error';
    const kind = err.message.replace(/\/[^\s:]*|\d+(\.\d+)?|"[^"]*"|'[^']*'/g, '_').slice(0, 70);
    ERROR_KINDS.set(kind, (ERROR_KINDS.get(kind) ?? 0) + 1);
  } finally {
    done();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (seconds > CASE_SECONDS) throw new FuzzFailure(`${label}: took ${seconds.toFixed(1)} s`);
  const rss = process.memoryUsage().rss;
  if (rss > MAX_RSS_BYTES) throw new FuzzFailure(`${label}: resident memory reached ${(rss / 1024 ** 3).toFixed(2)} GiB`);
  return outcome;
}

// ---- mutations ---------------------------------------------------------------------------------

/** Values that break naive code: sizes, signs, non-numbers, names every JS object has. */
const HOSTILE_VALUES: unknown[] = [
  0, -1, 1, 2, 3, 1.5, -0.5, 1e9, 5e7, 4294967296, 1e308, -1e308, Number.MAX_SAFE_INTEGER, '', ' ', 'NaN', 'Infinity', '-1', '1e999',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', '../../etc/passwd', '/', 'x'.repeat(5000), null, true, false, [], {}, [1, 2],
  { __proto__: null, constructor: 1 }, { rope_type: 'yarn', factor: 4 }, ['q_proj', 'constructor'], '.*', '(', 'F32', 'I64', 'BOOL',
];

const hostileValue = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOSTILE_VALUES) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });

/** Every path (list of keys) into a JSON value, objects and arrays alike. */
function jsonPaths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.slice(0, 50).forEach((x, i) => jsonPaths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) jsonPaths((v as Record<string, unknown>)[k], [...prefix, k], out);
  return out;
}

type JsonEdit = { kind: 'set' | 'delete' | 'add'; at: number; key: string; value: unknown };

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  kind: fc.constantFrom('set', 'set', 'delete', 'add'),
  at: fc.nat(),
  key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'rope_parameters', 'rope_scaling', 'dtype', 'use_dora', 'x'), fc.string({ maxLength: 8 })),
  value: hostileValue,
}) as fc.Arbitrary<JsonEdit>;

/** A JSON document with 1-4 edits applied at paths chosen by the edits (set, delete, add a key). */
export function mutatedJson(seed: unknown): fc.Arbitrary<string> {
  return fc.array(jsonEdit, { minLength: 1, maxLength: 4 }).map((edits) => {
    const doc = JSON.parse(JSON.stringify(seed)) as unknown;
    let root: unknown = doc;
    for (const edit of edits) {
      // A copy: the hostile constants are shared between cases and must never be edited in place.
      const e = { ...edit, value: edit.value === undefined ? undefined : (JSON.parse(JSON.stringify(edit.value)) as unknown) };
      const paths = jsonPaths(root);
      const path = paths[e.at % paths.length]!;
      if (path.length === 0) {
        if (e.kind === 'set') root = e.value;
        continue;
      }
      let parent = root as Record<string | number, unknown>;
      for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      const last = path[path.length - 1]!;
      if (e.kind === 'set') parent[last] = e.value;
      else if (e.kind === 'delete') {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
      } else if (parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
        Object.defineProperty(parent[last], e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
      }
    }
    return JSON.stringify(root);
  });
}

type ByteEdit = { kind: 'flip' | 'truncate' | 'int32' | 'insert'; at: number; value: number; bytes: number[] };

const byteEdit: fc.Arbitrary<ByteEdit> = fc.record({
  kind: fc.constantFrom('flip', 'truncate', 'int32', 'insert'),
  at: fc.nat(),
  value: fc.oneof(fc.constantFrom(0, -1, 1, 0x7fffffff, -0x80000000, 2051, 2049, 65536), fc.integer()),
  bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 16 }),
}) as fc.Arbitrary<ByteEdit>;

/** A binary file with 1-4 edits: a byte flipped, the end cut off, an int32 overwritten, bytes inserted. */
export function mutatedBytes(seed: Uint8Array, headerBias = 0): fc.Arbitrary<Uint8Array> {
  return fc.array(byteEdit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = Buffer.from(seed);
    for (const e of edits) {
      // Half the edits land in the first `headerBias` bytes, where the sizes are.
      const span = headerBias > 0 && e.at % 2 === 0 ? Math.min(headerBias, b.length) : b.length;
      const at = span > 0 ? Math.floor(e.at / 2) % span : 0;
      if (e.kind === 'flip' && b.length > 0) b[at] = b[at]! ^ (1 << (e.value & 7));
      else if (e.kind === 'truncate') b = b.subarray(0, at);
      else if (e.kind === 'int32' && at + 4 <= b.length) b.writeInt32LE(e.value | 0, at);
      else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)]);
    }
    return new Uint8Array(b);
  });
}

// ---- the sandbox ---------------------------------------------------------------------------------

/** A temporary folder holding copies of the inputs; `check()` says whether any input changed. */
export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'giftjs-fuzz-'));
  readonly inputs = join(this.dir, 'inputs');
  private digest = '';
  private sealedPaths = new Set<string>();
  private ownOutputs: string[] = [];
  constructor() {
    mkdirSync(this.inputs);
  }
  copy(src: string, name: string): string {
    const dst = join(this.inputs, name);
    cpSync(src, dst, { recursive: true });
    return dst;
  }
  write(name: string, content: string | Uint8Array): string {
    const p = join(this.inputs, name);
    writeFileSync(p, content);
    return p;
  }
  seal(): void {
    this.digest = digestTree(this.inputs);
    this.sealedPaths = new Set(listTree(this.inputs));
  }
  /**
   * Throws when an input changed or anything appeared in the sandbox outside `outputs`. An output the
   * case named inside the inputs (--out inputs/nope) is the case's own, where nothing stood when the
   * inputs were sealed: left out of the comparison, then removed by clearOutputs.
   */
  check(label: string, outputs: string[]): void {
    this.ownOutputs = outputs.filter((o) => relative(this.inputs, o) !== '' && !relative(this.inputs, o).startsWith('..') && !this.sealedPaths.has(o));
    if (digestTree(this.inputs, this.ownOutputs) !== this.digest) throw new FuzzFailure(`${label}: an input file changed`);
    for (const name of readdirSync(this.dir)) {
      if (name === 'inputs' || name === 'scratch' || outputs.some((o) => relative(this.dir, o).split('/')[0] === name)) continue;
      throw new FuzzFailure(`${label}: wrote ${name} outside its --out`);
    }
  }
  clearOutputs(): void {
    for (const name of readdirSync(this.dir)) if (name !== 'inputs') rmSync(join(this.dir, name), { recursive: true, force: true });
    for (const o of this.ownOutputs) if (existsSync(o)) rmSync(o, { recursive: true, force: true });
    this.ownOutputs = [];
  }
  dispose(): void {
    if (process.cwd().startsWith(this.dir)) process.chdir(tmpdir());
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Every path under `dir`. */
function listTree(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? [p, ...listTree(p)] : [p];
  });
}

function digestTree(dir: string, leaveOut: readonly string[] = []): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (leaveOut.includes(p)) continue;
      const st = statSync(p);
      h.update(`${relative(dir, p)}\0${st.size}\0`);
      if (st.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

// ---- the targets ---------------------------------------------------------------------------------

/** One kind of input: how to make a mutated case, and what reads it. */
export interface FuzzTarget {
  name: string;
  /** false when its seed files are missing here (e.g. ../shared absent). */
  available: () => boolean;
  /** A property that runs one case and records its outcome. */
  property: (sandbox: Sandbox, record: (o: Outcome) => void) => fc.IAsyncProperty<[unknown]>;
}

const LLAMA = join(FIX, 'llama/llama3-scaled-tied');
const BERT = join(FIX, 'encoders/bert');
const VIT = join(FIX, 'encoders/vit');
const LORA_PEFT = join(FIX, 'hf-v5/lora-patterns');
const STORIES = sharedFile('models/stories260K/stories260K.bin');
const STORIES_TOK = sharedFile('models/stories260K/tok512.bin');

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as unknown;

/** A target whose case is a file written into a scratch copy of a folder, then read. */
function fileTarget<T>(name: string, arbitrary: () => fc.Arbitrary<T>, run: (value: T, scratch: string, sandbox: Sandbox) => unknown, setup: (scratch: string) => void = () => {}, available = () => true): FuzzTarget {
  return {
    name,
    available,
    property: (sandbox, record) => {
      const scratch = join(sandbox.dir, 'scratch', name);
      mkdirSync(scratch, { recursive: true });
      setup(scratch);
      return fc.asyncProperty(arbitrary() as fc.Arbitrary<unknown>, async (value) => {
        record(await runCase(`${name} ${describeValue(value)}`, () => run(value as T, scratch, sandbox), scratch));
      });
    },
  };
}

function describeValue(v: unknown): string {
  if (v instanceof Uint8Array) return `(${v.length} bytes)`;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 600 ? `${s.slice(0, 600)}...` : s;
}

function withTensors(path: string): void {
  const f = SafetensorsFile.open(path);
  try {
    for (const name of f.tensors.keys()) {
      const info = f.tensors.get(name)!;
      if (info.dtype === 'I64' || info.dtype === 'I32') f.readIntegers(name);
      else f.readTensor(name).dispose();
    }
  } finally {
    f.close();
  }
}

/** A LoRA and a GIFT adapter giftjs wrote for the Llama fixture (made once per process). */
function giftjsAdapters(scratch: string): { gift: string; lora: string } {
  const gift = join(scratch, 'gift-adapter');
  const lora = join(scratch, 'lora-adapter');
  if (!existsSync(gift)) {
    for (const [dir, config] of [[gift, { method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] }], [lora, { method: 'lora', rank: 2, target_modules: ['q_proj'], dropout: 0.1 }]] as const) {
      const m = loadCausalLM(LLAMA);
      saveAdapter(dir, attachAdapter(m, { ...config }), { path: LLAMA, architecture: 'LlamaForCausalLM' });
    }
  }
  return { gift, lora };
}

export const TARGETS: FuzzTarget[] = [
  fileTarget('safetensors', () => mutatedBytes(readFileSync(join(LLAMA, 'model.safetensors')), 400), (bytes, scratch) => {
    const p = join(scratch, 'model.safetensors');
    writeFileSync(p, bytes);
    withTensors(p);
  }),
  // A GGUF read as --model: header, metadata, tensor table, the folder made of it, the model and its tokenizer.
  ...['tiny-q8_0.gguf', 'qwen2-bpe.gguf'].map((seed) => fileTarget(`gguf ${seed}`, () => mutatedBytes(readFileSync(join(FIX, 'gguf', seed)), 400), (bytes, scratch) => {
    const p = join(scratch, `case-${seed}`);
    writeFileSync(p, bytes);
    process.env.GIFTJS_CACHE = join(scratch, 'cache');
    const { dir } = ggufModelFolder(p);
    noGrad(() => loadCausalLM(dir).forward([1, 2, 3], 1, 3).dispose());
    Tokenizer.fromFolder(dir).encode('Hello world, 12345 once upon a time');
  })),
  fileTarget('llama config.json', () => mutatedJson(readJson(join(LLAMA, 'config.json'))), (text, scratch) => {
    writeFileSync(join(scratch, 'config.json'), text);
    loadCausalLM(scratch);
  }, (scratch) => cpSync(LLAMA, scratch, { recursive: true })),
  // The other causal families' parsers: Gemma's (a mutated model_type or architectures reaches Gemma 2's and 3's) and Phi-2's.
  ...['gemma/gemma1', 'phi/phi2'].map((folder) => fileTarget(`${folder.split('/')[1]} config.json`, () => mutatedJson(readJson(join(FIX, folder, 'config.json'))), (text, scratch) => {
    writeFileSync(join(scratch, 'config.json'), text);
    noGrad(() => loadCausalLM(scratch).forward([1, 2, 3], 1, 3).dispose());
  }, (scratch) => cpSync(join(FIX, folder), scratch, { recursive: true }))),
  fileTarget('bert config.json', () => mutatedJson(readJson(join(BERT, 'config.json'))), (text, scratch) => {
    writeFileSync(join(scratch, 'config.json'), text);
    loadSequenceClassifier(scratch, 2);
  }, (scratch) => cpSync(BERT, scratch, { recursive: true })),
  fileTarget('vit config.json + preprocessor_config.json', () => fc.tuple(mutatedJson(readJson(join(VIT, 'config.json'))), mutatedJson(readJson(join(VIT, 'preprocessor_config.json')))), ([config, pre], scratch) => {
    writeFileSync(join(scratch, 'config.json'), config);
    writeFileSync(join(scratch, 'preprocessor_config.json'), pre);
    const m = ViTForImageClassification.fromPretrained(scratch, { numLabels: 3 });
    readPreprocessing(scratch, m.config.imageSize, m.config.numChannels);
  }, (scratch) => cpSync(VIT, scratch, { recursive: true })),
  fileTarget('tokenizer.json', () => mutatedJson(readJson(join(LLAMA, 'tokenizer.json'))), (text, scratch) => {
    writeFileSync(join(scratch, 'tokenizer.json'), text);
    const t = Tokenizer.fromFolder(scratch);
    t.encode('Hello world, once upon a time');
    t.encodeForClassification(['a b c', 'd e'], 8);
  }, (scratch) => cpSync(LLAMA, scratch, { recursive: true })),
  fileTarget('adapter_config.json', () => fc.tuple(fc.constantFrom('gift', 'lora', 'peft'), fc.constant(null)).chain(([kind]) => {
    const seed = kind === 'peft' ? join(LORA_PEFT, 'adapter_config.json') : null;
    return fc.tuple(fc.constant(kind), seed ? mutatedJson(readJson(seed)) : mutatedJson({ method: kind, rank: 2, alpha: 2, target_modules: ['q_proj', 'v_proj'], layers: null, share: 'target', dropout: 0 }));
  }), ([kind, text], scratch) => {
    const { gift, lora } = giftjsAdapters(scratch);
    const dir = join(scratch, `case-${kind}`);
    rmSync(dir, { recursive: true, force: true });
    cpSync(kind === 'peft' ? LORA_PEFT : kind === 'gift' ? gift : lora, dir, { recursive: true });
    writeFileSync(join(dir, 'adapter_config.json'), text);
    loadAdapter(dir, loadCausalLM(kind === 'peft' ? join(FIX, 'hf-v5/llama3-v5') : LLAMA));
  }),
  fileTarget('data: JSONL', () => fc.oneof(
    fc.array(mutatedJson({ text: 'Once upon a time', prompt: 'Q', completion: 'A', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] }), { maxLength: 5 }).map((lines) => lines.join('\n')),
    fc.string({ maxLength: 200 }),
  ), async (text, scratch) => {
    const p = join(scratch, 'data.jsonl');
    writeFileSync(p, text);
    const records = await loadRecords(p);
    if (records.length > 0) buildExamples(records, Tokenizer.fromFolder(LLAMA), { format: detectFormat(records[0]!), maxLength: 64 });
  }),
  fileTarget('data: CSV / TSV', () => fc.tuple(fc.constantFrom('csv', 'tsv'), fc.array(fc.array(fc.oneof(fc.constantFrom('sentence', 'label', '0', '1', 'a "quoted" film', '', '\t', ',', '"', '__proto__'), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 })),
  async ([ext, rows], scratch) => {
    const sep = ext === 'csv' ? ',' : '\t';
    const p = join(scratch, `data.${ext}`);
    writeFileSync(p, rows.map((r) => r.join(sep)).join('\n'));
    const records = await loadRecords(p);
    if (records.length === 0) return;
    const fields = detectSeqClsFields(records[0]!);
    if (!fields.labelField) return;
    const labels = labelSpaceOf(records, fields.labelField, false);
    buildSeqClsExamples(records, Tokenizer.fromFolder(BERT), { textFields: fields.textFields, labelField: fields.labelField, labels, maxLength: 16 });
  }),
  fileTarget('data: Parquet', () => mutatedBytes(new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'sentence', data: ['a fine film', 'a dull one', 'ok'], type: 'STRING' }, { name: 'label', data: [1, 0, 1], type: 'INT32' }] })), 64),
    async (bytes, scratch) => {
      const p = join(scratch, 'data.parquet');
      writeFileSync(p, bytes);
      await loadRecords(p);
    }),
  fileTarget('IDX images', () => mutatedBytes(idxSeed().images, 16), (bytes, scratch) => {
    const images = join(scratch, 'x-images-idx3-ubyte');
    writeFileSync(images, bytes);
    writeFileSync(join(scratch, 'x-labels-idx1-ubyte'), idxSeed().labels);
    loadIdxDataset(images, { size: 8, channels: 1, mean: [0.5], std: [0.5], resizeShorter: null });
  }),
  // A PNG read as a ViT's input: sharp decodes it, Pillow's resampling (resample.ts) resizes and crops it.
  fileTarget('PNG images', () => fc.tuple(mutatedBytes(pngSeed(), 33).map(withChunkChecksums), fc.constantFrom<ResampleFilter>('bilinear', 'bicubic', 'lanczos', 'box', 'hamming'), fc.boolean()), async ([bytes, resample, crop], scratch) => {
    const p = join(scratch, 'case.png');
    writeFileSync(p, bytes);
    await loadImageFile(p, { size: 8, channels: 3, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], resizeShorter: crop ? 9 : null, resample, cropRounding: crop ? 'half-even' : 'floor' });
  }, () => {}, () => existsSync(join(ROOT, 'node_modules/sharp'))),
  fileTarget('llama2.c checkpoint', () => mutatedBytes(readFileSync(STORIES).subarray(0, 4096), 28), (bytes, scratch) => {
    // The header's sizes decide what is read: mutate it and the first tensors, keep the rest real.
    const full = Buffer.concat([Buffer.from(bytes), readFileSync(STORIES).subarray(4096)]);
    const p = join(scratch, 'model.bin');
    writeFileSync(p, full);
    const { tensors, header } = readLlama2cCheckpoint(p);
    for (const t of tensors.values()) t.dispose();
    readLlama2cTokenizer(STORIES_TOK, header.vocab);
  }, () => {}, () => existsSync(STORIES)),
  fileTarget('checkpoint trainer_state.json', () => mutatedJson({ step: 2, fingerprint: '{"x":1}', evalHistory: [{ step: 0, loss: 4.5 }], totalSteps: 2, optimizer_step: 2 }), (text, scratch) => {
    const ckpt = checkpointCopy(scratch);
    writeFileSync(join(ckpt, 'trainer_state.json'), text);
    rmSync(join(ckpt, '.giftjs')); // as an earlier giftjs wrote it: no checksums to stop the fields from being read
    resumeFrom(ckpt);
  }),
  fileTarget('checkpoint state.safetensors', () => fc.constant(null).chain(() => mutatedBytes(readFileSync(join(checkpointSeed(), 'state.safetensors')), 64)), (bytes, scratch) => {
    const ckpt = checkpointCopy(scratch);
    writeFileSync(join(ckpt, 'state.safetensors'), bytes);
    if (bytes.length % 3 === 0) rmSync(join(ckpt, '.giftjs')); // a third of the cases without the checksum, so the values are read
    resumeFrom(ckpt);
  }),
  fileTarget('chat templates', () => fc.tuple(fc.constantFrom(...CHAT_TEMPLATES), fc.constantFrom('', '{{ x }}', '{% for i in range(n) %}{% endfor %}', '{{ "a" * 100000000 }}', '{% set n = 100000000 %}', '{{ range(-5) }}', '{{ raise_exception("no") }}', '{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}'), fc.nat(3))
    .map(([base, insert, at]) => { const cut = Math.floor((base.length * at) / 3); return base.slice(0, cut) + insert + base.slice(cut); }), (template) => {
    const tok = Tokenizer.fromFolder(LLAMA);
    (tok as unknown as { config: Record<string, unknown> }).config.chat_template = template;
    tok.applyChatTemplate([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }]);
  }),
  fileTarget('regular expressions (target_modules, tokenizer patterns)', () => fc.tuple(fc.stringMatching(/^[a-z_.()*+?|{}\\[\]^$,0-9]{0,16}$/), fc.boolean()), ([pattern, inTokenizer], scratch) => {
    if (!inTokenizer) {
      attachAdapter(loadCausalLM(LLAMA), { method: 'lora', rank: 2, target_modules: pattern }, 0, 'adapter_config.json');
      return;
    }
    const dir = join(scratch, 'tokenizer');
    if (!existsSync(dir)) cpSync(LLAMA, dir, { recursive: true });
    const tj = readJson(join(LLAMA, 'tokenizer.json')) as Record<string, unknown>;
    tj.pre_tokenizer = { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false };
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
    Tokenizer.fromFolder(dir).encode(`${'a'.repeat(30)}!${' ab'.repeat(10)}`);
  }),
  cliTarget(),
  serveTarget(),
];

/** Chat templates as real tokenizers carry them (ChatML, Llama 3's), for the template target to cut into. */
const CHAT_TEMPLATES = [
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
];

/** A checkpoint gift train wrote for the Llama fixture (made once per process). */
let checkpointMade: string | null = null;
function checkpointSeed(): string {
  if (checkpointMade) return checkpointMade;
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-fuzz-ckpt-'));
  writeFileSync(join(dir, 'd.jsonl'), Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `line ${i} of a story` })).join('\n') + '\n');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'train', '--model', LLAMA, '--data', join(dir, 'd.jsonl'), '--out', join(dir, 'run'), '--max-steps', '2', '--batch-size', '2', '--rank', '2', '--save-every', '2'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the checkpoint seed could not be made: ${r.stderr}`);
  return (checkpointMade = join(dir, 'run', 'checkpoint-2'));
}

/** A fresh copy of the seed checkpoint in scratch, for one case to damage. */
function checkpointCopy(scratch: string): string {
  const dir = join(scratch, 'checkpoint-2');
  rmSync(dir, { recursive: true, force: true });
  cpSync(checkpointSeed(), dir, { recursive: true });
  return dir;
}

/** What --resume does with a checkpoint: read its state and load it into the run's adapter and optimizer. */
function resumeFrom(dir: string): void {
  const model = loadCausalLM(LLAMA);
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] });
  const optimizer = new AdamW([{ params: adapter.namedTrainable(), lrScale: 1, weightDecay: 0 }]);
  try {
    const fingerprint = readCheckpointState(dir).fingerprint;
    loadCheckpoint(dir, adapter.namedTrainable(), optimizer, fingerprint);
  } finally {
    optimizer.dispose();
  }
}

/** A 13 x 11 RGB PNG (signature, IHDR, one IDAT, IEND), written here so that no image file need be kept. */
function pngSeed(): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const [w, h] = [13, 11];
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const rows = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) for (let i = 0; i < 3 * w; i++) rows[y * (1 + 3 * w) + 1 + i] = (y * 37 + i * 11) % 256;
  return new Uint8Array(Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]));
}

/** The PNG with each chunk's checksum made right again where its length still fits, so that edits reach past the check. */
function withChunkChecksums(png: Uint8Array): Uint8Array {
  const b = Buffer.from(png);
  for (let at = 8; at + 12 <= b.length; ) {
    const length = b.readUInt32BE(at);
    if (at + 12 + length > b.length) break;
    b.writeUInt32BE(crc32(b.subarray(at + 4, at + 8 + length)), at + 8 + length);
    at += 12 + length;
  }
  return new Uint8Array(b);
}

let idx: { images: Uint8Array; labels: Uint8Array } | null = null;
function idxSeed(): { images: Uint8Array; labels: Uint8Array } {
  if (idx) return idx;
  const count = 6;
  const images = Buffer.alloc(16 + count * 8 * 8);
  images.writeUInt32BE(2051, 0);
  images.writeUInt32BE(count, 4);
  images.writeUInt32BE(8, 8);
  images.writeUInt32BE(8, 12);
  for (let i = 16; i < images.length; i++) images[i] = (i * 37) % 256;
  const labels = Buffer.alloc(8 + count);
  labels.writeUInt32BE(2049, 0);
  labels.writeUInt32BE(count, 4);
  for (let i = 0; i < count; i++) labels[8 + i] = i % 3;
  return (idx = { images: new Uint8Array(images), labels: new Uint8Array(labels) });
}

// ---- requests to gift serve ------------------------------------------------------------------

/** Request bodies as clients send them, one per kind of answer the server gives, for the serve target to mutate. */
const SERVE_SEEDS: { route: string; body: Record<string, unknown> }[] = [
  { route: '/v1/completions', body: { model: 'tiny', prompt: 'the dog sat', max_tokens: 3, temperature: 0 } },
  { route: '/v1/completions', body: { prompt: [1, 5, 9, 3], max_tokens: 2, echo: true, logprobs: 2 } },
  { route: '/v1/completions', body: { prompt: 'once upon a', stream: true, echo: true, logprobs: 1, max_tokens: 3, stop: ['e', 'the'] } },
  { route: '/v1/chat/completions', body: { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], max_tokens: 3, stream: true, logprobs: true, top_logprobs: 2, stream_options: { include_usage: true } } },
  { route: '/v1/completions', body: { prompt: [[1, 5, 9], [1, 7]], max_tokens: 1, echo: true, logprobs: 1, temperature: 0, seed: 1234 } },
  { route: '/v1/chat/completions', body: { messages: [{ role: 'user', content: [{ type: 'text', text: 'a cat' }] }], stop: ['a', ' the'], temperature: 0.7, top_p: 0.9, top_k: 5, seed: 7, presence_penalty: 0.5, frequency_penalty: -0.5, max_completion_tokens: 4 } },
];
const SERVE_ROUTES = ['/v1/completions', '/v1/chat/completions', '/completions', '/v1/models', '/v1/embeddings', '/v1/completions/', '/%E0%A4%A'];
const SERVE_MAX_TOKENS = 8;

/** The in-process server the serve target sends to (made once per process; unref'd, so it keeps no process alive). */
let serveBase: Promise<{ port: number; tokenizer: Tokenizer }> | null = null;
function servePort(): Promise<{ port: number; tokenizer: Tokenizer }> {
  if (serveBase) return serveBase;
  const dir = join(FIX, 'llama/llama-gqa');
  const tokenizer = Tokenizer.fromFolder(dir);
  (tokenizer as unknown as { config: Record<string, unknown> }).config.chat_template = CHAT_TEMPLATES[0];
  const server = createOpenAIServer({ model: loadCausalLM(dir), tokenizer, modelId: 'tiny', defaultMaxTokens: 4, maxTokensLimit: SERVE_MAX_TOKENS, defaultTemperature: 0, maxBodyBytes: 2048, contextTokens: 48 });
  return (serveBase = new Promise((resolveListen) => server.listen(0, '127.0.0.1', () => {
    server.unref();
    resolveListen({ port: (server.address() as AddressInfo).port, tokenizer });
  })));
}

/** One request on its own connection (no agent: nothing stays open between cases). */
function postRaw(port: number, method: string, route: string, body: string): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolveResponse, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: route, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (p: Buffer) => parts.push(p));
      res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * What every answer must be, whatever the request: a refusal (4xx) with OpenAI's error object and a
 * message, or a 200 whose answer keeps the request's bounds -- at most max_tokens tokens, no stop
 * sequence inside the text, log-probabilities finite and <= 0, a stream that ends with [DONE] and
 * carries no error event. A 500 is an internal error: a failure. Returns a refusal's message, null for an answer.
 */
function checkServeAnswer(request: Record<string, unknown> | null, r: { status: number; type: string; text: string }): string | null {
  const fail = (why: string) => {
    throw new FuzzFailure(`${why}: HTTP ${r.status} ${r.text.length > 1500 ? `${r.text.slice(0, 1500)}...` : r.text}`);
  };
  if (r.status !== 200) {
    if (!(r.status >= 400 && r.status < 500)) fail('not a refusal nor an answer');
    const message = (JSON.parse(r.text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message !== 'string' || message.length === 0) fail('a refusal without a message');
    return message as string;
  }
  if (request === null || (!Array.isArray(request.messages) && request.prompt === undefined)) return null; // /v1/models
  const events = r.type.startsWith('text/event-stream')
    ? r.text.split('\n\n').filter((e) => e.length > 0).map((e) => e.replace(/^data: /, ''))
    : null;
  if (events && events[events.length - 1] !== '[DONE]') fail('a stream that does not end with [DONE]');
  const bodies = (events ? events.slice(0, -1) : [r.text]).map((e) => JSON.parse(e) as Record<string, unknown>);
  // Each choice's text and log-probabilities (a batch of prompts has a choice each).
  const choices = new Map<number, { text: string; logprobs: unknown[] }>();
  let completionTokens: number | null = null;
  for (const b of bodies) {
    if (b.error !== undefined) fail('an error inside an answer');
    const usage = b.usage as { completion_tokens?: number } | undefined;
    if (usage) completionTokens = usage.completion_tokens ?? null;
    for (const c of (b.choices ?? []) as Record<string, unknown>[]) {
      const choice = choices.get(c.index as number) ?? { text: '', logprobs: [] };
      choices.set(c.index as number, choice);
      const delta = (c.delta ?? c.message) as { content?: string } | undefined;
      choice.text += typeof c.text === 'string' ? c.text : delta?.content ?? '';
      const lp = c.logprobs as { token_logprobs?: unknown[]; content?: { logprob: unknown }[] } | null;
      if (lp) choice.logprobs.push(...(lp.token_logprobs ?? []), ...(lp.content ?? []).map((e) => e.logprob));
    }
  }
  const asked = (request.max_completion_tokens ?? request.max_tokens ?? 4) as number;
  if (completionTokens !== null && completionTokens > asked * choices.size) fail(`${completionTokens} tokens in ${choices.size} answer(s), past max_tokens ${asked} each`);
  const stop = typeof request.stop === 'string' ? [request.stop] : Array.isArray(request.stop) ? (request.stop as string[]) : [];
  for (const { text, logprobs } of choices.values()) {
    // A first prompt token has no log-probability (null); every other one is a finite number <= 0.
    if (logprobs.some((v, i) => !(v === null ? i === 0 && request.echo === true : typeof v === 'number' && Number.isFinite(v) && v <= 0))) fail('a log-probability that is not one');
    if (request.echo !== true && stop.some((s) => text.includes(s))) fail(`a stop sequence inside the answer ${JSON.stringify(text)}`);
  }
  return null;
}

/** Requests to gift serve's OpenAI-compatible server: mutated bodies, routes and methods, and bodies that are not JSON. */
function serveTarget(): FuzzTarget {
  return {
    name: 'gift serve requests',
    available: () => true,
    property: (_sandbox, record) => {
      const request = fc.oneof(
        { weight: 8, arbitrary: fc.tuple(fc.nat(SERVE_SEEDS.length - 1), fc.nat(9)).chain(([i, routeDraw]) => fc.tuple(
          fc.constant(routeDraw < 8 ? SERVE_SEEDS[i]!.route : SERVE_ROUTES[routeDraw % SERVE_ROUTES.length]!),
          fc.oneof({ weight: 1, arbitrary: fc.constant(JSON.stringify(SERVE_SEEDS[i]!.body)) }, { weight: 6, arbitrary: mutatedJson(SERVE_SEEDS[i]!.body) })) ) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...SERVE_ROUTES), fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('', '{', '[]', 'null', '"x"', '{"prompt": "a", "max_tokens": 1e999}', 'x'.repeat(3000)))) },
      );
      return fc.asyncProperty(fc.tuple(request, fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT')), async ([[route, body], method]) => {
        const label = `gift serve ${method} ${route} ${body.length > 600 ? `${body.slice(0, 600)}...` : body}`;
        record(await runCase(label, async () => {
          const { port } = await servePort();
          const r = await postRaw(port, method, route, body);
          let parsed: Record<string, unknown> | null = null;
          try {
            const v = JSON.parse(body) as unknown;
            if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as Record<string, unknown>;
          } catch {
            // not JSON: only a refusal is right, which checkServeAnswer sees from the status
          }
          // A right refusal counts as a clear error, as the other targets' GiftjsErrors do.
          const refusal = checkServeAnswer(parsed, r);
          if (refusal !== null) throw new GiftjsError(refusal);
        }));
      });
    },
  };
}

// ---- gift argument vectors --------------------------------------------------------------------

/** Flag values: real paths of the sandbox, hostile text, and small numbers (never a huge amount of work). */
function flagValues(sandbox: Sandbox): fc.Arbitrary<string> {
  const paths = ['llama', 'bert', 'vit', 'data.jsonl', 'data.tsv', 'adapter', 'nope', '', '.', '..', 'data.jsonl/x'].map((p) => (p && p !== '.' && p !== '..' ? join(sandbox.inputs, p) : p));
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...paths) },
    { weight: 3, arbitrary: fc.constantFrom('1', '2', '0', '-1', '', 'NaN', '1e309', '0.5', '1e-3', 'x', '__proto__', 'constructor', 'q_proj', 'q_proj,v_proj', 'query', '0-1', '0-4000000000', '3-1', 'gift', 'lora', 'full', 'bitfit', 'head', 'seqcls', 'imgcls', 'lm', 'math', 'commonsense', 'glue-sst2', 'cosine', 'linear') },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
}

/** Each command's own flags (most cases use them, so they reach past the argument parser). */
const COMMAND_FLAGS: Record<string, string[]> = {
  train: ['--model', '--data', '--eval-data', '--out', '--method', '--rank', '--alpha', '--targets', '--layers', '--lr', '--head-lr', '--batch-size', '--grad-accum',
    '--warmup-ratio', '--max-length', '--seed', '--task', '--preset', '--format', '--share', '--dropout', '--label-field', '--text-fields', '--weight-decay',
    '--scheduler', '--save-every', '--eval-every', '--max-grad-norm', '--columns', '--json', '--resume', '--regression'],
  eval: ['--model', '--adapter', '--data', '--task', '--max-length', '--out', '--columns', '--json'],
  inspect: ['--adapter', '--rank', '--targets', '--layers', '--json'],
  generate: ['--model', '--adapter', '--prompt', '--temperature', '--top-k', '--top-p', '--seed'],
  merge: ['--model', '--adapter', '--out'],
  convert: ['--tokenizer', '--out'],
  explain: ['--model', '--adapter', '--text', '--image', '--out', '--layer'],
};
/** What bounds a command's work in a case: one step, two tokens, two records. */
const BOUNDS: Record<string, string[]> = { train: ['--max-steps', '1'], generate: ['--max-new-tokens', '2'] };
const COMMANDS = [...Object.keys(COMMAND_FLAGS), 'constructor', 'frobnicate'];
const FLAGS = ['--model', '--data', '--eval-data', '--adapter', '--out', '--method', '--rank', '--alpha', '--targets', '--layers', '--lr', '--head-lr', '--batch-size',
  '--grad-accum', '--warmup-ratio', '--max-length', '--seed', '--task', '--preset', '--prompt', '--format', '--share', '--dropout', '--label-field', '--text-fields',
  '--tokenizer', '--weight-decay', '--scheduler', '--save-every', '--eval-every', '--max-grad-norm', '--columns', '--json', '--resume', '--regression', '--bogus'];

function cliTarget(): FuzzTarget {
  return {
    name: 'gift argument vectors',
    available: () => true,
    property: (sandbox, record) => {
      sandbox.copy(LLAMA, 'llama');
      sandbox.copy(BERT, 'bert');
      sandbox.copy(VIT, 'vit');
      sandbox.write('data.jsonl', Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `line ${i} of a story` })).join('\n') + '\n');
      sandbox.write('data.tsv', 'sentence\tlabel\na fine film\t1\na dull film\t0\nok\t1\n');
      saveAdapter(join(sandbox.inputs, 'adapter'), attachAdapter(loadCausalLM(join(sandbox.inputs, 'llama')), { method: 'gift', rank: 2, target_modules: ['q_proj'] }), { path: 'llama', architecture: 'LlamaForCausalLM' });
      sandbox.seal();
      // Relative paths in a case (--out linear) resolve inside the sandbox, where check() sees them.
      process.chdir(sandbox.dir);
      let n = 0;
      const argv = fc.constantFrom(...COMMANDS).chain((command) => {
        const own = Object.hasOwn(COMMAND_FLAGS, command) ? COMMAND_FLAGS[command]! : FLAGS;
        const flag = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...own) }, { weight: 1, arbitrary: fc.constantFrom(...FLAGS) });
        return fc.tuple(fc.constant(command), fc.array(fc.tuple(flag, flagValues(sandbox)), { maxLength: 7 }), fc.boolean(), fc.boolean(), fc.constantFrom(null, 'llama', 'bert', 'vit', 'adapter'));
      });
      return fc.asyncProperty(argv, async ([command, flags, withModel, withOut, positional]) => {
        const out = join(sandbox.dir, `out-${n++}`);
        const own = Object.hasOwn(COMMAND_FLAGS, command) ? COMMAND_FLAGS[command]! : [];
        const args = [command, ...(positional ? [join(sandbox.inputs, positional)] : []),
          ...(withModel && own.includes('--model') ? ['--model', join(sandbox.inputs, 'llama')] : []),
          ...(withModel && own.includes('--data') ? ['--data', join(sandbox.inputs, 'data.jsonl')] : []),
          ...flags.flatMap(([f, v]) => (['--json', '--resume', '--regression'].includes(f) ? [f] : [f, v])),
          ...(withOut && own.includes('--out') ? ['--out', out] : []), ...(Object.hasOwn(BOUNDS, command) ? BOUNDS[command]! : [])];
        const label = `gift ${args.map((a) => JSON.stringify(a)).join(' ')}`;
        const named = flags.filter(([f]) => f === '--out').map(([, v]) => resolve(sandbox.dir, v));
        record(await runCase(label, () => quietly(() => main(args))));
        sandbox.check(label, [out, ...named]);
        sandbox.clearOutputs();
      });
    },
  };
}

/** Runs fn with console output swallowed (a case's progress lines are noise here). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const saved = [console.log, console.error, console.warn] as const;
  const write = process.stdout.write;
  console.log = console.error = console.warn = () => {};
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    [console.log, console.error, console.warn] = saved;
    process.stdout.write = write;
  }
}
