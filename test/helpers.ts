// Shared test helpers: the backends to run on, seeded random tensors, closeness assertions, fixture copies.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { isNativeAvailable, withBackend, type BackendName } from '../src/backend/index.js';
import { Random } from '../src/tensor/random.js';
import type { Shape } from '../src/tensor/shape.js';
import { Tensor } from '../src/tensor/tensor.js';
import { gradcheck, type GradcheckOptions } from '../src/testing/gradcheck.js';

/** ../shared beside the repository: the real models and data sets (CI has it; a bare clone may not). */
export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));

const STORIES260K = 'models/stories260K/';

/**
 * A file of ../shared: its path there, except stories260K's llama2.c files, which GIFTJS_STORIES260K
 * (a folder holding stories260K.bin and tok512.bin) provides on a machine without the data folder.
 */
export function sharedFile(relativePath: string): string {
  const stories = process.env.GIFTJS_STORIES260K;
  if (stories && relativePath.startsWith(STORIES260K)) return join(stories, relativePath.slice(STORIES260K.length));
  return join(SHARED_DIR, relativePath);
}

/** A skip reason when a file of ../shared is absent, saying how to provide it, else false (node:test's `skip` option). */
export function needsShared(relativePath: string): false | string {
  if (existsSync(sharedFile(relativePath))) return false;
  return relativePath.startsWith(STORIES260K)
    ? `${sharedFile(relativePath)} is missing: put the project's data folder beside the repository, or set GIFTJS_STORIES260K to a folder with stories260K.bin and tok512.bin (llama2.c's files, hub repository karpathy/tinyllamas, folder stories260K)`
    : `../shared/${relativePath} is not beside the repository (the project's data folder)`;
}

/** Every backend this machine can run. CI builds the native one, so both are tested there. */
export const BACKENDS: BackendName[] = isNativeAvailable() ? ['ref', 'native'] : ['ref'];

/** Registers one test per backend. */
export function testEachBackend(name: string, fn: (backend: BackendName) => void): void {
  for (const b of BACKENDS) test(`${name} [${b}]`, () => withBackend(b, () => fn(b)));
}

export function randn(shape: Shape, seed: number, requiresGrad = false): Tensor {
  const t = Tensor.randn(shape, new Random(seed));
  return requiresGrad ? t.requireGrad() : t;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, atol = 1e-5, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${label}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)})`);
    }
  }
}

export function assertGradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], label: string, options: GradcheckOptions = {}): void {
  const r = gradcheck(fn, inputs, options);
  assert.ok(r.probes > 0, `${label}: gradcheck probed nothing`);
  assert.ok(r.ok, `${label}: gradcheck failed:\n${r.failures.slice(0, 5).join('\n')}`);
}

/** Runs fn on each backend with fresh copies of the inputs and returns the outputs' data. */
export function outputsPerBackend(fn: () => Tensor): Map<BackendName, Float32Array> {
  const out = new Map<BackendName, Float32Array>();
  for (const b of BACKENDS) out.set(b, withBackend(b, () => fn().toFloat32Array()));
  return out;
}

/** Asserts that native (when present) agrees with ref on fn's output. */
export function assertBackendsAgree(fn: () => Tensor, label: string, atol = 1e-5, rtol = 1e-4): void {
  const outs = outputsPerBackend(fn);
  const ref = outs.get('ref')!;
  const native = outs.get('native');
  if (native) assertClose(native, ref, `${label}: native vs ref`, atol, rtol);
}

/**
 * A copy of a fixture folder (test/fixtures/<name>) in a new scratch folder, its config.json's fields
 * replaced by `config` (a dropout probability, the head's labels): { dir: the scratch folder, model: the copy }.
 */
export function fixtureCopy(name: string, config: Record<string, unknown> = {}): { dir: string; model: string } {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-fixture-'));
  const model = join(dir, 'model');
  cpSync(fileURLToPath(new URL(`../../test/fixtures/${name}`, import.meta.url)), model, { recursive: true });
  const path = join(model, 'config.json');
  writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>), ...config }));
  return { dir, model };
}
