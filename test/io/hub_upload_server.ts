// A local stand-in for the Hugging Face hub's write API, the part @huggingface/hub's createRepo and
// uploadFiles call: POST /api/repos/create, /api/models/<repo>/preupload/<rev> (every file "regular":
// its bytes travel in the commit) and /api/models/<repo>/commit/<rev> (NDJSON: a header, then each
// file base64-encoded). It checks the Bearer token, keeps each repository's files, and can drop the
// connection in the middle of the next commit. Nothing here reaches the network.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UploadHub {
  url: string;
  repos: Map<string, { private: boolean; files: Map<string, Buffer>; commits: string[] }>;
  /** The next commit request's connection is destroyed before any answer (and nothing is applied). */
  cutNextCommit: boolean;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

export async function startUploadHub(token: string): Promise<UploadHub> {
  const hub: UploadHub = { url: '', repos: new Map(), cutNextCommit: false, close: async () => {} };
  const server = createServer((req, res) => {
    void (async () => {
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: 'Invalid credentials in Authorization header' });
      const url = new URL(req.url ?? '/', 'http://localhost');
      const raw = await body(req);
      if (req.method === 'POST' && url.pathname === '/api/repos/create') {
        const b = JSON.parse(raw.toString('utf8')) as { name: string; organization?: string; visibility?: string };
        const id = `${b.organization}/${b.name}`;
        if (hub.repos.has(id)) return send(409, { error: 'You already created this model repo', url: `${hub.url}/${id}` });
        hub.repos.set(id, { private: b.visibility === 'private', files: new Map(), commits: [] });
        return send(200, { url: `${hub.url}/${id}`, name: id, id });
      }
      const m = /^\/api\/models\/([^/]+\/[^/]+)\/(preupload|commit)\/([^/]+)$/.exec(url.pathname);
      const repo = m ? hub.repos.get(decodeURIComponent(m[1]!)) : undefined;
      if (!m || !repo || req.method !== 'POST') return send(404, { error: `Repository not found: ${url.pathname}` });
      if (m[2] === 'preupload') {
        const b = JSON.parse(raw.toString('utf8')) as { files: { path: string }[] };
        return send(200, { files: b.files.map((f) => ({ path: f.path, uploadMode: 'regular', shouldIgnore: false })) });
      }
      if (hub.cutNextCommit) {
        hub.cutNextCommit = false;
        req.socket.destroy();
        return;
      }
      const lines = raw.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; value: { path?: string; content?: string; encoding?: string } });
      const files = lines.filter((l) => l.key === 'file');
      if (files.some((f) => f.value.encoding !== 'base64')) return send(400, { error: 'files must be base64' });
      for (const f of files) repo.files.set(f.value.path!, Buffer.from(f.value.content!, 'base64'));
      const oid = createHash('sha1').update(raw).digest('hex');
      repo.commits.push(oid);
      return send(200, { commitOid: oid, commitUrl: `${hub.url}/${m[1]}/commit/${oid}` });
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return hub;
}
