// A data file as language-modelling examples, the one way gift train (its training and held-out
// data) and gift eval read them: same formats, templates, truncation and EOS rule, so the loss
// gift eval reports on a file is the held-out loss gift train logs on it.
import type { Tokenizer } from '../io/tokenizer.js';
import { buildExamples, DATA_FORMATS, detectFormat, type DataFormat, type ExampleSet, type LossOn, type PromptTask } from './examples.js';
import { loadRecords } from './load.js';
import { GiftjsError } from '../errors.js';

export interface ExampleFileOptions {
  /** Named by --format; omitted, detected from the first record. */
  format?: string;
  maxLength: number;
  /** The paper's prompt template for LLM-Adapters records. */
  task?: PromptTask;
  /** Which tokens carry the loss; omitted, 'response'. */
  lossOn?: LossOn;
  /** The field a text record's text is in (--dataset-text-field); omitted, "text". */
  textField?: string;
}

export interface ExampleFile extends ExampleSet {
  records: number;
  format: DataFormat;
  lossOn: LossOn;
}

export async function loadExampleFile(path: string, tokenizer: Tokenizer, o: ExampleFileOptions): Promise<ExampleFile> {
  const records = await loadRecords(path);
  if (records.length === 0) throw new GiftjsError(`${path}: no records`);
  const format = (o.format ?? detectFormat(records[0]!, o.textField)) as DataFormat;
  if (!DATA_FORMATS.includes(format)) throw new GiftjsError(`format (--format) must be one of ${DATA_FORMATS.join(', ')}, got '${format}'`);
  if (o.textField !== undefined && format !== 'text') throw new GiftjsError(`${path}: --dataset-text-field names the field of text records, and these records are ${format} records (leave it out)`);
  const lossOn = o.lossOn ?? 'response';
  const set = buildExamples(records, tokenizer, { format, maxLength: o.maxLength, task: o.task, lossOn, textField: o.textField });
  return { ...set, records: records.length, format, lossOn };
}

/** One line: how many records became examples, and what was cut or dropped. */
export function describeExampleFile(path: string, f: ExampleFile, maxLength: number, task?: PromptTask): string {
  return `${path}: ${f.records} records (${f.format}${task ? `, ${task} template` : ''}${f.lossOn === 'all' ? ', loss on every token' : ''}) -> ${f.examples.length} examples` +
    `${f.truncated ? `; ${f.truncated} cut to ${maxLength} tokens` : ''}${f.dropped ? `; ${f.dropped} dropped (no target tokens left)` : ''}`;
}
