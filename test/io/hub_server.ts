// A local stand-in for the Hugging Face hub: serves folders under the hub's URL layout and API
// (revision info, file tree, resolve with byte ranges, ETags and commit headers), counts what was
// downloaded, can demand a token, and can cut one download short to test resuming. Nothing here
// reaches the network.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

interface RepoFile {
  content: Buffer;
  /** git's blob hash (the oid of a small file) */
  oid: string;
  /** sha256 of the content, for files the hub stores in LFS (safetensors) */
  lfs: string | null;
}

export interface HubRepo {
  commit: string;
  files: Map<string, RepoFile>;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface LocalHub {
  url: string;
  /** Downloads of file content (GET resolve without the 1-byte probe), by "repo/path". */
  downloads: Map<string, number>;
  /** The next download of this "repo/path" stops after `bytes` (the connection is destroyed). */
  cutShort: { file: string; bytes: number } | null;
  close(): Promise<void>;
}

/** A repository made of a folder's files at a made-up commit. */
export function repoFromFolder(dir: string, commit: string, token?: string): HubRepo {
  const files = new Map<string, RepoFile>();
  for (const name of readdirSync(dir)) {
    const content = readFileSync(join(dir, name));
    const oid = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
    files.set(name, { content, oid, lfs: name.endsWith('.safetensors') ? createHash('sha256').update(content).digest('hex') : null });
  }
  return { commit, files, ...(token ? { token } : {}) };
}

export async function startLocalHub(repos: Record<string, HubRepo>): Promise<LocalHub> {
  const hub: LocalHub = { url: '', downloads: new Map(), cutShort: null, close: async () => {} };
  const server = createServer((req, res) => handle(repos, hub, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.close = () => new Promise((resolve) => server.close(() => resolve()));
  return hub;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function handle(repos: Record<string, HubRepo>, hub: LocalHub, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://hub');
  const path = decodeURIComponent(url.pathname);
  const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(path);
  const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
  const repoName = api?.[1] ?? resolve?.[1];
  const repo = repoName ? repos[repoName] : undefined;
  if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
  if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return json(res, 401, { error: 'Invalid credentials in Authorization header' });
  const revision = (api?.[3] ?? resolve?.[2])!;
  if (revision !== 'main' && revision !== repo.commit) return json(res, 404, { error: `Invalid rev id: ${revision}` }, { 'X-Error-Code': 'RevisionNotFound' });
  if (api?.[2] === 'revision') return json(res, 200, { _id: 'local', id: repoName, sha: repo.commit, private: false, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) });
  if (api?.[2] === 'tree') {
    return json(res, 200, [...repo.files].map(([p, f]) => ({
      type: 'file', path: p, size: f.content.length, oid: f.oid, ...(f.lfs ? { lfs: { oid: f.lfs, size: f.content.length, pointerSize: 134 } } : {}),
    })));
  }
  const file = repo.files.get(resolve![3]!);
  if (!file) return json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
  const size = file.content.length;
  const headers: Record<string, string> = { 'X-Repo-Commit': repo.commit, ETag: `"${file.lfs ?? file.oid}"`, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
  if (file.lfs) headers['X-Linked-ETag'] = `"${file.lfs}"`;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
  const body = file.content.subarray(start, end + 1);
  const key = `${repoName}/${resolve![3]}`;
  if (!(start === 0 && end === 0)) hub.downloads.set(key, (hub.downloads.get(key) ?? 0) + 1);
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': String(body.length), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
  if (hub.cutShort?.file === key && !(start === 0 && end === 0)) {
    const { bytes } = hub.cutShort;
    hub.cutShort = null;
    res.write(body.subarray(0, bytes), () => res.destroy());
    return;
  }
  res.end(body);
}
