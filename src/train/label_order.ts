// A classifier's label order when the checkpoint has a trained head: its own (config.json's id2label)
// wherever the data's labels are among its names, so that each class keeps the row of the head that
// was trained for it -- as transformers' run_glue maps a dataset's labels through the model's
// label2id. In the data's own order (sorted names), a checkpoint trained for {0: neg, 1: pos,
// 2: neutral} had been fine-tuned with "pos" on the row it had learned as "neutral", without a word.
import { join } from 'node:path';
import { fileExists } from '../io/files.js';
import { parseId2label, readJsonFile } from '../io/hf_folder.js';

export interface LabelOrder {
  /** Class names by index, as the run uses them. */
  names: string[];
  /** What decided the order, and a warning where the checkpoint's labels are other than the data's. */
  note: string | null;
}

/** The label names of a model folder's config.json (id2label), or null when it names none. */
export function checkpointLabelNames(modelDir: string): string[] | null {
  const path = join(modelDir, 'config.json');
  if (!fileExists(path)) return null; // (a USE Lite folder has none; a folder mounted in a browser is read too)
  return parseId2label(readJsonFile(path).id2label, path);
}

/**
 * The order of `dataNames` (the data's class names, in its own order) for a model whose checkpoint
 * names `checkpointNames`: the checkpoint's, all of them, when every data label is one of them
 * (a class the training data lacks keeps its row); else the data's.
 */
export function labelOrder(dataNames: string[], checkpointNames: string[] | null): LabelOrder {
  if (!checkpointNames || checkpointNames.length === 0) return { names: dataNames, note: null };
  const known = new Set(checkpointNames);
  if (known.size === checkpointNames.length && dataNames.every((n) => known.has(n))) {
    const same = dataNames.length === checkpointNames.length && dataNames.every((n, i) => n === checkpointNames[i]);
    return { names: checkpointNames, note: same ? null : `labels in the checkpoint's order (its id2label: ${checkpointNames.join(', ')}), so that its head keeps each class on the row it was trained for` };
  }
  const numbered = dataNames.every((n, i) => n === String(i));
  if (numbered) return { names: dataNames, note: null }; // label ids: the checkpoint's rows by number
  const foreign = dataNames.filter((n) => !known.has(n));
  return {
    names: dataNames,
    note: `warning: the checkpoint's id2label (${checkpointNames.slice(0, 8).join(', ')}${checkpointNames.length > 8 ? ', ...' : ''}) does not name the data's label${foreign.length > 1 ? 's' : ''} ${foreign.slice(0, 4).join(', ')}${foreign.length > 4 ? ', ...' : ''}: the data's labels are used in their own order`,
  };
}
