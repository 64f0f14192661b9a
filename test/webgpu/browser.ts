// Headless Chromium with WebGPU, for the tests: a script bundled with esbuild (from the compiled
// JavaScript in dist/) is served from 127.0.0.1 (WebGPU needs a secure context, which localhost
// is) and evaluated in a page. Without a GPU, Chromium runs WebGPU on the CPU through SwiftShader:
// slow, but the same WGSL and the same validation as on a GPU.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { build, type Plugin } from 'esbuild';
import puppeteer, { type Page } from 'puppeteer-core';

/** The browser the tests drive: $CHROMIUM, else Debian's chromium. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** A skip reason when there is no Chromium to drive, else false (node:test's `skip` option). */
export const needsChromium: false | string = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;

/**
 * Node's built-in modules in a browser bundle: modules the page imports but whose file and process
 * functions it never calls (atomic writes, checkpoints, folder loaders). Each function, if called,
 * throws by name.
 */
const nodeBuiltinsRefused: Plugin = {
  name: 'node-builtins-refused',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      loader: 'js',
      contents: `module.exports = new Proxy({}, { get: (_, name) => name === '__esModule' ? false : () => { throw new Error(${JSON.stringify(args.path)} + '.' + String(name) + ' is not available in a browser'); } });`,
    }));
  },
};

/** Bundles `entry` (a compiled .js file) for the browser and runs fn with a page that has loaded it. */
export async function withBrowserPage<T>(entry: string, fn: (page: Page) => Promise<T>): Promise<T> {
  const bundle = await build({
    entryPoints: [entry], bundle: true, format: 'iife', platform: 'browser', write: false, logLevel: 'silent',
    plugins: [nodeBuiltinsRefused], define: { 'process.env': '{}' },
  });
  const script = bundle.outputFiles[0]!.text;
  const server = http.createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.setHeader('content-type', 'text/javascript');
      res.end(script);
    } else {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><html><head><script src="/bundle.js"></script></head><body></body></html>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    if (errors.length) throw new Error(`the page failed to load its script: ${errors.join('; ')}`);
    return await fn(page);
  } finally {
    await browser.close();
    server.close();
  }
}
