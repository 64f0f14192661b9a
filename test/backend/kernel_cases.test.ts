// The kernel-case table (kernel_cases.ts) on the backends Node runs: native (C++ through N-API) and
// boxed (ref's kernels behind opaque buffers, read only asynchronously as a device backend is), each
// against ref. The webgpu backend runs the same table in a browser (test/webgpu/webgpu_kernels.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNativeAvailable, nativeAddon } from '../../src/backend/index.js';
import { createNativeBackend } from '../../src/backend/native/index.js';
import { createBoxedBackend } from '../../src/testing/boxed_backend.js';
import { runKernelCases } from './kernel_cases.js';

const backends = [
  ['native', isNativeAvailable() ? () => createNativeBackend(nativeAddon()!) : null],
  ['boxed, asynchronous reads only', () => createBoxedBackend({ syncReads: false })],
] as const;

for (const [name, create] of backends) {
  test(`the kernel cases on ${name} match ref`, { skip: create ? false : 'the native addon is not built on this machine' }, async (t) => {
    const checks = await runKernelCases(create!());
    assert.ok(checks.length > 60, `only ${checks.length} cases ran`);
    for (const c of checks) await t.test(c.name, () => assert.ok(c.ok, c.detail));
  });
}
