// BERT and RoBERTa sequence classifiers against PyTorch (tools/make_encoder_fixtures.py: tiny random
// checkpoints with Hugging Face's names, logits, loss, and GIFT gradients through the authors'
// W_hat formulation), and their tokenizers (WordPiece, byte-level BPE) through tokenizer.json.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, saveSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { BertForSequenceClassification } from '../../src/models/bert/model.js';
import { parseBertConfig } from '../../src/models/bert/config.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';
import { spawnSync } from 'node:child_process';
import { assertClose } from '../helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/encoders/', import.meta.url));

function reference(name: string): Map<string, Float32Array | number[]> {
  const f = SafetensorsFile.open(join(FIXTURES, name, 'reference.safetensors'));
  const out = new Map<string, Float32Array | number[]>();
  for (const n of f.tensors.keys()) {
    const info = f.tensors.get(n)!;
    if (info.dtype === 'I64') out.set(n, f.readIntegers(n).values);
    else {
      const t = f.readTensor(n);
      out.set(n, new Float32Array(t.data));
      t.dispose();
    }
  }
  f.close();
  return out;
}

for (const name of ['bert', 'roberta']) {
  test(`${name}: logits, loss and GIFT (query,value) gradients equal PyTorch's`, () => {
    const ref = reference(name);
    const ids = Int32Array.from(ref.get('input_ids') as number[]);
    const input = {
      ids, attentionMask: ref.get('attention_mask') as Float32Array, tokenTypeIds: Int32Array.from(ref.get('token_type_ids') as number[]), batch: 3, seq: 7,
    };
    const labels = ref.get('labels') as number[];
    const model = BertForSequenceClassification.fromPretrained(join(FIXTURES, name), 3);
    assert.equal(model.newHead, false, 'the checkpoint head (3 labels) is loaded');
    const logits = model.logits(input);
    assertClose(logits.data, ref.get('logits') as Float32Array, `${name} logits`, 1e-5, 1e-4);
    assertClose([crossEntropy(logits, labels).item()], ref.get('loss') as Float32Array, `${name} loss`, 1e-5, 1e-4);

    const adapter = attachAdapter(model, { method: 'gift', rank: 4, alpha: 8, target_modules: ['query', 'value'], modules_to_save: ['classifier'] });
    const trainable = new Map(adapter.namedTrainable());
    for (const t of ['query', 'value']) {
      for (const p of ['phi', 'psi']) trainable.get(`gift.${t}.${p}`)!.assign(ref.get(`gift.${t}.${p}`) as Float32Array);
    }
    const loss = crossEntropy(model.logits(input), labels);
    assertClose([loss.item()], ref.get('gift_loss') as Float32Array, `${name} GIFT loss`, 1e-5, 1e-4);
    loss.backward();
    for (const [n, t] of trainable) {
      const expected = ref.get(`grad.${n}`);
      if (expected) assertClose(t.grad!.data, expected as Float32Array, `${name} grad ${n}`, 1e-5, 1e-3);
    }
    assert.ok(trainable.has(name === 'roberta' ? 'classifier.out_proj.weight' : 'classifier.weight'));
  });
}

