// The README's picture of the browser page after training: serves the page (scripts/demo_web.mjs),
// trains on the SpamAssassin sample with the page's default settings in headless Chromium (WebGPU;
// SwiftShader on the CPU when there is no GPU) and saves a screenshot.
//   node scripts/screenshot_web.mjs [docs/browser-page.png]
import puppeteer from 'puppeteer-core';
import { startDemoServer } from './demo_web.mjs';

const out = process.argv[2] ?? 'docs/browser-page.png';
const server = await startDemoServer({ port: 0 });
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  protocolTimeout: 1_900_000, // waitForFunction is one protocol call that lasts the whole training
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 760 });
  await page.goto(server.url);
  await page.waitForFunction(() => window.giftDemo.ready, { timeout: 120_000 });
  await page.click('#sample');
  await page.waitForFunction(() => document.getElementById('data').value.length > 0);
  await page.click('#train');
  await page.waitForFunction(() => /^(done|error)/.test(window.giftDemo.status), { timeout: 1_800_000, polling: 1000 });
  console.log(await page.evaluate(() => `${window.giftDemo.status}; ${document.getElementById('metrics').textContent}`));
  await page.screenshot({ path: out, fullPage: true });
  console.log(`screenshot: ${out}`);
} finally {
  await browser.close();
  await server.close();
}
