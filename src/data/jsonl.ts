// JSON Lines: one JSON object per line; blank lines are skipped, errors name the file and line.
import { readInputFile } from '../io/input_file.js';
import { GiftjsError } from '../errors.js';

export interface JsonlRow {
  line: number;
  value: Record<string, unknown>;
}

export function readJsonl(path: string): JsonlRow[] {
  const text = readInputFile(path, 'utf8');
  const rows: JsonlRow[] = [];
  text.split('\n').forEach((raw, i) => {
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
