// Uploading a folder to a Hugging Face hub repository, as huggingface_hub's upload_folder and PEFT's
// push_to_hub do: the repository is created when missing (private when asked), then every file goes
// up in one commit -- all or nothing: an upload cut short changes nothing on the hub, and running it
// again uploads everything. HF_TOKEN authenticates; HF_ENDPOINT names another hub (a local one in tests).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRepo, uploadFiles } from '@huggingface/hub';
import { listFolder } from './files.js';
import { GiftjsError } from '../errors.js';

export interface PushOptions {
  /** "org/name" */
  repo: string;
  private?: boolean;
  message?: string;
  /** Files added beside the folder's (a model card), by path. */
  extraFiles?: Record<string, string>;
}

export interface PushResult {
  url: string;
  commit: string | null;
  files: string[];
  created: boolean;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export async function pushFolder(dir: string, o: PushOptions): Promise<PushResult> {
  if (!REPO_ID.test(o.repo) || o.repo.includes('..')) throw new GiftjsError(`--repo must be a hub repository id such as your-name/my-adapter, got '${o.repo}'`);
  const accessToken = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || '';
  if (!accessToken) throw new GiftjsError('gift push needs a hub token with write access in HF_TOKEN (huggingface.co/settings/tokens)');
  const hubUrl = process.env.HF_ENDPOINT?.replace(/\/+$/, '') || 'https://huggingface.co';
  // Hidden files stay: giftjs's .giftjs record of what it wrote describes this disk, not the adapter.
  const names = listFolder(dir).filter((n) => !n.startsWith('.'));
  if (names.length === 0) throw new GiftjsError(`${dir}: nothing to push (an empty folder)`);
  const files = [
    ...names.filter((n) => !(o.extraFiles && n in o.extraFiles)).map((path) => ({ path, content: new Blob([readFileSync(join(dir, path))]) })),
    ...Object.entries(o.extraFiles ?? {}).map(([path, content]) => ({ path, content: new Blob([content]) })),
  ];
  let created = false;
  try {
    await createRepo({ repo: { type: 'model', name: o.repo }, accessToken, hubUrl, ...(o.private ? { visibility: 'private' as const } : {}) });
    created = true;
  } catch (err) {
    // An existing repository is pushed to; anything else (a refused token, no network) stops here.
    if ((err as { statusCode?: number }).statusCode !== 409) throw hubError(err, o.repo, hubUrl, 'creating the repository');
  }
  let out;
  try {
    out = await uploadFiles({ repo: { type: 'model', name: o.repo }, accessToken, hubUrl, files, commitTitle: o.message ?? `Upload ${files.length} files with giftjs`, useWebWorkers: false, useXet: false });
  } catch (err) {
    throw hubError(err, o.repo, hubUrl, 'uploading the files');
  }
  return { url: `${hubUrl}/${o.repo}`, commit: out?.commit.oid ?? null, files: files.map((f) => f.path).sort(), created };
}

function hubError(err: unknown, repo: string, hubUrl: string, doing: string): GiftjsError {
  const status = (err as { statusCode?: number }).statusCode;
  const message = err instanceof Error ? err.message : String(err);
  const why = status === 401 || status === 403 ? `the hub refused the token in HF_TOKEN (${status}: ${message}); it needs write access to ${repo}` : message;
  return new GiftjsError(`gift push ${repo} (${hubUrl}): ${doing} failed: ${why}. Nothing was committed; run it again to upload everything`);
}
