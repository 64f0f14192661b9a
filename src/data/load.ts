// Any supported data file as records, chosen by extension: .jsonl, .json (a list), .parquet,
// .csv, .tsv.
import { readRecords, type DataRecord } from './examples.js';
import { readParquet } from './parquet.js';
import { readCsv, readTsv, type TableOptions } from './tables.js';
import { GiftjsError } from '../errors.js';

export const DATA_EXTENSIONS = ['.jsonl', '.json', '.parquet', '.csv', '.tsv'];

export async function loadRecords(path: string, options: TableOptions = {}): Promise<DataRecord[]> {
  const lower = path.toLowerCase();
  if (lower.endsWith('.parquet')) return readParquet(path);
  if (lower.endsWith('.csv')) return readCsv(path, options);
  if (lower.endsWith('.tsv')) return readTsv(path, options);
  if (lower.endsWith('.jsonl') || lower.endsWith('.json')) return readRecords(path);
  throw new GiftjsError(`${path}: unknown data file type (supported: ${DATA_EXTENSIONS.join(', ')})`);
}
