// Parquet files (the format of Hugging Face datasets) as records, through hyparquet.
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import type { DataRecord } from './examples.js';
import { GiftjsError } from '../errors.js';

/** int64 columns arrive as BigInt; records hold plain numbers. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export async function readParquet(path: string): Promise<DataRecord[]> {
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: await asyncBufferFromFile(path) });
  } catch (err) {
    throw new GiftjsError(`${path}: cannot read as Parquet (${(err as Error).message})`);
  }
  return rows.map((r, i) => ({ where: `${path}[row ${i}]`, value: plain(r) as Record<string, unknown> }));
}
