// Streaming text is released a word at a time, so what was printed never has to change: the pieces
// put together are the whole decode, also where the tokenizer's clean-up joins " !" into "!" once the
// "!" arrives (the GQA fixture's tokens 3 = "▁", 68 = "!": "5h " then "5h!") and where a multi-byte
// character arrives in byte tokens.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TextStream } from '../../src/generate/text_stream.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

test('the pieces add up to the whole decode, across clean-up that removes a space', () => {
  const tokenizer = Tokenizer.fromFolder(join(FIXTURES, 'llama/llama-gqa'));
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
