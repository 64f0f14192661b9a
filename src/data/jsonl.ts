// JSON Lines: one JSON object per line; blank lines are skipped, errors name the file and line.
import { readInputFile } from '../io/input_file.js';
import { MAX_TEXT_CHARS } from '../io/tokenizer.js';
import { GiftjsError } from '../errors.js';

export interface JsonlRow {
  line: number;
  value: Record<string, unknown>;
}

/** A record's line at most: twice the text the tokenizer takes (MAX_TEXT_CHARS), room for its JSON. */
const MAX_RECORD_CHARS = 2 * MAX_TEXT_CHARS;

export function readJsonl(path: string): JsonlRow[] {
  const text = readInputFile(path, 'utf8');
  const rows: JsonlRow[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.length > MAX_RECORD_CHARS) {
      throw new GiftjsError(`${path}:${i + 1}: the line holds ${raw.length.toLocaleString('en-US')} characters; giftjs reads records of up to ${MAX_RECORD_CHARS.toLocaleString('en-US')} (split it into several records)`);
    }
    const s = raw.trim();
    if (!s) return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (err) {
      throw new GiftjsError(`${path}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new GiftjsError(`${path}:${i + 1}: expected a JSON object`);
    rows.push({ line: i + 1, value: v as Record<string, unknown> });
  });
  return rows;
}
