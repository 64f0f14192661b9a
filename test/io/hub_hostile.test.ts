// A hub that lies: names chosen to leave the cache (an oid of ../../..), a body longer than the
// size it listed, a listing whose next page is itself, a server that never answers, a body dripped
// a byte a second. Each ends in a clear error, within the bound, with nothing written outside the
// cache and no user file touched. The server is local (127.0.0.1) and every loop in it is bounded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const FIXTURE = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const COMMIT = 'abcdefabcdefabcdefabcdefabcdefabcdefabcd';
const REPO = 'evil/m';

function gift(args: string[], env: Record<string, string>): Promise<{ code: number | null; err: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GIFT, ...args], { env: { ...process.env, HF_HUB_OFFLINE: '', HF_TOKEN: '', ...env } });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000); // a hang fails the test, it does not stall CI
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, err, ms: Date.now() - t0 });
    });
  });
}

type Handler = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/** A server answering revision info with COMMIT, the tree with `tree()`, and files through `file`. */
async function hostileHub(tree: () => unknown[], file: Handler, treeHeaders: (url: string) => Record<string, string> = () => ({})) {
  const sockets = new Set<import('node:net').Socket>();
  let url = '';
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://hub').pathname);
    if (path === `/api/models/${REPO}/revision/main`) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ _id: 'x', id: REPO, sha: COMMIT, private: false }));
    } else if (path.startsWith(`/api/models/${REPO}/tree/`)) {
      res.writeHead(200, { 'Content-Type': 'application/json', ...treeHeaders(url) });
      res.end(JSON.stringify(tree()));
    } else if (!file(req, res, path)) {
      res.writeHead(404, { 'Content-Type': 'application/json', 'X-Error-Code': 'EntryNotFound' });
      res.end('{"error":"Entry not found"}');
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }) };
}

const fixtureFile = (name: string) => readFileSync(join(FIXTURE, name));
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The fixture's real entries (config.json, model.safetensors), with `edit` applied to one. */
function listing(edit: (e: Record<string, unknown>) => void = () => {}) {
  const config = fixtureFile('config.json');
  const weights = fixtureFile('model.safetensors');
  const entries: Record<string, unknown>[] = [
    { type: 'file', path: 'config.json', size: config.length, oid: gitOid(config) },
    { type: 'file', path: 'model.safetensors', size: weights.length, oid: gitOid(weights), lfs: { oid: sha256(weights), size: weights.length, pointerSize: 134 } },
  ];
  edit(entries[1]!);
  return entries;
}

/** Serves the fixture's files honestly under resolve/. */
const honest: Handler = (req, res, path) => {
  const m = /\/resolve\/[^/]+\/(.+)$/.exec(path);
  if (!m || !existsSync(join(FIXTURE, m[1]!))) return false;
  const body = fixtureFile(m[1]!);
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range && range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
  const headers = { 'X-Repo-Commit': COMMIT, ETag: `"${m[1] === 'model.safetensors' ? sha256(body) : gitOid(body)}"`, 'Accept-Ranges': 'bytes' };
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': String(end - start + 1), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${body.length}` } : {}) });
  res.end(body.subarray(start, end + 1));
  return true;
};

function home() {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-hubevil-'));
  return { dir, env: { HF_HOME: join(dir, 'hf') } };
}

test('an oid, a file name or a size that is not of its form is refused before any path is made of it', async () => {
  const { dir, env } = home();
  const victim = join(dir, 'victim');
  mkdirSync(victim);
  writeFileSync(join(victim, 'owned'), 'the user\'s file');
  const traversal = `../../../../../../../..${victim}/owned`;
  for (const [edit, message] of [
    [(e: Record<string, unknown>) => ((e.lfs as Record<string, unknown>).oid = traversal), /the hub's listing gives the LFS hash of model\.safetensors "\.\.\/\.\.\/.*owned"; giftjs accepts a sha256 of 64 hexadecimal digits/],
    [(e: Record<string, unknown>) => { delete e.lfs; e.oid = '../owned'; }, /the hash of model\.safetensors "\.\.\/owned"; giftjs accepts a git hash of 40 hexadecimal digits/],
    [(e: Record<string, unknown>) => (e.path = '..safetensors\u0000.safetensors'), /the file name/],
    [(e: Record<string, unknown>) => (e.size = -5), /the size of model\.safetensors -5; giftjs accepts a byte count/],
  ] as const) {
    const hub = await hostileHub(() => listing(edit), honest);
    try {
      const r = await gift(['inspect', REPO], { ...env, HF_ENDPOINT: hub.url });
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /internal error/);
    } finally {
      await hub.close();
    }
  }
  assert.equal(readFileSync(join(victim, 'owned'), 'utf8'), 'the user\'s file', 'the user\'s file is untouched');
  assert.deepEqual(readdirSync(victim), ['owned'], 'nothing was written beside it');
});

