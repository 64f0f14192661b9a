// `gift bench gemm|ops|memory`: benchmarks that print ratios against baselines measured in the
// same run (the ref backend, and PyTorch when --torch is given and Debian's python3-torch exists).
import { listed, reportingParseErrors } from './args.js';
import { gemmCallsTable } from '../bench/backend_calls.js';
import { profileTable } from '../bench/profile_report.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getBackend, isNativeAvailable, nativeAddon, setNumThreads, type BackendName } from '../backend/index.js';
import { benchEachKernel, benchNativeGemm, benchRefGemm, gemmBenchBytes, modelShapes, mostTokensWithin, transformerShapes, type GemmShape } from '../bench/gemm.js';
import { availableMemory } from '../io/system_memory.js';
import { benchTrainingMemory } from '../bench/memory.js';
import { benchOps } from '../bench/ops.js';
import { benchBertStep, benchBf16AgainstF32, benchTrainingStep, benchUseLiteStep, benchVitStep, ENCODER_STEP_SHAPES, STEP_SHAPES, stepShape, type StepMethod, type StepTiming } from '../bench/step.js';
import { openLlamaCpp } from '../bench/llama_cpp_generation.js';
import { alternateDecoding, benchGeneration, decodingProfileTable, giftjsDecoding, profileDecoding, type AlternatedRate, type DecodingCase } from '../bench/generation.js';
import { describePeak, machinePeak, streamNow, weightBytesPerToken } from '../bench/peak.js';
import { BENCH_DTYPES, type BenchDType } from '../bench/random_model.js';
import { GiftjsError } from '../errors.js';

export const BENCH_HELP = `gift bench <what> [options]

  gemm     fp32 GEMM GFLOP/s: native (each SIMD kernel) vs ref, square and Transformer shapes
             --size N       square problem size (default 1024)
             --tokens N     rows of the Transformer-shaped GEMMs (default 1024)
             --shape ${Object.keys(STEP_SHAPES).join('|')}  whose MLP up projection and LM head are timed (default smollm2-135m;
                            llama-3.2-1b --tokens 128 are the GEMMs of its batch-1 x 128 step)
             --torch        also time PyTorch in the same run: the peer venv's PyTorch 2 (GIFTJS_PYTHON, else
                            GIFTJS_PEER_VENV; its bf16 products too) where it exists, else Debian python3-torch
  ops      attention, norms, softmax, cross-entropy (forward + backward): native vs ref, in ms
  step     one GIFT/LoRA training step (forward, backward, AdamW) on a model shape, tokens/s
             --shape ${[...Object.keys(STEP_SHAPES), ...ENCODER_STEP_SHAPES].join('|')} (default smollm2-135m; vit-b16: GIFT r16 on
                    attention.output.dense + classifier, batch 8, images/s; bert-base: sequence classification,
                    GIFT r32 on query,value + classifier, batch 8 x 128, sequences/s; use-lite: the step of npm run demo,
                    Universal Sentence Encoder Lite, GIFT r16 on query,value + classifier, batch 16 x 128, sequences/s)
             --batch B (4) --seq T (256) --rank R (64) --method gift|lora|full --steps N (3) --layers L (fewer, quicker)
             --dtype f32|bf16|int8|int4  frozen weights stored as float32 or bfloat16, or quantized (--quantize)
             --checkpointing   activation checkpointing (recompute each layer in backward)
             --profile         time per op kind (GEMM, attention, norms, elementwise, layout, ...) in forward and backward,
                               and every GEMM of the step by shape with its rate, their sum against the peak
             --bf16-compute    with --dtype bf16|int8|int4: multiply in bf16 (AMX tiles, else AVX-512 BF16 dot products);
                               on vit-b16 and bert-base over their float32 weights, the PyTorch peer under bf16 autocast
             --vs-f32          with --dtype bf16 --bf16-compute: time the float32 step in the same process, the two
                               alternating step by step, and print bf16 / f32
             --rounds R     with --torch: the peer and giftjs alternate R times (every shape), each round's ratio printed
             --torch        also run a PyTorch step peer: on the Llama-family shapes bench/torch_folder_step.py --config (GIFT,
                            LoRA or full; PyTorch 2 + transformers 5: GIFTJS_PYTHON, else the peer venv GIFTJS_PEER_VENV), the same
                            config with random weights in --dtype f32|bf16, the same step, run first in its own process
                            (on smollm2-135m where neither is set up: bench_torch_gift.py on Debian's PyTorch, GIFTJS_TORCH_PEER);
                            on vit-b16 bench/torch_vit_step.py: transformers' ViTForImageClassification, the same GIFT + head step;
                            on bert-base bench/torch_bert_step.py: transformers' BertForSequenceClassification, likewise;
                            on use-lite bench/torch_use_lite_step.py: the same architecture written in PyTorch, likewise
  generate greedy decoding speed with the KV cache (merged weights), tokens/s after a prompt
             --shape (default smollm2-135m; llama-3.2-1b for a 1B-class model) --new-tokens N --dtype f32|bf16|int8|int4
             --prompt N     prompt tokens before decoding (default 16); their prefill's tokens/s is printed beside
                    (int8 / int4: the float32 model is timed too, in the same run, and the ratio printed)
             --profile      one more decoding with every kernel call timed: per token, the GEMVs by shape with the
                            bytes each reads and its GB/s, their sum against the memory stream, the other kernels,
                            and the time outside the kernels (the op walk)
             --torch        also time transformers' generate on the same config and dtype (f32, bf16), random weights
                            (bench/torch_hf_generate.py; PyTorch 2 + transformers 5: GIFTJS_PYTHON, else the peer venv)
             --int8-activations  with --dtype int8|int4: also decode with the activations rounded to Q8_0 and integer
                            dot products (as llama.cpp), alternating with the float products 3 times, and print both
             --bf16-compute with --dtype bf16: also decode with bf16 dot products (activations rounded to bf16, as
                            llama.cpp's BF16), alternating likewise
             --llama-cpp    also time llama.cpp (npm node-llama-cpp 3.21.1, GIFTJS_LLAMA_CPP) decoding the same model
                            written as GGUF (int8 -> Q8_0, int4 -> Q4_0, bf16, f32), same prompt and threads,
                            alternating with giftjs's decoding 3 times (the ratio of each round printed)
                            (where any of these three alternate, each round starts by timing the memory stream, and
                            giftjs's decoding is printed against the stream of its own round)
  peak     this machine's limits on the native threads: register-only FMA chains (float32, and bf16 dot products
             where the CPU has AVX-512 BF16) and a memory stream; gemm, step and generate print their rates against them
  memory   resident memory over a long training loop of a small Transformer
             --steps N      training steps (default 2000)

  common:  --threads N   native threads (default: all cores)
           --budget S    seconds of timing per case in gemm, ops and peak, and of step's GEMMs (default 1)
           --json        end with one JSON line of the results
`;

function cpuLine(): string {
  const addon = nativeAddon();
  if (!addon) return `backend ${getBackend().name} (native kernels unavailable)`;
  const info = addon.cpuInfo();
  return `cpu features: ${info.features.join(' ')}\nnative gemm kernel: ${info.gemmKernel} (tile ${info.tile}), threads: ${info.threads}`;
}

