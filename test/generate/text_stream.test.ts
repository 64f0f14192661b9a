// Streaming text is released a word at a time, so what was printed never has to change: the pieces
// put together are the whole decode, also where the tokenizer's clean-up joins " !" into "!" once the
// "!" arrives (the GQA fixture's tokens 3 = "▁", 68 = "!": "5h " then "5h!") and where a multi-byte
// character arrives in byte tokens.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TextStream } from '../../src/generate/text_stream.js';
import { firstStopAt, stopPrefixAtEnd } from '../../src/generate/stop_sequences.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

test('the pieces add up to the whole decode, across clean-up that removes a space', () => {
  // The fixture's tokenizer with transformers' clean-up of spaces before punctuation asked for (and,
  // as its model is BPE, forced): "5h " then "5h!" once the next token comes.
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-cleanup-'));
  cpSync(join(FIXTURES, 'llama/llama-gqa/tokenizer.json'), join(dir, 'tokenizer.json'));
  const config = JSON.parse(readFileSync(join(FIXTURES, 'llama/llama-gqa/tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, clean_up_tokenization_spaces: true, clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output: true }));
  const tokenizer = Tokenizer.fromFolder(dir);
  const ids = [61, 11, 3, 68, 8, 49, 91, 26, 49, 91, 87, 25];
  assert.equal(tokenizer.decode(ids.slice(0, 3)), '5h ', 'a trailing space ...');
  assert.equal(tokenizer.decode(ids.slice(0, 4)), '5h!', '... that the next token removes');
  const stream = new TextStream(tokenizer);
  const pieces = ids.map((t) => stream.push(t));
  pieces.push(stream.finish());
  assert.equal(pieces.join(''), tokenizer.decode(ids));
  assert.ok(pieces.slice(0, -1).some((p) => p.length > 0), 'text is released before the end');
});

test('a character in byte tokens is released whole', () => {
  // The SentencePiece vocabulary of the GGUF fixture: byte fallback for what it has no piece for.
  process.env.GIFTJS_CACHE ??= mkdtempSync(join(tmpdir(), 'giftjs-cache-'));
  const tokenizer = Tokenizer.fromFolder(ggufModelFolder(join(FIXTURES, 'gguf/tiny-f32.gguf')).dir);
  const text = 'the hat é and the 🦊 boat';
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  assert.ok(ids.filter((t) => /^<0x[0-9A-F]{2}>$/.test(tokenizer.idToToken(t) ?? '')).length >= 6, 'é and the fox arrive as byte tokens');
  const stream = new TextStream(tokenizer);
  const pieces = ids.map((t) => stream.push(t));
  pieces.push(stream.finish());
  assert.ok(pieces.every((p) => !p.includes('\uFFFD')), JSON.stringify(pieces));
  assert.equal(pieces.join(''), tokenizer.decode(ids));
});

test('stop sequences: the text ends before the first, no piece of one is ever released, and the stream says when it stopped', () => {
  process.env.GIFTJS_CACHE ??= mkdtempSync(join(tmpdir(), 'giftjs-cache-'));
  const tokenizer = Tokenizer.fromFolder(ggufModelFolder(join(FIXTURES, 'gguf/tiny-f32.gguf')).dir);
  const ids = tokenizer.encode('the cat sat on the mat and the dog sat on the hat', { addSpecialTokens: false });
  const whole = tokenizer.decode(ids);
  for (const stops of [['on the m'], ['dog', 'mat a'], ['sat'], ['t o'], ['zebra'], ['hat']]) {
    const first = Math.min(...stops.map((s) => whole.indexOf(s)).filter((i) => i >= 0));
    const expected = Number.isFinite(first) ? whole.slice(0, first) : whole;
    // The token at which the decoded text first holds a stop sequence, counted directly.
    const stopToken = ids.findIndex((_, k) => stops.some((s) => tokenizer.decode(ids.slice(0, k + 1)).includes(s)));
    const stream = new TextStream(tokenizer, stops);
    let released = '';
    let pushed = 0;
    for (const t of ids) {
      released += stream.push(t);
      pushed++;
      assert.ok(expected.startsWith(released), `${JSON.stringify(stops)}: released ${JSON.stringify(released)} is not a beginning of ${JSON.stringify(expected)}`);
      if (stream.stopped) break;
    }
    released += stream.finish();
    assert.equal(released, expected, JSON.stringify(stops));
    assert.equal(stream.text(), expected);
    assert.equal(stream.stopped, stopToken >= 0);
    assert.equal(pushed, stopToken >= 0 ? stopToken + 1 : ids.length, 'it stops at the token that completes the sequence');
    if (stream.stopped) assert.throws(() => stream.push(ids[0]!), /TextStream: the text has ended at a stop sequence; no token follows/);
  }
  assert.throws(() => new TextStream(tokenizer, ['x', '']), /TextStream: a stop sequence must not be empty/);
});

test('stop sequences: the earliest one wins, and an end that could still become one is held back', () => {
  assert.equal(firstStopAt('abcabc', ['ca', 'b']), 1);
  assert.equal(firstStopAt('aaab', ['aab']), 1);
  assert.equal(firstStopAt('abc', ['x']), -1);
  assert.equal(stopPrefixAtEnd('xx ab', ['abc']), 2);
  assert.equal(stopPrefixAtEnd('xaa', ['aab']), 2);
  assert.equal(stopPrefixAtEnd('xaa', ['ab', 'aax']), 2);
  assert.equal(stopPrefixAtEnd('abc', ['abc']), 0, 'a whole sequence is found, not held');
  assert.equal(stopPrefixAtEnd('abc', ['x', 'cd']), 1);
  assert.equal(stopPrefixAtEnd('', ['a']), 0);
});

test('a stream with no token (the model answered end-of-text at once) is the empty text, not a decoding error', () => {
  const stream = new TextStream(Tokenizer.fromFolder(join(FIXTURES, 'llama/llama-gqa')));
  assert.equal(stream.text(), '');
  assert.equal(stream.finish(), '');
});
