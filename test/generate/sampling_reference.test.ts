// The sampling distribution against transformers' own warpers (tools/sampling_reference.py in the peer
// venv: temperature, top-k, top-p and min-p as generate builds them for do_sample=True): every token's probability,
// on random logits and on logits with ties at the k-th place (transformers keeps every tied token).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { samplingWeights } from '../../src/generate/sampling.js';
import { Random } from '../../src/tensor/random.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers, torch'], { encoding: 'utf8' }).status === 0;

interface Case { logits: number[]; temperature: number; top_k: number; top_p: number; min_p?: number }

function cases(): Case[] {
  const r = new Random(2026);
  const out: Case[] = [];
  // float32 values, as the model's logits are (the reference reads them as float32).
  const logits = (n: number, step: number) => Array.from(Float32Array.from({ length: n }, () => (step > 0 ? Math.round((3 * r.normal()) / step) * step : 3 * r.normal())));
  for (const temperature of [0.3, 0.7, 1, 1.6]) {
    for (const top_k of [0, 1, 5, 20]) {
      for (const top_p of [1, 0.95, 0.6, 0.2]) out.push({ logits: logits(40, 0), temperature, top_k, top_p });
    }
  }
  // Ties: logits on a coarse grid, so the k-th is tied with others (top-p off: with ties at p's boundary
  // the order among equals, which neither side fixes, would decide).
  for (const top_k of [2, 3, 5, 7, 11]) out.push({ logits: logits(30, 1), temperature: 0.8, top_k, top_p: 1 });
  // min-p after the others, alone and with top-k and top-p.
  for (const min_p of [0.01, 0.05, 0.2, 0.6, 1]) {
    for (const [temperature, top_k, top_p] of [[1, 0, 1], [0.7, 0, 1], [1.6, 10, 0.9], [0.5, 0, 0.95]] as const) out.push({ logits: logits(40, 0), temperature, top_k, top_p, min_p });
  }
  return out;
}

test('temperature, top-k, top-p and min-p give every token the probability transformers\' generate samples it with', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  const all = cases();
  const file = join(mkdtempSync(join(tmpdir(), 'giftjs-sampling-')), 'cases.json');
  writeFileSync(file, JSON.stringify(all));
  const r = spawnSync(PYTHON, [join(ROOT, 'tools/sampling_reference.py'), file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const expected = JSON.parse(r.stdout) as number[][];
  let tiedCases = 0;
  all.forEach((c, i) => {
    const { ids, weights, total } = samplingWeights(c.logits, { temperature: c.temperature, topK: c.top_k, topP: c.top_p, ...(c.min_p !== undefined ? { minP: c.min_p } : {}) });
    const ours = new Array<number>(c.logits.length).fill(0);
    ids.forEach((id, k) => (ours[id] = weights[k]! / total));
    if (c.top_k > 0 && ids.length > c.top_k) tiedCases++;
    ours.forEach((p, t) => assert.ok(Math.abs(p - expected[i]![t]!) <= 2e-6,
      `case ${i} (temperature ${c.temperature}, top-k ${c.top_k}, top-p ${c.top_p}, min-p ${c.min_p ?? 0}), token ${t}: giftjs ${p}, transformers ${expected[i]![t]}`));
  });
  assert.ok(tiedCases >= 3, `ties at the k-th place were tested (${tiedCases} cases)`);
});