test('a body longer than its listed size is cut off and removed; a listing that loops is not followed', async () => {
  const { env, dir } = home();
  const big: Handler = (req, res, path) => {
    if (!path.endsWith('/model.safetensors') || req.headers.range === 'bytes=0-0') return honest(req, res, path);
    const declared = fixtureFile('model.safetensors').length;
    res.writeHead(200, { 'X-Repo-Commit': COMMIT, ETag: `"${'a'.repeat(64)}"`, 'Content-Length': String(declared * 40) });
    res.end(Buffer.alloc(declared * 40, 7));
    return true;
  };
  const hub = await hostileHub(() => listing(), big);
  try {
    const r = await gift(['inspect', REPO], { ...env, HF_ENDPOINT: hub.url });
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /model\.safetensors of evil\/m is longer than the \d+ bytes the hub lists; the download was stopped and removed/);
    const blobs = join(dir, 'hf/hub/models--evil--m/blobs');
    for (const b of readdirSync(blobs)) assert.ok(!b.endsWith('.incomplete'), `partial ${b} removed`);
  } finally {
    await hub.close();
  }
  // Every page of the tree says its next page is itself.
  let pages = 0;
  const selfLink = await hostileHub(() => (pages++, listing()), honest, (url) => ({ Link: `<${url}/api/models/${REPO}/tree/${COMMIT}?recursive=true>; rel="next"` }));
  try {
    const r = await gift(['inspect', REPO], { ...env, HF_ENDPOINT: selfLink.url });
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /the hub's listing names "config\.json" twice \(a listing that loops\)/);
    assert.ok(pages <= 3, `the listing was fetched ${pages} times`);
  } finally {
    await selfLink.close();
  }
});

test('a server that never answers, or drips a byte a second, ends within HF_HUB_DOWNLOAD_TIMEOUT with a message', async () => {
  const { env } = home();
  const silent = createServer(() => {}); // accepts, never answers
  const held = new Set<import('node:net').Socket>();
  silent.on('connection', (s) => held.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const r = await gift(['inspect', REPO], { ...env, HF_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, HF_HUB_DOWNLOAD_TIMEOUT: '1' });
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /the hub did not answer in time: no answer from http:\/\/127\.0\.0\.1:\d+\/api\/models\/evil\/m\/revision\/main within 1 s \(HF_HUB_DOWNLOAD_TIMEOUT\)/);
    assert.doesNotMatch(r.err, /HF_TOKEN/);
    assert.ok(r.ms < 20_000, `ended after ${r.ms} ms`);
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
  const timers = new Set<ReturnType<typeof setInterval>>();
  const drip: Handler = (req, res, path) => {
    if (!path.endsWith('/model.safetensors') || req.headers.range === 'bytes=0-0') return honest(req, res, path);
    const body = fixtureFile('model.safetensors');
    res.writeHead(200, { 'X-Repo-Commit': COMMIT, ETag: `"${sha256(body)}"`, 'Content-Length': String(body.length) });
    res.write(body.subarray(0, 1)); // headers and a first byte at once: the body's bound is the one tested
    let i = 1;
    const t = setInterval(() => {
      if (i >= 30 || res.destroyed) return clearInterval(t); // bounded: 30 bytes at most
      res.write(body.subarray(i, i + 1));
      i++;
    }, 1000);
    timers.add(t);
    return true;
  };
  const hub = await hostileHub(() => listing(), drip);
  try {
    const r = await gift(['inspect', REPO], { ...env, HF_ENDPOINT: hub.url, HF_HUB_DOWNLOAD_TIMEOUT: '1' });
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /the download stopped: http:\/\/127\.0\.0\.1:\d+\/evil\/m\/resolve\/.*model\.safetensors sent \d bytes in 1 s \(a stalled or throttled connection/);
    assert.ok(r.ms < 20_000, `ended after ${r.ms} ms`);
  } finally {
    for (const t of timers) clearInterval(t);
    await hub.close();
  }
});
