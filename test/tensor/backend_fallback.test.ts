// Without its native addon giftjs runs on the ref backend and says so exactly once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));

test('a missing native addon falls back to ref with one warning', () => {
  const script = `
    const g = await import(${JSON.stringify(entry)});
    const a = g.Tensor.fromArray([1, 2, 3, 4], [2, 2]);
    const b = g.matmul(a, a);
    const c = g.matmul(b, a);
    console.log(JSON.stringify({ backend: g.getBackend().name, c: Array.from(c.data) }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, GIFTJS_NATIVE_ADDON: '/nonexistent/giftjs_native.node', GIFTJS_BACKEND: '' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.backend, 'ref');
  assert.deepEqual(out.c, [37, 54, 81, 118]); // [[1,2],[3,4]]^3
  const warnings = r.stderr.split('\n').filter((l) => l.includes('native kernels unavailable'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /\/nonexistent\/giftjs_native\.node \(GIFTJS_NATIVE_ADDON\) does not exist/);
  assert.match(warnings[0]!, /Build them with `node \S+scripts\/build-native\.mjs`/, 'the warning says what to run');
});

test('without a source build the prebuilt addon for this platform is found', () => {
  const script = `
    const b = await import(${JSON.stringify(fileURLToPath(new URL('../../src/backend/native/binding.js', import.meta.url)))});
    console.log(JSON.stringify(b.addonCandidates()));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, GIFTJS_NATIVE_ADDON: '' } });
  assert.equal(r.status, 0, r.stderr);
  const [source, prebuilt] = JSON.parse(r.stdout.trim()) as string[];
  assert.match(source!, /build\/Release\/giftjs_native\.node$/);
  assert.match(prebuilt!, new RegExp(`prebuilds/${process.platform}-${process.arch}/giftjs_native\\.node$`));
});

test('bf16 and f16 storage convert to float32 on load', async () => {
  const { Tensor, float32ToBf16, float32ToFloat16 } = await import(entry);
  const values = Float32Array.from([1.5, -2, 0.25, 1024]);
  assert.deepEqual(Array.from(Tensor.fromStorage(float32ToBf16(values), 'BF16', [2, 2]).data), [1.5, -2, 0.25, 1024]);
  assert.deepEqual(Array.from(Tensor.fromStorage(float32ToFloat16(values), 'F16', [4]).data), [1.5, -2, 0.25, 1024]);
  assert.throws(() => Tensor.fromStorage(new Uint16Array(3), 'F16', [2, 2]), /3 F16 values cannot have shape \[2, 2\]/);
});

test('GIFTJS_BACKEND names a backend; webgpu, which is chosen in code, is refused with how to choose it', () => {
  for (const [value, message] of [['webgpu', /GIFTJS_BACKEND=webgpu: in a program the webgpu backend is chosen in code.*createWebGpuBackend/], ['cuda', /GIFTJS_BACKEND=cuda is not a backend \(use ref or native\)/]] as const) {
    const script = `const g = await import(${JSON.stringify(entry)}); try { g.getBackend(); console.log('chosen'); } catch (e) { console.log(e.message); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, GIFTJS_BACKEND: value } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, message);
  }
});
