// The conformance suite every method runs on every model family (as PEFT's common tester does):
// attaching starts exactly at the base model; a trained adapter evaluates deterministically (LoRA's
// dropout is off in eval mode); gradients reach exactly the trainable tensors; a saved adapter loads
// back to the same outputs; merged equals adapted and unmerge restores every weight bit for bit; the
// parameter count is the paper's formula over the model's own layer shapes (and, for Llama, what
// `gift inspect` computes from config.json alone). A method that cannot apply to a family (BitFit
// without biases, a head-only run on a tied LM head) is refused by name.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GiftjsError } from '../../src/errors.js';
import { BertForSequenceClassification } from '../../src/models/bert/model.js';
import type { EncoderInput } from '../../src/models/encoder.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { buildModelShapes, loadCausalLM } from '../../src/models/registry.js';
import type { CausalLM } from '../../src/models/causal_lm.js';
import { withBackend } from '../../src/backend/index.js';
import { metaBackend } from '../../src/backend/meta/index.js';
import { convertUseLite, defaultUseLiteSource } from '../../src/models/use_lite/convert.js';
import { UseLiteForSequenceClassification } from '../../src/models/use_lite/model.js';
import { imagesToPatches, ViTForImageClassification } from '../../src/models/vit/model.js';
import type { Module } from '../../src/nn/module.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import type { AttachedAdapter } from '../../src/peft/method.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { tidy } from '../../src/tensor/memory.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const RANK = 2;

interface Family {
  name: string;
  /** A fresh model from the family's fixture. */
  build(): Module;
  /** The model's output on a fixed input. */
  run(model: Module): Tensor;
  /** GIFT / LoRA targets (the paper's choice for the family). */
  targets: string[];
  /** Shapes inspect counts from config.json, when the family has that path. */
  /** A language model's folder: inspect counts what a method trains on its module tree built without storage. */
  folder?: string;
}

function encoderInput(vocab: number): EncoderInput {
  const r = new Random(3);
  const ids = Int32Array.from({ length: 2 * 5 }, () => 1 + r.int(vocab - 1));
  return { ids, attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]), batch: 2, seq: 5 };
}

let useLiteDir: string | null = null;
function useLite(): string {
  if (!useLiteDir) {
    useLiteDir = join(mkdtempSync(join(tmpdir(), 'giftjs-conformance-')), 'use-lite');
    convertUseLite(defaultUseLiteSource(), useLiteDir);
  }
  return useLiteDir;
}

const IDS = [1, 40, 7, 80, 22, 5, 9, 3];
const FAMILIES: Family[] = [
  {
    name: 'llama', targets: ['q_proj', 'v_proj'],
    build: () => LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama/llama-gqa')),
    run: (m) => (m as LlamaForCausalLM).forward(IDS, 2, 4),
    folder: join(FIXTURES, 'llama/llama-gqa'),
  },
  {
    name: 'qwen2 (biases, tied head)', targets: ['q_proj', 'v_proj'],
    build: () => LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama/qwen2-bias')),
    run: (m) => (m as LlamaForCausalLM).forward(IDS, 2, 4),
    folder: join(FIXTURES, 'llama/qwen2-bias'),
  },
  {
    name: 'qwen3 (q/k norms, head_dim apart from hidden / heads)', targets: ['q_proj', 'v_proj'],
    build: () => LlamaForCausalLM.fromPretrained(join(FIXTURES, 'qwen3/qwen3')),
    run: (m) => (m as LlamaForCausalLM).forward(IDS, 2, 4),
    folder: join(FIXTURES, 'qwen3/qwen3'),
  },
  ...[
    ['mistral (sliding window shorter than the text)', 'sliding_window/mistral', 'q_proj,v_proj'],
    ['phi3 (fused qkv_proj: one GIFT group)', 'sliding_window/phi3', 'qkv_proj'],
    ['gemma3 (local and global layers, (1 + w) norms)', 'gemma/gemma3', 'q_proj,v_proj'],
    ['gemma2 (soft-capped logits)', 'gemma/gemma2', 'q_proj,v_proj'],
    ['gemma (two norms a block, erf GELU)', 'gemma/gemma1', 'q_proj,v_proj'],
    ['phi2 (LayerNorm, parallel attention and MLP, biased head, residual dropout)', 'phi/phi2', 'q_proj,v_proj'],
  ].map(([name, folder, targets]): Family => ({
    name: name!, targets: targets!.split(','),
    build: () => loadCausalLM(join(FIXTURES, folder!)),
    run: (m) => (m as CausalLM).forward([...IDS, ...IDS], 2, 8),
    folder: join(FIXTURES, folder!),
  })),
  ...['bert', 'roberta'].map((name): Family => ({
    name, targets: ['query', 'value'],
    build: () => BertForSequenceClassification.fromPretrained(join(FIXTURES, `encoders/${name}`), 3),
    run: (m) => (m as BertForSequenceClassification).logits(encoderInput((m as BertForSequenceClassification).config.vocabSize)),
  })),
  {
    name: 'vit', targets: ['attention.output.dense'],
    build: () => ViTForImageClassification.fromPretrained(join(FIXTURES, 'encoders/vit')),
    run: (m) => {
      const vit = m as ViTForImageClassification;
      const c = vit.config;
      const r = new Random(4);
      return vit.forward(imagesToPatches(Float32Array.from({ length: 2 * c.numChannels * c.imageSize * c.imageSize }, () => r.normal()), 2, c));
    },
  },
  {
    name: 'use-lite (widening layers)', targets: ['query', 'value'],
    build: () => UseLiteForSequenceClassification.fromPretrainedWithHead(useLite(), 2),
    run: (m) => (m as UseLiteForSequenceClassification).logits(encoderInput(1000)),
  },
];

