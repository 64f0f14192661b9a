// What a run's inputs hold, for a checkpoint's fingerprint: a model folder or a data file kept at the
// same path but changed in between would otherwise resume silently on other weights or other data.
// Each file is named by its size and the sha256 of its bytes; a model folder by those of the files
// giftjs reads from it (its config, tokenizer and safetensors weights); a folder of images by all its files.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isRepoFile } from './model_files.js';
import { sha256OfFile } from './written_files.js';

function fileDigest(path: string): string {
  return `sha256 ${sha256OfFile(path)}, ${statSync(path).size} bytes`;
}

/**
 * A file's digest, or a folder's as { relative path: digest }: for a model folder (one with a
 * config.json) the files giftjs reads from it, for any other (a folder of images) every file in it.
 */
export function contentDigest(path: string): string | Record<string, string> {
  if (!statSync(path).isDirectory()) return fileDigest(path);
  const model = existsSync(join(path, 'config.json'));
  const names = model
    ? readdirSync(path).filter((n) => isRepoFile(n) && statSync(join(path, n)).isFile())
    : (readdirSync(path, { recursive: true }) as string[]).filter((n) => statSync(join(path, n)).isFile());
  return Object.fromEntries(names.sort().map((n) => [n, fileDigest(join(path, n))]));
}

/** The digests of the named inputs (undefined ones left out), by flag name. */
export function inputContents(inputs: Record<string, string | undefined>): Record<string, string | Record<string, string>> {
  return Object.fromEntries(Object.entries(inputs).flatMap(([flag, path]) => (path === undefined ? [] : [[flag, contentDigest(path)]])));
}
