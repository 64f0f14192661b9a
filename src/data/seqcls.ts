// Sequence classification data: records with one or two text fields and a label become token-id
// examples; batches are right-padded with an attention mask, as an encoder reads them.
import type { Tokenizer } from '../io/tokenizer.js';
import type { EncoderInput } from '../models/encoder.js';
import { Random } from '../tensor/random.js';
import { shuffle } from './batches.js';
import type { DataRecord } from './examples.js';
import { GiftjsError } from '../errors.js';

export interface SeqClsExample {
  ids: number[];
  /** Segment of each token (0 first text, 1 second) when the tokenizer assigns them. */
  typeIds?: number[];
  /** A class index, or the target value of a regression. */
  label: number;
}

export interface LabelSpace {
  /** 'regression' has one output and float targets. */
  kind: 'classification' | 'regression';
  /** Class names by index (classification), as id2label. */
  names: string[];
}

export interface SeqClsBatch extends EncoderInput {
  labels: number[];
}

/** Text fields tried in order when none are given (GLUE's, then the common ones). */
const TEXT_FIELD_CANDIDATES = [['sentence1', 'sentence2'], ['question', 'sentence'], ['question1', 'question2'], ['sentence'], ['text']];
const LABEL_FIELD_CANDIDATES = ['label', 'score'];

export function detectSeqClsFields(record: DataRecord): { textFields: string[]; labelField: string | null } {
  const v = record.value;
  const textFields = TEXT_FIELD_CANDIDATES.find((fs) => fs.every((f) => typeof v[f] === 'string'));
  if (!textFields) throw new GiftjsError(`${record.where}: no text field found (tried ${TEXT_FIELD_CANDIDATES.map((f) => f.join('+')).join(', ')}); name them with textFields (--text-fields)`);
  return { textFields, labelField: LABEL_FIELD_CANDIDATES.find((f) => f in v) ?? null };
}

/**
 * The labels of a training set: regression when asked; otherwise classes named by the label values,
 * kept as their own indices when they are all small non-negative integers ("0", "1", ...).
 */
export function labelSpaceOf(records: DataRecord[], labelField: string, regression: boolean): LabelSpace {
  for (const r of records) {
    const v = Object.hasOwn(r.value, labelField) ? r.value[labelField] : undefined;
    if (v === undefined || v === null || v === '') {
      const fields = Object.keys(r.value).slice(0, 8).join(', ');
      throw new GiftjsError(`${r.where}: no label: field '${labelField}' is ${v === undefined ? 'missing' : JSON.stringify(v)} (the record's fields: ${fields}); name the label column with labelField (--label-field)`);
    }
    if (typeof v === 'object') throw new GiftjsError(`${r.where}: label '${labelField}' is ${JSON.stringify(v)}, not a name or a number`);
  }
  if (regression) return { kind: 'regression', names: [labelField] };
  const values = [...new Set(records.map((r) => String(r.value[labelField])))];
  if (values.every((v) => /^\d+$/.test(v) && Number(v) < 1000)) {
    const max = Math.max(...values.map(Number));
    return { kind: 'classification', names: Array.from({ length: max + 1 }, (_, i) => String(i)) };
  }
  return { kind: 'classification', names: values.sort() };
}

export interface SeqClsOptions {
  textFields: string[];
  labelField: string;
  labels: LabelSpace;
  maxLength: number;
}

export function buildSeqClsExamples(records: DataRecord[], tokenizer: Tokenizer, o: SeqClsOptions): { examples: SeqClsExample[]; truncated: number } {
  let truncated = 0;
  const examples = records.map((r) => {
    const texts = o.textFields.map((f) => {
      const t = r.value[f];
      if (typeof t !== 'string') throw new GiftjsError(`${r.where}: field '${f}' is not a string`);
      return t;
    });
    const raw = r.value[o.labelField];
    let label: number;
    if (o.labels.kind === 'regression') {
      label = Number(raw);
      if (raw === '' || raw === null || !Number.isFinite(label)) throw new GiftjsError(`${r.where}: label '${o.labelField}' = ${JSON.stringify(raw)} is not a number`);
    } else {
      label = o.labels.names.indexOf(String(raw));
      if (label < 0) throw new GiftjsError(`${r.where}: label ${JSON.stringify(raw)} is not one of the training labels (${o.labels.names.join(', ')})`);
    }
    const encoded = tokenizer.encodeForClassification(texts, o.maxLength);
    if (encoded.truncated) truncated++;
    return { ids: encoded.ids, typeIds: encoded.typeIds, label };
  });
  return { examples, truncated };
}

/** Right-padded ids (pad 0, masked out), token types and the mask; an empty text keeps one masked position. */
export function collateSeqCls(examples: SeqClsExample[]): SeqClsBatch {
  const seq = Math.max(1, ...examples.map((e) => e.ids.length));
  const batch = examples.length;
  const ids = new Int32Array(batch * seq);
  const attentionMask = new Float32Array(batch * seq);
  const tokenTypeIds = new Int32Array(batch * seq);
  examples.forEach((e, b) => {
    ids.set(e.ids, b * seq);
    if (e.typeIds) tokenTypeIds.set(e.typeIds, b * seq);
    attentionMask.fill(1, b * seq, b * seq + e.ids.length);
  });
  return { ids, attentionMask, tokenTypeIds, batch, seq, labels: examples.map((e) => e.label) };
}

/** A seeded split of records into train / validation / test by fractions. */
export function splitRecords<T>(items: T[], fractions: [number, number], seed: number): { train: T[]; validation: T[]; test: T[] } {
  // (Fractions past 1 together had shortened the validation split, and NaN emptied the training one, silently.)
  const [train, validation] = fractions;
  if (!(train >= 0 && validation >= 0 && train + validation <= 1 + 1e-9)) throw new GiftjsError(`splitRecords: the train and validation fractions must be >= 0 and together at most 1 (the rest is the test split), got ${train} and ${validation}`);
  const order = shuffle(items.map((_, i) => i), new Random(seed));
  const nTrain = Math.round(fractions[0] * items.length);
  const nVal = Math.round(fractions[1] * items.length);
  const pick = (a: number, b: number) => order.slice(a, b).map((i) => items[i]!);
  return { train: pick(0, nTrain), validation: pick(nTrain, nTrain + nVal), test: pick(nTrain + nVal, items.length) };
}