/**
 * The environment for PyTorch baselines: Debian's OpenBLAS is pinned to its Haswell kernels on
 * some machines by OPENBLAS_CORETYPE; the baseline is OpenBLAS at its best, so let it choose.
 */
function torchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

const TORCH_SCRIPT = fileURLToPath(new URL('../../../bench/torch_gemm.py', import.meta.url));

interface TorchGemm { square: number; shapes: number[]; bf16_shapes?: number[]; blas: string; torch: string }

/**
 * PyTorch's numbers from bench/torch_gemm.py (the same shapes, and with PyTorch 2 their bf16 weight
 * products too), or the reason there are none: under the peer venv's PyTorch 2 (GIFTJS_PYTHON, else
 * GIFTJS_PEER_VENV) where it exists, else Debian's python3-torch.
 */
function torchGemm(size: number, tokens: number, config: Record<string, unknown>, threads: number, budget: number): TorchGemm | string {
  const peer = peerPython();
  const python = peer ?? '/usr/bin/python3';
  if (!existsSync(python)) return `${python} not found`;
  if (!existsSync(TORCH_SCRIPT)) return `${TORCH_SCRIPT} not found (run from a clone of the repository)`;
  const args = [TORCH_SCRIPT, '--size', String(size), '--tokens', String(tokens), '--din', String(config.hidden_size), '--dout', String(config.intermediate_size),
    '--vocab', String(config.vocab_size), '--threads', String(threads), '--budget', String(budget), ...(peer ? ['--bf16'] : [])];
  const r = spawnSync(python, args, { encoding: 'utf8', env: torchEnv() });
  if (r.status !== 0) return `PyTorch baseline failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchGemm;
}

interface TorchShapeStep { tokens_per_s: number; maxrss_mb: number; load_s: number; loss: number; torch: string; transformers: string }

/**
 * Runs `peer` with the path of a config.json of the shape (written to a temporary folder, removed after)
 * and the dtype's torch name; or says why there is none: PyTorch has no quantized base here.
 */
function withShapeConfig<T>(shape: string, layers: number | undefined, dtype: BenchDType, peer: (config: string, torchDtype: string) => T | string): T | string {
  if (dtype !== 'f32' && dtype !== 'bf16') return `PyTorch has no ${dtype} base here (bitsandbytes is not installed); compare --dtype f32 or bf16`;
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-bench-shape-'));
  try {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ model_type: 'llama', ...stepShape(shape), ...(layers ? { num_hidden_layers: layers } : {}) }));
    return peer(config, dtype === 'bf16' ? 'bfloat16' : 'float32');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The PyTorch peer of a model shape (bench/torch_folder_step.py --config): transformers' model of the
 * same config, built with random weights in the same dtype, the same step (GIFT, LoRA or every weight
 * trained; runPeerScript); or why there is none.
 */
function torchShapeStep(shape: string, layers: number | undefined, batch: number, seq: number, rank: number, method: StepMethod, dtype: BenchDType, checkpointing: boolean, threads: number): TorchShapeStep | string {
  return withShapeConfig(shape, layers, dtype, (config, torchDtype) => {
    const args = ['--config', config, '--method', method, '--dtype', torchDtype, '--batch', String(batch), '--seq', String(seq), '--rank', String(rank), '--steps', '3', '--threads', String(threads)];
    if (!checkpointing) args.push('--no-checkpointing');
    return runPeerScript<TorchShapeStep>('torch_folder_step.py', args);
  });
}

interface TorchShapeGenerate { tokens_per_s: number; prefill_tokens_per_s: number; torch: string; transformers: string }

/**
 * The PyTorch peer of bench generate (bench/torch_hf_generate.py): transformers' greedy `generate` with
 * its KV cache on the same config with random weights in the same dtype; or why there is none.
 */
function torchShapeGenerate(shape: string, dtype: BenchDType, prompt: number, tokens: number, threads: number): TorchShapeGenerate | string {
  return withShapeConfig(shape, undefined, dtype, (config, torchDtype) => runPeerScript<TorchShapeGenerate>('torch_hf_generate.py',
    ['--config', config, '--dtype', torchDtype, '--prompt', String(prompt), '--tokens', String(tokens), '--threads', String(threads)]));
}

/**
 * Runs a PyTorch 2 + transformers 5 peer script of bench/ with GIFTJS_PYTHON, else the peer venv
 * (GIFTJS_PEER_VENV, default ~/.cache/giftjs-peer), else python3, and reads the JSON line it ends with;
 * or says why there is none.
 */
function runPeerScript<T>(name: string, args: string[]): T | string {
  const python = peerPython() ?? 'python3';
  const script = fileURLToPath(new URL(`../../../bench/${name}`, import.meta.url));
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8', env: torchEnv() });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) return `${python} ${script} failed: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()} (GIFTJS_PYTHON: a Python with PyTorch 2 and transformers 5)`;
  return JSON.parse(line) as T;
}

/** The Python of the PyTorch 2 + transformers 5 peers: GIFTJS_PYTHON, else the peer venv's where it exists, else null. */
function peerPython(): string | null {
  if (process.env.GIFTJS_PYTHON) return process.env.GIFTJS_PYTHON;
  const venv = join(process.env.GIFTJS_PEER_VENV ?? join(homedir(), '.cache', 'giftjs-peer'), 'bin', 'python');
  return existsSync(venv) ? venv : null;
}

interface TorchVitStep { images_per_s: number; maxrss_mb: number; loss: number; autocast: boolean; torch: string; transformers: string }

/** The PyTorch peer of the ViT-B/16 step (bench/torch_vit_step.py): transformers' ViTForImageClassification, the same GIFT + head step; or why there is none. */
function torchVitStep(batch: number, rank: number, layers: number | undefined, threads: number, autocast: boolean): TorchVitStep | string {
  return runPeerScript<TorchVitStep>('torch_vit_step.py', ['--batch', String(batch), '--rank', String(rank), '--steps', '3', '--threads', String(threads), ...(layers ? ['--layers', String(layers)] : []), ...(autocast ? ['--autocast'] : [])]);
}

interface TorchSeqClsStep { sequences_per_s: number; tokens_per_s: number; maxrss_mb: number; loss: number; autocast: boolean; torch: string; transformers: string }

/**
 * The sequence-classification step shapes: GIFT on query,value + a two-label head, their defaults, and
 * their PyTorch peers (the same GIFT + head step): bench/torch_bert_step.py runs transformers'
 * BertForSequenceClassification; bench/torch_use_lite_step.py, USE Lite written in PyTorch (transformers
 * has no class for it).
 */
const SEQCLS_STEPS = {
  'bert-base': { batch: 8, rank: 32, bench: benchBertStep, peerScript: 'torch_bert_step.py', peerModel: 'BertForSequenceClassification' },
  'use-lite': { batch: 16, rank: 16, bench: benchUseLiteStep, peerScript: 'torch_use_lite_step.py', peerModel: 'USE Lite in PyTorch (bench/torch_use_lite_step.py)' },
} as const;

/** A sequence-classification step's PyTorch peer; or why there is none. */
function torchSeqClsStep(script: string, batch: number, seq: number, rank: number, layers: number | undefined, threads: number, autocast: boolean): TorchSeqClsStep | string {
  return runPeerScript<TorchSeqClsStep>(script, ['--batch', String(batch), '--seq', String(seq), '--rank', String(rank), '--steps', '3', '--threads', String(threads), ...(layers ? ['--layers', String(layers)] : []), ...(autocast ? ['--autocast'] : [])]);
}

/**
 * An encoder step's report (ViT-B/16 images, BERT-base sequences): its rate, phases and peak memory,
 * the per-op table with --profile, the PyTorch peer's line and the ratio, and with --json one line of
 * `<unit>_per_s`, tokens_per_s, peak_rss_mb and the peer's `torch_<unit>_per_s`, torch_peak_rss_mb.
 */
function reportEncoderStep(heading: string, unit: 'images' | 'sequences', rate: number, r: StepTiming,
  peer: { rate: number; maxrss_mb: number; torch: string; transformers: string; model: string; autocast: boolean } | string | null, roundRatios: string[], json: boolean, threads: number): void {
  const firstRound = roundRatios.length > 1 ? ' (the first round)' : '';
  console.log(`\n${heading}: ${rate.toFixed(2)} ${unit}/s${unit === 'images' ? '' : ` (${r.tokensPerSecond.toFixed(0)} tokens/s)`}`);
  console.log(`  forward ${r.msForward.toFixed(0)} ms, backward ${r.msBackward.toFixed(0)} ms, optimizer ${r.msOptimizer.toFixed(1)} ms; peak RSS ${r.peakRssMB.toFixed(0)} MB${firstRound}`);
  if (r.profile) console.log(profileTable(r.profile, r.msForward, r.msBackward, r.msOptimizer, threads));
  if (r.gemmCalls) console.log(gemmCallsTable(r.gemmCalls, r.msForward + r.msBackward + r.msOptimizer, null));
  if (typeof peer === 'string') console.log(`PyTorch peer unavailable: ${peer}`);
  else if (peer) console.log(`PyTorch ${peer.torch} + transformers ${peer.transformers} (${peer.model}, GIFT as float32 pre-hooks, AdamW${peer.autocast ? ', the forward under bf16 autocast' : ''}): ${peer.rate.toFixed(2)} ${unit}/s, peak RSS ${peer.maxrss_mb.toFixed(0)} MB${firstRound}   giftjs / PyTorch = ${(rate / peer.rate).toFixed(2)}x` +
    (roundRatios.length > 1 ? ` (the last round; each round: ${roundRatios.join(', ')})` : ''));
  const torch = peer && typeof peer !== 'string' ? { [`torch_${unit}_per_s`]: peer.rate, torch_peak_rss_mb: peer.maxrss_mb } : {};
  if (json) console.log(JSON.stringify({ [`${unit}_per_s`]: rate, tokens_per_s: r.tokensPerSecond, peak_rss_mb: r.peakRssMB, ...torch }));
}

/**
 * The PyTorch peer and giftjs, alternating `rounds` times (this machine's speed drifts 10-20% between
 * minutes), each in its own round: the last round's rates, each round's ratio (printed as it comes),
 * and the first round's peak memory on both sides, since a later round builds its model beside what
 * the garbage collector has not yet freed of the one before (each peer round is a fresh process, kept
 * alike). `peerOnce` null: no peer, one round. A peer that cannot run ends the rounds with its reason.
 */
function alternateWithPeer<S extends { peakRssMB: number }, P extends { maxrss_mb: number }>(rounds: number, peerOnce: (() => P | string) | null, stepOnce: () => S,
  rates: { step: (s: S) => number; peer: (p: P) => number; unit: string; digits: number }): { step: S; peer: P | string | null; roundRatios: string[] } {
  const roundRatios: string[] = [];
  let step!: S;
  let peer: P | string | null = null;
  let firstPeakMB = 0;
  let peerFirstPeakMB = 0;
  for (let round = 1; round <= rounds; round++) {
    peer = peerOnce ? peerOnce() : null;
    step = stepOnce();
    if (round === 1) {
      firstPeakMB = step.peakRssMB;
      if (peer && typeof peer !== 'string') peerFirstPeakMB = peer.maxrss_mb;
    }
    if (typeof peer === 'string') break;
    if (peer && rounds > 1) {
      roundRatios.push((rates.step(step) / rates.peer(peer)).toFixed(2));
      console.log(`round ${round}: giftjs ${rates.step(step).toFixed(rates.digits)} ${rates.unit}/s, PyTorch ${rates.peer(peer).toFixed(rates.digits)}`);
    }
  }
  return { step: { ...step, peakRssMB: firstPeakMB }, peer: peer && typeof peer !== 'string' ? { ...peer, maxrss_mb: peerFirstPeakMB } : peer, roundRatios };
}

/** bench step's --rounds (1 when not given): more than 1 only where a PyTorch + transformers peer runs. */
function stepRounds(rounds: number, peerRuns: boolean): number {
  if (rounds > 1 && !peerRuns) throw new GiftjsError(`--rounds alternates giftjs with the PyTorch + transformers peer of a shape: give it with --torch, where that peer is set up (GIFTJS_PYTHON, or the peer venv GIFTJS_PEER_VENV)`);
  return rounds;
}

/** The PyTorch step peer: GIFTJS_TORCH_PEER, else where the project's data sets sit beside a checkout. */
const PEER_SCRIPT = process.env.GIFTJS_TORCH_PEER ?? fileURLToPath(new URL('../../../../shared/peer/bench_torch_gift.py', import.meta.url));

/** tokens/s of the PyTorch peer for the same step, or why there is none. */
function torchStep(batch: number, seq: number, rank: number, layers: number, threads: number, fused: boolean): number | string {
  if (!existsSync(PEER_SCRIPT)) return 'bench_torch_gift.py not found (set GIFTJS_TORCH_PEER to its path)';
  const env = torchEnv();
  const args = [PEER_SCRIPT, '--batch', String(batch), '--seq', String(seq), '--rank', String(rank), '--layers', String(layers), '--threads', String(threads), '--steps', '2'];
  if (fused) args.push('--fused');
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env });
  const m = /tokens\/s=([\d.]+)/.exec(r.stdout ?? '');
  return m ? Number(m[1]) : `the peer failed: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`;
}

/** bench step's --method: gift (the default), lora or full, anything else refused by name. */
function stepMethod(flag: string | undefined): StepMethod {
  if (flag === undefined || flag === 'gift' || flag === 'lora' || flag === 'full') return flag ?? 'gift';
  throw new GiftjsError(`--method must be gift, lora or full, got '${flag}'`);
}

const BENCHMARKS = ['gemm', 'ops', 'memory', 'step', 'generate', 'peak'] as const;

/**
 * The benchmarks that read each flag (--threads, --json and --help: every one): a flag given to a
 * benchmark that does not read it is refused by name, not ignored (bench peak --torch, bench gemm
 * --rounds and bench memory --dtype had each run as if it had not been given).
 */
const BENCHMARKS_OF_FLAG: Record<string, readonly (typeof BENCHMARKS)[number][]> = {
  size: ['gemm'], tokens: ['gemm'], budget: ['gemm', 'ops', 'step', 'peak'], steps: ['step', 'memory'], shape: ['gemm', 'step', 'generate'],
  torch: ['gemm', 'step', 'generate'], 'bf16-compute': ['step', 'generate'], dtype: ['step', 'generate'],
  seq: ['step'], rank: ['step'], batch: ['step'], method: ['step'], layers: ['step'], checkpointing: ['step'], 'vs-f32': ['step'], profile: ['step', 'generate'], rounds: ['step'],
  'new-tokens': ['generate'], prompt: ['generate'], 'int8-activations': ['generate'], 'llama-cpp': ['generate'],
};

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals, tokens: given } = reportingParseErrors(() => parseArgs({
    args: argv,
    allowPositionals: true,
    tokens: true,
    options: {
      size: { type: 'string', default: '1024' },
      tokens: { type: 'string', default: '1024' },
      steps: { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string' },
      budget: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      torch: { type: 'boolean', default: false },
      'llama-cpp': { type: 'boolean', default: false },
      'int8-activations': { type: 'boolean', default: false },
      shape: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      rank: { type: 'string' },
      method: { type: 'string' },
      layers: { type: 'string' },
      dtype: { type: 'string', default: 'f32' },
      'new-tokens': { type: 'string', default: '32' },
      prompt: { type: 'string' },
      checkpointing: { type: 'boolean', default: false },
      'bf16-compute': { type: 'boolean', default: false },
      'vs-f32': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
  const what = positionals[0];
  if (values.help || !what) {
    console.log(BENCH_HELP);
    return what || values.help ? 0 : 2;
  }
  if (!(BENCHMARKS as readonly string[]).includes(what)) {
    console.error(`gift bench: unknown benchmark '${what}'\n\n${BENCH_HELP}`);
    return 2;
  }
  for (const token of given) {
    if (token.kind !== 'option') continue;
    const of = BENCHMARKS_OF_FLAG[token.name];
    if (of && !(of as readonly string[]).includes(what)) throw new GiftjsError(`--${token.name} is an option of gift bench ${listed(of)}, not of bench ${what}`);
  }
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new GiftjsError(`--${name} must be a positive integer, got '${v}'`);
    return n;
  };
  if (values.threads) setNumThreads(int('threads', values.threads));
  const budget = Number(values.budget);
  // (NaN had timed each case once and printed its rate as if timed for the budget; 0 or less likewise.)
  if (!Number.isFinite(budget) || budget <= 0) throw new GiftjsError(`--budget must be a positive number of seconds, got '${values.budget}'`);
  // Options shared by several benchmarks take each benchmark's own default when not given.
  const opt = (name: 'steps' | 'batch' | 'rank' | 'seq' | 'rounds', fallback: number) => (values[name] === undefined ? fallback : int(name, values[name]!));
  const threads = nativeAddon()?.getThreads() ?? 1;
  // --shape (of gemm, step and generate) defaults to SmolLM2-135M's in each.
  const shape = values.shape ?? 'smollm2-135m';
  console.log(cpuLine());

  if (what === 'gemm') {
    const n = int('size', values.size);
    const tokens = int('tokens', values.tokens);
    const config = stepShape(shape);
    if (!config) throw new GiftjsError(`unknown --shape '${shape}' for bench gemm (available: ${Object.keys(STEP_SHAPES).join(', ')})`);
    const square: GemmShape = { label: `square ${n}x${n}x${n}`, M: n, N: n, K: n, transA: false, transB: false };
    // Estimated before anything is allocated: the largest product's operands (the 8B LM head at 1024 rows holds 3.7 GB
    // in float32 and bf16), refused with the rows that would fit rather than left for the kernel to kill.
    const largest = [square, ...modelShapes(tokens, config)].reduce((a, b) => (gemmBenchBytes(b) > gemmBenchBytes(a) ? b : a));
    const need = gemmBenchBytes(largest);
    const memory = availableMemory();
    if (need > memory.bytes) {
      const fit = mostTokensWithin(config, memory.bytes);
      const options = [fit > 0 ? `--tokens ${fit} or fewer` : `no --tokens fits --shape ${shape} here`, ...(gemmBenchBytes(square) > memory.bytes ? ['a smaller --size'] : [])];
      throw new GiftjsError(`bench gemm needs about ${(need / 1e9).toFixed(1)} GB for its largest product (${largest.label.replace(/\s+/g, ' ')}), and ${(memory.bytes / 1e9).toFixed(1)} GB is available (${memory.source}); ${options.join(', ')}`);
    }
    const refSize = Math.min(n, 256);
    const refShape: GemmShape = { ...square, label: `square ${refSize}^3`, M: refSize, N: refSize, K: refSize };
    const ref = benchRefGemm(refShape, budget);
    if (!isNativeAvailable()) {
      console.log(`ref ${ref.label}: ${ref.gflops.toFixed(2)} GFLOP/s`);
      if (values.json) console.log(JSON.stringify({ gflops: null, ref_gflops: ref.gflops, error: 'native kernels unavailable' }));
      return 1;
    }
    const native = benchNativeGemm(square, budget);
    const kernels = benchEachKernel(square, budget);
    const shapes = modelShapes(tokens, config).map((s) => benchNativeGemm(s, budget));
    const torch = values.torch ? torchGemm(n, tokens, config, threads, budget) : null;
    const pt = typeof torch === 'object' && torch !== null ? torch : null;
    if (pt) console.log(`\nthe peer: PyTorch ${pt.torch} (${pt.blas}), ${threads} threads`);
    console.log(`\nnative ${square.label}: ${native.gflops.toFixed(1)} GFLOP/s` + (pt ? `   PyTorch ${pt.square.toFixed(1)}   ratio ${(native.gflops / pt.square).toFixed(2)}x` : ''));
    const peak = machinePeak();
    if (peak) console.log(`  = ${(native.gflops / peak.f32Gflops).toFixed(2)} of the f32 FMA peak measured now (${peak.f32Gflops.toFixed(1)} GFLOP/s; gift bench peak)`);
    for (const [k, g] of Object.entries(kernels)) console.log(`  kernel ${k.padEnd(9)} ${g.toFixed(1)} GFLOP/s`);
    console.log(`ref    ${ref.label}: ${ref.gflops.toFixed(2)} GFLOP/s   (native is ${(native.gflops / ref.gflops).toFixed(0)}x faster)`);
    console.log(`\nTransformer shapes (${shape}: its MLP up projection ${config.hidden_size} -> ${config.intermediate_size}, and its LM head):`);
    shapes.forEach((s, i) => {
      const t = pt?.shapes[i];
      console.log(`  ${s.label.padEnd(44)} ${s.gflops.toFixed(1).padStart(6)} GFLOP/s` + (peak ? `   ${(s.gflops / peak.f32Gflops).toFixed(2)} of peak` : '') + (t ? `   PyTorch ${t.toFixed(1).padStart(6)}   ratio ${(s.gflops / t).toFixed(2)}x` : ''));
    });
    // The weight products (B a Linear weight) again with the weight in bf16 and bf16 dot products.
    // Where bf16 compute runs on AMX tiles, the AVX-512 BF16 dot products are timed beside them.
    const addon = nativeAddon();
    const bf16Kernel = addon?.cpuInfo().bf16Kernel ?? null;
    const dotBeside = bf16Kernel === 'amxbf16';
    const withKernel = <T>(name: string, fn: () => T): T => {
      addon!.setBf16Kernel(name);
      try {
        return fn();
      } finally {
        addon!.setBf16Kernel(null);
      }
    };
    const bf16 = shapes.filter((s) => !s.transA).map((s) => ({
      f32: s, bf16: benchNativeGemm(s, budget, true), dot: dotBeside ? withKernel('avx512bf16', () => benchNativeGemm(s, budget, true)) : null,
    }));
    if (bf16.every((r) => r.bf16)) {
      console.log(`bf16 weights with bf16 products (gift train --bf16; kernel ${bf16Kernel}), timed now:`);
      // (torch_gemm.py's bf16_shapes are these same products, in this order.)
      bf16.forEach((r, i) => {
        const t = pt?.bf16_shapes?.[i];
        console.log(`  ${r.f32.label.padEnd(44)} ${r.bf16!.gflops.toFixed(1).padStart(6)} GFLOP/s   bf16 / f32 ${(r.bf16!.gflops / r.f32.gflops).toFixed(2)}x` +
          (r.dot ? `   AVX-512 BF16 dot products ${r.dot.gflops.toFixed(1).padStart(6)}, AMX / those ${(r.bf16!.gflops / r.dot.gflops).toFixed(2)}x` : '') +
          (t ? `   PyTorch bf16 ${t.toFixed(1).padStart(6)}   ratio ${(r.bf16!.gflops / t).toFixed(2)}x` : ''));
      });
    }
    if (typeof torch === 'string') console.log(`\nPyTorch baseline unavailable: ${torch}`);
    if (values.json) {
      console.log(JSON.stringify({
        gflops: native.gflops, ref_gflops: ref.gflops, size: n, threads, kernels, f32_peak_gflops: peak?.f32Gflops ?? null,
        shapes: shapes.map((s) => ({ label: s.label.replace(/\s+/g, ' '), gflops: s.gflops })),
        bf16_shapes: bf16.every((r) => r.bf16) ? bf16.map((r) => ({ label: r.f32.label.replace(/\s+/g, ' '), gflops: r.bf16!.gflops })) : null,
        torch_gflops: pt?.square ?? null, torch_shapes: pt?.shapes ?? null, torch_bf16_shapes: pt?.bf16_shapes ?? null, torch: pt ? `${pt.torch} (${pt.blas})` : null,
      }));
    }
    return 0;
  }

  if (what === 'ops') {
    const backends: BackendName[] = isNativeAvailable() ? ['native', 'ref'] : ['ref'];
    const results = benchOps(backends, budget);
    console.log('');
    for (const r of results) {
      const n = r.ms.native;
      const f = r.ms.ref!;
      console.log(`${r.name.padEnd(56)} ${n !== undefined ? `native ${n.toFixed(2).padStart(8)} ms   ` : ''}ref ${f.toFixed(1).padStart(8)} ms${n !== undefined ? `   ${(f / n).toFixed(1)}x` : ''}`);
    }
    if (values.json) console.log(JSON.stringify({ threads, ops: results }));
    return 0;
  }

  const encoderShape = ENCODER_STEP_SHAPES.find((s) => s === shape);
  if (what === 'step' && !stepShape(shape) && !encoderShape) {
    throw new GiftjsError(`unknown --shape '${shape}' (available for bench step: ${[...Object.keys(STEP_SHAPES), ...ENCODER_STEP_SHAPES].join(', ')})`);
  }
  // The encoder steps (the paper's ViT and GLUE settings) time GIFT over float32 weights, without
  // checkpointing, in float32 products or (--bf16-compute) bf16 ones, as under PyTorch's bf16
  // autocast; the causal-LM shapes' options are refused by name rather than ignored.
  if (what === 'step' && encoderShape) {
    const shape = encoderShape;
    if (stepMethod(values.method) !== 'gift') throw new GiftjsError(`--shape ${shape} times the GIFT step (the paper's setting), not --method ${values.method}`);
    if (values.dtype !== 'f32') throw new GiftjsError(`--shape ${shape} keeps float32 weights, as the paper's runs do; --dtype ${values.dtype} is for the causal-LM shapes`);
    for (const flag of ['checkpointing', 'vs-f32'] as const) {
      if (values[flag]) throw new GiftjsError(`--${flag} is for the causal-LM shapes, not --shape ${shape}`);
    }
    if (shape === 'vit-b16' && values.seq !== undefined) throw new GiftjsError('--seq does not apply to --shape vit-b16 (224x224 images are 197 tokens)');
  }

  if (what === 'step' && shape === 'vit-b16') {
    const batch = opt('batch', 8);
    const layers = values.layers ? int('layers', values.layers) : undefined;
    const rank = opt('rank', 16);
    // The peer first, in its own process, so the two models never share memory.
    const bf16 = values['bf16-compute'] === true;
    const { step: r, peer, roundRatios } = alternateWithPeer(stepRounds(opt('rounds', 1), values.torch === true),
      values.torch ? () => torchVitStep(batch, rank, layers, threads, bf16) : null, () => benchVitStep(batch, rank, opt('steps', 2), layers, values.profile === true, bf16),
      { step: (s) => s.imagesPerSecond, peer: (p) => p.images_per_s, unit: 'images', digits: 2 });
    reportEncoderStep(`GIFT + head step on vit-b16${layers ? ` (${layers} layers)` : ''}${bf16 ? ' (bf16 dot products)' : ''}, batch ${batch} images of 224x224`, 'images', r.imagesPerSecond, r,
      typeof peer === 'string' || !peer ? peer : { ...peer, rate: peer.images_per_s, model: 'ViTForImageClassification' }, roundRatios, values.json === true, threads);
    return 0;
  }

  const seqcls = Object.hasOwn(SEQCLS_STEPS, shape) ? SEQCLS_STEPS[shape as keyof typeof SEQCLS_STEPS] : null;
  if (what === 'step' && seqcls) {
    const batch = opt('batch', seqcls.batch);
    const seq = opt('seq', 128);
    const layers = values.layers ? int('layers', values.layers) : undefined;
    const rank = opt('rank', seqcls.rank);
    const bf16 = values['bf16-compute'] === true;
    const { step: r, peer, roundRatios } = alternateWithPeer(stepRounds(opt('rounds', 1), values.torch === true),
      values.torch ? () => torchSeqClsStep(seqcls.peerScript, batch, seq, rank, layers, threads, bf16) : null, () => seqcls.bench(batch, seq, rank, opt('steps', 2), layers, values.profile === true, bf16),
      { step: (s) => s.sequencesPerSecond, peer: (p) => p.sequences_per_s, unit: 'sequences', digits: 2 });
    reportEncoderStep(`GIFT + head step on ${shape}${layers ? ` (${layers} layers)` : ''}${bf16 ? ' (bf16 dot products)' : ''}, sequence classification, batch ${batch} x ${seq}`, 'sequences', r.sequencesPerSecond, r,
      typeof peer === 'string' || !peer ? peer : { ...peer, rate: peer.sequences_per_s, model: seqcls.peerModel }, roundRatios, values.json === true, threads);
    return 0;
  }

  if (what === 'step' && values['vs-f32']) {
    if (values.dtype !== 'bf16' || !values['bf16-compute']) throw new GiftjsError('--vs-f32 compares the bf16 step with the float32 one: give it with --dtype bf16 --bf16-compute');
    const method = stepMethod(values.method);
    if (method === 'full') throw new GiftjsError('--vs-f32 compares frozen bf16 weights with float32 ones; --method full trains every weight in float32');
    const batch = opt('batch', 4);
    const seq = opt('seq', 256);
    const layers = values.layers ? int('layers', values.layers) : undefined;
    const r = benchBf16AgainstF32(shape, batch, seq, opt('rank', 64), method, opt('steps', 3), layers);
    console.log(`\n${method} step on ${shape}${layers ? ` (${layers} layers)` : ''}, batch ${batch} x ${seq}, the two alternating step by step:`);
    console.log(`  float32 weights:                        ${r.f32.toFixed(1).padStart(7)} tokens/s`);
    console.log(`  bf16 weights, bf16 dot products:        ${r.bf16.toFixed(1).padStart(7)} tokens/s   bf16 / f32 = ${(r.bf16 / r.f32).toFixed(2)}x`);
    if (values.json) console.log(JSON.stringify({ f32_tokens_per_s: r.f32, bf16_tokens_per_s: r.bf16, ratio: r.bf16 / r.f32 }));
    return 0;
  }

  const dtype = values.dtype as BenchDType;
  if (!BENCH_DTYPES.includes(dtype)) throw new GiftjsError(`--dtype must be ${BENCH_DTYPES.join(', ')}, got '${values.dtype}'`);
  if (values['bf16-compute'] && dtype === 'f32') throw new GiftjsError('--bf16-compute goes with --dtype bf16, int8 or int4');

  if (what === 'step') {
    const method = stepMethod(values.method);
    // gift train keeps a weight it trains in float32 (a bf16 one is widened, a quantized one refused).
    if (method === 'full' && dtype !== 'f32') throw new GiftjsError(`--method full trains every weight in float32, as gift train does: give --dtype f32 (or leave it out), not ${dtype}`);
    if (method === 'full' && values.rank !== undefined) throw new GiftjsError('--rank does not apply to --method full (it sets the rank of gift and lora)');
    const batch = opt('batch', 4);
    const seq = opt('seq', 256);
    const layers = values.layers ? int('layers', values.layers) : undefined;
    const rank = opt('rank', 64);
    // The PyTorch peer of a shape runs first, in its own process, so the two models never share the
    // memory; with --rounds R the peer and giftjs alternate R times (this machine's speed drifts
    // 10-20% between minutes), and the ratio of each round is printed.
    // SmolLM2-135M keeps the older peer (bench_torch_gift.py on Debian's PyTorch) only where no
    // PyTorch 2 + transformers 5 is set up.
    const usesShapePeer = values.torch === true && (shape !== 'smollm2-135m' || peerPython() !== null);
    const rounds = stepRounds(opt('rounds', 1), usesShapePeer);
    const { step: r, peer: shapePeer, roundRatios } = alternateWithPeer(rounds,
      usesShapePeer ? () => torchShapeStep(shape, layers, batch, seq, rank, method, dtype, values.checkpointing === true, threads) : null,
      () => benchTrainingStep(shape, batch, seq, rank, method, opt('steps', 3), layers, dtype, values.checkpointing === true, values['bf16-compute'] === true, values.profile === true),
      { step: (s) => s.tokensPerSecond, peer: (p) => p.tokens_per_s, unit: 'tokens', digits: 1 });
    console.log(`\n${method} step on ${shape}${layers ? ` (${layers} layers)` : ''}, ${dtype} weights${values['bf16-compute'] ? ' (bf16 dot products)' : ''}${values.checkpointing ? ', checkpointing' : ''}, batch ${batch} x ${seq}: ${r.tokensPerSecond.toFixed(1)} tokens/s`);
    console.log(`  forward ${r.msForward.toFixed(0)} ms, backward ${r.msBackward.toFixed(0)} ms, optimizer ${r.msOptimizer.toFixed(1)} ms; peak RSS ${r.peakRssMB.toFixed(0)} MB${rounds > 1 ? ' (the first round)' : ''}; loss ${r.loss.toFixed(4)}`);
    if (r.profile) console.log(profileTable(r.profile, r.msForward, r.msBackward, r.msOptimizer, threads));
    // The step's FLOP rate against the GEMM's own rate on the shape's MLP GEMMs at the step's rows
    // (bench gemm --shape S --tokens B*T without the LM head, whose float32 operand alone is 2 GB on
    // the 8B shape), timed now, in this process and with these threads: how much of the step is spent
    // outside fast GEMMs.
    // Under --bf16-compute the GEMMs timed are bf16 ones (bf16 weights, bf16 products), as bench gemm
    // times them: a float32 GEMM rate would put the bf16 step above 1.
    let gemmMean: number | null = null;
    const bf16Gemms = values['bf16-compute'] === true;
    if (nativeAddon()) {
      const config = stepShape(shape)!;
      const rates = transformerShapes(batch * seq, config.hidden_size as number, config.intermediate_size as number).filter((sh) => !bf16Gemms || !sh.transA)
        .map((sh) => (bf16Gemms ? benchNativeGemm(sh, budget, true) : benchNativeGemm(sh, budget))?.gflops ?? null);
      if (rates.every((g) => g !== null)) gemmMean = rates.reduce((a, b) => a + b, 0) / rates.length;
    }
    console.log(`  ${(r.flopsPerToken / 1e6).toFixed(1)} MFLOP per token: ${r.gflops.toFixed(1)} GFLOP/s` +
      (gemmMean ? `; ${bf16Gemms ? 'bf16 ' : ''}GEMMs of its MLP at ${batch * seq} rows (bench gemm --shape ${shape} --tokens ${batch * seq}), timed now: ${gemmMean.toFixed(1)} GFLOP/s; step / GEMM = ${(r.gflops / gemmMean).toFixed(2)}` : ''));
    // Against the peak of the products the step runs: under --bf16-compute AMX tiles where bf16 compute
    // runs on them, else bf16 dot products; float32 FMAs otherwise.
    const peak = machinePeak();
    const bf16Products = values['bf16-compute'] === true && peak?.bf16Gflops;
    const onTiles = bf16Products && peak?.amxGflops && nativeAddon()?.cpuInfo().bf16Kernel === 'amxbf16';
    const limit = peak ? (onTiles ? peak.amxGflops! : bf16Products ? peak.bf16Gflops! : peak.f32Gflops) : null;
    const limitName = onTiles ? 'bf16 AMX tile' : bf16Products ? 'bf16 dot-product' : 'f32 FMA';
    if (limit) console.log(`  step / ${limitName} peak = ${(r.gflops / limit).toFixed(2)} (peak measured now: ${limit.toFixed(1)} GFLOP/s)`);
    if (r.gemmCalls) console.log(gemmCallsTable(r.gemmCalls, r.msForward + r.msBackward + r.msOptimizer, limit));
    const peers: Record<string, number | null> = {};
    if (shapePeer !== null) {
      if (typeof shapePeer === 'string') console.log(`PyTorch peer unavailable: ${shapePeer}`);
      else {
        peers.torch = shapePeer.tokens_per_s;
        console.log(`PyTorch ${shapePeer.torch} + transformers ${shapePeer.transformers} (${dtype} weights, ${{ lora: 'LoRA as float32 forward hooks', gift: 'GIFT as float32 pre-hooks', full: 'every weight trained' }[method]}, AdamW${values.checkpointing ? ', checkpointing' : ''}): ${shapePeer.tokens_per_s.toFixed(1)} tokens/s, peak RSS ${shapePeer.maxrss_mb.toFixed(0)} MB${rounds > 1 ? ' (the first round)' : ''}, built in ${shapePeer.load_s.toFixed(1)} s   giftjs / PyTorch = ${(r.tokensPerSecond / shapePeer.tokens_per_s).toFixed(2)}x` +
          (roundRatios.length > 1 ? ` (the last round; each round: ${roundRatios.join(', ')})` : ''));
      }
    } else if (values.torch) {
      console.log('PyTorch peer: no PyTorch 2 + transformers 5 set up (GIFTJS_PYTHON, or the peer venv GIFTJS_PEER_VENV); bench_torch_gift.py on /usr/bin/python3 instead');
      if (method !== 'gift') {
        console.log('PyTorch peer: bench_torch_gift.py covers the GIFT step only');
      } else {
        for (const fused of [false, true]) {
          const t = torchStep(batch, seq, rank, layers ?? 30, threads, fused);
          peers[fused ? 'torch_fused' : 'torch'] = typeof t === 'number' ? t : null;
          console.log(typeof t === 'number'
            ? `PyTorch (${fused ? 'fused input form' : "authors' formulation"}): ${t.toFixed(1)} tokens/s   giftjs / PyTorch = ${(r.tokensPerSecond / t).toFixed(2)}x`
            : `PyTorch peer unavailable: ${t}`);
        }
      }
    }
    if (values.json) console.log(JSON.stringify({ tokens_per_s: r.tokensPerSecond, peak_rss_mb: r.peakRssMB, ms_forward: r.msForward, ms_backward: r.msBackward, ms_optimizer: r.msOptimizer, step_gflops: r.gflops, gemm_gflops: gemmMean, peak_gflops: limit, ...peers }));
    return 0;
  }

  if (what === 'generate') {
    const tokens = int('new-tokens', values['new-tokens']!);
    const promptLength = values.prompt === undefined ? 16 : int('prompt', values.prompt);
    if (values['bf16-compute'] && dtype !== 'bf16') throw new GiftjsError(`--bf16-compute in bench generate decodes bf16 weights with bf16 dot products: give it with --dtype bf16, not ${dtype}`);
    if (values['int8-activations'] && dtype !== 'int8' && dtype !== 'int4') throw new GiftjsError(`--int8-activations rounds the activations of products over quantized weights: give it with --dtype int8 or int4, not ${dtype}`);
    machinePeak(); // before the timed decoding, and again after it: the stream is the better of the two
    const r = benchGeneration(shape, promptLength, tokens, dtype);
    console.log(`\ngreedy generation on ${shape} (${dtype} weights), prompt ${promptLength}, ${tokens} new tokens: ${r.tokensPerSecond.toFixed(2)} tokens/s (prefill ${r.prefillTokensPerSecond.toFixed(1)} tokens/s)`);
    // Decoding is memory-bound: each token reads the weights once, against the stream rate measured now.
    const peak = machinePeak(2, true);
    const bytesPerToken = weightBytesPerToken(r.model);
    const decodeGBs = (bytesPerToken * r.tokensPerSecond) / 1e9;
    console.log(`  ${(bytesPerToken / 1e6).toFixed(0)} MB of weights read per token: ${decodeGBs.toFixed(1)} GB/s` + (peak ? ` = ${(decodeGBs / peak.streamGBs).toFixed(2)} of the memory stream measured now (${peak.streamGBs.toFixed(1)} GB/s, the better of before and after)` : ''));
    if (values.profile) {
      // One more run with every kernel call timed, against the stream timed just before it.
      const stream = streamNow();
      console.log(decodingProfileTable(profileDecoding(r.model, r.prompt, tokens), stream));
    }
    // Decoding reads every weight once per token: quantized weights are timed against float32 ones in the same run.
    let f32: number | null = null;
    if (dtype === 'int8' || dtype === 'int4') {
      f32 = benchGeneration(shape, promptLength, tokens, 'f32').tokensPerSecond;
      console.log(`the same model with float32 weights, timed now: ${f32.toFixed(2)} tokens/s   ${dtype} / f32 = ${(r.tokensPerSecond / f32).toFixed(2)}x`);
    }
    // The float products, int8 activations and llama.cpp alternate on one model, round after round.
    const ROUNDS = 3;
    let alternated: Map<string, AlternatedRate> | null = null;
    let streamPerRound: number[] = [];
    let llamaCppType: string | null = null;
    if (values['int8-activations'] || values['bf16-compute'] || values['llama-cpp']) {
      const cases: DecodingCase[] = [giftjsDecoding(r.model, r.prompt, tokens, 'float products')];
      if (values['int8-activations']) cases.push(giftjsDecoding(r.model, r.prompt, tokens, 'int8 activations'));
      if (values['bf16-compute']) cases.push(giftjsDecoding(r.model, r.prompt, tokens, 'bf16 products'));
      const peer = values['llama-cpp'] ? await openLlamaCpp(r.model, dtype, threads) : null;
      try {
        if (peer) {
          llamaCppType = peer.type.toUpperCase();
          cases.push({ name: 'llama.cpp', run: () => peer.decode(r.prompt, tokens) });
        }
        ({ rates: alternated, streamPerRound } = await alternateDecoding(cases, ROUNDS, streamNow));
      } finally {
        await peer?.close();
      }
    }
    const exact = alternated?.get('float products');
    // The approximate products that alternated with the float ones (int8 activations, bf16 products), whichever ran.
    const approximate = (['int8 activations', 'bf16 products'] as const).flatMap((name) => {
      const rate = alternated?.get(name);
      return rate ? [{ name, rate }] : [];
    });
    const bf16 = alternated?.get('bf16 products');
    if (exact) {
      for (const { name, rate } of approximate) {
        const at = exact.generated!.findIndex((t, i) => t !== rate.generated![i]);
        console.log(`alternating on this model: float products ${exact.tokensPerSecond.toFixed(2)} tokens/s, ${name} ${rate.tokensPerSecond.toFixed(2)} tokens/s   ${name.split(' ')[0]} / float = ${(rate.tokensPerSecond / exact.tokensPerSecond).toFixed(2)}x; ` +
          (at < 0 ? `the same ${tokens + 1} tokens` : `the tokens differ from the ${at + 1}th on`));
      }
    }
    // Each round's decoding against the stream timed at that round's start: the limit of the same minute.
    const againstStream = new Map<string, number>();
    if (alternated && streamPerRound.length === ROUNDS) {
      const meanStream = streamPerRound.reduce((a, b) => a + b, 0) / ROUNDS;
      const giftjsCases = [...alternated].filter(([name]) => name !== 'llama.cpp');
      for (const [name, rate] of giftjsCases) againstStream.set(name, (bytesPerToken * rate.tokensPerSecond) / 1e9 / meanStream);
      console.log(`against the memory stream timed at the start of each round (${streamPerRound.map((g) => g.toFixed(1)).join(', ')} GB/s): ` +
        giftjsCases.map(([name, rate]) => `${name} ${againstStream.get(name)!.toFixed(2)} (rounds ${rate.perRound.map((t, i) => ((bytesPerToken * t) / 1e9 / streamPerRound[i]!).toFixed(2)).join(', ')})`).join(', '));
    }
    let torch: number | null = null;
    if (values.torch) {
      const peer = torchShapeGenerate(shape, dtype, promptLength, tokens, threads);
      if (typeof peer === 'string') {
        console.log(`PyTorch baseline unavailable: ${peer}`);
      } else {
        torch = peer.tokens_per_s;
        console.log(`PyTorch ${peer.torch} + transformers ${peer.transformers} generate (${dtype} weights, greedy, its KV cache), timed after giftjs: ${torch.toFixed(2)} tokens/s (prefill ${peer.prefill_tokens_per_s.toFixed(1)} tokens/s)   giftjs / PyTorch = ${(r.tokensPerSecond / torch).toFixed(2)}x` +
          // PyTorch multiplies bf16 weights by bf16 activations: giftjs's bf16 products are its arithmetic.
          (bf16 ? `; with bf16 products ${(bf16.tokensPerSecond / torch).toFixed(2)}x (prefill ${(bf16.prefillTokensPerSecond / peer.prefill_tokens_per_s).toFixed(2)}x)` : ''));
      }
    }
    const llamaCpp = alternated?.get('llama.cpp');
    if (exact && llamaCpp) {
      const ratios = (rate: AlternatedRate) => `${(rate.tokensPerSecond / llamaCpp.tokensPerSecond).toFixed(2)}x (rounds ${rate.perRound.map((t, i) => (t / llamaCpp.perRound[i]!).toFixed(2)).join(', ')})`;
      console.log(`llama.cpp (${llamaCppType} GGUF of this model), alternating with giftjs ${ROUNDS} times: ${llamaCpp.tokensPerSecond.toFixed(2)} tokens/s   giftjs / llama.cpp = ${ratios(exact)}` +
        approximate.map(({ name, rate }) => `; with ${name} (as llama.cpp computes) ${ratios(rate)}`).join(''));
      const prefill = (rate: AlternatedRate) => `${rate.prefillTokensPerSecond.toFixed(1)} tokens/s (${(rate.prefillTokensPerSecond / llamaCpp.prefillTokensPerSecond).toFixed(2)}x)`;
      console.log(`  prefill of the ${r.prompt.length}-token prompt in those rounds: llama.cpp ${llamaCpp.prefillTokensPerSecond.toFixed(1)} tokens/s, giftjs ${prefill(exact)}` +
        approximate.map(({ name, rate }) => `, with ${name} ${prefill(rate)}`).join(''));
    }
    if (values.json) console.log(JSON.stringify({ tokens_per_s: r.tokensPerSecond, prefill_tokens_per_s: r.prefillTokensPerSecond, f32_tokens_per_s: f32, torch_tokens_per_s: torch, llama_cpp_tokens_per_s: llamaCpp?.tokensPerSecond ?? null, llama_cpp_prefill_tokens_per_s: llamaCpp?.prefillTokensPerSecond ?? null, ...(exact ? { alternating_float_tokens_per_s: exact.tokensPerSecond } : {}), ...Object.fromEntries(approximate.map(({ name, rate }) => [`${name.replace(' ', '_')}_tokens_per_s`, rate.tokensPerSecond])), decode_gb_per_s: decodeGBs, stream_gb_per_s: peak?.streamGBs ?? null, stream_gb_per_s_rounds: streamPerRound, ...Object.fromEntries([...againstStream].map(([name, ratio]) => [`${name.replace(' ', '_')}_of_round_streams`, ratio])) }));
    return 0;
  }

  if (what === 'peak') {
    const peak = machinePeak(Math.max(2, budget * 2));
    if (!peak) throw new GiftjsError('gift bench peak times the CPU\'s own instructions through the native kernels, which are not available here (GIFTJS_BACKEND=ref, or not built: node scripts/build-native.mjs)');
    console.log(`\n${describePeak(peak)}`);
    if (values.json) console.log(JSON.stringify({ f32_gflops: peak.f32Gflops, bf16_gflops: peak.bf16Gflops, amx_gflops: peak.amxGflops, stream_gb_per_s: peak.streamGBs, first_touch_gb_per_s: peak.firstTouchGBs, threads: peak.threads, isa: peak.isa }));
    return 0;
  }

  if (what === 'memory') {
    const steps = opt('steps', 2000);
    // The spread is of the steps after the first (which makes the buffers the loop reuses): with one
    // step there is none, and min/max of nothing had printed Infinity and -Infinity MB.
    if (steps < 2) throw new GiftjsError(`--steps must be at least 2 for bench memory (the RSS spread is measured over the steps after the first), got ${steps}`);
    console.log(`\ntraining a 2-layer Transformer (dim 64, vocab 512, batch 4 x 64) for ${steps} steps`);
    const samples = benchTrainingMemory(steps, Math.max(1, Math.floor(steps / 10)), (s) =>
      console.log(`step ${String(s.step).padStart(6)}  loss ${s.loss.toFixed(3)}  rss ${s.rssMB.toFixed(1)} MB  live tensors ${s.liveMB.toFixed(2)} MB  fresh buffers ${s.freshAllocations}`),
    );
    const afterWarmup = samples.slice(1);
    const rss = afterWarmup.map((s) => s.rssMB);
    const growth = Math.max(...rss) - Math.min(...rss);
    console.log(`\nRSS from step ${afterWarmup[0]?.step} to ${steps}: min ${Math.min(...rss).toFixed(1)} MB, max ${Math.max(...rss).toFixed(1)} MB (spread ${growth.toFixed(1)} MB); fresh buffers after step 1: ${samples[samples.length - 1]!.freshAllocations - samples[0]!.freshAllocations}`);
    if (values.json) console.log(JSON.stringify({ steps, rss_mb: rss, rss_spread_mb: growth, fresh_after_first_step: samples[samples.length - 1]!.freshAllocations - samples[0]!.freshAllocations }));
    return 0;
  }

  throw new Error(`bench ${what}: listed in BENCHMARKS but run by no branch`);
}
