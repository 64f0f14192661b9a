// Where a command may write. An output is never an input (or a folder holding one), and a training
// run's folder is claimed for one process at a time: it must be new, empty, or a run folder giftjs
// made (marked by `.giftjs-run`); a lock file inside it refuses a second writer.
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { GiftjsError } from '../errors.js';
import { acquireLock, reportingFsErrors, someEntries, writeFileAtomic } from './atomic.js';

export const RUN_MARKER = '.giftjs-run';
const RUN_LOCK = '.giftjs-lock';

/** The path with every existing ancestor's symbolic links resolved (so aliases compare equal). */
function canonical(path: string): string {
  const abs = resolve(path);
  let head = abs;
  const tail: string[] = [];
  while (!existsSync(head)) {
    const parent = dirname(head);
    if (parent === head) break;
    tail.unshift(head.slice(parent.length + (parent.endsWith('/') ? 0 : 1)));
    head = parent;
  }
  return join(realpathSync(head), ...tail);
}

function within(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Refuses an --out that is an input or holds one (replacing it would destroy the input). */
export function assertOutputApart(out: string, inputs: readonly { flag: string; path: string | undefined | null }[]): void {
  const o = canonical(out);
  for (const { flag, path } of inputs) {
    if (!path) continue;
    const i = canonical(path);
    if (within(o, i)) {
      throw new GiftjsError(o === i
        ? `--out ${out} is the ${flag} input itself; write the result to another folder`
        : `--out ${out} holds the ${flag} input ${path}; writing there would replace it: choose another --out`);
    }
  }
}

/**
 * Claims a training run's folder: creates it (or accepts an empty one or an earlier giftjs run)
 * and locks it. Returns the release function.
 */
export function claimRunFolder(outDir: string): () => void {
  if (existsSync(outDir)) {
    if (!lstatSync(outDir).isDirectory()) throw new GiftjsError(`--out ${outDir} exists and is not a folder`);
    // A run killed while claiming the folder leaves only its lock (with the lock's temporary files or
    // claims) and the marker's temporary file.
    const entries = readdirSync(outDir).filter((n) => n !== RUN_LOCK && !n.startsWith(`${RUN_LOCK}.break-`) && !n.startsWith(`.${RUN_LOCK}.tmp-`) && !n.startsWith(`.${RUN_MARKER}.tmp-`));
    if (entries.length > 0 && !entries.includes(RUN_MARKER)) {
      throw new GiftjsError(`--out ${outDir} is a folder giftjs did not make (it holds ${someEntries(entries)}); train into a new or empty folder`);
    }
  }
  reportingFsErrors(outDir, () => mkdirSync(outDir, { recursive: true }));
  const release = acquireLock(join(outDir, RUN_LOCK), `the run folder ${outDir}`);
  try {
    if (!existsSync(join(outDir, RUN_MARKER))) writeFileAtomic(join(outDir, RUN_MARKER), [`${JSON.stringify({ written_by: 'giftjs' })}\n`]);
  } catch (err) {
    release();
    throw err;
  }
  return release;
}