const METHODS: Record<string, Record<string, unknown>> = {
  gift: { method: 'gift', rank: RANK },
  lora: { method: 'lora', rank: RANK, alpha: 2 * RANK, dropout: 0.25 },
  dora: { method: 'lora', rank: RANK, alpha: 2 * RANK, dropout: 0.25, use_dora: true },
  bitfit: { method: 'bitfit' },
  full: { method: 'full' },
  head: { method: 'head' },
};

/** What gift inspect counts: the method attached to the folder's model built on the meta backend (no storage). */
const countOnShapes = (folder: string, methodConfig: Record<string, unknown>, targets: string[]) =>
  withBackend(metaBackend, () => attachAdapter(buildModelShapes(folder, 'causal-lm')!, { ...methodConfig, target_modules: targets }, 0).trainableCount());

const output = (f: Family, m: Module) => tidy(() => noGrad(() => f.run(m).toFloat32Array()));
const snapshot = (m: Module) => new Map(m.namedParameters().map(([n, p]) => [n, p.toFloat32().toFloat32Array()]));

/** Linear weights [out, in] whose module path ends with a target name. */
function targetShapes(m: Module, targets: string[]): { target: string; inF: number; outF: number }[] {
  return m.namedParameters().flatMap(([n, p]) => {
    const t = targets.find((x) => n === `${x}.weight` || n.endsWith(`.${x}.weight`));
    return t && p.rank === 2 ? [{ target: t, inF: p.shape[1]!, outF: p.shape[0]! }] : [];
  });
}

