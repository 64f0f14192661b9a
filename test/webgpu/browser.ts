// Headless Chromium with WebGPU, for the tests: a script bundled as the library's browser build is
// (scripts/browser-bundle.mjs, from the compiled JavaScript in dist/) is served from 127.0.0.1
// (WebGPU needs a secure context, which localhost is) and evaluated in a page. Without a GPU,
// Chromium runs WebGPU on the CPU through SwiftShader: slow, but the same WGSL and validation.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** The browser the tests drive: $CHROMIUM, else Debian's chromium. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** A skip reason when there is no Chromium to drive, else false (node:test's `skip` option). */
export const needsChromium: false | string = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;

const BUNDLER = pathToFileURL(fileURLToPath(new URL('../../../scripts/browser-bundle.mjs', import.meta.url))).href;

/** Headless Chromium with WebGPU enabled (SwiftShader's adapter when there is no GPU). */
export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    protocolTimeout: 600_000, // a waitForFunction is one protocol call, as long as what it waits for
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'],
  });
}

/** Opens `url` in a new page, failing on an uncaught page error. */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  if (errors.length) throw new Error(`the page failed to load its script: ${errors.join('; ')}`);
  return page;
}

/** Bundles `entry` (a compiled .js file) as the browser build does and runs fn with a page that has loaded it. */
export async function withBrowserPage<T>(entry: string, fn: (page: Page) => Promise<T>): Promise<T> {
  const { browserBuildOptions } = (await import(BUNDLER)) as { browserBuildOptions: (entry: string, format: string) => BuildOptions };
  const bundle = await build({ ...browserBuildOptions(entry, 'iife'), write: false, logLevel: 'silent' });
  const script = bundle.outputFiles![0]!.text;
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
  const browser = await launchBrowser();
  try {
    const page = await openPage(browser, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return await fn(page);
  } finally {
    await browser.close();
    server.close();
  }
}
