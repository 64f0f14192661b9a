// Parquet files (the format of Hugging Face datasets) as records, through hyparquet, read in a
// worker thread (parquet_worker.ts) that is stopped after a time bound and has its memory capped:
// a damaged file ends in a clear error, never a hang or an out-of-memory abort of the process.
import { cannotRead } from '../io/input_file.js';
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { DataRecord } from './examples.js';
import { GiftjsError } from '../errors.js';

/** Time a read may take: generous for real files (hyparquet decodes tens of MB per second). */
function timeLimitMs(bytes: number): number {
  return 10_000 + (bytes / 1e6) * 2_000;
}

/** Heap the worker may use, in MB: 16 x the file (decoded rows are larger than the file) within 512 MB .. 16 GB. */
function heapLimitMb(bytes: number): number {
  return Math.min(16_384, Math.max(512, Math.ceil((16 * bytes) / 1e6)));
}

/** int64 columns arrive as BigInt; records hold plain numbers. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export async function readParquet(path: string): Promise<DataRecord[]> {
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch (err) {
    throw cannotRead(path, err);
  }
  const rows = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
    const worker = new Worker(new URL('./parquet_worker.js', import.meta.url), { workerData: { path }, resourceLimits: { maxOldGenerationSizeMb: heapLimitMb(bytes) } });
    const fail = (why: string) => {
      clearTimeout(timer);
      void worker.terminate();
      reject(new GiftjsError(`${path}: cannot read as Parquet (${why})`));
    };
    const timer = setTimeout(() => fail(`still decoding after ${Math.round(timeLimitMs(bytes) / 1000)} s: a damaged file`), timeLimitMs(bytes));
    worker.once('message', (m: { rows?: Record<string, unknown>[]; error?: string }) => {
      if (m.error !== undefined) return fail(m.error);
      clearTimeout(timer);
      void worker.terminate();
      resolve(m.rows!);
    });
    worker.once('error', (err) => fail((err as Error).message));
    worker.once('exit', (code) => fail(`the reader stopped (exit ${code})`));
  });
  return rows.map((r, i) => ({ where: `${path}[row ${i}]`, value: plain(r) as Record<string, unknown> }));
}