function closeTo(a: Float32Array, b: Float32Array, label: string, tol = 1e-4): void {
  assert.equal(a.length, b.length, label);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${label}: element ${i} is ${a[i]}, expected ${b[i]}`);
  }
}

for (const family of FAMILIES) {
  for (const [methodName, methodConfig] of Object.entries(METHODS)) {
    test(`conformance: ${methodName} on ${family.name}`, () => {
      const model = family.build();
      const base = output(family, model);
      const lowRank = methodName === 'gift' || methodName === 'lora' || methodName === 'dora';
      const config = { ...methodConfig, ...(lowRank ? { target_modules: family.targets } : {}) };
      let adapter: AttachedAdapter;
      try {
        adapter = attachAdapter(model, config, 7);
      } catch (err) {
        // Only the documented refusals: BitFit without biases, head-only on a tied LM head.
        assert.ok(err instanceof GiftjsError, `${methodName} on ${family.name} threw ${err}`);
        assert.match((err as Error).message, methodName === 'bitfit' ? /no bias parameters/ : /no separate head/);
        return;
      }
      // 1. Attaching changes nothing until training does.
      assert.deepEqual(output(family, model), base, 'the adapted model starts exactly at the base model');

      // 2. The count: the paper's formula over the model's own layer shapes (and inspect's, from config.json).
      const shapes = targetShapes(model, family.targets);
      if (methodName === 'gift') {
        const groups = new Map<string, number>();
        const sizes = new Map<string, Set<number>>();
        for (const s of shapes) sizes.set(s.target, (sizes.get(s.target) ?? new Set()).add(s.inF));
        for (const s of shapes) groups.set(sizes.get(s.target)!.size > 1 ? `${s.target}_in${s.inF}` : s.target, s.inF);
        assert.equal(adapter.trainableCount(), [...groups.values()].reduce((n, inF) => n + 2 * inF * RANK, 0), 'GIFT: 2 x in x r per group');
        if (family.folder) assert.equal(countOnShapes(family.folder, methodConfig, family.targets), adapter.trainableCount(), 'inspect count');
      } else if (methodName === 'lora') {
        assert.equal(adapter.trainableCount(), shapes.reduce((n, s) => n + RANK * (s.inF + s.outF), 0), 'LoRA: r (in + out) per layer');
        if (family.folder) assert.equal(countOnShapes(family.folder, methodConfig, family.targets), adapter.trainableCount(), 'inspect count');
      } else if (methodName === 'dora') {
        assert.equal(adapter.trainableCount(), shapes.reduce((n, s) => n + RANK * (s.inF + s.outF) + s.outF, 0), 'DoRA: r (in + out) + out per layer');
        if (family.folder) assert.equal(countOnShapes(family.folder, methodConfig, family.targets), adapter.trainableCount(), 'inspect count');
      } else if (methodName === 'full') {
        assert.equal(adapter.trainableCount(), model.parameters().reduce((n, p) => n + p.size, 0));
      } else if (methodName === 'bitfit') {
        assert.equal(adapter.trainableCount(), model.namedParameters().filter(([n]) => n.endsWith('.bias')).reduce((n, [, p]) => n + p.size, 0));
      }
      assert.equal(adapter.trainableCount(), adapter.namedTrainable().reduce((n, [, t]) => n + t.size, 0));

      // Train-like values, so that the adapter changes the outputs.
      const r = new Random(11);
      for (const [name, t] of adapter.namedTrainable()) {
        const d = t.data;
        // (DoRA's magnitudes start at the rows' norms: moved by a share of their own size.)
        if (name.endsWith('.lora_magnitude_vector')) for (let i = 0; i < d.length; i++) d[i] = d[i]! * (1 + 0.2 * r.normal());
        else for (let i = 0; i < d.length; i++) d[i] = lowRank ? 0.3 * r.normal() : d[i]! + 0.05 * r.normal();
      }
      const adapted = output(family, model);
      assert.notDeepEqual(adapted, base, 'trained values change the outputs');

      // 3. Eval is deterministic (LoRA's dropout is off outside training).
      assert.deepEqual(output(family, model), adapted, 'two evaluations agree');

      // 4. Gradients reach the trainable tensors and nothing else.
      const trainable = new Set(adapter.namedTrainable().map(([, t]) => t));
      model.train();
      tidy(() => {
        const out = family.run(model);
        // The gradient of sum(out * w) with respect to out is w.
        out.backward(Tensor.randn(out.shape, new Random(5)));
      });
      model.eval();
      for (const [name, p] of model.namedParameters()) {
        if (trainable.has(p)) continue;
        assert.equal(p.grad, null, `frozen ${name} got a gradient`);
      }
      for (const [name, t] of adapter.namedTrainable()) {
        assert.ok(t.grad !== null, `trainable ${name} got no gradient`);
        assert.ok(t.grad.data.some((v) => v !== 0) || t.size === 0 || name.endsWith('.bias'), `trainable ${name} got an all-zero gradient`);
        t.zeroGrad();
      }

      // 5. Save and load into a fresh model: the same outputs.
      const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-conformance-')), 'adapter');
      saveAdapter(dir, adapter, { path: family.name, architecture: family.name });
      const reloaded = family.build();
      loadAdapter(dir, reloaded);
      assert.deepEqual(output(family, reloaded), adapted, 'a saved adapter loads back to the same outputs');

      // 6. Merged equals adapted; unmerge restores every weight bit for bit.
      const weights = snapshot(model);
      adapter.merge();
      closeTo(output(family, model), adapted, 'merged vs adapted');
      adapter.unmerge();
      for (const [name, p] of model.namedParameters()) {
        assert.deepEqual(p.toFloat32().toFloat32Array(), weights.get(name), `unmerge restores ${name}`);
      }
      assert.deepEqual(output(family, model), adapted, 'after unmerge the adapter computes as before');
    });
  }
}
