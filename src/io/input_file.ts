// Reading a file the user named as input: a missing or unreadable one is a GiftjsError naming it.
import { readFileSync } from 'node:fs';
import { GiftjsError } from '../errors.js';

/** The error for an input that cannot be read (its system code, e.g. ENOENT, EISDIR, EACCES). */
export function cannotRead(path: string, err: unknown): GiftjsError {
  return new GiftjsError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
}

export function readInputFile(path: string): Buffer;
export function readInputFile(path: string, encoding: 'utf8'): string;
export function readInputFile(path: string, encoding?: 'utf8'): Buffer | string {
  try {
    return encoding ? readFileSync(path, encoding) : readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
}
