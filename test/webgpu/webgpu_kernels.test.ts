// Every WGSL kernel of the webgpu backend against the ref backend, in headless Chromium (WebGPU on
// SwiftShader when there is no GPU): test/webgpu/kernel_checks.ts runs in the page, each of its
// checks is reported here as its own test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needsChromium, withBrowserPage } from './browser.js';
import type { KernelCheck } from './kernel_checks.js';

const ENTRY = fileURLToPath(new URL('./kernel_checks.js', import.meta.url));

test('webgpu kernels match the ref backend in headless Chromium', { skip: needsChromium, timeout: 300_000 }, async (t) => {
  const checks = await withBrowserPage(ENTRY, (page) =>
    page.evaluate(() => (globalThis as unknown as { runKernelChecks: () => Promise<KernelCheck[]> }).runKernelChecks()),
  );
  assert.ok(checks.length > 60, `only ${checks.length} checks ran`);
  for (const c of checks) {
    await t.test(c.name, () => assert.ok(c.ok, c.detail));
  }
});
