// Tabular data files as records: TSV the way GLUE's own loaders read it (tab-separated, no
// quoting, since GLUE sentences contain bare quotes) and CSV by RFC 4180 through csv-parse.
import { readInputFile } from '../io/input_file.js';
import { parse as parseCsv } from 'csv-parse/sync';
import type { DataRecord } from './examples.js';
import { GiftjsError } from '../errors.js';

export interface TableOptions {
  /** Column names for a file without a header row (e.g. GLUE CoLA: source, label, original_label, sentence). */
  columns?: string[];
}

export function readTsv(path: string, options: TableOptions = {}): DataRecord[] {
  const lines = readInputFile(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const header = options.columns ?? lines.shift()?.split('\t');
  if (!header || header.length === 0) throw new GiftjsError(`${path}: empty file`);
  refuseRepeatedColumns(path, header);
  const first = options.columns ? 1 : 2;
  return lines.map((line, i) => {
    const cells = line.split('\t');
    if (cells.length !== header.length) {
      // A stray tab would shift every column after it (a sentence would become the label).
      throw new GiftjsError(`${path}:${i + first}: ${cells.length} tab-separated fields, the header has ${header.length} (${header.join(', ')})`);
    }
    const value: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    header.forEach((h, k) => (value[h] = cells[k]));
    return { where: `${path}:${i + first}`, value };
  });
}

// A column named twice: each record would keep the last of the two cells, the other dropped unseen.
function refuseRepeatedColumns(path: string, header: readonly string[]): void {
  const repeated = header.find((h, i) => header.indexOf(h) !== i);
  if (repeated !== undefined) throw new GiftjsError(`${path}: the column '${repeated}' is named twice in the header (${header.join(', ')}); each column needs its own name`);
}

export function readCsv(path: string, options: TableOptions = {}): DataRecord[] {
  let rows: Record<string, string>[];
  try {
    // Names given: the first line is a record. Else it is the header, checked as it is read.
    if (options.columns) refuseRepeatedColumns(path, options.columns);
    const columns = options.columns ?? ((header: string[]) => (refuseRepeatedColumns(path, header), header));
    rows = parseCsv(readInputFile(path, 'utf8'), { columns, skip_empty_lines: true, bom: true, relax_column_count: false });
  } catch (err) {
    if (err instanceof GiftjsError) throw err;
    throw new GiftjsError(`${path}: ${(err as Error).message}`);
  }
  const first = options.columns ? 1 : 2;
  return rows.map((value, i) => ({ where: `${path}:${i + first}`, value }));
}
