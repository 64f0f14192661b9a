// Hugging Face hub model ids: `--model org/name[@revision]` is downloaded once into the standard
// cache (huggingface_hub's layout, shared with transformers and PEFT: <cache>/models--org--name/
// blobs/<etag>, snapshots/<commit>/<file> as links to the blobs, refs/<revision>), then read from
// there as a local folder. @huggingface/hub speaks the protocol (revisions, file listings,
// downloads, Xet storage, tokens); giftjs writes the cache itself, so that a download resumes
// where an interrupted one stopped, shows progress, and is checked against the hub's hash.
//
// Honoured as huggingface_hub does: HF_HOME / HF_HUB_CACHE (where the cache is), HF_TOKEN (private
// and gated repos), HF_HUB_OFFLINE=1 (never touch the network: the cache only), HF_ENDPOINT (another
// hub, a mirror, or the tests' local server).
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, statfsSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { downloadFile, getHFHubCachePath, getRepoFolderName, InvalidApiResponseFormatError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import cliProgress from 'cli-progress';
import { writeFileAtomic } from './atomic.js';
import { GiftjsError } from '../errors.js';
import { boundedFetch, HubLimitError } from './hub_fetch.js';
import { CONFIG_FILE, isRepoFile, type HubRepoKind } from './model_files.js';
import { fileHash } from './written_files.js';

export { isRepoFile, type HubRepoKind } from './model_files.js';

const HUB_ID = /^([A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;
const COMMIT = /^[0-9a-f]{40}$/;
/** A git blob's hash (a small file's oid) and an LFS file's sha256: the blob's name in the cache. */
const GIT_OID = /^[0-9a-f]{40}$/;
const LFS_OID = /^[0-9a-f]{64}$/;
/** The names giftjs accepts for the files it reads from a repository (no separators, no '..'). */
const FILE_NAME = /^[A-Za-z0-9_][\w.-]*$/;
/** More entries than any model repository lists: a listing past it loops or lies. */
const MAX_LISTED_FILES = 100_000;

export interface HubModelRef {
  /** org/name */
  repo: string;
  revision: string;
}

/** `org/name` or `org/name@revision` when it is no local path; null for a local folder. */
export function parseHubModelId(spec: string): HubModelRef | null {
  if (existsSync(spec)) return null;
  const at = spec.lastIndexOf('@');
  const repo = at > 0 ? spec.slice(0, at) : spec;
  const revision = at > 0 ? spec.slice(at + 1) : 'main';
  if (!repo.includes('/') || !HUB_ID.test(repo) || repo.includes('..') || revision === '' || /\s|\.\./.test(revision)) return null;
  return { repo, revision };
}

function offline(): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
}

function hubOptions() {
  const token = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined;
  return { hubUrl: process.env.HF_ENDPOINT?.replace(/\/+$/, '') || undefined, fetch: boundedFetch(), ...(token ? { accessToken: token } : {}) };
}

function cacheRoot(): string {
  return process.env.HF_HUB_CACHE ?? getHFHubCachePath();
}

/**
 * The snapshot a revision points to in the cache, when it is complete. A branch's ref is written
 * only after all its files arrived; a commit given directly has none, so its snapshot must show
 * its config and every weight file (the shards its index names) itself.
 */
function cachedSnapshot(storage: string, revision: string, kind: HubRepoKind): string | null {
  const refPath = join(storage, 'refs', revision);
  const commit = COMMIT.test(revision) ? revision : existsSync(refPath) ? readFileSync(refPath, 'utf8').trim() : null;
  if (!commit || !COMMIT.test(commit)) return null; // a ref giftjs did not write: ask the hub again
  const snapshot = join(storage, 'snapshots', commit);
  if (!existsSync(join(snapshot, CONFIG_FILE[kind]))) return null;
  if (!COMMIT.test(revision)) return snapshot;
  if (kind === 'adapter') return existsSync(join(snapshot, 'adapter_model.safetensors')) ? snapshot : null;
  const index = join(snapshot, 'model.safetensors.index.json');
  try {
    const shards = existsSync(index) ? Object.values((JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map) : ['model.safetensors'];
    return shards.every((f) => typeof f === 'string' && FILE_NAME.test(f) && existsSync(join(snapshot, f))) ? snapshot : null;
  } catch {
    return null;
  }
}

export interface HubDownloadOptions {
  /** Progress for one repository's files: a bar on a terminal, lines otherwise (default: stderr). */
  log?: (line: string) => void;
}

/** The local folder of a hub model: the cached snapshot, downloaded first when needed. */
export async function hubModelFolder(ref: HubModelRef, o: HubDownloadOptions = {}): Promise<string> {
  return hubFolder(ref, 'model', o);
}

/** The local folder of a PEFT adapter on the hub (adapter_config.json and its safetensors). */
export async function hubAdapterFolder(ref: HubModelRef, o: HubDownloadOptions = {}): Promise<string> {
  return hubFolder(ref, 'adapter', o);
}

async function hubFolder(ref: HubModelRef, kind: HubRepoKind, o: HubDownloadOptions): Promise<string> {
  const log = o.log ?? ((l: string) => console.error(l));
  const name = `${ref.repo}@${ref.revision}`;
  const where = `${kind === 'model' ? '--model' : '--adapter'} ${name}`;
  const storage = join(cacheRoot(), getRepoFolderName({ type: 'model', name: ref.repo }));
  if (offline()) {
    const snapshot = cachedSnapshot(storage, ref.revision, kind);
    if (!snapshot) throw new GiftjsError(`${where}: HF_HUB_OFFLINE is set and the ${kind} is not in the cache (${storage}); download it once without HF_HUB_OFFLINE`);
    return snapshot;
  }
  if (COMMIT.test(ref.revision)) {
    const snapshot = cachedSnapshot(storage, ref.revision, kind);
    if (snapshot) return snapshot; // a commit never changes: no need to ask the hub
  }
  const opts = hubOptions();
  let commit: string;
  try {
    commit = COMMIT.test(ref.revision) ? ref.revision : (await modelInfo({ name: ref.repo, revision: ref.revision, additionalFields: ['sha'], ...opts })).sha as string;
  } catch (err) {
    const snapshot = cachedSnapshot(storage, ref.revision, kind);
    const why = (err as Error).message;
    if (snapshot && (isNetworkError(err) || err instanceof HubLimitError)) {
      log(`hub: cannot reach the hub (${why}); using the cached ${name}`);
      return snapshot;
    }
    if (err instanceof HubLimitError) throw new GiftjsError(`${where}: no local folder ${ref.repo}, and the hub did not answer in time: ${why}`);
    if (err instanceof InvalidApiResponseFormatError) throw new GiftjsError(`${where}: no local folder ${ref.repo}, and the hub's answer could not be used: ${why}`);
    throw new GiftjsError(`${where}: no local folder ${ref.repo}, and the hub answered: ${why}${process.env.HF_TOKEN || isNetworkError(err) ? '' : ' (a private or gated repository needs HF_TOKEN)'}`);
  }
  if (!COMMIT.test(commit ?? '')) throw new GiftjsError(`${where}: the hub gave no commit for the revision`);
  const snapshot = join(storage, 'snapshots', commit);
  try {
    await downloadSnapshot({ repo: ref.repo, kind, name, where, commit, storage, snapshot, opts }, log);
  } catch (err) {
    if (err instanceof HubLimitError) throw new GiftjsError(`${where}: the download stopped: ${err.message}; run again to resume it`);
    // The hub client ends a file's stream with the failure's message alone (a string), and names a
    // malformed answer InvalidApiResponseFormatError: both are the server's doing, said as such.
    if (typeof err === 'string') throw new GiftjsError(`${where}: the download stopped: ${err}; run again to resume it`);
    if (err instanceof InvalidApiResponseFormatError) throw new GiftjsError(`${where}: the hub's answer could not be used: ${err.message}`);
    if (err instanceof GiftjsError || !(isNetworkError(err) || /terminated|aborted|socket/i.test(String((err as Error).message)))) throw err;
    throw new GiftjsError(`${where}: the download stopped (${(err as Error).message}); run again to resume it`);
  }
  // The revision's ref last: a cache is never left pointing at a snapshot that lacks files.
  if (ref.revision !== commit) writeFileAtomic(join(storage, 'refs', ref.revision), [commit]);
  return snapshot;
}

/** One repository revision being brought into the cache. */
interface SnapshotDownload {
  repo: string;
  kind: HubRepoKind;
  /** org/name@revision, and the flag with it, for messages. */
  name: string;
  where: string;
  commit: string;
  /** <cache>/models--org--name, and its snapshots/<commit>. */
  storage: string;
  snapshot: string;
  opts: ReturnType<typeof hubOptions>;
}

async function downloadSnapshot(d: SnapshotDownload, log: (l: string) => void): Promise<void> {
  const { kind, where } = d;
  const files: ListFileEntry[] = [];
  const seen = new Set<string>();
  for await (const entry of listFiles({ repo: { type: 'model', name: d.repo }, revision: d.commit, recursive: true, ...d.opts })) {
    const path = String((entry as { path?: unknown }).path);
    // A listing that repeats an entry (a next page pointing back) or never ends is not followed on.
    if (seen.has(path)) throw new GiftjsError(`${where}: the hub's listing names ${JSON.stringify(path)} twice (a listing that loops); nothing was downloaded`);
    if (seen.size >= MAX_LISTED_FILES) throw new GiftjsError(`${where}: the hub's listing goes past ${MAX_LISTED_FILES} files; nothing was downloaded`);
    seen.add(path);
    if (entry.type === 'file' && isRepoFile(path, kind)) files.push(checkedEntry(entry, where));
  }
  if (!files.some((f) => f.path === CONFIG_FILE[kind])) throw new GiftjsError(`${where}: the repository has no ${CONFIG_FILE[kind]}`);
  if (!files.some((f) => f.path.endsWith('.safetensors'))) {
    throw new GiftjsError(`${where}: the repository has no safetensors weights (giftjs reads safetensors, not ${kind === 'model' ? 'pytorch_model.bin' : 'adapter_model.bin'})`);
  }
  const missing = files.filter((f) => !existsSync(join(d.snapshot, f.path)));
  if (missing.length > 0) {
    const total = missing.reduce((n, f) => n + f.size, 0);
    mkdirSync(d.storage, { recursive: true });
    const { bavail, bsize } = statfsSync(d.storage);
    if (total > bavail * bsize) {
      throw new GiftjsError(`${where}: the download needs ${(total / 1e9).toFixed(2)} GB and ${d.storage} has ${((bavail * bsize) / 1e9).toFixed(2)} GB free; free some space or set HF_HUB_CACHE to another disk`);
    }
    log(`hub: downloading ${missing.length} file(s) of ${d.name} (${(total / 1e6).toFixed(1)} MB) into ${d.storage}`);
    const progress = byteProgress(total, log);
    try {
      for (const f of missing) await fetchIntoCache(d, f, progress.add);
    } finally {
      progress.stop();
    }
  }
}

/**
 * Replaces a hub id given as `--adapter` (or `--adapter=`) by its cached folder: PEFT adapters are
 * loaded by id as PeftModel.from_pretrained loads them. A path that exists stays a path.
 */
export async function resolveHubAdapterArguments(argv: string[]): Promise<string[]> {
  const out = [...argv];
  for (let i = 0; i < out.length; i++) {
    const inline = out[i]!.startsWith('--adapter=');
    const value = inline ? out[i]!.slice('--adapter='.length) : out[i] === '--adapter' ? out[i + 1] : undefined;
    const ref = value === undefined ? null : parseHubModelId(value);
    if (!ref) continue;
    const dir = await hubAdapterFolder(ref);
    if (inline) out[i] = `--adapter=${dir}`;
    else out[++i] = dir;
  }
  return out;
}

/**
 * A listing entry whose names may touch the filesystem: a file name giftjs reads (no separator, no
 * '..'), an oid of the form git or LFS gives (it names the blob in the cache), a size that is a
 * byte count. Anything else the server says is refused before any path is made of it.
 */
function checkedEntry(entry: ListFileEntry, where: string): ListFileEntry {
  const bad = (what: string, value: unknown, allowed: string): never => {
    throw new GiftjsError(`${where}: the hub's listing gives ${what} ${JSON.stringify(value)?.slice(0, 120)}; giftjs accepts ${allowed} (nothing was downloaded)`);
  };
  if (!FILE_NAME.test(entry.path) || entry.path.includes('..')) bad('the file name', entry.path, 'names of letters, digits, _, . and - without ..');
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) bad(`the size of ${entry.path}`, entry.size, 'a byte count');
  if (entry.lfs !== undefined && entry.lfs !== null) {
    if (typeof entry.lfs.oid !== 'string' || !LFS_OID.test(entry.lfs.oid)) bad(`the LFS hash of ${entry.path}`, entry.lfs.oid, 'a sha256 of 64 hexadecimal digits');
  } else if (typeof entry.oid !== 'string' || !GIT_OID.test(entry.oid)) {
    bad(`the hash of ${entry.path}`, entry.oid, 'a git hash of 40 hexadecimal digits');
  }
  return entry;
}

/** Refuses a path that resolves outside the repository's cache folder (a check behind the name checks). */
function insideCache(storage: string, path: string): string {
  const rel = relative(resolve(storage), resolve(path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new GiftjsError(`hub: ${path} is outside the cache folder ${storage}; refused`);
  return path;
}

function isNetworkError(err: unknown): boolean {
  const text = `${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`;
  return err instanceof TypeError || /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET/.test(text);
}

/** The file's blob (resuming a partial download), checked against its hash, linked from the snapshot. */
async function fetchIntoCache(d: SnapshotDownload, f: ListFileEntry, progressed: (bytes: number) => void): Promise<void> {
  const { repo, commit, storage } = d;
  const etag = f.lfs?.oid ?? f.oid;
  if (!etag) throw new GiftjsError(`hub: the listing of ${repo} gives no hash for ${f.path}`);
  const blob = insideCache(storage, join(storage, 'blobs', etag));
  const pointer = insideCache(storage, join(storage, 'snapshots', commit, f.path));
  if (!existsSync(blob)) {
    mkdirSync(dirname(blob), { recursive: true });
    const partial = `${blob}.incomplete`;
    let have = existsSync(partial) ? statSync(partial).size : 0;
    if (have > f.size) {
      rmSync(partial);
      have = 0;
    }
    progressed(have);
    if (have < f.size) {
      const remote = await downloadFile({ repo: { type: 'model', name: repo }, path: f.path, revision: commit, ...d.opts });
      if (!remote) throw new GiftjsError(`hub: ${repo} has no file ${f.path} at ${commit}`);
      // Each chunk is on disk as soon as it arrives, so a cut connection or a kill loses nothing.
      const fd = openSync(partial, have > 0 ? 'a' : 'w');
      let overlong = false;
      try {
        for await (const chunk of Readable.fromWeb((have > 0 ? remote.slice(have) : remote).stream() as never)) {
          const bytes = chunk as Buffer;
          if (have + bytes.length > f.size) {
            overlong = true; // what the hub sends past the size it listed is not kept
            break;
          }
          writeSync(fd, bytes);
          have += bytes.length;
          progressed(bytes.length);
        }
      } finally {
        closeSync(fd);
      }
      if (overlong) {
        rmSync(partial, { force: true });
        throw new GiftjsError(`hub: ${f.path} of ${repo} is longer than the ${f.size} bytes the hub lists; the download was stopped and removed`);
      }
    }
    const size = statSync(partial).size;
    if (size !== f.size) throw new GiftjsError(`hub: ${f.path} of ${repo} arrived with ${size} bytes, the hub lists ${f.size}; run again to resume`);
    // An LFS file's oid is the sha256 of its bytes; a small file's, git's blob hash.
    const digest = f.lfs ? fileHash(partial, 'sha256') : fileHash(partial, 'sha1', `blob ${f.size}\0`);
    if (digest !== etag) {
      rmSync(partial);
      throw new GiftjsError(`hub: ${f.path} of ${repo} does not match the hub's hash (${digest} instead of ${etag}); the partial download was removed, run again`);
    }
    renameSync(partial, blob);
  }
  mkdirSync(dirname(pointer), { recursive: true });
  // The snapshot's entry is a link to this blob and nothing else: a dangling link, or one that
  // leads elsewhere, is replaced.
  const target = relative(dirname(pointer), blob);
  let current: string | null = null;
  try {
    current = lstatSync(pointer).isSymbolicLink() ? readlinkSync(pointer) : 'not a link';
  } catch {
    // absent
  }
  if (current !== target) {
    rmSync(pointer, { force: true });
    symlinkSync(target, pointer);
  }
}

function byteProgress(total: number, log: (l: string) => void): { add: (n: number) => void; stop: () => void } {
  let done = 0;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({ format: 'hub |{bar}| {percentage}% {value}/{total} MB', hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(Math.max(1, Math.round(total / 1e6)), 0);
    return { add: (n) => bar.update(Math.round((done += n) / 1e6)), stop: () => bar.stop() };
  }
  let reported = 0;
  return {
    add: (n) => {
      done += n;
      const share = total > 0 ? Math.floor((done / total) * 4) : 4;
      if (share > reported && done > 0) {
        reported = share;
        log(`hub: ${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`);
      }
    },
    stop: () => {},
  };
}
