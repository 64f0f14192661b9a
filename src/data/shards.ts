// Token shards: language-modelling examples written for another engine (gift_torch's trainer under
// torchrun) exactly as gift train would use them. One safetensors file per split: every example's
// ids and labels concatenated (I32; a label of -100 carries no loss), and offsets (I64, examples + 1)
// where each example starts.
import { SafetensorsFile, saveSafetensors } from '../io/safetensors.js';
import type { Example } from './examples.js';
import { GiftjsError } from '../errors.js';

export function writeExampleShard(path: string, examples: readonly Example[]): void {
  const total = examples.reduce((n, e) => n + e.ids.length, 0);
  const ids = new Int32Array(total);
  const labels = new Int32Array(total);
  const offsets = new Array<number>(examples.length + 1);
  let at = 0;
  examples.forEach((e, i) => {
    offsets[i] = at;
    ids.set(e.ids, at);
    labels.set(e.labels, at);
    at += e.ids.length;
  });
  offsets[examples.length] = at;
  saveSafetensors(path, {
    ids: { dtype: 'I32', shape: [total], integers: ids },
    labels: { dtype: 'I32', shape: [total], integers: labels },
    offsets: { dtype: 'I64', shape: [examples.length + 1], integers: offsets },
  }, { format: 'giftjs-token-shard' });
}

export function readExampleShard(path: string): Example[] {
  const f = SafetensorsFile.open(path);
  try {
    const ids = f.readIntegers('ids').values;
    const labels = f.readIntegers('labels').values;
    const offsets = f.readIntegers('offsets').values;
    if (ids.length !== labels.length || offsets[0] !== 0 || offsets[offsets.length - 1] !== ids.length || offsets.some((o, i) => i > 0 && o < offsets[i - 1]!)) {
      throw new GiftjsError(`${path}: ids, labels and offsets do not agree (not a token shard gift prepare wrote?)`);
    }
    return offsets.slice(0, -1).map((o, i) => ({ ids: Int32Array.from(ids.slice(o, offsets[i + 1])), labels: Int32Array.from(labels.slice(o, offsets[i + 1])) }));
  } finally {
    f.close();
  }
}
