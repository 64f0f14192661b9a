// mlx-lm's data folders: --data dir/ holding train.jsonl, valid.jsonl and test.jsonl (or .json,
// .parquet, .csv, .tsv). gift train reads train (valid and test standing in for --eval-data and
// --test-data); gift eval scores test, as mlx-lm's --test does.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GiftjsError } from '../errors.js';

export const DATA_EXTENSIONS = ['.jsonl', '.json', '.parquet', '.csv', '.tsv'];

export function isDataFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** The folder's file for `stem` (train, valid, test), or undefined; two of one stem are refused. */
export function dataFolderFile(dir: string, stem: string): string | undefined {
  const found = DATA_EXTENSIONS.map((e) => join(dir, `${stem}${e}`)).filter((p) => existsSync(p));
  if (found.length > 1) throw new GiftjsError(`--data ${dir}: both ${found.join(' and ')}; keep one ${stem} file`);
  return found[0];
}

/** A folder's file for `stem`, or a refusal naming what the folder lacks. */
export function requireDataFolderFile(dir: string, stem: string, why: string): string {
  const file = dataFolderFile(dir, stem);
  if (!file) throw new GiftjsError(`--data ${dir} is a folder without a ${stem} file (${DATA_EXTENSIONS.map((e) => `${stem}${e}`).join(', ')}); ${why}`);
  return file;
}
