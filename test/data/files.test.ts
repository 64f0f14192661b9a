// Data files: GLUE's TSVs from ../shared, CSV with quoting, Parquet (Hugging Face datasets).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { detectFormat } from '../../src/data/examples.js';
import { loadRecords } from '../../src/data/load.js';
import { needsShared, SHARED_DIR } from '../helpers.js';

const GLUE = join(SHARED_DIR, 'data/glue');

test("GLUE TSVs read as GLUE's own loaders read them", { skip: needsShared('data/glue') }, async () => {
  const sst = await loadRecords(join(GLUE, 'SST-2/train.tsv'));
  assert.equal(sst.length, 67349);
  assert.deepEqual(Object.keys(sst[0]!.value), ['sentence', 'label']);
  assert.equal((await loadRecords(join(GLUE, 'SST-2/dev.tsv'))).length, 872);
  assert.equal((await loadRecords(join(GLUE, 'MRPC/train.tsv'))).length, 3667);
  const cola = await loadRecords(join(GLUE, 'CoLA/dev.tsv'), { columns: ['source', 'label', 'original_label', 'sentence'] });
  assert.equal(cola.length, 1043);
  assert.ok(cola.every((r) => r.value.label === '0' || r.value.label === '1'));
  const sts = await loadRecords(join(GLUE, 'STS-B/dev.tsv'));
  assert.equal(sts.length, 1500);
  assert.ok(Number.isFinite(Number(sts[0]!.value.score)));
});

test('CSV quoting, and errors that name the line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-csv-'));
  writeFileSync(join(dir, 'a.csv'), 'text,label\n"Hello, ""world""",1\nplain,0\n');
  const rows = await loadRecords(join(dir, 'a.csv'));
  assert.deepEqual(rows.map((r) => r.value), [{ text: 'Hello, "world"', label: '1' }, { text: 'plain', label: '0' }]);
  writeFileSync(join(dir, 'b.tsv'), 'sentence\tlabel\nonly one field\n');
  await assert.rejects(loadRecords(join(dir, 'b.tsv')), /b\.tsv:2: 1 tab-separated fields, the header has 2/);
  await assert.rejects(loadRecords(join(dir, 'c.xml')), /unknown data file type/);
  // A column named twice: each record had kept the last cell of the two, silently.
  writeFileSync(join(dir, 'd.csv'), 'text,label,text\na,1,b\n');
  await assert.rejects(loadRecords(join(dir, 'd.csv')), /d\.csv: the column 'text' is named twice in the header \(text, label, text\); each column needs its own name/);
  writeFileSync(join(dir, 'e.tsv'), 'label\tlabel\n0\t1\n');
  await assert.rejects(loadRecords(join(dir, 'e.tsv')), /e\.tsv: the column 'label' is named twice/);
  // Names given for a file without a header: its first line is a record.
  writeFileSync(join(dir, 'f.csv'), 'a,1\nb,0\n');
  assert.deepEqual((await loadRecords(join(dir, 'f.csv'), { columns: ['text', 'label'] })).map((r) => r.value), [{ text: 'a', label: '1' }, { text: 'b', label: '0' }]);
});

test('Parquet files of training records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-pq-'));
  const buf = parquetWriteBuffer({ columnData: [
    { name: 'prompt', data: ['2 + 2 =', 'The sky is'] },
    { name: 'completion', data: [' 4', ' blue'] },
    { name: 'id', data: [7n, 8n], type: 'INT64' },
  ] });
  writeFileSync(join(dir, 'train.parquet'), new Uint8Array(buf));
  const rows = await loadRecords(join(dir, 'train.parquet'));
  assert.deepEqual(rows.map((r) => r.value), [{ prompt: '2 + 2 =', completion: ' 4', id: 7 }, { prompt: 'The sky is', completion: ' blue', id: 8 }]);
  assert.equal(detectFormat(rows[0]!), 'completion');
  writeFileSync(join(dir, 'bad.parquet'), 'not parquet');
  await assert.rejects(loadRecords(join(dir, 'bad.parquet')), /bad\.parquet: cannot read as Parquet/);
});