test('a BERT config whose layer_norm_eps is not a positive number is refused by file and field (a string had become the default)', () => {
  const raw = JSON.parse(readFileSync(join(FIXTURES, 'bert', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(parseBertConfig(raw, 'bert/config.json').layerNormEps, raw.layer_norm_eps);
  for (const eps of ['1e-12', -1, 0]) {
    assert.throws(() => parseBertConfig({ ...raw, layer_norm_eps: eps }, 'bert/config.json'), new RegExp(`bert/config.json: 'layer_norm_eps' must be a positive number, got ${JSON.stringify(eps)}`));
  }
});

test('BERT WordPiece tokenizer: [CLS] a [SEP] b [SEP] with token types, lower-cased, ## pieces, longest-first truncation', () => {
  const tok = Tokenizer.fromFolder(join(FIXTURES, 'bert'));
  // vocab: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 the5 cat6 sat7 on8 mat9 a10 dog11 ##s12 run13 ##ning14 .15 ,16 !17 is18 big19
  const one = tok.encodeForClassification(['The cats sat.'], 32);
  assert.deepEqual(one.ids, [2, 5, 6, 12, 7, 15, 3]);
  const pair = tok.encodeForClassification(['The dog is big!', 'running cats'], 32);
  assert.deepEqual(pair.ids, [2, 5, 11, 18, 19, 17, 3, 13, 14, 6, 12, 3]);
  assert.deepEqual(pair.typeIds, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const cut = tok.encodeForClassification(['The dog is big!', 'running cats'], 8);
  assert.equal(cut.ids.length, 8);
  assert.equal(cut.truncated, true);
  assert.deepEqual(cut.ids, [2, 5, 11, 18, 3, 13, 14, 3]);
});

test('RoBERTa byte-level BPE tokenizer: <s> a </s></s> b </s>', () => {
  const tok = Tokenizer.fromFolder(join(FIXTURES, 'roberta'));
  const id = (t: string) => tok.tokenId(t)!;
  const one = tok.encodeForClassification(['the cat'], 32);
  assert.deepEqual(one.ids, [id('<s>'), id('the'), id('Ġcat'), id('</s>')]);
  const pair = tok.encodeForClassification(['the cat', 'a dog'], 32);
  assert.deepEqual(pair.ids, [id('<s>'), id('the'), id('Ġcat'), id('</s>'), id('</s>'), id('a'), id('Ġdog'), id('</s>')]);
});

test('a bare BertModel folder (no prefix, no head) loads into the classifier with a fresh head and the same encoder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-bare-bert-'));
  const source = join(FIXTURES, 'bert');
  const config = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8'));
  delete config.id2label;
  delete config.label2id;
  config.architectures = ['BertModel'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(source, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const f = SafetensorsFile.open(join(source, 'model.safetensors'));
  const bare: Record<string, Tensor> = {};
  for (const n of f.tensors.keys()) if (n.startsWith('bert.')) bare[n.slice(5)] = f.readTensor(n);
  f.close();
  saveSafetensors(join(dir, 'model.safetensors'), bare);
  const withHead = BertForSequenceClassification.fromPretrained(source, 3);
  const fromBare = BertForSequenceClassification.fromPretrained(dir, 2, 5);
  assert.equal(fromBare.newHead, true);
  assert.deepEqual(fromBare.classifier.namedParameters().map(([n, t]) => [n, t.shape]), [['weight', [2, 16]], ['bias', [2]]]);
  const ref = reference('bert');
  const input = { ids: Int32Array.from(ref.get('input_ids') as number[]), attentionMask: ref.get('attention_mask') as Float32Array, batch: 3, seq: 7 };
  assertClose(fromBare.encoder.forward(input).pooled.data, withHead.encoder.forward(input).pooled.data, 'pooled', 0, 0);
});

test('gift merge of a classifier adapter writes the task model: it loads without the adapter and gives the same logits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-merge-cls-'));
  const source = join(FIXTURES, 'roberta');
  const model = BertForSequenceClassification.fromPretrained(source, 2, 3);
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['query', 'value'], modules_to_save: ['classifier'] }, 4);
  for (const [n, t] of adapter.namedTrainable()) if (n.endsWith('.psi')) t.assign(Tensor.randn(t.shape, new Random(9), 0.3).data);
  saveAdapter(join(dir, 'adapter'), adapter, { path: source, architecture: 'RobertaForSequenceClassification' }, {
    task: { type: 'seqcls', problem_type: 'single_label_classification', id2label: ['no', 'yes'], text_fields: ['sentence'], label_field: 'label', max_length: 16 },
  });
  const ref = reference('roberta');
  const input = { ids: Int32Array.from(ref.get('input_ids') as number[]), attentionMask: ref.get('attention_mask') as Float32Array, batch: 3, seq: 7 };
  const expected = new Float32Array(model.logits(input).data);
  const r = spawnSync(process.execPath, [join(FIXTURES, '../../../bin/gift.js'), 'merge', '--model', source, '--adapter', join(dir, 'adapter'), '--out', join(dir, 'merged')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const config = JSON.parse(readFileSync(join(dir, 'merged/config.json'), 'utf8'));
  assert.deepEqual(config.id2label, { 0: 'no', 1: 'yes' });
  const merged = BertForSequenceClassification.fromPretrained(join(dir, 'merged'), 2);
  assert.equal(merged.newHead, false);
  assertClose(merged.logits(input).data, expected, 'merged logits', 1e-5, 1e-4);
});
